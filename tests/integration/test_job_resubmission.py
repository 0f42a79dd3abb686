"""
Resubmitting what failed (issue 15): rounds of a job against the emulator, with failures worth retrying and
failures that are not, a second round that partly fails too, an expired part, and a retried task.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_bifrost.exceptions import BifrostConfigError
from airflow_provider_bifrost.storage.manifest import iter_result_items
from airflow_provider_bifrost.version_compat import AirflowFailException, TaskDeferred
from tests.integration.job_helpers import context, gateway, job, run_job, write_anthropic_requests, write_requests

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_provider_bifrost.testing.emulator import EmulatorClient

__all__ = ["gateway"]  # the shared fixture, used by name


def exported(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The exported items by custom_id; fails on a repeated id."""
    items: dict[str, dict[str, Any]] = {}
    for item in iter_result_items(manifest):
        assert item["custom_id"] not in items, f"{item['custom_id']} exported twice"
        items[item["custom_id"]] = item
    return items


def test_failures_worth_retrying_are_resubmitted_until_the_rounds_run_out(
    gateway: EmulatorClient, tmp_path: Path
) -> None:
    """
    Each batch fails 6 requests, 429, 400, 500 in turn: the rate-limited and server errors go again, the
    invalid ones do not. Round 1 (12 requests) partly fails too; round 2 (4 requests) fails entirely.
    """
    gateway.configure(failed_requests=6, failure_codes=[429, 400, 500], timeline=(0.05, 0.2, 0.05))
    source = write_requests(tmp_path / "requests.jsonl", 60)
    operator = job(tmp_path, input_uri=f"file://{source}", max_requests_per_batch=20, resubmit_failed=2)
    manifest, _ = run_job(operator, context())
    rounds = manifest["rounds"]
    assert [(r["round"], r["requests"], len(r["batches"]), r["resubmitted"]) for r in rounds] == [
        (0, 60, 3, 12),
        (1, 12, 1, 4),
        (2, 4, 1, 0),
    ]
    assert rounds[0]["reasons"] == {"rate_limited": 6, "invalid_request": 6, "server_error": 6}
    assert rounds[1]["reasons"] == {"rate_limited": 2, "invalid_request": 2, "server_error": 2}
    assert len(gateway.batches()) == 5
    items = exported(manifest)
    assert sorted(items) == sorted(f"r{i}" for i in range(60)), "one line per custom_id"
    still = manifest["still_failing"]
    assert still["requests"] == 12 and still["reasons"] == {"invalid_request": 9, "rate_limited": 2, "server_error": 1}
    assert len(still["first_ids"]) == 10 and all(items[i]["response"]["status_code"] >= 400 for i in still["first_ids"])
    assert manifest["counts"]["succeeded"] == 48 and manifest["counts"]["missing"] == 0
    assert [part["round"] for part in manifest["parts"]] == [0, 0, 0, 1, 2]
    # the latest attempt's line: the requests of round 2 are exported as round 2's batch answered them
    (round2_file,) = (tmp_path / "out").glob("job-*/_rounds/round-2.jsonl")
    with round2_file.open() as lines:
        round2 = {json.loads(line)["custom_id"] for line in lines}
    assert len(round2) == 4 and all(items[i]["response"]["status_code"] >= 400 for i in round2)
    with open(rounds[0]["failures_uri"].removeprefix("file://")) as lines:
        failures = [json.loads(line) for line in lines]
    assert Counter(f["retried"] for f in failures) == {True: 12, False: 6}


def test_without_failures_worth_retrying_there_is_no_round(gateway: EmulatorClient, tmp_path: Path) -> None:
    gateway.configure(failed_requests=3, failure_codes=[400])
    source = write_requests(tmp_path / "requests.jsonl", 20)
    manifest, _ = run_job(job(tmp_path, input_uri=f"file://{source}", resubmit_failed=3), context())
    assert len(gateway.batches()) == 1
    assert [r["round"] for r in manifest["rounds"] or []] == []
    assert manifest["still_failing"] is None and manifest["counts"]["succeeded"] == 17


