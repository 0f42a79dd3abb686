"""The event contract: settling an event, and the closing line that says what the task will do."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from airflow_provider_bifrost.hooks.models import Batch
from airflow_provider_bifrost.hooks.retry import RetryPolicy
from airflow_provider_bifrost.outcome.events import closing_line, make_event, settle_event, terminal_event
from airflow_provider_bifrost.outcome.polling import BatchPoll
from airflow_provider_bifrost.version_compat import AirflowException, AirflowFailException


def batch(status: str = "completed", failed: int = 0) -> Batch:
    counts = {"total": 10, "completed": 10 - failed, "failed": failed}
    return Batch.model_validate({"id": "batch_1", "status": status, "request_counts": counts})


def settle(event: dict[str, Any], threshold: float | None = 1.0) -> dict[str, Any]:
    return settle_event(event, batch_id="batch_1", failed_share_threshold=threshold, on_timeout=AirflowException)


def test_a_success_under_the_threshold_succeeds_and_says_so() -> None:
    event = terminal_event(batch(failed=2), "openai")
    assert settle(event, 0.5)["request_counts"]["failed"] == 2
    assert closing_line(event, 0.5) == "Batch batch_1 completed: 10/10 done (100%), 2 failed; the task succeeds"


def test_a_success_the_threshold_fails_never_says_success() -> None:
    event = terminal_event(batch(failed=6), "openai")
    line = closing_line(event, 0.5)
    assert "success" not in line and "succeeds" not in line
    assert line.endswith(
        "the task fails: Bifrost batch batch_1 completed, but 6 of 10 requests did not succeed "
        "(60%), at or above failed_share_threshold=0.5."
    )
    with pytest.raises(AirflowFailException, match=r"at or above failed_share_threshold=0\.5"):
        settle(event, 0.5)


def test_the_poll_decision_closes_with_the_same_line(caplog: pytest.LogCaptureFixture) -> None:
    poll = BatchPoll(
        "batch_1",
        "openai",
        poll_interval=1,
        deadline=None,
        retry=RetryPolicy.for_polling(1),
        log=logging.getLogger("closing"),
        failed_share_threshold=0.5,
    )
    with caplog.at_level(logging.INFO, logger="closing"):
        poll.observed(batch(failed=6), 0.0)
    (line,) = [record.getMessage() for record in caplog.records]
    assert line.startswith("Batch batch_1 completed: ") and "the task fails" in line and "succeeds" not in line


@pytest.mark.parametrize(("status", "failed"), [("completed", 6), ("failed", 0)])
def test_a_job_parts_closing_line_names_the_part_and_leaves_the_verdict_to_the_job(status: str, failed: int) -> None:
    event = terminal_event(batch(status, failed=failed), "openai")
    line = closing_line(event, 0.5, part_of="Job job-1 part 2/5")
    assert line.startswith(f"Job job-1 part 2/5: batch batch_1 {status}: ")
    assert "the task" not in line


@pytest.mark.parametrize(("permanent", "cls"), [(True, AirflowFailException), (False, AirflowException)])
def test_an_error_event_fails_at_once_only_when_permanent(permanent: bool, cls: type[Exception]) -> None:
    event = make_event("error", "batch_1", "openai", message="HTTP 401", permanent=permanent)
    with pytest.raises(cls, match="Waiting for Bifrost batch batch_1 failed: HTTP 401") as raised:
        settle(event)
    assert isinstance(raised.value, AirflowFailException) is permanent
    expected = "error: HTTP 401" if permanent else "error, worth a retry: HTTP 401"
    assert closing_line(event, None) == f"Batch batch_1 {expected}"


def test_events_are_json_and_carry_no_permanent_flag_unless_set() -> None:
    assert "permanent" not in make_event("error", "b", "openai", message="m")
    assert make_event("error", "b", "openai", message="m", permanent=True)["permanent"] is True
