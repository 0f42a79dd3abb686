"""
Streamed parsing of the gateway's results document, one item at a time, in one pass.

``GET /v1/batches/{id}/results`` answers ``{batch_id, results: [...], has_more, next_cursor,
extra_fields}`` as ONE JSON document that may be hundreds of MB, with the small fields before or
after the array. ijson's C ``items()`` is the fast way to stream ``results.item``; it compares its
prefix with ``==`` against each event's prefix outside the values it is building, so a prefix that
equals several paths yields the items and the small top-level fields from the same pass.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import ijson

from airflow_provider_bifrost.hooks.errors import BifrostProtocolError
from airflow_provider_bifrost.hooks.http import RetryPolicy, describe_failure, transport_error

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

log = logging.getLogger(__name__)

ITEM_PATH = "results.item"
#: The small top-level fields read alongside the items.
PAGE_FIELDS = ("batch_id", "has_more", "next_cursor", "extra_fields")


@dataclass
class ResultsPage:
    """What one results document said besides its items."""

    batch_id: str | None = None
    has_more: bool = False
    next_cursor: str | None = None
    extra_fields: dict[str, Any] = field(default_factory=dict)
    item_count: int = 0

    @property
    def parse_errors(self) -> list[Any]:
        """Lines the gateway could not parse and skipped (``extra_fields.parse_errors``)."""
        errors = self.extra_fields.get("parse_errors") if isinstance(self.extra_fields, dict) else None
        return list(errors) if isinstance(errors, list) else []


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


def parse_results_document(chunks: Iterable[bytes], page: ResultsPage) -> Iterator[dict[str, Any]]:
    """
    Yield each result item (a dict, exactly as sent) of one results document; fill ``page`` as it goes.

    :param chunks: the response body, in chunks.
    :param page: receives ``batch_id``, ``has_more``, ``next_cursor``, ``extra_fields`` and the count;
        complete once the iterator is exhausted.
    :raises BifrostProtocolError: the body is not a results document, or it ends mid-document.
    """
    matcher = _PathMatcher((ITEM_PATH, *PAGE_FIELDS))
    try:
        for value in ijson.items(_ChunkReader(iter(chunks)), matcher, use_float=True):
            path = matcher.matched.popleft()
            if path == ITEM_PATH:
                if not isinstance(value, dict):
                    raise BifrostProtocolError(
                        f"Result item {page.item_count} is a {type(value).__name__}, not an object."
                    )
                page.item_count += 1
                yield value
            else:
                _set_page_field(page, path, value)
    except ijson.JSONError as exc:
        raise BifrostProtocolError(
            f"The results document is not valid JSON after {page.item_count} items ({exc}); the response "
            "was cut short or is not a results document."
        ) from None
    if "results" not in matcher.seen and page.item_count == 0:
        raise BifrostProtocolError("The response is not a results document: it has no `results` array.")


def _set_page_field(page: ResultsPage, path: str, value: Any) -> None:
    if path == "has_more":
        page.has_more = bool(value)
    elif path == "next_cursor":
        page.next_cursor = str(value) if value not in (None, "") else None
    elif path == "batch_id":
        page.batch_id = str(value) if value is not None else None
    elif path == "extra_fields" and isinstance(value, dict):
        page.extra_fields = value


class BatchResults(Iterator[dict[str, Any]]):
    """
    Every result item of a batch, across pages, streamed; resumes a page whose stream breaks.

    Pages are followed through ``has_more``/``next_cursor`` (sent back as ``after``); a repeated
    cursor, or ``has_more`` without one, stops with :class:`BifrostProtocolError`. When a page's
    connection drops mid-stream, the page is requested again and the items already yielded are
    skipped (checked by ``custom_id``), so nothing is yielded twice or lost.

    :param open_page: opens one page's body as byte chunks, given the ``after`` cursor.
    :param retry: the retry policy (attempt budget and backoff) for broken streams.
    :param what: the request, for messages.
    """

    def __init__(
        self,
        open_page: Callable[[str | None], AbstractContextManager[Iterator[bytes]]],
        *,
        retry: RetryPolicy,
        what: str,
    ) -> None:
        self._open_page = open_page
        self._retry = retry
        self._what = what
        self.pages: list[ResultsPage] = []
        self._items = self._generate()

    def __next__(self) -> dict[str, Any]:
        return next(self._items)

    @property
    def item_count(self) -> int:
        """Items yielded so far."""
        return sum(page.item_count for page in self.pages)

    @property
    def parse_errors(self) -> list[Any]:
        """Every ``extra_fields.parse_errors`` entry of the pages read so far."""
        return [error for page in self.pages for error in page.parse_errors]

    def _generate(self) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        cursors: set[str] = set()
        while True:
            page = yield from self._read_page(cursor)
            self.pages.append(page)
            if not page.has_more:
                return
            if not page.next_cursor:
                raise BifrostProtocolError(
                    f"{self._what}: page {len(self.pages)} says has_more but gives no next_cursor; stopping "
                    f"after {self.item_count} items rather than loop or lose results."
                )
            if page.next_cursor in cursors:
                raise BifrostProtocolError(
                    f"{self._what}: the gateway repeated cursor {page.next_cursor!r}; stopping after "
                    f"{self.item_count} items rather than loop."
                )
            cursors.add(page.next_cursor)
            cursor = page.next_cursor

    def _read_page(self, cursor: str | None) -> Generator[dict[str, Any], None, ResultsPage]:
        yielded = 0
        last_id: str | None = None
        failures = 0
        while True:
            attempt = ResultsPage()
            try:
                with self._open_page(cursor) as chunks:
                    for item in parse_results_document(chunks, attempt):
                        if attempt.item_count <= yielded:
                            if attempt.item_count == yielded and item.get("custom_id") != last_id:
                                raise BifrostProtocolError(
                                    f"{self._what}: the results changed between attempts (item {yielded} "
                                    f"was {last_id!r}, now {item.get('custom_id')!r}); cannot resume safely."
                                )
                            continue
                        yielded, last_id = attempt.item_count, item.get("custom_id")
                        failures = 0
                        yield item
                return attempt
            except httpx.TransportError as exc:
                failures += 1
                if failures > self._retry.max_retries:
                    raise transport_error(self._what, exc) from exc
                wait = self._retry.backoff(failures, exc)
                log.warning(
                    "%s: stream broke after %d items (%s); resuming in %.1f s (attempt %d of %d)",
                    self._what,
                    yielded,
                    describe_failure(exc),
                    wait,
                    failures + 1,
                    self._retry.max_retries + 1,
                )
                self._retry.sleep(wait)