def test_an_expired_part_is_resubmitted_and_the_job_succeeds(gateway: EmulatorClient, tmp_path: Path) -> None:
    """Anthropic: a part that expired half-way; its expired requests go again, the job succeeds."""
    gateway.configure(manual=True)
    source = write_anthropic_requests(tmp_path / "requests.jsonl", 20)
    operator = job(
        tmp_path,
        model="anthropic/claude-3-5-haiku",
        input_uri=f"file://{source}",
        max_requests_per_batch=10,
        resubmit_failed=1,
    )
    seen: list[int] = []

    def finish(state: dict[str, Any]) -> None:
        ids = [part["batch_id"] for part in state["parts"]]
        if len(seen) == 0:  # round 0: the first part completes, the second expires after 4 of its requests
            gateway.set_status(ids[0], "completed")
            gateway.set_status(ids[1], "expired", processed=4)
        else:
            gateway.set_status(ids[-1], "completed")
        seen.append(len(ids))

    manifest, _ = run_job(operator, context(), between=finish)
    assert seen == [2, 3]
    (round0, round1) = manifest["rounds"]
    assert round0["reasons"] == {"expired": 6} and round0["resubmitted"] == 6 == round1["requests"]
    assert manifest["parts"][1]["status"] == "ended" and manifest["parts"][2]["round"] == 1
    items = exported(manifest)
    assert len(items) == 20 and all(item["result"]["type"] == "succeeded" for item in items.values())
    assert manifest["still_failing"] == {"requests": 0, "reasons": {}, "first_ids": []}


def test_a_retried_task_finds_the_round_its_earlier_try_submitted(gateway: EmulatorClient, tmp_path: Path) -> None:
    """Airflow 3.2 (no saved state): the retry rebuilds round 1 from the same results and finds its batch."""
    gateway.configure(failed_requests=2, failure_codes=[503], timeline=(0.05, 0.2, 0.05))
    source = write_requests(tmp_path / "requests.jsonl", 10)
    arguments: dict[str, Any] = {"input_uri": f"file://{source}", "resubmit_failed": 1}
    operator = job(tmp_path, **arguments)
    with pytest.raises(TaskDeferred) as first:
        operator.execute(context())
    event = run_job_trigger(first.value)
    with pytest.raises(TaskDeferred):  # round 0 ended: round 1 submitted, then the worker is lost
        operator.execute_complete(context(), event)
    assert len(gateway.batches()) == 2
    manifest, _ = run_job(job(tmp_path, **arguments), context(try_number=2))
    assert len(gateway.batches()) == 2, "no batch submitted twice"
    assert [len(r["batches"]) for r in manifest["rounds"]] == [1, 1]
    assert len(exported(manifest)) == 10


def run_job_trigger(deferred: TaskDeferred) -> dict[str, Any]:
    from tests.integration.job_helpers import event_of

    return event_of(deferred.trigger)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"resubmit_failed": -1}, "resubmit_failed must be a whole number of rounds"),
        ({"resubmit_failed": True}, "resubmit_failed must be a whole number of rounds"),
        ({"resubmit_failed": 1, "output_uri": None}, "resubmit_failed needs output_uri"),
    ],
)
def test_bad_resubmission_arguments_are_refused_when_the_dag_is_parsed(
    tmp_path: Path, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(BifrostConfigError, match=message):
        job(
            tmp_path,
            requests=[{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {}}],
            **arguments,
        )


def test_a_job_that_still_fails_too_much_after_its_rounds_fails(gateway: EmulatorClient, tmp_path: Path) -> None:
    gateway.configure(failed_requests=10, failure_codes=[500])
    source = write_requests(tmp_path / "requests.jsonl", 10)
    ctx = context()
    operator = job(tmp_path, input_uri=f"file://{source}", resubmit_failed=1, failed_share_threshold=0.5)
    with pytest.raises(AirflowFailException, match=r"10 of 10 requests did not succeed"):
        run_job(operator, ctx)
    manifest = ctx["ti"].pushed["manifest"]
    assert manifest["still_failing"]["reasons"] == {"server_error": 10}
    assert [r["resubmitted"] for r in manifest["rounds"]] == [10, 0]
