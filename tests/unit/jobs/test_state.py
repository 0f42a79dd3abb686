"""A job's state: its identity and tags, the parts' progress, the JSON round trip, and when a finished job fails."""

from __future__ import annotations

import json
import logging
import re
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_bifrost.idempotency import task_instance_tag
from airflow_provider_bifrost.jobs.plan import PartPlan, Plan, Segment
from airflow_provider_bifrost.jobs.state import JobState, PartState, job_identity, part_tag
from airflow_provider_bifrost.outcome import status as status_module
from airflow_provider_bifrost.outcome.status import BatchState

STARTED = 1_900_000_000.0


def context(map_index: int | None = -1, **ti: Any) -> Any:
    values = {"dag_id": "d", "task_id": "t", "run_id": "manual__1", "map_index": map_index, **ti}
    return {"ti": SimpleNamespace(**values)}


def plan(*sizes: int) -> Plan:
    parts, first = [], 0
    for index, size in enumerate(sizes):
        parts.append(PartPlan(index, size, size * 100, first, (Segment(0, first * 100, (first + size) * 100),)))
        first += size
    return Plan(sources=["file:///in.jsonl"], parts=parts, requests=sum(sizes), content="c0ffee")


def job(*sizes: int) -> JobState:
    state = JobState.new("0123456789abcdef" * 2, "openai", plan(*sizes))
    state.started_at = STARTED
    return state


def finish(state: JobState, index: int, status: str, **counts: int) -> None:
    part = state.parts[index]
    part.batch_id = f"batch_{index}"
    state.record(part.batch_id, {"status": status, "request_counts": counts})


# -- identity -------------------------------------------------------------------------------------


def test_the_job_identity_is_stable_and_names_the_task_instance() -> None:
    key, name = job_identity(context())
    assert re.fullmatch(r"[0-9a-f]{32}", key)
    assert job_identity(context()) == (key, name)
    assert name == "d.t run_id=manual__1"
    assert job_identity(context(map_index=None)) == (key, name), "no map index is map index -1"


@pytest.mark.parametrize(
    "other",
    [{"dag_id": "d2"}, {"task_id": "t2"}, {"run_id": "manual__2"}, {"map_index": 0}],
    ids=["dag", "task", "run", "map_index"],
)
def test_another_task_instance_is_another_job(other: dict[str, Any]) -> None:
    assert job_identity(context(**other))[0] != job_identity(context())[0]


def test_a_mapped_job_names_its_map_index() -> None:
    assert job_identity(context(map_index=3))[1] == "d.t run_id=manual__1 map_index=3"


def test_a_job_is_not_tagged_like_a_single_batch_of_the_same_task_instance() -> None:
    assert job_identity(context())[0] != task_instance_tag(context())[0]


def test_each_part_has_a_tag_of_its_own() -> None:
    key, name = job_identity(context())
    tags = [part_tag(key, name, index, f"part {index + 1}/3") for index in range(3)]
    assert len({tag_key for tag_key, _ in tags}) == 3
    assert all(re.fullmatch(r"[0-9a-f]{32}", tag_key) and tag_key != key for tag_key, _ in tags)
    assert [tag_name for _, tag_name in tags] == [f"{name} part {i}/3" for i in (1, 2, 3)]
    assert part_tag(key, name, 1, "part 2/3") == tags[1]
    assert part_tag("f" * 32, name, 1, "part 2/3")[0] != tags[1][0], "another job's part 1 is another tag"


# -- parts ----------------------------------------------------------------------------------------


def test_a_new_job_has_one_waiting_part_per_planned_part() -> None:
    state = JobState.new("0123456789abcdef" * 2, "openai", plan(3, 3, 1))
    assert state.job_id == "job-0123456789abcdef"
    assert [part.index for part in state.waiting()] == [0, 1, 2]
    assert state.active() == [] and not state.done()
    assert state.started_at > 0


@pytest.mark.parametrize(
    ("batch_id", "status", "state", "finished"),
    [
        (None, None, BatchState.RUNNING, False),
        (None, "completed", BatchState.RUNNING, False),  # not submitted: whatever the status says
        ("b", None, BatchState.RUNNING, False),
        ("b", "in_progress", BatchState.RUNNING, False),
        ("b", "completed", BatchState.SUCCEEDED, True),
        ("b", "ended", BatchState.SUCCEEDED, True),
        ("b", "failed", BatchState.FAILED, True),
        ("b", "expired", BatchState.EXPIRED, True),
        ("b", "canceled", BatchState.CANCELLED, True),
    ],
)
def test_a_part_is_finished_once_its_batch_ends(
    batch_id: str | None, status: str | None, state: BatchState, finished: bool
) -> None:
    part = PartState(0, batch_id=batch_id, status=status)
    assert (part.state, part.finished) == (state, finished)


