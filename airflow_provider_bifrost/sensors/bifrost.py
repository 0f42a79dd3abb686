"""
``BifrostBatchSensor``: wait for a Bifrost batch to finish, deferred to the triggerer by default.

DAG files import this module: at module level it imports only what building the task needs; the hook and
the trigger are imported when the task runs (``tests/unit/test_import_cost.py``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_bifrost.constants import (
    DEFAULT_CONN_NAME,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_WAIT_TIMEOUT,
    NOT_FOUND_GRACE,
)
from airflow_provider_bifrost.exceptions import BifrostConfigError, BifrostNotFoundError
from airflow_provider_bifrost.mixins import BifrostHookMixin
from airflow_provider_bifrost.outcome.events import closing_line, settle_event, terminal_event
from airflow_provider_bifrost.outcome.progress import DEFAULT_PROGRESS_EVERY
from airflow_provider_bifrost.outcome.status import BatchState
from airflow_provider_bifrost.validation import (
    check_batch_provider,
    check_positive_seconds,
    check_threshold,
    validate_id,
)
from airflow_provider_bifrost.version_compat import AirflowFailException, AirflowSensorTimeout, AirflowSkipException

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_bifrost.outcome.polling import BatchPoll


class BifrostBatchSensor(BifrostHookMixin, BaseSensorOperator):
    """
    Wait until a Bifrost batch is finished; succeed if it completed, fail if it did not.

    Deferrable by default: it checks the batch once (a finished batch never defers), then hands
    the wait to :class:`~airflow_provider_bifrost.triggers.bifrost.BifrostBatchTrigger`, freeing the
    worker slot. With ``deferrable=False`` it pokes, in ``poke`` or ``reschedule`` mode.

    ``completed`` and ``ended`` succeed unless the share of requests that did not succeed reaches
    ``failed_share_threshold``; ``failed``, ``expired`` and ``cancelled`` fail the task (without
    retries: waiting again cannot change them) with the batch's own errors. Running out of
    ``timeout`` raises ``AirflowSensorTimeout``, which honours ``soft_fail``.

    Returns (to XCom) a compact summary: batch id, provider, status, request counts, output and
    error file ids, errors and timestamps; never the results.

    :param batch_id: the batch to wait for (templated: e.g. pulled from XCom).
    :param provider: the batch's provider (templated); default: the connection's ``default_provider``.
    :param bifrost_conn_id: the Bifrost connection.
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param poke_interval: seconds between status checks (in the triggerer too).
    :param timeout: seconds to wait in all before ``AirflowSensorTimeout``; default 7 days.
    :param failed_share_threshold: fail when at least this share of the requests failed, expired or
        were cancelled (1.0: only when all did; 0.1: at 10%; None: never).
    :param cancel_on_kill: cancel the batch when the task is killed (marked failed/success or
        cleared while running or deferred; deferred needs Airflow 3.3+).
    :param progress_every: seconds between progress lines in the task log while waiting (counts, %, rate, time
        left); None: only the closing line.
    """

    template_fields = ("batch_id", "provider")
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        batch_id: str,
        provider: str | None = None,
        bifrost_conn_id: str = DEFAULT_CONN_NAME,
        deferrable: bool = True,
        poke_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        failed_share_threshold: float | None = 1.0,
        cancel_on_kill: bool = False,
        progress_every: float | None = DEFAULT_PROGRESS_EVERY,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, timeout=timeout, **kwargs)
        if not self.poke_interval > 0:  # Airflow allows 0: here every check is a request to the gateway
            raise BifrostConfigError(
                f"poke_interval must be a positive number of seconds (each check is a request to the gateway), "
                f"got {poke_interval!r} ({self.task_id})"
            )
        check_threshold(failed_share_threshold, f" ({self.task_id})")
        if progress_every is not None:
            check_positive_seconds(progress_every, "progress_every", f" ({self.task_id})")
        check_batch_provider(provider, where=f" ({self.task_id})")
        self.batch_id = batch_id
        self.provider = provider
        self.bifrost_conn_id = bifrost_conn_id
        self.deferrable = deferrable
        self.failed_share_threshold = failed_share_threshold
        self.cancel_on_kill = cancel_on_kill
        self.progress_every = progress_every
        self._poll: BatchPoll | None = None

    def _resolve(self) -> None:
        """Check the rendered batch id and pin the provider (so the trigger needs no default)."""
        validate_id(self.batch_id)
        self.provider = self.hook.resolve_provider(self.provider)

    def execute(self, context: Context) -> Any:
        """Check once; return at once if finished, else defer (or poke when not deferrable)."""
        self._resolve()
        if not self.deferrable:
            return super().execute(context)
        not_found_until = time.time() + NOT_FOUND_GRACE
        try:
            batch = self.hook.get_batch(self.batch_id, self.provider)
        except BifrostNotFoundError:  # a batch created a moment ago may not be known yet: the trigger waits it out
            self.log.info("Batch %s is not known yet; waiting up to %g s for it", self.batch_id, NOT_FOUND_GRACE)
        else:
            self.log.info("%s", batch.progress_line())
            if batch.state is not BatchState.RUNNING:  # finished already: the same outcome as after a poke
                try:
                    return self.execute_complete(context, terminal_event(batch, self.provider))
                except (AirflowFailException, AirflowSensorTimeout) as exc:
                    if self.soft_fail or self.never_fail:
                        raise AirflowSkipException(f"Skipping: {exc} (soft_fail/never_fail is set)") from exc
                    raise
        self.defer_until_finished(
            batch_id=self.batch_id,
            provider=self.provider,
            poll_interval=self.poke_interval,
            timeout=self.timeout,
            cancel_on_kill=self.cancel_on_kill,
            failed_share_threshold=self.failed_share_threshold,
            not_found_until=not_found_until,
            progress_every=self.progress_every,
        )

    def poke(self, context: Context) -> PokeReturnValue:
        """One status check (poke and reschedule modes), decided like the trigger's; logs the progress."""
        if self._poll is None:  # the sensor's own timeout bounds the wait in these modes
            self._poll = self.hook.batch_poll(
                self.batch_id,
                self.provider,
                poll_interval=self.poke_interval,
                deadline=None,
                log=self.log,
                failed_share_threshold=self.failed_share_threshold,
                not_found_until=time.time() + NOT_FOUND_GRACE,
                progress_every=self.progress_every,
            )
        step = self.check_batch(self._poll)
        if step.event is None:
            return PokeReturnValue(is_done=False)
        return PokeReturnValue(is_done=True, xcom_value=self.execute_complete(context, step.event))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """
        Decide the task's outcome from a batch event; only known events are accepted.

        :param context: the task context.
        :param event: the trigger's event payload.
        """
        if isinstance(event, dict):
            self.log.info("Finished waiting: %s", closing_line(event, self.failed_share_threshold))
        return settle_event(
            event,
            batch_id=self.batch_id,
            failed_share_threshold=self.failed_share_threshold,
            on_timeout=lambda message: AirflowSensorTimeout(f"Bifrost batch {self.batch_id}: {message}"),
        )

    def on_kill(self) -> None:
        """Cancel the batch when the running (poking) task is killed, if ``cancel_on_kill``."""
        if self.cancel_on_kill and self.batch_id:
            batch = self.hook.cancel_batch(self.batch_id, self.provider)
            self.log.info("Cancelled batch %s on kill: now %s", self.batch_id, batch.status)
