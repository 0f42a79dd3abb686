"""
Resubmission rounds without a job: what a finished batch left to try again, the next round's request lines,
and what a merged export still holds that did not succeed.

Shared by the job operator (``jobs/rounds.py``, ``jobs/export.py``), the create operator's rounds
(``resubmission.py``) and the results export of several rounds (``results/export.py``), so the three read
a failure the same way: :attr:`~airflow_provider_bifrost.results.records.ItemStatus.failure` for an item,
:func:`~airflow_provider_bifrost.results.records.missing_reason` for a request with no item at all, and
:data:`~airflow_provider_bifrost.results.records.RETRYABLE` for whether it goes again.

Memory: :func:`failing_items` holds 8-byte digests of one batch's ``custom_id``s (a batch is bounded by its
provider's limits), :class:`SortedDigests` 8 bytes per id of the later rounds; the lines themselves stream.
"""

from __future__ import annotations

import bisect
from array import array
from collections import Counter
from typing import IO, TYPE_CHECKING, Any

import msgspec

from airflow_provider_bifrost.jobs.ids import DigestRuns, digest, digests
from airflow_provider_bifrost.jobs.source import line_custom_id
from airflow_provider_bifrost.results.records import RETRYABLE

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from airflow_provider_bifrost.results.records import RecordBlock

_encode = msgspec.json.Encoder().encode


def id_digest(custom_id: Any) -> int:
    """
    The digest of a ``custom_id`` as an item carries it (a string, or anything a provider wrote there).

    :param custom_id: the id.
    """
    return digest(custom_id if isinstance(custom_id, str) else str(custom_id))


def id_digests(custom_ids: Iterable[Any]) -> Iterator[int]:
    """
    The :func:`id_digest` of each ``custom_id``, without a function call per id.

    :param custom_ids: the ids, as items carry them.
    """
    return digests(value if isinstance(value, str) else str(value) for value in custom_ids)


def failing_items(blocks: Iterable[tuple[RecordBlock, bool]]) -> dict[int, str | None]:
    """
    Every item of a batch by the digest of its ``custom_id``: None when it succeeded, else why it did not.

    :param blocks: the batch's blocks, as :meth:`~airflow_provider_bifrost.results.export.ResultsExport.blocks`
        gives them.
    """
    failing: dict[int, str | None] = {}
    for block, _ in blocks:
        for status in block.statuses():
            failing[id_digest(status.custom_id)] = status.failure
    return failing


def split_round(
    lines: Iterable[bytes],
    failing: dict[int, str | None],
    missing: str,
    requests_sink: IO[bytes],
    failures_sink: IO[bytes] | None = None,
) -> tuple[Counter[str], int]:
    """
    Write the request ``lines`` of a finished round that failed for a reason worth another try to
    ``requests_sink`` (one JSON line each), and every failed request with its reason to ``failures_sink``;
    return why its requests failed (reason -> requests, retried or not) and how many go again.

    :param lines: the round's requests, one JSON line each (in any order).
    :param failing: its items, from :func:`failing_items`.
    :param missing: why a request with no item failed (:func:`~airflow_provider_bifrost.results.records.
        missing_reason` of its batch's status).
    :param requests_sink: the next round's request file.
    :param failures_sink: the round's failures file (``{custom_id, reason, retried}`` lines), if kept.
    """
    reasons: Counter[str] = Counter()
    resubmitted = 0
    for line in lines:
        custom_id = line_custom_id(line)
        reason = failing.get(id_digest(custom_id), missing)
        if reason is None:
            continue
        reasons[reason] += 1
        retried = reason in RETRYABLE
        if failures_sink is not None:
            failures_sink.write(_encode({"custom_id": custom_id, "reason": reason, "retried": retried}) + b"\n")
        if retried:
            requests_sink.write(line.rstrip(b"\r\n") + b"\n")
            resubmitted += 1
    return reasons, resubmitted


class SortedDigests:
    """
    A set of ``custom_id`` digests for lookups, 8 bytes each: collected on disk (:class:`~airflow_provider_bifrost.
    jobs.ids.DigestRuns`), kept as one sorted array, looked up by bisection.

    :param values: the digests, in any order, repeats allowed.
    """

    def __init__(self, values: Iterable[int]) -> None:
        with DigestRuns() as runs:
            runs.extend(values)
            self._sorted = array("Q", unique(runs.sorted()))

    @classmethod
    def of_ids(cls, custom_ids: Iterable[Any]) -> SortedDigests:
        """
        The digests of these ``custom_id``\\ s.

        :param custom_ids: the ids.
        """
        return cls(id_digests(custom_ids))

    def __len__(self) -> int:
        return len(self._sorted)

    def __contains__(self, value: object) -> bool:
        index = bisect.bisect_left(self._sorted, value)  # type: ignore[call-overload]
        return index < len(self._sorted) and self._sorted[index] == value


class StillFailing:
    """What the merged export still holds that did not succeed: how many, why, and the first few ids."""

    #: The ids listed.
    FIRST = 10

    def __init__(self) -> None:
        self.reasons: Counter[str] = Counter()
        self.first: list[str] = []

    def add(self, block: RecordBlock) -> None:
        """
        Count a block's unsuccessful items.

        :param block: exported items.
        """
        for status in block.statuses():
            if (reason := status.failure) is not None:
                self.reasons[reason] += 1
                if len(self.first) < self.FIRST:
                    self.first.append(str(status.custom_id))

    def report(self, missing: int) -> dict[str, Any]:
        """
        The manifest's ``still_failing``.

        :param missing: input requests with no line in the export at all.
        """
        reasons = dict(self.reasons) | ({"missing": missing} if missing else {})
        return {"requests": sum(reasons.values()), "reasons": reasons, "first_ids": self.first}


def unique(values: Iterator[int]) -> Iterator[int]:
    """
    Sorted values without their repeats.

    :param values: the values, sorted.
    """
    previous = None
    for value in values:
        if value != previous:
            yield value
        previous = value
