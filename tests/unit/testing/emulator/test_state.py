"""The emulator's store: batch timelines and outcomes, forced statuses, ids and seeds."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_bifrost.testing.emulator import EmulatorClient, EmulatorConfig, EmulatorError, run_emulator
from airflow_provider_bifrost.testing.emulator.state import BatchSpec, EmulatorState
from tests.unit.testing.emulator.helpers import (
    INSTANT,
    PROVIDERS,
    create_openai_batch,
    get_batch,
    get_results_response,
)

if TYPE_CHECKING:
    import httpx


def test_create_inline_batch_walks_the_timeline(emu: EmulatorClient, http: httpx.Client) -> None:
    emu.configure(timeline=(0.15, 0.3, 0.15))
    batch = create_openai_batch(http, 4, metadata={"dag_run": "r1"})
    assert batch["status"] == "validating"
    assert batch["object"] == "batch"
    assert batch["metadata"] == {"dag_run": "r1"}
    assert batch["request_counts"] == {"total": 4, "completed": 0, "failed": 0}
    assert batch["input_file_id"].startswith("file-")
    # Every phase is seen in order (a poll slowed by a busy machine may skip a short one: what each phase
    # looks like is read without the clock in test_each_provider_walks_its_own_statuses).
    phases = ["validating", "in_progress", "finalizing", "completed"]
    seen = [batch["status"]]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and seen[-1] != "completed":
        current = get_batch(http, batch["id"])
        if seen[-1] != current["status"]:
            seen.append(current["status"])
        time.sleep(0.02)
    assert seen == sorted(seen, key=phases.index)
    assert seen[-1] == "completed"
    assert current["request_counts"] == {"total": 4, "completed": 4, "failed": 0}
    stamps = [current[key] for key in ("created_at", "in_progress_at", "finalizing_at", "completed_at")]
    assert stamps == sorted(stamps)
    assert current["expires_at"] == current["created_at"] + 24 * 3600
    assert current["output_file_id"].startswith("file-")
    assert "error_file_id" not in current


@pytest.mark.parametrize(
    ("provider", "statuses"),
    [
        ("openai", ["validating", "in_progress", "finalizing", "completed"]),
        ("azure", ["validating", "in_progress", "finalizing", "completed"]),
        ("anthropic", ["in_progress", "ended"]),  # processing_status in_progress / ended
        ("bedrock", ["validating", "in_progress", "completed"]),  # Submitted..., InProgress, Completed
        ("gemini", ["in_progress", "completed"]),  # PENDING and RUNNING are both in_progress
        ("vertex", ["validating", "in_progress", "completed"]),  # QUEUED/PENDING, RUNNING, SUCCEEDED
    ],
)
def test_each_provider_walks_its_own_statuses(
    emu: EmulatorClient, http: httpx.Client, provider: str, statuses: list[str]
) -> None:
    # One batch per point of a (10 s, 10 s, 10 s) timeline, set there by its age: what each phase looks like
    # on this provider, read without racing the clock.
    seen: list[str] = []
    for age in (0, 15, 25, 35):
        batch = emu.add_batch(provider, 4, timeline=(10, 10, 10), age=age)
        status = get_batch(http, batch["id"], provider)["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
    assert seen == statuses


def test_progress_is_interpolated(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = emu.add_batch("openai", 1000, timeline=(0, 3, 10))
    time.sleep(0.3)
    first = get_batch(http, batch["id"])["request_counts"]["completed"]
    time.sleep(0.3)
    second = get_batch(http, batch["id"])["request_counts"]["completed"]
    assert 0 < first < second < 1000


@pytest.mark.parametrize(
    ("provider", "outcome", "status", "stamp", "counts"),
    [
        ("openai", "completed", "completed", "completed_at", (10, 8, 2)),
        ("anthropic", "ended", "ended", "completed_at", (10, 8, 2)),
        # Bedrock: PartiallyCompleted and Failed are both `failed`; its EndTime is `completed_at`.
        ("bedrock", "failed", "failed", "completed_at", (10, 8, 2)),
        ("bedrock", "PartiallyCompleted", "failed", "completed_at", (10, 8, 2)),
        ("azure", "expired", "expired", "expired_at", (10, 8, 2)),
        # Gemini sends no timestamp beside created_at; its `completed` counts failures too.
        ("gemini", "cancelled", "cancelled", None, (10, 10, 2)),
        ("vertex", "partially_completed", "completed", "completed_at", (10, 8, 2)),
        ("vertex", "failed", "failed", "failed_at", (10, 8, 2)),
    ],
)
def test_outcomes(
    emu: EmulatorClient,
    http: httpx.Client,
    provider: str,
    outcome: str,
    status: str,
    stamp: str | None,
    counts: tuple[int, int, int],
) -> None:
    batch = emu.add_batch(provider, 10, outcome=outcome, failed=2, timeline=INSTANT)
    current = get_batch(http, batch["id"], provider)
    assert current["status"] == status
    if stamp is not None:
        assert stamp in current
    assert not {"failed_at", "expired_at", "cancelled_at", "completed_at"} & set(current) - {stamp}
    found = current["request_counts"]
    assert (found["total"], found["completed"], found["failed"]) == counts
    if status == "failed" and provider in ("openai", "azure"):
        assert current["errors"]["object"] == "list"
        assert {"code", "message", "line"} <= set(current["errors"]["data"][0])
    elif status == "failed" and provider == "vertex":
        assert set(current["errors"]) == {"data"}
    else:
        assert "errors" not in current


def test_failed_outcome_fails_every_request_by_default(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = emu.add_batch("openai", 5, outcome="failed", timeline=INSTANT)
    assert get_batch(http, batch["id"])["request_counts"] == {"total": 5, "completed": 0, "failed": 5}


def test_default_outcome_per_provider(emu: EmulatorClient, http: httpx.Client) -> None:
    anthropic = emu.add_batch("anthropic", 2, timeline=INSTANT)
    gemini = emu.add_batch("gemini", 2, timeline=INSTANT)
    vertex = emu.add_batch("vertex", 2, timeline=INSTANT)
    assert get_batch(http, anthropic["id"], "anthropic")["status"] == "ended"
    gemini_batch = get_batch(http, gemini["id"], "gemini")
    assert gemini_batch["status"] == "completed"
    assert gemini_batch["done"] is True
    assert get_batch(http, vertex["id"], "vertex")["status"] == "completed"


def test_processed_leaves_requests_unrun(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = emu.add_batch("anthropic", 6, outcome="expired", processed=4, failed=1, timeline=INSTANT)
    current = get_batch(http, batch["id"], "anthropic")
    assert current["status"] == "ended"
    assert current["request_counts"] == {"total": 6, "completed": 3, "failed": 1, "succeeded": 3, "expired": 2}


@pytest.mark.parametrize(
    ("status", "results"), [("completed", 200), ("canceled", 500), ("deleted", 500), ("paused", 500)]
)
def test_set_status_forces_any_string(emu: EmulatorClient, http: httpx.Client, status: str, results: int) -> None:
    batch = emu.add_batch("openai", 3, manual=True)
    assert get_batch(http, batch["id"])["status"] == "in_progress"
    assert emu.set_status(batch["id"], status)["status"] == status
    assert get_batch(http, batch["id"])["status"] == status
    # Forced while nothing had run, only `completed` has an output file: /results needs one.
    assert get_results_response(http, batch["id"]).status_code == results


def test_set_status_is_shown_as_the_provider_shows_it(emu: EmulatorClient, http: httpx.Client) -> None:
    anthropic = emu.add_batch("anthropic", 2, manual=True)
    assert emu.set_status(anthropic["id"], "completed")["status"] == "ended"
    bedrock = emu.add_batch("bedrock", 2, manual=True)
    forced = emu.set_status(bedrock["id"], "partially_completed")
    assert (forced["status"], forced["request_counts"]["total"]) == ("failed", 2)
    assert get_batch(http, bedrock["id"], "bedrock")["status"] == "failed"


def test_set_status_many_turns_batches_at_one_instant(emu: EmulatorClient, http: httpx.Client) -> None:
    openai = [emu.add_batch("openai", 2, manual=True)["id"] for _ in range(3)]
    anthropic = emu.add_batch("anthropic", 2, manual=True)["id"]
    assert emu.set_status_many("completed", openai[:2]) == 2
    done = [get_batch(http, batch_id) for batch_id in openai[:2]]
    assert [batch["status"] for batch in done] == ["completed", "completed"]
    assert done[0]["completed_at"] == done[1]["completed_at"]
    assert done[0]["request_counts"]["completed"] == 2
    assert get_batch(http, openai[2])["status"] == "in_progress"
    assert emu.set_status_many("ended") == 4  # no ids: every batch of every provider
    assert get_batch(http, anthropic, "anthropic")["processing_status"] == "ended"
    assert get_batch(http, openai[2])["status"] == "ended"


def test_set_status_many_with_an_unknown_id_changes_nothing(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = emu.add_batch("openai", 2, manual=True)
    with pytest.raises(EmulatorError, match=r"404.*batch_nope"):
        emu.set_status_many("completed", [batch["id"], "batch_nope"])
    assert get_batch(http, batch["id"])["status"] == "in_progress"
    assert emu.set_status_many("completed", []) == 0


def test_manual_batch_stays_in_progress(emu: EmulatorClient, http: httpx.Client) -> None:
    emu.configure(manual=True)
    batch = create_openai_batch(http)
    time.sleep(0.1)
    assert get_batch(http, batch["id"])["status"] == "in_progress"


# --- ids and seeds -----------------------------------------------------------------------------


def _ids(state: EmulatorState) -> list[str]:
    return [state.add_batch(BatchSpec(provider=provider, requests=1)).id for provider in PROVIDERS]


def test_ids_have_each_providers_shape() -> None:
    ids = dict(zip(PROVIDERS, _ids(EmulatorState()), strict=True))
    assert ids["openai"].startswith("batch_") and ids["azure"].startswith("batch_")
    assert ids["anthropic"].startswith("msgbatch_")
    assert ids["bedrock"].startswith("arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/")
    assert ids["gemini"].startswith("batches/")
    prefix, _, number = ids["vertex"].rpartition("/")
    assert prefix == "projects/bifrost-emulator/locations/us-central1/batchPredictionJobs" and number.isdigit()


def test_a_restarted_emulator_never_reuses_ids() -> None:
    first, second = _ids(EmulatorState()), _ids(EmulatorState())
    assert not set(first) & set(second)
    state = EmulatorState()
    before = _ids(state)
    state.reset()
    assert not set(before) & set(_ids(state))


def test_a_seed_makes_ids_reproducible() -> None:
    assert _ids(EmulatorState(EmulatorConfig(seed=3))) == _ids(EmulatorState(EmulatorConfig(seed=3)))
    state = EmulatorState(EmulatorConfig(seed=3))
    before = _ids(state)
    state.reset()
    assert _ids(state) == before


def test_two_emulator_runs_hand_out_different_ids() -> None:
    def run() -> list[str]:
        with run_emulator() as emulator:
            return [emulator.add_batch(provider, 1)["id"] for provider in PROVIDERS]

    assert not set(run()) & set(run())


def test_file_ids_have_each_providers_shape() -> None:
    state = EmulatorState()
    ids: dict[str, Any] = {provider: state.new_file_id(provider) for provider in PROVIDERS}
    assert ids["openai"].startswith("file-")
    assert ids["bedrock"].startswith("s3://")
    assert ids["vertex"].startswith("gs://")
    assert ids["gemini"].startswith("files/")
