"""
What a batch status means: which statuses are terminal, which of those mean success, which requests failed.

Per the gateway: ``validating``, ``in_progress``, ``finalizing``, ``cancelling`` are still moving;
``completed`` and ``ended`` (Anthropic: done, see the request counts) are done; ``failed``,
``expired``, ``cancelled``/``canceled`` and ``deleted`` (Gemini) are done without results to trust.
Any other string is treated as still moving, and logged once.
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

log = logging.getLogger(__name__)


class BatchState(str, Enum):
    """What a batch status means for a waiting task."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


IN_PROGRESS_STATUSES = frozenset({"validating", "in_progress", "finalizing", "cancelling"})
SUCCESS_STATUSES = frozenset({"completed", "ended"})
FAILURE_STATUSES = frozenset({"failed", "expired", "cancelled", "canceled", "deleted"})
TERMINAL_STATUSES = SUCCESS_STATUSES | FAILURE_STATUSES

_STATE_OF: dict[str, BatchState] = {
    **dict.fromkeys(IN_PROGRESS_STATUSES, BatchState.RUNNING),
    **dict.fromkeys(SUCCESS_STATUSES, BatchState.SUCCEEDED),
    "failed": BatchState.FAILED,
    "deleted": BatchState.FAILED,
    "expired": BatchState.EXPIRED,
    "cancelled": BatchState.CANCELLED,
    "canceled": BatchState.CANCELLED,
}
_warned: set[str] = set()


def batch_state(status: str | None) -> BatchState:
    """
    Classify a status string; an unknown (or missing) one is RUNNING and logged once per value.

    :param status: the batch object's ``status``.
    """
    state = _STATE_OF.get(status or "")
    if state is None:
        if str(status) not in _warned:  # None too: kept as "None"
            _warned.add(str(status))
            log.warning(
                "Bifrost returned batch status %r, which this provider does not know; treating it as not "
                "finished. Known statuses: %s.",
                status,
                ", ".join(sorted(IN_PROGRESS_STATUSES | TERMINAL_STATUSES)),
            )
        return BatchState.RUNNING
    return state


def is_terminal(status: str | None) -> bool:
    """Whether the batch will not change any more."""
    return batch_state(status) is not BatchState.RUNNING


def is_success(status: str | None) -> bool:
    """Whether the batch finished in a state whose results can be fetched."""
    return batch_state(status) is BatchState.SUCCEEDED


def has_results(status: str | None, partial_statuses: Collection[str]) -> bool:
    """
    Whether a finished batch has results to read: it succeeded, or it ended in one of its provider's partial
    statuses (an OpenAI batch that expired keeps what it did produce). The one rule of every export and round.

    :param status: the batch's status.
    :param partial_statuses: its provider's (``ProviderProfile.partial_statuses``).
    """
    return is_success(status) or status in partial_statuses


def unsuccessful_requests(counts: Mapping[str, Any]) -> int:
    """
    Requests of a batch that did not succeed: failed, expired or cancelled.

    :param counts: the batch's ``request_counts`` (absent counts are zero).
    """
    return sum(int(counts.get(name) or 0) for name in ("failed", "expired", "canceled"))


def done_requests(counts: Mapping[str, Any]) -> int:
    """
    Requests of a batch processed so far: ``total - pending`` where the provider counts what is pending
    (Anthropic, Gemini, whose ``completed`` already includes the failed ones), else ``completed + failed``.

    :param counts: the batch's ``request_counts``.
    """
    if counts.get("pending") is not None:
        return max(int(counts.get("total") or 0) - int(counts["pending"]), 0)
    return int(counts.get("completed") or 0) + int(counts.get("failed") or 0)
