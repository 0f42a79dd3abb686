"""
A job's state between its tries and deferrals: its plan, each part's batch and last known status.

The state is JSON-safe and small (a few hundred bytes a part): it rides in the job trigger's arguments and
events, and, on Airflow 3.3+, in the task state store after every submission, so a task whose worker dies
between two submissions finds its parts again exactly. Without a saved state, each part is found by its own
tag (:func:`part_tag`), as the create operator finds its batch.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_bifrost.jobs.plan import Plan
from airflow_provider_bifrost.outcome.progress import pace
from airflow_provider_bifrost.outcome.status import BatchState, batch_state, done_requests, unsuccessful_requests

if TYPE_CHECKING:
    from airflow.sdk import Context

#: The task state store key (Airflow 3.3+) under which a job operator saves its state.
JOB_STATE_KEY = "bifrost_job"


def job_identity(context: Context) -> tuple[str, str]:
    """
    The running task instance's job: a stable hash key and a readable name.

    :param context: the task context.
    """
    ti = context["ti"]
    map_index = ti.map_index if ti.map_index is not None else -1
    identity = json.dumps([ti.dag_id, ti.task_id, ti.run_id, map_index, "job"])
    name = f"{ti.dag_id}.{ti.task_id} run_id={ti.run_id}" + (f" map_index={map_index}" if map_index >= 0 else "")
    return hashlib.sha256(identity.encode()).hexdigest()[:32], name


def part_tag(job_key: str, job_name: str, index: int, parts: int) -> tuple[str, str]:
    """
    The tag of one part's batch: a hash key of its own, and a readable name.

    :param job_key: the job's key (:func:`job_identity`).
    :param job_name: the job's readable name.
    :param index: the part's number, from 0.
    :param parts: how many parts the job has.
    """
    key = hashlib.sha256(f"{job_key}:part:{index}".encode()).hexdigest()[:32]
    return key, f"{job_name} part={index + 1}/{parts}"


@dataclass
class PartState:
    """
    What the job knows of one part.

    :param index: the part's number.
    :param batch_id: its batch, once submitted.
    :param status: the batch's last known status.
    :param request_counts: its last known request counts.
    :param summary: the batch summary of its final event (counts, file ids, errors).
    """

    index: int
    batch_id: str | None = None
    status: str | None = None
    request_counts: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] | None = None

    @property
    def state(self) -> BatchState:
        """What its status means (a part not yet submitted, or whose batch was not seen yet, counts as running)."""
        return batch_state(self.status) if self.batch_id and self.status is not None else BatchState.RUNNING

    @property
    def finished(self) -> bool:
        """Submitted, and its batch will not change any more."""
        return self.batch_id is not None and self.state is not BatchState.RUNNING


@dataclass
class JobState:
    """
    A job: its identity, plan, parts and when it started.

    :param job_id: the job's name in exports (``job-<16 hex digits>``), from its task instance.
    :param provider: the batches' provider.
    :param plan: how the requests are split.
    :param parts: one state per part of the plan.
    :param started_at: when the job was planned (unix seconds).
    :param submitting: the part whose create request is in flight: saved before the request is sent and
        cleared once its batch is recorded, so a try that takes the state up after a lost worker looks for
        that part's batch before submitting it.
    """

    job_id: str
    provider: str
    plan: Plan
    parts: list[PartState]
    started_at: float = field(default_factory=time.time)
    submitting: int | None = None

    @classmethod
    def new(cls, job_key: str, provider: str, plan: Plan) -> JobState:
        """
        The state of a job just planned, no part submitted.

        :param job_key: the job's key.
        :param provider: the provider.
        :param plan: its plan.
        """
        return cls(f"job-{job_key[:16]}", provider, plan, [PartState(part.index) for part in plan.parts])

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe, for the trigger, its events and the task state store."""
        return {**asdict(self), "plan": self.plan.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobState:
        """
        The state :meth:`to_dict` gave.

        :param data: its dict.
        """
        parts = [PartState(**part) for part in data["parts"]]
        plan = Plan.from_dict(data["plan"])
        return cls(data["job_id"], data["provider"], plan, parts, data["started_at"], data.get("submitting"))

    def active(self) -> list[PartState]:
        """Parts submitted whose batch is still running."""
        return [part for part in self.parts if part.batch_id and not part.finished]

    def waiting(self) -> list[PartState]:
        """Parts not submitted yet, in order."""
        return [part for part in self.parts if part.batch_id is None]

    def done(self) -> bool:
        """Every part's batch has finished."""
        return all(part.finished for part in self.parts)

    def part_name(self, part: PartState) -> str:
        """
        How logs and messages name a part: ``part 2/5`` (counted from 1).

        :param part: one of the job's parts.
        """
        return f"part {part.index + 1}/{len(self.parts)}"

    def problems(self, succeeded: int, failed_share_threshold: float | None) -> list[str]:
        """
        Why the finished job fails, if it does: each part that did not succeed, and too large a share of
        requests that did not succeed. Empty: the job succeeds.

        :param succeeded: how many requests the export found succeeded.
        :param failed_share_threshold: fail at or above this share of unsuccessful requests (None: never).
        """
        problems = [
            f"{self.part_name(part)} (batch {part.batch_id}) ended {part.status}"
            for part in self.parts
            if part.state is not BatchState.SUCCEEDED
        ]
        total = self.plan.requests
        share = (total - succeeded) / total if total else 0.0
        if failed_share_threshold is not None and share >= failed_share_threshold:
            problems.append(
                f"{total - succeeded:,} of {total:,} requests did not succeed ({share:.0%}), at or above "
                f"failed_share_threshold={failed_share_threshold}"
            )
        return problems

    def record(self, batch_id: str, summary: dict[str, Any]) -> None:
        """
        Take what a poll saw of a part's batch.

        :param batch_id: the batch.
        :param summary: its summary (``status``, ``request_counts``...).
        """
        for part in self.parts:
            if part.batch_id == batch_id:
                part.status = summary.get("status") or part.status
                part.request_counts = summary.get("request_counts") or part.request_counts
                part.summary = summary
                return

    def progress_line(self, now: float | None = None) -> str:
        """
        One line a person reads at a glance, for the whole job: parts, requests done and failed, the rate since
        the job started and the time left at that rate.

        :param now: the unix time of the line (default: now).
        """
        total = self.plan.requests
        done = sum(done_requests(part.request_counts) for part in self.parts)
        failed = sum(unsuccessful_requests(part.request_counts) for part in self.parts)
        elapsed = (now if now is not None else time.time()) - self.started_at
        finished = sum(part.finished for part in self.parts)
        share = f" ({100 * done // total}%)" if total else ""
        return (
            f"Job {self.job_id} ({self.provider}): parts {finished}/{len(self.parts)} done, {len(self.active())} "
            f"running, {len(self.waiting())} to submit; requests {done:,}/{total:,} done{share}, {failed:,} failed"
            + pace(done, total, elapsed)
        )
