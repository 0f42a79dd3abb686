"""
Progress lines of a wait, no I/O: at a steady cadence, with the rate and, when the counts allow, the time left.

A triggerer holds a thousand waits: a line per status check would flood its log, so each wait logs its
progress at INFO at most once per ``progress_every`` seconds (:class:`Cadence`). The rate is measured over
the batch's (or job's) whole run, from its own timestamps, so it survives the wait moving between
triggerers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_bifrost.hooks.models import Batch

#: Seconds between two progress lines of one wait, unless the task says otherwise.
DEFAULT_PROGRESS_EVERY = 60.0


class Cadence:
    """
    Says when a progress line is due: the first time asked, then at most once per ``every`` seconds.

    :param every: seconds between lines; None: never.
    """

    def __init__(self, every: float | None) -> None:
        self.every = every
        self._last: float | None = None

    def due(self, now: float) -> bool:
        """
        Whether a line is due at ``now``; if so, the next one is ``every`` seconds later.

        :param now: the unix time.
        """
        if self.every is None or (self._last is not None and now - self._last < self.every):
            return False
        self._last = now
        return True


def duration(seconds: float) -> str:
    """
    A duration a person reads at a glance: ``45 s``, ``12 min``, ``3.5 h``.

    :param seconds: the duration.
    """
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def pace(done: int, total: int, elapsed: float | None) -> str:
    """
    The rate and the time left, as the end of a progress line: ``", 85.3/s, about 12 min left"``; empty
    when nothing is done yet or the elapsed time is unknown.

    :param done: requests done (succeeded or failed).
    :param total: requests in all (0: unknown).
    :param elapsed: seconds since the work started.
    """
    if elapsed is None or elapsed <= 0 or done <= 0:
        return ""
    rate = done / elapsed
    left = f", about {duration((total - done) / rate)} left" if total > done else ""
    return f", {rate:,.1f}/s{left}"


def batch_progress(batch: Batch, now: float) -> str:
    """
    One batch's progress line: ``batch_abc in_progress: 7,412/10,000 done (74%), 12 failed, 41.2/s, about
    1 min left`` (the rate since the batch started running, or since it was created).

    :param batch: the batch as last retrieved.
    :param now: the unix time of the line.
    """
    started = batch.in_progress_at or batch.created_at
    elapsed = now - started if started else None
    return batch.progress_line() + pace(batch.request_counts.done, batch.request_counts.total, elapsed)
