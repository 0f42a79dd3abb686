"""
``BifrostHookMixin``: what the operators and the sensor share: their hooks, one status check of a wait,
and handing a wait to the trigger.

Light on purpose: DAG files import the operator and sensor modules, which subclass this, so the hook (its
HTTP client, models and results parsers) and the trigger are imported when a task first needs them, at run
time (``tests/unit/test_import_cost.py``).
"""

from __future__ import annotations

import time
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn

from airflow_provider_bifrost.exceptions import BifrostError

if TYPE_CHECKING:
    from airflow.triggers.base import BaseTrigger

    from airflow_provider_bifrost.hooks.bifrost import BifrostHook
    from airflow_provider_bifrost.outcome.polling import BatchPoll, PollStep

#: Extra time a deferral gets beyond the trigger's own deadline, so the trigger's last status check (and
#: its clear ``timeout`` event) normally wins over Airflow's deferral timeout.
DEFERRAL_GRACE = timedelta(minutes=2)


class BifrostHookMixin:
    """For operators and sensors: ``self.hook`` and ``self.poll_hook`` of ``bifrost_conn_id``, built once."""

    bifrost_conn_id: str
    log: Any

    if TYPE_CHECKING:

        def defer(
            self,
            *,
            trigger: BaseTrigger,
            method_name: str,
            kwargs: dict[str, Any] | None = None,
            timeout: timedelta | float | None = None,
        ) -> NoReturn: ...

    @cached_property
    def hook(self) -> BifrostHook:
        """The hook for ``bifrost_conn_id``, with the connection's retry policy."""
        from airflow_provider_bifrost.hooks.bifrost import BifrostHook  # the hook: at run time, not at DAG parsing

        return BifrostHook(self.bifrost_conn_id)

    @cached_property
    def poll_hook(self) -> BifrostHook:
        """The hook a wait checks the status with: one attempt per check, the poll decision retrying."""
        return type(self.hook).for_polling(self.bifrost_conn_id)

    def check_batch(self, poll: BatchPoll) -> PollStep:
        """
        One status check of a wait, decided by ``poll`` (which logs the progress at its cadence).

        :param poll: the wait's poll decision.
        """
        try:
            batch = self.poll_hook.get_batch(poll.batch_id, poll.provider)
        except BifrostError as exc:
            return poll.failed(exc, time.time())
        return poll.observed(batch, time.time())

    def defer_until_finished(
        self,
        *,
        batch_id: str,
        provider: str | None,
        poll_interval: float,
        timeout: float,
        cancel_on_kill: bool,
        failed_share_threshold: float | None,
        not_found_until: float | None,
        progress_every: float | None,
        resume_kwargs: dict[str, Any] | None = None,
    ) -> NoReturn:
        """
        Hand the wait for a batch to :class:`~airflow_provider_bifrost.triggers.bifrost.BifrostBatchTrigger`;
        the task resumes in its ``execute_complete`` with the trigger's event.

        :param batch_id: the batch.
        :param provider: its provider.
        :param poll_interval: seconds between status checks.
        :param timeout: seconds to wait in all.
        :param cancel_on_kill: cancel the batch when the deferred task is killed.
        :param failed_share_threshold: the task's, for the trigger's closing log line.
        :param not_found_until: unix time until which a 404 is transient.
        :param progress_every: seconds between the trigger's progress lines (None: none).
        :param resume_kwargs: keyword arguments ``execute_complete`` gets besides the event (JSON-safe).
        """
        from airflow_provider_bifrost.triggers.bifrost import BifrostBatchTrigger  # the trigger: at run time

        self.defer(
            trigger=BifrostBatchTrigger(
                batch_id=batch_id,
                provider=provider,
                bifrost_conn_id=self.bifrost_conn_id,
                poll_interval=poll_interval,
                deadline=time.time() + timeout,
                cancel_on_kill=cancel_on_kill,
                failed_share_threshold=failed_share_threshold,
                not_found_until=not_found_until,
                progress_every=progress_every,
            ),
            method_name="execute_complete",
            kwargs=resume_kwargs,
            timeout=timedelta(seconds=timeout) + DEFERRAL_GRACE,
        )
