"""``BifrostBatchTrigger``: poll a batch from the triggerer until it finishes, without a worker slot."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_bifrost.constants import (
    DEFAULT_CONN_NAME,
    DEFAULT_MAX_CONSECUTIVE_FAILURES,
    DEFAULT_POLL_INTERVAL,
)
from airflow_provider_bifrost.exceptions import BifrostConfigError, BifrostError
from airflow_provider_bifrost.hooks.bifrost import BifrostHook
from airflow_provider_bifrost.outcome.events import make_event
from airflow_provider_bifrost.outcome.progress import DEFAULT_PROGRESS_EVERY
from airflow_provider_bifrost.validation import check_batch_provider
from airflow_provider_bifrost.version_compat import AIRFLOW_V_3_3_PLUS, warn_once

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

log = logging.getLogger(__name__)

ON_KILL_TIMEOUT = 30.0


class BifrostBatchTrigger(BaseTrigger):
    """
    Poll a Bifrost batch until it is terminal, then send exactly one event.

    Event ``status``: ``success`` (``completed``/``ended``), ``failed``, ``expired``, ``cancelled``,
    ``timeout`` (the deadline passed; the status is checked once more first) or ``error`` (a
    permanent error such as 401/403/404, or too many consecutive transient failures). Every event
    carries ``batch_id``, ``provider``, ``message`` and, when known, ``batch_status`` and the batch
    summary (``batch``: counts, file ids, errors, timestamps); see :mod:`airflow_provider_bifrost.outcome`.

    Transient failures (network, 429, 5xx, garbled answers) are retried with backoff, up to
    ``max_consecutive_failures`` in a row, by the same poll decision as the sensor's and the create
    operator's waits (:class:`~airflow_provider_bifrost.outcome.polling.BatchPoll`). All I/O is async on a
    client shared by every trigger of the same gateway in this event loop.

    :param batch_id: the batch to wait for.
    :param provider: the batch's provider (None: the connection's ``default_provider``).
    :param bifrost_conn_id: the Bifrost connection id (credentials are read from it, never stored here).
    :param poll_interval: seconds between status checks.
    :param deadline: unix time after which to give up with a ``timeout`` event (None: never);
        absolute, so it survives the trigger moving to another triggerer process.
    :param cancel_on_kill: cancel the batch when a user kills the deferred task (Airflow 3.3+).
    :param max_consecutive_failures: transient failures in a row before an ``error`` event.
    :param failed_share_threshold: the waiting task's, so the closing log line says what the task will do.
    :param not_found_until: unix time until which a 404 is transient (a batch created a moment ago).
    :param progress_every: seconds between progress lines at INFO (counts, %, rate, time left); None: none.
    """

    def __init__(
        self,
        batch_id: str,
        provider: str | None = None,
        bifrost_conn_id: str = DEFAULT_CONN_NAME,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        deadline: float | None = None,
        cancel_on_kill: bool = False,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
        failed_share_threshold: float | None = None,
        not_found_until: float | None = None,
        progress_every: float | None = DEFAULT_PROGRESS_EVERY,
    ) -> None:
        super().__init__()
        if not poll_interval > 0:
            raise BifrostConfigError(f"poll_interval must be a positive number of seconds, got {poll_interval!r}")
        check_batch_provider(provider)
        if progress_every is not None and not progress_every > 0:
            raise BifrostConfigError(f"progress_every must be a positive number of seconds, got {progress_every!r}")
        if max_consecutive_failures < 1:
            raise BifrostConfigError(f"max_consecutive_failures must be at least 1, got {max_consecutive_failures!r}")
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
        self.failed_share_threshold = failed_share_threshold
        self.not_found_until = not_found_until
        self.progress_every = progress_every

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
                "failed_share_threshold": self.failed_share_threshold,
                "not_found_until": self.not_found_until,
                "progress_every": self.progress_every,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until terminal, deadline or permanent error; yield one event."""
        yield TriggerEvent(await self._wait())

    async def _wait(self) -> dict[str, Any]:
        hook = BifrostHook.for_polling(self.bifrost_conn_id)
        try:
            async with hook.shared_async_client():
                self.provider = hook.resolve_provider(self.provider)
                poll = hook.batch_poll(
                    self.batch_id,
                    self.provider,
                    poll_interval=self.poll_interval,
                    deadline=self.deadline,
                    log=log,
                    max_consecutive_failures=self.max_consecutive_failures,
                    failed_share_threshold=self.failed_share_threshold,
                    not_found_until=self.not_found_until,
                    progress_every=self.progress_every,
                )
                while True:
                    try:
                        batch = await hook.aget_batch(self.batch_id, self.provider)
                    except BifrostError as exc:
                        step = poll.failed(exc, time.time())
                    else:
                        step = poll.observed(batch, time.time())
                    if step.event is not None:
                        return step.event
                    await asyncio.sleep(step.wait)
        except BifrostError as exc:  # the connection or the provider: nothing a poll could change
            log.info("Batch %s error: %s", self.batch_id, exc)
            return make_event("error", self.batch_id, self.provider, message=str(exc), permanent=True)

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
