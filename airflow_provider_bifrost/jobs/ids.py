"""
Request ids in flat memory: 8-byte digests of ``custom_id``s, kept in sorted runs on local disk.

A job of a million requests cannot hold its ids in a set without growing with the job. Digests are
collected in fixed-size chunks, each sorted and written to a temporary file; reading them back merges
the runs (``heapq.merge``), so finding the first repeated id, or comparing the ids an export wrote with
the ids of the input, takes memory bounded by the chunk size and the number of runs. Two different ids
share a digest with a probability of about n²/2⁶⁵ (one in 36 million for a million ids).
"""

from __future__ import annotations

import hashlib
import heapq
import os
import tempfile
from array import array
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import TracebackType

#: Digests sorted in memory at a time (8 MB as an array; about 36 MB while a chunk is being sorted).
CHUNK = 1 << 20
#: Digests read from a run file at a time while merging.
READ = 1 << 14


def digest(custom_id: str | bytes) -> int:
    """
    The 8-byte digest of a ``custom_id``, as an integer.

    :param custom_id: the id.
    """
    data = custom_id.encode() if isinstance(custom_id, str) else custom_id
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


class DigestRuns:
    """
    Digests added in any order, read back sorted; the runs live in a temporary folder until :meth:`close`.

    :param chunk: digests sorted in memory at a time.
    """

    def __init__(self, chunk: int = CHUNK) -> None:
        self._chunk = chunk
        self._pending = array("Q")
        self._runs: list[str] = []
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self.count = 0

    def __enter__(self) -> DigestRuns:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def add(self, value: int) -> None:
        """
        Add one digest.

        :param value: a :func:`digest`.
        """
        self._pending.append(value)
        self.count += 1
        if len(self._pending) >= self._chunk:
            self._spill()

    def _spill(self) -> None:
        if not self._pending:
            return
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(prefix="bifrost-ids-")
        path = os.path.join(self._folder.name, f"run-{len(self._runs):05d}")
        with open(path, "wb") as sink:
            array("Q", sorted(self._pending)).tofile(sink)
        self._runs.append(path)
        self._pending = array("Q")

    def sorted(self) -> Iterator[int]:
        """Every digest added, in ascending order (repeats included)."""
        self._spill()
        return heapq.merge(*(_read_run(path) for path in self._runs))

    def close(self) -> None:
        """Remove the runs from disk."""
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None
        self._runs.clear()
        self._pending = array("Q")


def _read_run(path: str) -> Iterator[int]:
    with open(path, "rb") as source:
        while True:
            block = array("Q")
            try:
                block.fromfile(source, READ)
            except EOFError:  # the last, shorter block: fromfile keeps what it read
                yield from block
                return
            yield from block


def repeated(digests: Iterator[int]) -> Iterator[int]:
    """
    The digests that appear more than once in a sorted stream, each once.

    :param digests: digests in ascending order.
    """
    previous = None
    reported = None
    for value in digests:
        if value == previous and value != reported:
            reported = value
            yield value
        previous = value


def compare(expected: Iterator[int], seen: Iterator[int]) -> tuple[int, int, int]:
    """
    How the ids an export wrote compare with the ids of its input: ``(missing, unexpected, duplicated)``.

    :param expected: the input's digests, ascending, each once.
    :param seen: the exported items' digests, ascending (repeats included).
    """
    missing = unexpected = duplicated = 0
    want = next(expected, None)
    previous = None
    for value in seen:
        if value == previous:
            duplicated += 1
            continue
        previous = value
        while want is not None and want < value:
            missing += 1
            want = next(expected, None)
        if want == value:
            want = next(expected, None)
        else:
            unexpected += 1
    while want is not None:
        missing += 1
        want = next(expected, None)
    return missing, unexpected, duplicated
