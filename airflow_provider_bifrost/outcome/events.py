"""
The event contract of a wait on a batch, and settling an event into the task's outcome.

A wait ends with exactly one event, a JSON-safe dict: ``status`` (one of :data:`EVENT_STATUSES`),
``batch_id``, ``provider``, ``message`` and, when the batch was seen, ``batch_status`` and ``batch`` (its
summary: counts, file ids, errors, timestamps; never the results). An ``error`` event also says whether
waiting again could change it (``permanent``: a 401, 403, 404, a refused request, a bad connection). The
trigger sends it; the sensor and the create operator build the same dict when they never defer;
:func:`settle_event` turns it into the task's success, failure or timeout, accepting nothing else.
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
    status: str,
    batch_id: str,
    provider: str | None,
    batch: Batch | None = None,
    *,
    message: str,
    permanent: bool = False,
) -> dict[str, Any]:
    """
    The payload of a batch event.

    :param status: one of :data:`EVENT_STATUSES`.
    :param batch_id: the batch.
    :param provider: its provider.
    :param batch: the batch as last seen, if it was seen.
    :param message: what happened, for a person.
    :param permanent: an ``error`` that waiting or retrying cannot change.
    """
    event: dict[str, Any] = {"status": status, "batch_id": batch_id, "provider": provider, "message": message}
    if permanent:
        event["permanent"] = True
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
    (retried), or ``AirflowFailException`` when it is ``permanent``; ``timeout`` raises what ``on_timeout``
    returns.

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
        cls = AirflowFailException if event.get("permanent") else AirflowException
        raise cls(f"Waiting for Bifrost batch {batch_id} failed: {message}")
    raise AirflowFailException(f"Bifrost batch {batch_id} ended {event.get('batch_status')}: {message}")


def failed_share_verdict(summary: dict[str, Any], threshold: float | None, batch_id: str | None) -> str | None:
    """
    Why a finished batch fails by its share of unsuccessful requests, or None when it does not.

    :param summary: the batch summary (``request_counts`` and ``status``).
    :param threshold: the share in (0, 1]; None: never fail on it.
    :param batch_id: the batch, for the message.
    """
    counts = summary.get("request_counts") or {}
    total, unsuccessful = int(counts.get("total") or 0), unsuccessful_requests(counts)
    if threshold is None or not total or unsuccessful / total < threshold:
        return None
    return (
        f"Bifrost batch {batch_id} {summary.get('status')}, but {unsuccessful:,} of {total:,} requests did not "
        f"succeed ({unsuccessful / total:.0%}), at or above failed_share_threshold={threshold}."
    )


def check_failed_share(summary: dict[str, Any], threshold: float | None, batch_id: str | None) -> None:
    """
    Fail a finished batch when at least ``threshold`` of its requests failed, expired or were cancelled.

    :param summary: the batch summary (``request_counts`` and ``status``).
    :param threshold: the share in (0, 1]; None: never fail on it.
    :param batch_id: the batch, for the message.
    """
    if (verdict := failed_share_verdict(summary, threshold, batch_id)) is not None:
        raise AirflowFailException(verdict)


def closing_line(event: dict[str, Any], threshold: float | None, part_of: str | None = None) -> str:
    """
    How a wait ended, and what the task will do about it: never "success" for a batch the threshold fails.

    :param event: the event the wait ends with.
    :param threshold: the waiting task's ``failed_share_threshold`` (None: not known or never).
    :param part_of: the job part the batch is, if it is one: the line names it and gives no verdict (the job
        decides when every part has ended).
    """
    status, message, batch_id = event.get("status"), event.get("message", ""), event.get("batch_id")
    if part_of is not None and status not in ("timeout", "error"):
        return f"{part_of}: batch {message}"
    if status == "success":
        verdict = failed_share_verdict(event.get("batch") or {}, threshold, batch_id)
        return f"Batch {message}; the task fails: {verdict}" if verdict else f"Batch {message}; the task succeeds"
    if status == "timeout":
        return f"Batch {batch_id} timed out: {message}"
    if status == "error":
        return f"Batch {batch_id} {'error' if event.get('permanent') else 'error, worth a retry'}: {message}"
    return f"Batch {message}; the task fails"