def test_a_part_whose_batch_was_not_seen_yet_is_running_without_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A batch found by its tag (lost create answer, a retry) has no status yet: Bifrost sent none to warn about."""
    monkeypatch.setattr(status_module, "_warned", set())
    with caplog.at_level(logging.WARNING, logger=status_module.__name__):
        part = PartState(0, batch_id="batch_0")
        assert (part.state, part.finished) == (BatchState.RUNNING, False)
        assert caplog.records == []
        part.status = "paused"  # control: a status Bifrost did send, and this provider does not know
        assert part.state is BatchState.RUNNING
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "batch status 'paused'" in messages[0]


def test_active_waiting_and_done_follow_the_parts() -> None:
    state = job(1, 1, 1)
    state.parts[0].batch_id, state.parts[0].status = "batch_0", "in_progress"
    assert [p.index for p in state.active()] == [0] and [p.index for p in state.waiting()] == [1, 2]
    finish(state, 0, "completed", total=1, completed=1)
    finish(state, 1, "failed", total=1, failed=1)
    assert state.active() == [] and [p.index for p in state.waiting()] == [2] and not state.done()
    finish(state, 2, "expired")
    assert state.done()


def test_record_takes_what_a_poll_saw_of_the_right_part_only() -> None:
    state = job(2, 2)
    state.parts[0].batch_id, state.parts[1].batch_id = "batch_0", "batch_1"
    summary = {"status": "in_progress", "request_counts": {"total": 2, "completed": 1}}
    state.record("batch_1", summary)
    assert (state.parts[1].status, state.parts[1].request_counts, state.parts[1].summary) == (
        "in_progress",
        {"total": 2, "completed": 1},
        summary,
    )
    assert (state.parts[0].status, state.parts[0].request_counts) == (None, {})
    state.record("batch_1", {"request_counts": {}})  # a summary without them keeps what was known
    assert (state.parts[1].status, state.parts[1].request_counts) == ("in_progress", {"total": 2, "completed": 1})
    state.record("batch_unknown", {"status": "failed"})
    assert [part.status for part in state.parts] == [None, "in_progress"]


# -- JSON round trip ------------------------------------------------------------------------------


def test_the_state_round_trips_through_json() -> None:
    state = job(3, 2)
    finish(state, 0, "completed", total=3, completed=3)
    state.parts[0].summary = {"status": "completed", "errors": [], "request_counts": {"total": 3, "completed": 3}}
    state.parts[1].batch_id, state.parts[1].status = "batch_1", "in_progress"
    text = json.dumps(state.to_dict())
    again = JobState.from_dict(json.loads(text))
    assert again == state
    assert again.plan.fingerprint == state.plan.fingerprint
    assert json.dumps(again.to_dict()) == text


def test_a_new_state_round_trips_too() -> None:
    state = job(1)
    assert JobState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


def test_the_part_in_flight_round_trips_and_a_state_saved_without_its_moment_reads_none() -> None:
    state = job(3, 2)
    state.submitting, state.submitting_at = 1, 1_700_000_000.25
    again = JobState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert (again.submitting, again.submitting_at) == (1, 1_700_000_000.25)
    older = state.to_dict()
    del older["submitting_at"]
    assert (JobState.from_dict(older).submitting, JobState.from_dict(older).submitting_at) == (1, None)


# -- when a finished job fails --------------------------------------------------------------------


def test_a_job_whose_parts_all_succeeded_has_no_problem() -> None:
    state = job(5, 5)
    finish(state, 0, "completed", total=5, completed=5)
    finish(state, 1, "ended", total=5, succeeded=5)
    assert state.problems(10, 1.0) == []
    assert state.problems(10, None) == []


def test_each_part_that_did_not_succeed_is_named() -> None:
    state = job(5, 5, 5)
    finish(state, 0, "completed")
    finish(state, 1, "failed")
    finish(state, 2, "cancelled")
    assert state.problems(5, None) == [
        "part 2/3 (batch batch_1) ended failed",
        "part 3/3 (batch batch_2) ended cancelled",
    ]


@pytest.mark.parametrize(
    ("succeeded", "threshold", "fails"),
    [
        (10, 0.1, False),  # nothing failed
        (9, 0.1, True),  # 10 %: at the threshold
        (8, 0.1, True),  # above it
        (9, 0.11, False),  # below it
        (0, 1.0, True),  # every request failed: the default threshold
        (1, 1.0, False),
        (0, None, False),  # None: never on the share
    ],
)
def test_the_failed_share_fails_the_job_at_or_above_the_threshold(
    succeeded: int, threshold: float | None, fails: bool
) -> None:
    state = job(5, 5)
    finish(state, 0, "completed")
    finish(state, 1, "completed")
    problems = state.problems(succeeded, threshold)
    assert bool(problems) == fails
    if fails:
        (problem,) = problems
        assert problem.startswith(f"{10 - succeeded:,} of 10 requests did not succeed")
        assert f"at or above failed_share_threshold={threshold}" in problem


def test_a_failed_part_and_the_share_are_both_named() -> None:
    state = job(5, 5)
    finish(state, 0, "completed")
    finish(state, 1, "failed")
    assert state.problems(5, 0.5) == [
        "part 2/2 (batch batch_1) ended failed",
        "5 of 10 requests did not succeed (50%), at or above failed_share_threshold=0.5",
    ]


# -- progress -------------------------------------------------------------------------------------


def test_the_progress_line_sums_every_part() -> None:
    state = job(100, 100, 100)
    finish(state, 0, "completed", total=100, completed=95, failed=5)
    state.parts[1].batch_id = "batch_1"
    state.record("batch_1", {"status": "in_progress", "request_counts": {"total": 100, "completed": 40, "failed": 2}})
    assert state.progress_line(now=STARTED + 10) == (
        f"Job {state.job_id} (openai): parts 1/3 done, 1 running, 1 to submit; requests 142/300 done (47%), "
        "7 failed, 14.2/s, about 11 s left"
    )


def test_the_progress_line_counts_what_is_done_where_the_provider_counts_what_is_pending() -> None:
    state = job(10)
    state.parts[0].batch_id = "batch_0"
    # Gemini: completed includes the failed ones; total - pending is what is done
    state.record("batch_0", {"status": "in_progress", "request_counts": {"total": 10, "completed": 6, "pending": 4}})
    line = state.progress_line(now=STARTED + 2)
    assert "requests 6/10 done (60%), 0 failed, 3.0/s" in line


def test_the_progress_line_at_the_start_divides_by_no_zero() -> None:
    state = job(10)
    assert state.progress_line(now=STARTED).endswith("requests 0/10 done (0%), 0 failed")
