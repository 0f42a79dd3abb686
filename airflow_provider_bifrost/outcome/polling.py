"""
The poll decision of a wait on a batch, with no I/O: after each status check, end the wait or check again.

The trigger (async, in the triggerer), the sensor's poke and the create operator's non-deferred wait all
feed their status checks to a :class:`BatchPoll` and do what it says, so the three waits cannot drift:
the same statuses end them, the same transient failures are tolerated (``max_consecutive_failures`` in a
row, with the same backoff), the same deadline rule applies (one last check at the deadline, so a batch
that just finished is not reported as timed out).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_bifrost.exceptions import (
    BifrostNotFoundError,
    BifrostProtocolError,
    BifrostRateLimitError,
    BifrostServerError,
    BifrostTransportError,
)
from airflow_provider_bifrost.outcome.events import closing_line, make_event, terminal_event
from airflow_provider_bifrost.outcome.progress import Cadence, batch_progress
from airflow_provider_bifrost.outcome.status import IN_PROGRESS_STATUSES, BatchState

if TYPE_CHECKING:
    from airflow_provider_bifrost.hooks.models import Batch
    from airflow_provider_bifrost.hooks.retry import RetryPolicy

#: Failures worth checking again for: the gateway or the network may recover.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    BifrostTransportError,
    BifrostServerError,
    BifrostRateLimitError,
    BifrostProtocolError,
)


@dataclass(frozen=True)
class PollStep:
    """What to do after a status check: end the wait with ``event``, or check again in ``wait`` seconds."""

    event: dict[str, Any] | None = None
    wait: float = 0.0


class BatchPoll:
    """
    Decide, check after check, how the wait on one batch goes on.

    Feed it each status check with :meth:`observed` (the batch) or :meth:`failed` (the error); each returns
    a :class:`PollStep`. A terminal status ends the wait with its event; a permanent error ends it with an
    ``error`` event; a transient one (:data:`TRANSIENT_ERRORS`) is checked again after the retry policy's
    backoff, until ``retry.max_retries`` + 1 failures in a row end it with an ``error`` event. A 404 is
    permanent, but for a short grace after the batch was created (``not_found_until``), as a gateway may not
    know a new batch at once. At the ``deadline`` one last check is asked for at once; if the batch is still
    running then (or that check fails), the wait ends with a ``timeout`` event. The closing log line says
    what the task will do (``failed_share_threshold``), never "success" for a task about to fail.

    :param batch_id: the batch.
    :param provider: its provider.
    :param poll_interval: seconds between checks of a running batch.
    :param deadline: unix time after which the wait times out (None: never).
    :param retry: backoff and budget of consecutive failures (see ``RetryPolicy.for_polling``).
    :param log: where the decision is logged (the trigger's or the task's logger).
    :param failed_share_threshold: the waiting task's, for the closing line (None: not known or never).
    :param not_found_until: unix time until which a 404 counts as transient (None: never).
    :param part_of: the job part the batch is (e.g. ``"Job job-1a2b part 2/5"``), named in its closing line.
    :param progress_every: seconds between progress lines at INFO while the batch runs (None: none; every
        check is then logged at DEBUG only).
    """

    def __init__(
        self,
        batch_id: str,
        provider: str | None,
        *,
        poll_interval: float,
        deadline: float | None,
        retry: RetryPolicy,
        log: logging.Logger | logging.LoggerAdapter[Any],
        failed_share_threshold: float | None = None,
        not_found_until: float | None = None,
        part_of: str | None = None,
        progress_every: float | None = None,
    ) -> None:
        self.batch_id = batch_id
        self.part_of = part_of
        self._progress = Cadence(progress_every)
        self.provider = provider
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.log = log
        self.failed_share_threshold = failed_share_threshold
        self.not_found_until = not_found_until
        self.batch: Batch | None = None
        self._failures = retry.streak()
        self._last_check = False

    def observed(self, batch: Batch, now: float) -> PollStep:
        """
        A status check answered.

        :param batch: the batch as retrieved.
        :param now: the unix time of the answer.
        """
        self.batch = batch
        self._failures.reset()
        if batch.state is not BatchState.RUNNING:
            event = terminal_event(batch, self.provider)
            self.log.info("%s", closing_line(event, self.failed_share_threshold, self.part_of))
            return PollStep(event)
        if self._last_check:
            return self._timed_out()
        if self._progress.due(now):
            self.log.info("%s", batch_progress(batch, now))
        elif self.log.isEnabledFor(logging.DEBUG):  # every check of a running batch: no work unless asked for
            self.log.debug("%s", batch.progress_line())
        return self._again(self.poll_interval, now)

    def failed(self, error: Exception, now: float) -> PollStep:
        """
        A status check failed.

        :param error: what the check raised (a ``BifrostError``).
        :param now: the unix time of the failure.
        """
        if self._last_check:
            self.log.warning("Batch %s: status check at the deadline failed: %s", self.batch_id, error)
            return self._timed_out()
        in_grace = self.not_found_until is not None and now < self.not_found_until
        if not isinstance(error, TRANSIENT_ERRORS) and not (in_grace and isinstance(error, BifrostNotFoundError)):
            return self._end("error", None, str(error), permanent=True)
        wait = self._failures.failed(error)
        if wait is None:
            count = self._failures.count
            return self._end("error", self.batch, f"gave up after {count} consecutive failures; last: {error}")
        self.log.warning("Batch %s: poll failed (%s); trying again in %.1f s", self.batch_id, error, wait)
        return self._again(wait, now)

    def _again(self, wait: float, now: float) -> PollStep:
        if self.deadline is not None:
            remaining = self.deadline - now
            if remaining <= 0:
                self._last_check = True
                return PollStep(wait=0.0)
            wait = min(wait, remaining)
        return PollStep(wait=wait)

    def _timed_out(self) -> PollStep:
        batch = self.batch
        status = f" (last status {batch.status})" if batch else ""
        if batch is not None and batch.status not in IN_PROGRESS_STATUSES:
            status = f" (last status {batch.status!r}: a status this provider does not know, so taken as running)"
        return self._end("timeout", batch, f"batch {self.batch_id} did not finish before the deadline{status}")

    def _end(self, status: str, batch: Batch | None, message: str, *, permanent: bool = False) -> PollStep:
        event = make_event(status, self.batch_id, self.provider, batch, message=message, permanent=permanent)
        self.log.info("%s", closing_line(event, self.failed_share_threshold))
        return PollStep(event)
