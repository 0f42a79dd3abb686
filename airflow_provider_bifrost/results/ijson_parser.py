"""
The general results-document parser: ijson, for any layout of the document.

ijson's C ``items()`` is the fast way to stream ``results.item``; it compares its prefix with ``==``
against each event's prefix outside the values it is building, so a prefix that equals several
paths yields the items and the small top-level fields (in any order) from the same pass.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import ijson
import msgspec

from airflow_provider_bifrost.exceptions import BifrostProtocolError
from airflow_provider_bifrost.results.records import RecordBlock, ResultRecord, ResultsPage

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

ITEM_PATH = "results.item"
#: Items per block this parser yields.
BLOCK_ITEMS = 256
#: The small top-level fields read alongside the items.
PAGE_FIELDS = ("batch_id", "has_more", "next_cursor", "extra_fields")
_encode = msgspec.json.Encoder().encode


class _PathMatcher(str):
    """
    An ijson prefix that equals any of ``paths``, queueing each match in document order.

    Matched values never nest (they are disjoint subtrees), so they complete in the order they
    start: the queue's head is the path of the next value ijson yields.
    """

    matched: deque[str]
    seen: set[str]
    paths: frozenset[str]

    def __new__(cls, paths: Iterable[str]) -> _PathMatcher:
        self = super().__new__(cls, ITEM_PATH)
        self.paths = frozenset(paths)
        self.matched = deque()
        self.seen = set()
        return self

    def __eq__(self, other: object) -> bool:
        if other in self.paths:
            self.matched.append(other)
            return True
        self.seen.add(other)  # type: ignore[arg-type]
        return False

    __hash__ = str.__hash__


class _ChunkReader:
    """A minimal file-like ``read()`` over an iterator of byte chunks, as ijson's C reader wants."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    def read(self, size: int = -1) -> bytes:
        if size == 0:  # ijson probes the type with read(0)
            return b""
        for chunk in self._chunks:
            if chunk:
                return chunk
        return b""


def parse_with_ijson(chunks: Iterable[bytes], page: ResultsPage) -> Iterator[RecordBlock]:
    """
    Yield the result items of one results document in blocks, whatever its layout; fill ``page`` as it goes.

    :param chunks: the response body, in chunks.
    :param page: receives ``batch_id``, ``has_more``, ``next_cursor``, ``extra_fields`` and the count;
        complete once the iterator is exhausted.
    :raises BifrostProtocolError: the body is not a results document, or it ends mid-document.
    """
    matcher = _PathMatcher((ITEM_PATH, *PAGE_FIELDS))
    block: list[ResultRecord] = []
    error: ijson.JSONError | None = None
    try:
        for value in ijson.items(_ChunkReader(iter(chunks)), matcher, use_float=True):
            path = matcher.matched.popleft()
            if path == ITEM_PATH:
                if not isinstance(value, dict):
                    raise BifrostProtocolError(
                        f"Result item {page.item_count + len(block)} is a {type(value).__name__}, not an object."
                    )
                block.append(ResultRecord(_encode(value), value))
                if len(block) >= BLOCK_ITEMS:
                    page.item_count += len(block)
                    yield RecordBlock(block)
                    block = []
            else:
                page.set_field(path, value)
    except ijson.JSONError as exc:
        error = exc
    if block:  # the items before a break are complete and valid: hand them over first
        page.item_count += len(block)
        yield RecordBlock(block)
    if error is not None:
        raise BifrostProtocolError(
            f"The results document is not valid JSON after {page.item_count} items ({error}); the response "
            "was cut short or is not a results document."
        )
    if "results" not in matcher.seen and page.item_count == 0:
        raise BifrostProtocolError("The response is not a results document: it has no `results` array.")
