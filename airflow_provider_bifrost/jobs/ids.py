"""
Request ids in flat memory: 8-byte digests of ``custom_id``s, kept in sorted runs on local disk.

A job of a million requests cannot hold its ids in a set without growing with the job. Digests are
collected in fixed-size chunks, each sorted and written to a temporary file; reading them back merges
the runs (``heapq.merge``), so finding the first repeated id, or comparing the ids an export wrote with
the ids of the input, takes memory bounded by the chunk size and the number of runs. Sorting a chunk
makes a Python int of each digest (~48 bytes with its list slot), so the chunk is kept small, and
``FAN_IN`` runs of one size are merged into one run on disk: the runs open at once (file descriptors
and read blocks) grow with the logarithm of the job, never with the job. Two different ids share a
digest with a probability of about n²/2⁶⁵ (one in 36 million for a million ids).
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import os
import tempfile
from array import array
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from types import TracebackType

#: Digests sorted in memory at a time (1 MB as an array; about 7 MB while a chunk is being sorted).
CHUNK = 1 << 17
#: Digests read from a run file at a time while merging (64 KB a run).
READ = 1 << 13
#: Runs of one level merged into one run of the next level: at most this many runs of a level exist.
FAN_IN = 32


def digest(custom_id: str | bytes) -> int:
    """
    The 8-byte digest of a ``custom_id``, as an integer.

    :param custom_id: the id.
    """
    data = custom_id.encode() if isinstance(custom_id, str) else custom_id
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def digests(custom_ids: Iterable[str | bytes]) -> Iterator[int]:
    """
    The :func:`digest` of each ``custom_id``, without a function call per id (for :meth:`DigestRuns.extend`).

    :param custom_ids: the ids.
    """
    blake2b, from_bytes = hashlib.blake2b, int.from_bytes
    for custom_id in custom_ids:
        data = custom_id.encode() if isinstance(custom_id, str) else custom_id
        yield from_bytes(blake2b(data, digest_size=8).digest(), "big")


class DigestRuns:
    """
    Digests added in any order, read back sorted; the runs live in a temporary folder until :meth:`close`.

    :param chunk: digests sorted in memory at a time.
    :param fan_in: runs of one level merged into one.
    """

    def __init__(self, chunk: int = CHUNK, fan_in: int = FAN_IN) -> None:
        self._chunk = chunk
        self._fan_in = fan_in
        self._pending = array("Q")
        self._levels: list[list[str]] = []  # run files by level: a level-n run merged fan_in level-(n-1) runs
        self._written = 0
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

    def extend(self, values: Iterable[int]) -> None:
        """
        Add many digests, consumed a chunk at a time (no method call per digest, unlike :meth:`add`).

        :param values: :func:`digest` values, e.g. :func:`digests`.
        """
        iterator = iter(values)
        while True:
            before = len(self._pending)
            room = self._chunk - before
            self._pending.extend(itertools.islice(iterator, room))
            self.count += len(self._pending) - before
            if len(self._pending) < self._chunk:
                return
            self._spill()

    def _spill(self) -> None:
        if not self._pending:
            return
        path = self._new_run()
        with open(path, "wb") as sink:
            array("Q", sorted(self._pending)).tofile(sink)
        self._pending = array("Q")
        self._add_run(0, path)

    def _new_run(self) -> str:
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(prefix="bifrost-ids-")
        self._written += 1
        return os.path.join(self._folder.name, f"run-{self._written:06d}")

    def _add_run(self, level: int, path: str) -> None:
        """Keep a run at ``level``; a level that fills up is merged into one run of the next."""
        if len(self._levels) <= level:
            self._levels.append([])
        runs = self._levels[level]
        runs.append(path)
        if len(runs) < self._fan_in:
            return
        merged = self._new_run()
        with open(merged, "wb") as sink:
            block = array("Q")
            for value in heapq.merge(*(_read_run(run) for run in runs)):
                block.append(value)
                if len(block) >= READ:
                    block.tofile(sink)
                    block = array("Q")
            block.tofile(sink)
        for run in runs:
            os.remove(run)
        self._levels[level] = []
        self._add_run(level + 1, merged)

    def sorted(self) -> Iterator[int]:
        """Every digest added, in ascending order (repeats included)."""
        self._spill()
        return heapq.merge(*(_read_run(path) for runs in self._levels for path in runs))

    def close(self) -> None:
        """Remove the runs from disk."""
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None
        self._levels.clear()
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
