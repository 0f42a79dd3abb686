"""The poll decision: no I/O, so every rule of a wait is checked here with batches and errors made up."""

from __future__ import annotations

import logging
import random

import pytest

from airflow_provider_bifrost.exceptions import (
    BifrostAuthenticationError,
    BifrostNotFoundError,
    BifrostProtocolError,
    BifrostServerError,
    BifrostTransportError,
)
from airflow_provider_bifrost.hooks.models import Batch
from airflow_provider_bifrost.hooks.retry import RetryPolicy
from airflow_provider_bifrost.outcome.polling import BatchPoll

log = logging.getLogger(__name__)
NOW = 1_900_000_000.0


def batch(status: str, total: int = 10, failed: int = 0) -> Batch:
    counts = {"total": total, "completed": total - failed, "failed": failed}
    return Batch.model_validate({"id": "batch_1", "status": status, "request_counts": counts})


def poll(*, poll_interval: float = 30.0, deadline: float | None = None, failures: int = 4) -> BatchPoll:
    retry = RetryPolicy.for_polling(poll_interval, failures)
    retry.rng = random.Random(1)
    return BatchPoll("batch_1", "openai", poll_interval=poll_interval, deadline=deadline, retry=retry, log=log)


@pytest.mark.parametrize(
    ("status", "event"),
    [
        ("completed", "success"),
        ("ended", "success"),
        ("failed", "failed"),
        ("expired", "expired"),
        ("canceled", "cancelled"),
    ],
)
def test_a_terminal_status_ends_the_wait_with_its_event(status: str, event: str) -> None:
    step = poll().observed(batch(status), NOW)
    assert step.event is not None
    assert (step.event["status"], step.event["batch_status"], step.event["batch_id"]) == (event, status, "batch_1")
    assert step.event["batch"]["request_counts"]["total"] == 10


def test_a_running_batch_is_checked_again_after_the_poll_interval() -> None:
    step = poll(poll_interval=30).observed(batch("in_progress"), NOW)
    assert (step.event, step.wait) == (None, 30)


def test_transient_failures_back_off_and_a_success_resets_the_count() -> None:
    wait = poll(poll_interval=30, failures=4)
    waits = [wait.failed(BifrostServerError(503, "GET", "/v1/batches/batch_1"), NOW).wait for _ in range(3)]
    assert 0.5 <= waits[0] <= 1 < waits[1] <= 2 < waits[2] <= 4  # doubling from at most a second, jittered
    assert wait.observed(batch("in_progress"), NOW).wait == 30
    for _ in range(3):  # a fresh streak: three more failures are tolerated again
        assert wait.failed(BifrostTransportError("dropped"), NOW).event is None


@pytest.mark.parametrize(
    "error",
    [BifrostServerError(502, "GET", "/"), BifrostTransportError("timed out"), BifrostProtocolError("not JSON")],
)
def test_too_many_transient_failures_in_a_row_end_the_wait_with_an_error(error: Exception) -> None:
    wait = poll(failures=4)
    assert wait.observed(batch("in_progress"), NOW).event is None
    steps = [wait.failed(error, NOW) for _ in range(4)]
    assert [step.event is None for step in steps] == [True, True, True, False]
    event = steps[-1].event
    assert event is not None and event["status"] == "error"
    assert event["message"].startswith("gave up after 4 consecutive failures; last: ")
    assert event["batch_status"] == "in_progress"  # the batch as last seen


@pytest.mark.parametrize("error", [BifrostNotFoundError(404, "GET", "/"), BifrostAuthenticationError(401, "GET", "/")])
def test_a_permanent_error_ends_the_wait_at_once(error: Exception) -> None:
    step = poll().failed(error, NOW)
    assert step.event is not None and step.event["status"] == "error"
    assert step.event["message"] == str(error)
    assert "batch" not in step.event


def test_the_wait_never_sleeps_past_the_deadline() -> None:
    wait = poll(poll_interval=30, deadline=NOW + 5)
    assert wait.observed(batch("in_progress"), NOW).wait == 5
    assert wait.failed(BifrostServerError(503, "GET", "/"), NOW + 4.9).wait == pytest.approx(0.1)


def test_at_the_deadline_one_last_check_decides() -> None:
    wait = poll(poll_interval=30, deadline=NOW)
    step = wait.observed(batch("in_progress"), NOW + 1)
    assert (step.event, step.wait) == (None, 0)  # check once more, at once
    final = wait.observed(batch("in_progress"), NOW + 1.1)
    assert final.event is not None and final.event["status"] == "timeout"
    assert final.event["message"] == "batch batch_1 did not finish before the deadline (last status in_progress)"


def test_a_batch_that_finished_at_the_deadline_is_not_a_timeout() -> None:
    wait = poll(deadline=NOW)
    wait.observed(batch("in_progress"), NOW + 1)
    step = wait.observed(batch("completed"), NOW + 1.1)
    assert step.event is not None and step.event["status"] == "success"


def test_a_failed_last_check_is_a_timeout_with_the_batch_as_last_seen() -> None:
    wait = poll(deadline=NOW)
    wait.observed(batch("in_progress"), NOW + 1)
    step = wait.failed(BifrostNotFoundError(404, "GET", "/"), NOW + 1.1)
    assert step.event is not None and step.event["status"] == "timeout"
    assert step.event["batch_status"] == "in_progress"


def test_an_unknown_status_is_waited_on_and_named_at_the_timeout() -> None:
    wait = poll(deadline=NOW)
    wait.observed(batch("paused"), NOW + 1)
    step = wait.observed(batch("paused"), NOW + 1.1)
    assert step.event is not None and step.event["status"] == "timeout"
    assert "'paused': a status this provider does not know, so taken as running" in step.event["message"]
