"""``BifrostBatchTrigger``: poll a batch from the triggerer until it finishes, without a worker slot."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_bifrost.hooks.bifrost import BifrostHook
from airflow_provider_bifrost.hooks.errors import (
    BifrostError,
    BifrostProtocolError,
    BifrostRateLimitError,
    BifrostServerError,
    BifrostTransportError,
)
from airflow_provider_bifrost.hooks.http import RetryPolicy
from airflow_provider_bifrost.hooks.status import IN_PROGRESS_STATUSES, BatchState
from airflow_provider_bifrost.version_compat import AIRFLOW_V_3_3_PLUS, warn_once

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from airflow_provider_bifrost.hooks.models import Batch

log = logging.getLogger(__name__)

#: Every event status the trigger can send; the sensor accepts nothing else.
EVENT_STATUSES = frozenset({"success", "failed", "expired", "cancelled", "timeout", "error"})
_EVENT_OF_STATE = {
    BatchState.SUCCEEDED: "success",
    BatchState.FAILED: "failed",
    BatchState.EXPIRED: "expired",
    BatchState.CANCELLED: "cancelled",
}
#: Failures worth polling again for: the gateway or network may recover.
TRANSIENT_ERRORS = (BifrostTransportError, BifrostServerError, BifrostRateLimitError, BifrostProtocolError)
DEFAULT_MAX_CONSECUTIVE_FAILURES = 10
ON_KILL_TIMEOUT = 30.0


def make_event(
    status: str, batch_id: str, provider: str | None, batch: Batch | None = None, *, message: str
) -> dict[str, Any]:
    """
    The payload of a batch event (the trigger's, and the sensor's when it never defers).

    :param status: one of :data:`EVENT_STATUSES`.
    :param batch_id: the batch.
    :param provider: its provider.
    :param batch: the batch as last seen, if it was seen.
    :param message: what happened, for a person.
    """
    event: dict[str, Any] = {"status": status, "batch_id": batch_id, "provider": provider, "message": message}
    if batch is not None:
        event["batch_status"] = batch.status
        event["batch"] = batch.summary(provider or "")
    return event


def terminal_event(batch: Batch, provider: str | None) -> dict[str, Any]:
    """
    The event for a batch that has finished, with its progress and its own error details.

    :param batch: a batch in a terminal status.
    :param provider: its provider.
    """
    detail = "; ".join(batch.error_messages())
    message = batch.progress_line() + (f"; errors: {detail}" if detail else "")
    return make_event(_EVENT_OF_STATE[batch.state], batch.id, provider, batch, message=message)


class BifrostBatchTrigger(BaseTrigger):
    """
    Poll a Bifrost batch until it is terminal, then send exactly one event.

    Event ``status``: ``success`` (``completed``/``ended``), ``failed``, ``expired``, ``cancelled``,
    ``timeout`` (the deadline passed; the status is checked once more first) or ``error`` (a
    permanent error such as 401/403/404, or too many consecutive transient failures). Every event
    carries ``batch_id``, ``provider``, ``message`` and, when known, ``batch_status`` and the batch
    summary (``batch``: counts, file ids, errors, timestamps).

    Transient failures (network, 429, 5xx, garbled answers) are retried with backoff, up to
    ``max_consecutive_failures`` in a row. All I/O is async on a client shared by every trigger of
    the same gateway in this event loop.

    :param batch_id: the batch to wait for.
    :param provider: the batch's provider (None: the connection's ``default_provider``).
    :param bifrost_conn_id: the Bifrost connection id (credentials are read from it, never stored here).
    :param poll_interval: seconds between status checks.
    :param deadline: unix time after which to give up with a ``timeout`` event (None: never);
        absolute, so it survives the trigger moving to another triggerer process.
    :param cancel_on_kill: cancel the batch when a user kills the deferred task (Airflow 3.3+).
    :param max_consecutive_failures: transient failures in a row before an ``error`` event.
    """

    def __init__(
        self,
        batch_id: str,
        provider: str | None = None,
        bifrost_conn_id: str = BifrostHook.default_conn_name,
        poll_interval: float = 60.0,
        deadline: float | None = None,
        cancel_on_kill: bool = False,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
    ) -> None:
        super().__init__()
        if not poll_interval > 0:
            raise ValueError(f"poll_interval must be a positive number of seconds, got {poll_interval!r}")
        if max_consecutive_failures < 1:
            raise ValueError(f"max_consecutive_failures must be at least 1, got {max_consecutive_failures!r}")
        self.batch_id = batch_id
        self.provider = provider
        self.bifrost_conn_id = bifrost_conn_id
        self.poll_interval = float(poll_interval)
        self.deadline = deadline
        self.cancel_on_kill = cancel_on_kill
        if cancel_on_kill and not AIRFLOW_V_3_3_PLUS:
            warn_once(
                "trigger-on-kill",
                "cancel_on_kill: a deferred task that is killed leaves its batch running, because only Airflow "
                "3.3+ tells the trigger (a task killed while it runs in a worker still cancels it)",
            )
        self.max_consecutive_failures = max_consecutive_failures
        self._backoff = RetryPolicy(backoff_base=min(1.0, self.poll_interval), backoff_max=max(self.poll_interval, 1.0))

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and keyword arguments; no secret, only the connection id."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "batch_id": self.batch_id,
                "provider": self.provider,
                "bifrost_conn_id": self.bifrost_conn_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "cancel_on_kill": self.cancel_on_kill,
                "max_consecutive_failures": self.max_consecutive_failures,
            },
        )

    def _hook(self) -> BifrostHook:
        # One attempt per poll: the trigger's own loop does the retrying, within its deadline.
        return BifrostHook(self.bifrost_conn_id, retry_policy=RetryPolicy(max_retries=0))

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until terminal, deadline or permanent error; yield one event."""
        yield TriggerEvent(await self._wait())

    async def _wait(self) -> dict[str, Any]:
        hook = self._hook()
        try:
            async with hook.shared_async_client():
                self.provider = hook.resolve_provider(self.provider)
                return await self._poll(hook)
        except BifrostError as exc:
            return self._event("error", message=str(exc))

    async def _poll(self, hook: BifrostHook) -> dict[str, Any]:
        failures = 0
        batch: Batch | None = None
        while True:
            try:
                batch = await hook.aget_batch(self.batch_id, self.provider)
            except TRANSIENT_ERRORS as exc:
                failures += 1
                if failures >= self.max_consecutive_failures:
                    return self._event(
                        "error", batch, message=f"gave up after {failures} consecutive failures; last: {exc}"
                    )
                wait = self._backoff.backoff(failures, exc)
                log.warning("Batch %s: poll failed (%s); trying again in %.1f s", self.batch_id, exc, wait)
            else:
                failures = 0
                if batch.state is not BatchState.RUNNING:
                    return self._terminal_event(batch)
                log.debug("%s", batch.progress_line())
                wait = self.poll_interval
            if self.deadline is not None:
                remaining = self.deadline - time.time()
                if remaining <= 0:
                    return await self._last_check(hook, batch)
                wait = min(wait, remaining)
            await asyncio.sleep(wait)

    async def _last_check(self, hook: BifrostHook, batch: Batch | None) -> dict[str, Any]:
        """At the deadline: one more look, so a batch that just finished is not reported as timed out."""
        try:
            batch = await hook.aget_batch(self.batch_id, self.provider)
        except BifrostError as exc:
            log.warning("Batch %s: status check at the deadline failed: %s", self.batch_id, exc)
        if batch is not None and batch.state is not BatchState.RUNNING:
            return self._terminal_event(batch)
        status = f" (last status {batch.status})" if batch else ""
        if batch is not None and batch.status not in IN_PROGRESS_STATUSES:
            status = f" (last status {batch.status!r}: a status this provider does not know, so taken as running)"
        return self._event(
            "timeout", batch, message=f"batch {self.batch_id} did not finish before the deadline{status}"
        )

    def _terminal_event(self, batch: Batch) -> dict[str, Any]:
        event = terminal_event(batch, self.provider)
        log.info("Batch %s: %s (%s)", self.batch_id, event["status"], event["message"])
        return event

    def _event(self, status: str, batch: Batch | None = None, *, message: str) -> dict[str, Any]:
        log.info("Batch %s: %s (%s)", self.batch_id, status, message)
        return make_event(status, self.batch_id, self.provider, batch, message=message)

    async def on_kill(self) -> None:
        """When a user kills the deferred task (Airflow 3.3+), cancel the batch if ``cancel_on_kill``."""
        if not self.cancel_on_kill:
            return
        hook = BifrostHook(self.bifrost_conn_id)
        try:
            batch = await asyncio.wait_for(hook.acancel_batch(self.batch_id, self.provider), ON_KILL_TIMEOUT)
            log.info("Batch %s: cancelled on kill, now %s", self.batch_id, batch.status)
        except (BifrostError, TimeoutError) as exc:
            log.warning("Batch %s: could not cancel on kill: %s", self.batch_id, exc)
        finally:
            await hook.aclose()
