"""
The event contract of a wait on a batch, and settling an event into the task's outcome.

A wait ends with exactly one event, a JSON-safe dict: ``status`` (one of :data:`EVENT_STATUSES`),
``batch_id``, ``provider``, ``message`` and, when the batch was seen, ``batch_status`` and ``batch`` (its
summary: counts, file ids, errors, timestamps; never the results). The trigger sends it; the sensor and
the create operator build the same dict when they never defer; :func:`settle_event` turns it into the
task's success, failure or timeout, accepting nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_bifrost.outcome.status import BatchState, unsuccessful_requests
from airflow_provider_bifrost.version_compat import AirflowException, AirflowFailException

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_bifrost.hooks.models import Batch

#: Every status an event may carry.
EVENT_STATUSES = frozenset({"success", "failed", "expired", "cancelled", "timeout", "error"})
EVENT_OF_STATE = {
    BatchState.SUCCEEDED: "success",
    BatchState.FAILED: "failed",
    BatchState.EXPIRED: "expired",
    BatchState.CANCELLED: "cancelled",
}


def make_event(
    status: str, batch_id: str, provider: str | None, batch: Batch | None = None, *, message: str
) -> dict[str, Any]:
    """
    The payload of a batch event.

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
    return make_event(EVENT_OF_STATE[batch.state], batch.id, provider, batch, message=message)


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

    :param event: the event payload.
    :param batch_id: the batch the task waited for; None to take the event's.
    :param failed_share_threshold: see :func:`check_failed_share`.
    :param on_timeout: builds the exception for a ``timeout`` event from its message.
    """
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
    counts = summary.get("request_counts") or {}
    total, unsuccessful = int(counts.get("total") or 0), unsuccessful_requests(counts)
    if threshold is None or not total:
        return
    if unsuccessful / total >= threshold:
        raise AirflowFailException(
            f"Bifrost batch {batch_id} {summary.get('status')}, but {unsuccessful:,} of {total:,} requests did not "
            f"succeed ({unsuccessful / total:.0%}), at or above failed_share_threshold={threshold}."
        )
