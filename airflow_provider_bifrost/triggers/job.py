"""
``BifrostJobTrigger``: wait on every running batch of a job at once, from the triggerer.

One trigger per wave holds all of a job's running batches. Each round checks them together on the event
loop's shared client; where the provider's list pages correctly (OpenAI, Azure, Vertex), one list call
tells many batches' statuses and only the batches it does not show are asked one by one. Each batch's
checks go through its own :class:`~airflow_provider_bifrost.outcome.polling.BatchPoll`, so a job's wait
tolerates exactly what a single batch's does. One aggregate progress line goes to the log at a steady
cadence (``progress_every``), never one per check.

It sends one event: ``wave`` when a batch finished and the job has parts left to submit, ``done`` when every
batch finished, ``timeout`` at the deadline, or ``error`` when a batch cannot be waited on. The event carries
the job's state with what was last seen of every batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_bifrost.constants import DEFAULT_CONN_NAME, DEFAULT_POLL_INTERVAL
from airflow_provider_bifrost.exceptions import BifrostConfigError, BifrostError
from airflow_provider_bifrost.hooks.bifrost import LIST_PAGE_MAX, BifrostHook
from airflow_provider_bifrost.jobs.state import JobState
from airflow_provider_bifrost.outcome.progress import DEFAULT_PROGRESS_EVERY
from airflow_provider_bifrost.version_compat import AIRFLOW_V_3_3_PLUS, warn_once

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from airflow_provider_bifrost.hooks.models import Batch
    from airflow_provider_bifrost.outcome.polling import BatchPoll, PollStep

log = logging.getLogger(__name__)

#: The statuses of a job event.
JOB_EVENT_STATUSES = frozenset({"wave", "done", "timeout", "error"})
ON_KILL_TIMEOUT = 30.0


class BifrostJobTrigger(BaseTrigger):
    """
    Poll a job's running batches until one finishes (and parts wait to be submitted) or all have.

    :param state: the job's state (:meth:`JobState.to_dict`); its running parts are the batches waited on.
    :param bifrost_conn_id: the Bifrost connection id (credentials are read from it, never stored here).
    :param poll_interval: seconds between rounds of status checks.
    :param deadline: unix time after which the wait ends with a ``timeout`` event (None: never).
    :param progress_every: seconds between the aggregate progress lines.
    :param cancel_on_kill: cancel every running batch when a user kills the deferred task (Airflow 3.3+).
    :param not_found_until: unix time until which a 404 is transient (batches created a moment ago).
    """

    def __init__(
        self,
        state: dict[str, Any],
        bifrost_conn_id: str = DEFAULT_CONN_NAME,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        deadline: float | None = None,
        progress_every: float = DEFAULT_PROGRESS_EVERY,
        cancel_on_kill: bool = False,
        not_found_until: float | None = None,
    ) -> None:
        super().__init__()
        if not poll_interval > 0:
            raise BifrostConfigError(f"poll_interval must be a positive number of seconds, got {poll_interval!r}")
        if not progress_every > 0:
            raise BifrostConfigError(f"progress_every must be a positive number of seconds, got {progress_every!r}")
        self.state = state
        self.bifrost_conn_id = bifrost_conn_id
        self.poll_interval = float(poll_interval)
        self.deadline = deadline
        self.progress_every = float(progress_every)
        self.cancel_on_kill = cancel_on_kill
        self.not_found_until = not_found_until
        if cancel_on_kill and not AIRFLOW_V_3_3_PLUS:
            warn_once(
                "trigger-on-kill",
                "cancel_on_kill: a deferred task that is killed leaves its batches running, because only Airflow "
                "3.3+ tells the trigger (a task killed while it runs in a worker still cancels them)",
            )

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and keyword arguments; no secret, only the connection id and the job's state."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "state": self.state,
                "bifrost_conn_id": self.bifrost_conn_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "progress_every": self.progress_every,
                "cancel_on_kill": self.cancel_on_kill,
                "not_found_until": self.not_found_until,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until a wave can go on, the job is done, the deadline passes or a batch cannot be waited on."""
        yield TriggerEvent(await self._wait())

    async def _wait(self) -> dict[str, Any]:
        job = JobState.from_dict(self.state)
        hook = BifrostHook.for_polling(self.bifrost_conn_id)
        try:
            async with hook.shared_async_client():
                return await self._poll(hook, job)
        except BifrostError as exc:  # the connection or the provider: nothing a poll could change
            return self._event(job, "error", str(exc), permanent=True)

    async def _poll(self, hook: BifrostHook, job: JobState) -> dict[str, Any]:
        hook.resolve_provider(job.provider)
        lists = hook.profile(job.provider).list_pagination
        polls = {
            part.batch_id: hook.batch_poll(
                part.batch_id,
                job.provider,
                poll_interval=self.poll_interval,
                deadline=self.deadline,
                log=log,
                not_found_until=self.not_found_until,
                part_of=f"Job {job.job_id} {job.part_name(part)}",
            )
            for part in job.active()
            if part.batch_id
        }
        waiting_parts = bool(job.waiting())
        last_line = 0.0
        while True:
            steps = await self._round(hook, job, polls, lists)
            now = time.time()
            for batch_id, step in steps.items():
                if step.event is not None:
                    polls.pop(batch_id)
                    if step.event.get("batch"):
                        job.record(batch_id, step.event["batch"])
                    if step.event["status"] in ("timeout", "error"):
                        return self._event(
                            job, step.event["status"], step.event["message"], step.event.get("permanent")
                        )
            if now - last_line >= self.progress_every or not polls:
                last_line = now
                log.info("%s", job.progress_line(now))
            if not polls:
                return self._event(job, "done" if not waiting_parts else "wave", "every running batch finished")
            if waiting_parts and len(polls) < len(steps):
                return self._event(job, "wave", "a batch finished: the next parts can be submitted")
            await asyncio.sleep(min(step.wait for step in steps.values() if step.event is None))

    async def _round(
        self, hook: BifrostHook, job: JobState, polls: dict[str, BatchPoll], lists: bool
    ) -> dict[str, PollStep]:
        """One check of every running batch: from one list call where it pages, the rest one by one."""
        listed: dict[str, Batch] = {}
        if lists and len(polls) > 1:
            try:
                page = await hook.alist_batches(job.provider, limit=LIST_PAGE_MAX)
                listed = {batch.id: batch for batch in page.data if batch.id in polls and batch.status}
            except BifrostError as exc:  # the list is an optimisation: the checks one by one decide
                log.debug("Job %s: listing batches failed (%s); checking them one by one", job.job_id, exc)
        for batch_id, batch in listed.items():
            job.record(batch_id, batch.summary(job.provider))

        async def check(batch_id: str) -> tuple[str, PollStep]:
            poll = polls[batch_id]
            if batch_id in listed:
                return batch_id, poll.observed(listed[batch_id], time.time())
            try:
                batch = await hook.aget_batch(batch_id, job.provider)
            except BifrostError as exc:
                return batch_id, poll.failed(exc, time.time())
            job.record(batch_id, batch.summary(job.provider))
            return batch_id, poll.observed(batch, time.time())

        return dict(await asyncio.gather(*(check(batch_id) for batch_id in polls)))

    def _event(self, job: JobState, status: str, message: str, permanent: bool | None = False) -> dict[str, Any]:
        log.info("Job %s: %s (%s)", job.job_id, status, message)
        event: dict[str, Any] = {"status": status, "job_id": job.job_id, "message": message, "state": job.to_dict()}
        if permanent:
            event["permanent"] = True
        return event

    async def on_kill(self) -> None:
        """When a user kills the deferred task (Airflow 3.3+), cancel every running batch if ``cancel_on_kill``."""
        if not self.cancel_on_kill:
            return
        job = JobState.from_dict(self.state)
        hook = BifrostHook(self.bifrost_conn_id)
        try:
            for part in job.active():
                assert part.batch_id is not None
                try:
                    batch = await asyncio.wait_for(hook.acancel_batch(part.batch_id, job.provider), ON_KILL_TIMEOUT)
                    log.info("Job %s: cancelled batch %s on kill, now %s", job.job_id, part.batch_id, batch.status)
                except (BifrostError, TimeoutError) as exc:
                    log.warning("Job %s: could not cancel batch %s on kill: %s", job.job_id, part.batch_id, exc)
        finally:
            await hook.aclose()
