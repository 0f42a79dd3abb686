"""
Resubmitting what failed with the create operator (issue 15): rounds against the emulator, deferred and in a
worker, from each kind of input; invalid requests never sent again; a retried task never submits a round twice;
the results operator merging the rounds into one line per custom_id.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_bifrost.exceptions import BifrostConfigError
from airflow_provider_bifrost.hooks.bifrost import BifrostHook
from airflow_provider_bifrost.operators.bifrost import BifrostCreateBatchOperator
from airflow_provider_bifrost.resubmission import ROUNDS_STATE_KEY
from airflow_provider_bifrost.triggers.bifrost import BifrostBatchTrigger
from airflow_provider_bifrost.version_compat import AirflowFailException, TaskDeferred
from tests.integration.test_create_operator import StateStore, TaskInstance, context

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from airflow_provider_bifrost.testing.emulator import EmulatorClient

OPENAI = {"model": "openai/gpt-4o-mini", "endpoint": "/v1/chat/completions"}


def requests(count: int) -> list[dict[str, Any]]:
    return [
        {"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini"}}
        for i in range(count)
    ]


@pytest.fixture(autouse=True)
def bifrost_default(emulator: EmulatorClient, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "bifrost", "host": emulator.url, "extra": {"max_retries": 1}}
    monkeypatch.setenv("AIRFLOW_CONN_BIFROST_DEFAULT", json.dumps(conn))
    emulator.configure(timeline=(0.02, 0.1, 0.02))


def create(**kwargs: Any) -> BifrostCreateBatchOperator:
    arguments: dict[str, Any] = {"task_id": "create", **OPENAI, "poll_interval": 0.05, "wait_for_completion": True}
    arguments.update(kwargs)
    return BifrostCreateBatchOperator(**arguments)


def trigger_event(trigger: BifrostBatchTrigger) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            payload: dict[str, Any] = event.payload
            return payload
        raise AssertionError("no event")

    return asyncio.run(first())


def run_deferred(
    operator: BifrostCreateBatchOperator, ctx: Any, between: Callable[[int], None] | None = None
) -> tuple[str, int]:
    """Run the task as Airflow would, deferral by deferral: its result and how many times it deferred."""
    deferrals = 0
    try:
        return operator.execute(ctx), deferrals
    except TaskDeferred as deferred:
        pending = deferred
    while True:
        assert isinstance(pending.trigger, BifrostBatchTrigger) and pending.method_name == "execute_complete"
        deferrals += 1
        event = trigger_event(pending.trigger)
        if between is not None:
            between(deferrals)
        try:
            return operator.execute_complete(ctx, event, **(pending.kwargs or {})), deferrals
        except TaskDeferred as deferred:
            pending = deferred


def test_rounds_until_they_run_out_the_second_partly_failing(emulator: EmulatorClient) -> None:
    """
    Round 0 (30 requests) fails 9: 429, 400, 500 in turn, so 6 go again. Round 1 (6) fails 3 of them: 2 go
    again. Round 2 (2) fails both: the rounds have run out. Deferred throughout.
    """
    emulator.configure(failed_requests=9, failure_codes=[429, 400, 500])
    ti = TaskInstance()

    def fewer_failures(deferrals: int) -> None:
        if deferrals == 1:  # round 0 ended; the next batches fail 3 requests each
            emulator.configure(failed_requests=3)

    first, deferrals = run_deferred(create(requests=requests(30), resubmit_failed=2), context(ti), fewer_failures)
    batches = emulator.batches()
    assert deferrals == 3 and len(batches) == 3
    assert first == batches[0]["id"], "the task still returns the first batch's id"
    assert ti.xcom["batch_ids"] == [b["id"] for b in batches]
    assert [(r["round"], r["requests"], r["resubmitted"]) for r in ti.xcom["rounds"]] == [
        (0, 30, 6),
        (1, 6, 2),
        (2, 2, 0),
    ]
    assert ti.xcom["rounds"][0]["reasons"] == {"rate_limited": 3, "invalid_request": 3, "server_error": 3}
    assert ti.xcom["rounds"][1]["reasons"] == {"rate_limited": 1, "invalid_request": 1, "server_error": 1}
    assert [b["request_counts"]["total"] for b in batches] == [30, 6, 2]
    assert ti.xcom["batch"]["batch_id"] == batches[2]["id"], "the summary is the last round's"


def test_invalid_requests_are_never_resubmitted(emulator: EmulatorClient) -> None:
    emulator.configure(failed_requests=3, failure_codes=[400])
    ti = TaskInstance()
    batch_id = create(requests=requests(10), resubmit_failed=3, deferrable=False).execute(context(ti))
    assert [b["id"] for b in emulator.batches()] == [batch_id] == ti.xcom["batch_ids"]
    assert ti.xcom["rounds"] == [
        {
            "round": 0,
            "batch_id": batch_id,
            "status": "completed",
            "requests": 10,
            "resubmitted": 0,
            "reasons": {"invalid_request": 3},
        }
    ]


def test_a_batch_where_everything_succeeded_reads_no_results(emulator: EmulatorClient) -> None:
    ti = TaskInstance()
    create(requests=requests(5), resubmit_failed=2, deferrable=False).execute(context(ti))
    assert len(emulator.batches()) == 1 and len(ti.xcom["batch_ids"]) == 1
    assert emulator.requests(r"/results$") == [] and emulator.requests(r"/content$") == []


def test_a_retried_task_never_submits_a_round_twice(emulator: EmulatorClient) -> None:
    """Round 1 was submitted, then the worker was lost: the retry (no saved state) finds it by its round's tag."""
    emulator.configure(failed_requests=2, failure_codes=[503])
    operator = create(requests=requests(10), resubmit_failed=1)
    with pytest.raises(TaskDeferred) as round0:
        operator.execute(context())
    with pytest.raises(TaskDeferred) as round1:
        operator.execute_complete(context(), trigger_event(round0.value.trigger), **(round0.value.kwargs or {}))
    assert len(emulator.batches()) == 2 and len((round1.value.kwargs or {})["rounds"]) == 2
    ti = TaskInstance(try_number=2)
    first, _ = run_deferred(create(requests=requests(10), resubmit_failed=1), context(ti, StateStore()))
    assert len(emulator.batches()) == 2, "no batch submitted twice"
    assert ti.xcom["batch_ids"] == [b["id"] for b in emulator.batches()] and first == ti.xcom["batch_ids"][0]


