"""
What a batch event means for the task that waited: one policy for the sensor and the create operator.

The operator and sensor modules import this when a DAG file is parsed (``check_threshold``), so the trigger
and the models are imported in the functions that need them, at run time.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from airflow_provider_bifrost.version_compat import AirflowException, AirflowFailException

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow.sdk import BaseOperator

#: Extra time a deferral gets beyond the trigger's own deadline, so the trigger's last status check (and
#: its clear ``timeout`` event) normally wins over Airflow's deferral timeout.
DEFERRAL_GRACE = timedelta(minutes=2)


def defer_until_finished(
    task: BaseOperator,
    *,
    batch_id: str,
    provider: str | None,
    bifrost_conn_id: str,
    poll_interval: float,
    timeout: float,
    cancel_on_kill: bool,
) -> NoReturn:
    """
    Hand the wait for a batch to :class:`~airflow_provider_bifrost.triggers.bifrost.BifrostBatchTrigger`;
    the task resumes in its ``execute_complete`` with the trigger's event.

    :param task: the deferring task.
    :param batch_id: the batch.
    :param provider: its provider.
    :param bifrost_conn_id: the Bifrost connection.
    :param poll_interval: seconds between status checks.
    :param timeout: seconds to wait in all.
    :param cancel_on_kill: cancel the batch when the deferred task is killed.
    """
    from airflow_provider_bifrost.triggers.bifrost import BifrostBatchTrigger  # the trigger: not at DAG parsing

    task.defer(
        trigger=BifrostBatchTrigger(
            batch_id=batch_id,
            provider=provider,
            bifrost_conn_id=bifrost_conn_id,
            poll_interval=poll_interval,
            deadline=time.time() + timeout,
            cancel_on_kill=cancel_on_kill,
        ),
        method_name="execute_complete",
        timeout=timedelta(seconds=timeout) + DEFERRAL_GRACE,
    )


def settle_event(
    event: Any,
    *,
    batch_id: str | None,
    failed_share_threshold: float | None,
    on_timeout: Callable[[str], BaseException],
) -> dict[str, Any]:
    """
    Return the batch summary of a successful event; raise what the task should end with otherwise.

    Only known events are accepted. ``failed``, ``expired`` and ``cancelled`` raise
    ``AirflowFailException`` (waiting again cannot change them), as does a finished batch whose share
    of unsuccessful requests reaches ``failed_share_threshold``; ``error`` raises ``AirflowException``
    (retried); ``timeout`` raises what ``on_timeout`` returns.

    :param event: the trigger's event payload.
    :param batch_id: the batch the task waited for; None to take the event's.
    :param failed_share_threshold: see :func:`check_failed_share`.
    :param on_timeout: builds the exception for a ``timeout`` event from its message.
    """
    from airflow_provider_bifrost.triggers.bifrost import EVENT_STATUSES  # the trigger: not at DAG parsing

    if not isinstance(event, dict) or event.get("status") not in EVENT_STATUSES:
        raise AirflowException(
            f"Unexpected trigger event for batch {batch_id}: {event!r}; expected a dict whose status is one of "
            f"{', '.join(sorted(EVENT_STATUSES))}."
        )
    if batch_id is not None and event.get("batch_id") != batch_id:
        raise AirflowException(f"Trigger event is for batch {event.get('batch_id')!r}, not {batch_id!r}.")
    batch_id = event.get("batch_id")
    status, message = event["status"], event.get("message", "")
    if status == "success":
        summary: dict[str, Any] = event.get("batch") or {}
        check_failed_share(summary, failed_share_threshold, batch_id)
        return summary
    if status == "timeout":
        raise on_timeout(str(message))
    if status == "error":
        raise AirflowException(f"Waiting for Bifrost batch {batch_id} failed: {message}")
    raise AirflowFailException(f"Bifrost batch {batch_id} ended {event.get('batch_status')}: {message}")


def check_failed_share(summary: dict[str, Any], threshold: float | None, batch_id: str | None) -> None:
    """
    Fail a finished batch when at least ``threshold`` of its requests failed, expired or were cancelled.

    :param summary: the batch summary (``request_counts`` and ``status``).
    :param threshold: the share in (0, 1]; None: never fail on it.
    :param batch_id: the batch, for the message.
    """
    from airflow_provider_bifrost.hooks.models import RequestCounts  # pydantic models: not at DAG parsing

    counts = RequestCounts.model_validate(summary.get("request_counts") or {})
    total, unsuccessful = counts.total, counts.unsuccessful
    if threshold is None or not total:
        return
    if unsuccessful / total >= threshold:
        raise AirflowFailException(
            f"Bifrost batch {batch_id} {summary.get('status')}, but {unsuccessful:,} of {total:,} requests did not "
            f"succeed ({unsuccessful / total:.0%}), at or above failed_share_threshold={threshold}."
        )


def check_threshold(threshold: float | None, task_id: str) -> None:
    """
    Reject a ``failed_share_threshold`` outside (0, 1] when the DAG is parsed.

    :param threshold: the value given.
    :param task_id: the task, for the message.
    """
    if threshold is not None and not 0 < threshold <= 1:
        raise ValueError(f"failed_share_threshold must be in (0, 1] or None, got {threshold!r} ({task_id})")
