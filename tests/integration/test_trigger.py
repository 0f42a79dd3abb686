"""BifrostBatchTrigger against the emulator over loopback HTTP."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_bifrost.outcome.events import EVENT_STATUSES
from airflow_provider_bifrost.triggers.bifrost import BifrostBatchTrigger

if TYPE_CHECKING:
    from airflow_provider_bifrost.testing.emulator import EmulatorClient

SECRET = "sk-bf-trigger-secret"


@pytest.fixture
def conn(emulator: EmulatorClient, monkeypatch: pytest.MonkeyPatch) -> str:
    emulator.configure(virtual_keys={SECRET: "ok"})
    value = {"conn_type": "bifrost", "host": emulator.url, "password": SECRET, "extra": {"default_provider": "openai"}}
    monkeypatch.setenv("AIRFLOW_CONN_BIFROST_TRIGGER", json.dumps(value))
    return "bifrost_trigger"


def trigger(conn_id: str, batch_id: str, **kwargs: Any) -> BifrostBatchTrigger:
    kwargs.setdefault("poll_interval", 0.05)
    return BifrostBatchTrigger(batch_id=batch_id, bifrost_conn_id=conn_id, **kwargs)


async def events_of(trig: BifrostBatchTrigger) -> list[dict[str, Any]]:
    """Run the trigger to its end, collecting every event payload."""
    return [event.payload async for event in trig.run()]


@pytest.mark.parametrize(
    ("provider", "final", "event_status"),
    [
        ("openai", "completed", "success"),
        ("anthropic", "ended", "success"),
        ("openai", "failed", "failed"),
        ("openai", "expired", "expired"),
        ("openai", "cancelled", "cancelled"),
        ("openai", "canceled", "cancelled"),
        ("gemini", "deleted", "failed"),
    ],
)
async def test_each_terminal_outcome_gives_exactly_one_event(
    emulator: EmulatorClient, conn: str, provider: str, final: str, event_status: str
) -> None:
    batch = emulator.add_batch(provider, requests=4, manual=True)

    async def finish_later() -> None:
        await asyncio.sleep(0.3)
        await asyncio.to_thread(emulator.set_status, batch["id"], final)

    finisher = asyncio.create_task(finish_later())
    events = await events_of(trigger(conn, batch["id"], provider=provider))
    await finisher
    assert len(events) == 1
    (event,) = events
    assert event["status"] == event_status and event["status"] in EVENT_STATUSES
    assert (event["batch_id"], event["provider"], event["batch_status"]) == (batch["id"], provider, final)
    assert event["batch"]["request_counts"]["total"] == 4
    assert len(emulator.requests(f"/v1/batches/{batch['id']}$")) >= 2  # it really polled


async def test_progress_goes_to_the_log_at_info_at_its_cadence_not_per_check(
    emulator: EmulatorClient, conn: str, caplog: pytest.LogCaptureFixture
) -> None:
    batch = emulator.add_batch("openai", requests=40, timeline=(0.1, 1.5, 0.1))
    with caplog.at_level(logging.INFO, logger="airflow_provider_bifrost.triggers.bifrost"):
        (event,) = await events_of(trigger(conn, batch["id"], progress_every=0.5))
    assert event["status"] == "success"
    checks = len(emulator.requests(f"/v1/batches/{batch['id']}$"))
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO and "done (" in r.getMessage()]
    progress = [line for line in lines if line.startswith(f"{batch['id']} in_progress: ")]
    assert 2 <= len(progress) < checks / 2, (len(progress), checks)  # steady, far fewer lines than checks
    assert any(re.search(r", [\d.,]+/s, about \d+ s left$", line) for line in progress), progress
    assert lines[-1].startswith(f"Batch {batch['id']} completed: 40/40 done (100%)")


async def test_failed_batch_event_carries_the_batch_errors(emulator: EmulatorClient, conn: str) -> None:
    batch = emulator.add_batch("openai", requests=3, outcome="failed", timeline=(0, 0, 0))
    (event,) = await events_of(trigger(conn, batch["id"]))
    assert event["status"] == "failed"
    assert event["batch"]["errors"] and event["batch"]["errors"][0] in event["message"]


async def test_transient_faults_then_success(emulator: EmulatorClient, conn: str) -> None:
    batch = emulator.add_batch("openai", requests=2, timeline=(0, 0.3, 0))
    emulator.set_faults(
        [
            {"action": "status", "path": "/v1/batches/", "status": 503, "times": 2},
            {"action": "drop", "path": "/v1/batches/", "times": 1},
            {"action": "html", "path": "/v1/batches/", "status": 502, "times": 1},
            {"action": "status", "path": "/v1/batches/", "status": 429, "retry_after": "0", "times": 1},
        ]
    )
    (event,) = await events_of(trigger(conn, batch["id"]))
    assert event["status"] == "success"
    assert sum(rule["applied"] for rule in emulator.faults()) == 5


async def test_persistent_faults_end_in_an_error_event(emulator: EmulatorClient, conn: str) -> None:
    batch = emulator.add_batch("openai", requests=2, manual=True)
    emulator.add_fault("status", path="/v1/batches/", status=503)
    (event,) = await events_of(trigger(conn, batch["id"], max_consecutive_failures=3))
    assert event["status"] == "error" and "3 consecutive failures" in event["message"]
    assert len(emulator.requests("/v1/batches/")) == 3


@pytest.mark.parametrize(("batch_id", "fragment"), [("batch_missing", "HTTP 404")])
async def test_permanent_error_fails_fast(emulator: EmulatorClient, conn: str, batch_id: str, fragment: str) -> None:
    (event,) = await events_of(trigger(conn, batch_id))
    assert event["status"] == "error" and fragment in event["message"]
    assert len(emulator.requests("/v1/batches/")) == 1


async def test_bad_key_fails_fast(emulator: EmulatorClient, conn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_BIFROST_BADKEY",
        json.dumps({"conn_type": "bifrost", "host": emulator.url, "password": "sk-bf-nope"}),
    )
    batch = emulator.add_batch("openai", requests=1, manual=True)
    (event,) = await events_of(trigger("bifrost_badkey", batch["id"], provider="openai"))
    assert event["status"] == "error" and "HTTP 401" in event["message"] and "sk-bf-nope" not in event["message"]
    assert len(emulator.requests("/v1/batches/")) == 1


async def test_timeout_checks_once_more_then_reports(emulator: EmulatorClient, conn: str) -> None:
    batch = emulator.add_batch("openai", requests=2, manual=True)
    started = time.monotonic()
    (event,) = await events_of(trigger(conn, batch["id"], poll_interval=0.2, deadline=time.time() + 0.5))
    assert event["status"] == "timeout" and event["batch_status"] == "in_progress"
    assert time.monotonic() - started >= 0.5
    assert "did not finish before the deadline" in event["message"]


async def test_batch_finishing_at_the_deadline_is_not_a_timeout(emulator: EmulatorClient, conn: str) -> None:
    """The poll at the deadline fails; the extra check right before reporting sees the batch done."""
    batch = emulator.add_batch("openai", requests=2, manual=True)
    trig = trigger(conn, batch["id"], poll_interval=5.0, deadline=time.time() + 0.4)

    async def after_the_first_poll() -> None:
        while not await asyncio.to_thread(emulator.requests, "/v1/batches/"):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        await asyncio.to_thread(emulator.add_fault, "status", path="/v1/batches/", status=503, times=1)
        await asyncio.to_thread(emulator.set_status, batch["id"], "completed")

    meddler = asyncio.create_task(after_the_first_poll())
    (event,) = await events_of(trig)
    await meddler
    assert event["status"] == "success"
    assert [r["status"] for r in emulator.requests("/v1/batches/")] == [200, 503, 200]


async def test_unknown_status_keeps_polling(emulator: EmulatorClient, conn: str) -> None:
    batch = emulator.add_batch("openai", requests=1, manual=True)
    emulator.set_status(batch["id"], "paused_by_provider")
    (event,) = await events_of(trigger(conn, batch["id"], deadline=time.time() + 0.4))
    assert event["status"] == "timeout" and event["batch_status"] == "paused_by_provider"


async def test_on_kill_cancels_when_asked(emulator: EmulatorClient, conn: str) -> None:
    batch = emulator.add_batch("openai", requests=5, manual=True)
    await trigger(conn, batch["id"], provider="openai", cancel_on_kill=True).on_kill()
    assert len(emulator.requests("/cancel$", method="POST")) == 1
    other = emulator.add_batch("openai", requests=5, manual=True)
    await trigger(conn, other["id"], provider="openai").on_kill()
    assert len(emulator.requests("/cancel$", method="POST")) == 1
    statuses = {b["id"]: b["status"] for b in emulator.batches()}
    assert statuses[batch["id"]] in ("cancelling", "cancelled") and statuses[other["id"]] == "in_progress"


def test_serialize_round_trip_holds_no_secret() -> None:
    original = BifrostBatchTrigger(
        batch_id="batch_1",
        provider="anthropic",
        bifrost_conn_id="bifrost_x",
        poll_interval=30,
        deadline=1_900_000_000.5,
        cancel_on_kill=True,
        max_consecutive_failures=4,
    )
    path, kwargs = original.serialize()
    assert path == "airflow_provider_bifrost.triggers.bifrost.BifrostBatchTrigger"
    module, _, name = path.rpartition(".")
    rebuilt = getattr(__import__(module, fromlist=[name]), name)(**kwargs)
    assert rebuilt.serialize() == (path, kwargs)
    assert kwargs == {
        "batch_id": "batch_1",
        "provider": "anthropic",
        "bifrost_conn_id": "bifrost_x",
        "poll_interval": 30.0,
        "deadline": 1_900_000_000.5,
        "cancel_on_kill": True,
        "max_consecutive_failures": 4,
        "failed_share_threshold": None,
        "not_found_until": None,
        "progress_every": 60.0,
    }
    json.dumps(kwargs)


@pytest.mark.parametrize(
    "bad", [{"poll_interval": 0}, {"poll_interval": -5}, {"max_consecutive_failures": 0}, {"progress_every": 0}]
)
def test_bad_arguments(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        BifrostBatchTrigger(batch_id="b", **bad)