def test_a_retry_takes_up_the_rounds_an_earlier_try_saved(emulator: EmulatorClient) -> None:
    """With the task state store: the saved table names round 1's batch; no lookup, no second batch."""
    emulator.configure(failed_requests=2, failure_codes=[500])
    store = StateStore()
    operator = create(requests=requests(10), resubmit_failed=1, deferrable=False)
    operator.execute(context(store=store))
    assert len(store[ROUNDS_STATE_KEY]) == 2 and len(emulator.batches()) == 2
    emulator.clear_requests()
    ti = TaskInstance(try_number=2)
    create(requests=requests(10), resubmit_failed=1, deferrable=False).execute(context(ti, store))
    assert ti.xcom["batch_ids"] == [row["batch_id"] for row in store[ROUNDS_STATE_KEY]]
    assert [row["batch_id"] for row in ti.xcom["rounds"]] == [b["id"] for b in emulator.batches()]
    assert emulator.requests(r"^/v1/batches$", method="POST") == []


def test_rounds_from_a_file_on_storage_in_a_worker(emulator: EmulatorClient, tmp_path: Path) -> None:
    emulator.configure(failed_requests=4, failure_codes=[429])
    source = tmp_path / "requests.jsonl"
    source.write_text("".join(json.dumps(request) + "\n" for request in requests(12)))
    ti = TaskInstance()
    create(input_uri=f"file://{source}", resubmit_failed=1, deferrable=False).execute(context(ti))
    assert [r["requests"] for r in ti.xcom["rounds"]] == [12, 4]
    round1 = emulator.batches()[1]
    hook = BifrostHook()
    resent = [item["custom_id"] for item in hook.iter_file_items(round1["input_file_id"], "openai")]
    failed = [
        item["custom_id"]
        for item in hook.iter_file_items(emulator.batches()[0]["error_file_id"], "openai")
        if item["response"]["status_code"] == 429
    ]
    assert sorted(resent) == sorted(failed) and len(resent) == 4


