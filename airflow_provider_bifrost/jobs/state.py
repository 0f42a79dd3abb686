"""
A job's state between its tries and deferrals: its plan, each part's batch and last known status.

The state is JSON-safe and small (a few hundred bytes a part): it rides in the job trigger's arguments and
events, and, on Airflow 3.3+, in the task state store before and after every submission, so a task whose worker
dies between two submissions finds its parts again exactly (the part whose create was in flight is looked up,
:attr:`JobState.submitting`). Without a saved state, each part is found by its own tag (:func:`part_tag`), as
the create operator finds its batch.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_bifrost.jobs.plan import PartPlan, Plan
from airflow_provider_bifrost.outcome.progress import pace
from airflow_provider_bifrost.outcome.status import BatchState, batch_state, done_requests, unsuccessful_requests
from airflow_provider_bifrost.results.records import RETRYABLE, missing_reason

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


def part_tag(job_key: str, job_name: str, index: int, label: str) -> tuple[str, str]:
    """
    The tag of one part's batch: a hash key of its own, and a readable name.

    :param job_key: the job's key (:func:`job_identity`).
    :param job_name: the job's readable name.
    :param index: the part's job-wide number, from 0 (over every round).
    :param label: how the part is named (:meth:`JobState.part_name`: ``part 2/5``, ``round 1 part 1/2``).
    """
    key = hashlib.sha256(f"{job_key}:part:{index}".encode()).hexdigest()[:32]
    return key, f"{job_name} {label}"


@dataclass
class PartState:
    """
    What the job knows of one part.

    :param index: the part's number in the job (its tag's), counted over every round.
    :param round: the round it belongs to: 0 for the job's input, then each resubmission of what failed.
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
    round: int = 0

    @property
    def state(self) -> BatchState:
        """What its status means (a part not yet submitted, or whose batch was not seen yet, counts as running)."""
        return batch_state(self.status) if self.batch_id and self.status is not None else BatchState.RUNNING

    @property
    def finished(self) -> bool:
        """Submitted, and its batch will not change any more."""
        return self.batch_id is not None and self.state is not BatchState.RUNNING


@dataclass
class RoundState:
    """
    A resubmission round: the requests of the round before that failed for a reason worth retrying.

    :param round: its number, from 1.
    :param input_uri: the file holding its requests (``<export folder>/_rounds/round-<n>.jsonl``).
    :param plan: how they are split into parts.
    :param first_part: the job-wide number of its first part.
    :param before: what the round before it left: ``requests`` retried now, ``reasons`` (reason -> requests,
        every reason a request did not succeed for, retried or not).
    """

    round: int
    input_uri: str
    plan: Plan
    first_part: int
    before: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe."""
        return {**asdict(self), "plan": self.plan.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RoundState:
        """
        The round :meth:`to_dict` gave.

        :param data: its dict.
        """
        return cls(data["round"], data["input_uri"], Plan.from_dict(data["plan"]), data["first_part"], data["before"])


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
    :param submitting_at: when that part's submission began (unix seconds): its batch, if the gateway made it,
        was created after it, so a fingerprint lookup looks no earlier (a look-alike from before is not its).
    :param rounds: the resubmission rounds so far (their parts follow the input's in ``parts``).
    """

    job_id: str
    provider: str
    plan: Plan
    parts: list[PartState]
    started_at: float = field(default_factory=time.time)
    submitting: int | None = None
    rounds: list[RoundState] = field(default_factory=list)
    submitting_at: float | None = None

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
        return {
            **asdict(self),
            "plan": self.plan.to_dict(),
            "rounds": [round_.to_dict() for round_ in self.rounds],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobState:
        """
        The state :meth:`to_dict` gave.

        :param data: its dict.
        """
        parts = [PartState(**part) for part in data["parts"]]
        plan = Plan.from_dict(data["plan"])
        rounds = [RoundState.from_dict(round_) for round_ in data.get("rounds") or ()]
        return cls(
            data["job_id"],
            data["provider"],
            plan,
            parts,
            data["started_at"],
            data.get("submitting"),
            rounds,
            data.get("submitting_at"),
        )

    @property
    def round(self) -> int:
        """The current round: 0 while the job's input runs, then each resubmission's number."""
        return len(self.rounds)

    def plan_of(self, part: PartState) -> Plan:
        """
        The plan ``part`` belongs to: the job's, or its resubmission round's.

        :param part: one of the job's parts.
        """
        return self.rounds[part.round - 1].plan if part.round else self.plan

    def spec(self, part: PartState) -> PartPlan:
        """
        Where ``part``'s requests are, in its round's plan.

        :param part: one of the job's parts.
        """
        first = self.rounds[part.round - 1].first_part if part.round else 0
        return self.plan_of(part).parts[part.index - first]

    def round_parts(self, number: int) -> list[PartState]:
        """
        The parts of round ``number``.

        :param number: 0 for the job's input, then each resubmission's.
        """
        return [part for part in self.parts if part.round == number]

    def add_round(self, input_uri: str, plan: Plan, before: dict[str, Any]) -> RoundState:
        """
        Start a resubmission round: its parts are added, none submitted.

        :param input_uri: the file holding its requests.
        :param plan: how they are split.
        :param before: what the round before it left (see :class:`RoundState`).
        """
        added = RoundState(self.round + 1, input_uri, plan, len(self.parts), before)
        self.rounds.append(added)
        self.parts.extend(PartState(added.first_part + spec.index, round=added.round) for spec in plan.parts)
        return added

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
        How logs and messages name a part: ``part 2/5`` (counted from 1), ``round 1 part 1/2`` (a resubmission's).

        :param part: one of the job's parts.
        """
        plan = self.plan_of(part)
        name = f"part {self.spec(part).index + 1}/{len(plan.parts)}"
        return f"round {part.round} {name}" if part.round else name

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
            # a part of an earlier round that expired or was cancelled had its requests resubmitted
            and not (part.round < self.round and missing_reason(part.status) in RETRYABLE)
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
        parts = self.round_parts(self.round)
        total = self.rounds[-1].plan.requests if self.rounds else self.plan.requests
        done = sum(done_requests(part.request_counts) for part in parts)
        failed = sum(unsuccessful_requests(part.request_counts) for part in parts)
        elapsed = (now if now is not None else time.time()) - self.started_at
        finished = sum(part.finished for part in parts)
        running = sum(1 for part in parts if part.batch_id and not part.finished)
        waiting = sum(1 for part in parts if part.batch_id is None)
        share = f" ({100 * done // total}%)" if total else ""
        job = f"Job {self.job_id} ({self.provider})" + (f" resubmission round {self.round}" if self.round else "")
        return (
            f"{job}: parts {finished}/{len(parts)} done, {running} running, {waiting} to submit; "
            f"requests {done:,}/{total:,} done{share}, {failed:,} failed" + pace(done, total, elapsed)
        )