def test_rounds_from_the_gateways_copy_of_the_input_file(emulator: EmulatorClient, tmp_path: Path) -> None:
    emulator.configure(failed_requests=2, failure_codes=[500])
    source = tmp_path / "requests.jsonl"
    source.write_text("".join(json.dumps(request) + "\n" for request in requests(8)))
    file_id = BifrostHook().upload_file(str(source), "openai").id
    ti = TaskInstance()
    create(input_file_id=file_id, resubmit_failed=1, deferrable=False).execute(context(ti))
    assert [r["requests"] for r in ti.xcom["rounds"]] == [8, 2]
    assert emulator.requests(rf"^/v1/files/{file_id}/content$", method="GET")


def test_the_rounds_fail_the_task_by_what_never_succeeded(emulator: EmulatorClient) -> None:
    emulator.configure(failed_requests=10, failure_codes=[500])
    ti = TaskInstance()
    with pytest.raises(AirflowFailException, match=r"after 1 resubmission round\(s\), 10 of 10 requests did not"):
        create(requests=requests(10), resubmit_failed=1, deferrable=False, failed_share_threshold=0.5).execute(
            context(ti)
        )
    assert len(ti.xcom["batch_ids"]) == 2 and ti.xcom["rounds"][0]["resubmitted"] == 10


def test_an_anthropic_batch_that_expired_half_way_goes_again(emulator: EmulatorClient) -> None:
    """Inline only, no tag kept: the expired requests go again inline; the task succeeds."""
    emulator.configure(manual=True)
    anthropic = [
        {"custom_id": f"a{i}", "params": {"model": "claude-3-5-haiku", "max_tokens": 8, "messages": []}}
        for i in range(10)
    ]
    ti = TaskInstance()
    operator = create(model="anthropic/claude-3-5-haiku", endpoint=None, requests=anthropic, resubmit_failed=1)
    with pytest.raises(TaskDeferred) as round0:
        operator.execute(context(ti))
    (batch,) = emulator.batches()
    emulator.set_status(batch["id"], "expired", processed=6)
    with pytest.raises(TaskDeferred) as round1:
        operator.execute_complete(context(ti), trigger_event(round0.value.trigger), **(round0.value.kwargs or {}))
    second = emulator.batches()[1]
    assert second["request_counts"]["total"] == 4
    emulator.set_status(second["id"], "completed")
    first = operator.execute_complete(context(ti), trigger_event(round1.value.trigger), **(round1.value.kwargs or {}))
    assert first == batch["id"] and ti.xcom["rounds"][0]["reasons"] == {"expired": 4}
    assert ti.xcom["batch"]["status"] == "ended"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"resubmit_failed": 1, "wait_for_completion": False}, r"resubmit_failed needs wait_for_completion=True"),
        ({"resubmit_failed": -1}, r"resubmit_failed must be a whole number of rounds"),
        ({"resubmit_failed": 1.5}, r"resubmit_failed must be a whole number of rounds"),
    ],
)
def test_bad_resubmission_arguments_are_refused_when_the_dag_is_parsed(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(BifrostConfigError, match=message) as raised:
        create(requests=requests(2), **kwargs)
    assert "BifrostCreateBatchOperator(task_id='create')" in str(raised.value)


def test_an_input_file_the_gateway_cannot_return_is_refused_before_submitting(emulator: EmulatorClient) -> None:
    operator = create(model="gemini/gemini-2.0-flash", endpoint=None, input_file_id="files/abc", resubmit_failed=1)
    with pytest.raises(BifrostConfigError, match=r"gemini's files API cannot return the file"):
        operator.execute(context())
    assert emulator.batches() == []
