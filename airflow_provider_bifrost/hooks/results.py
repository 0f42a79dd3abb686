"""
Streamed parsing of the gateway's results document, one item at a time, in one pass.

``GET /v1/batches/{id}/results`` answers ``{batch_id, results: [...], has_more, next_cursor,
extra_fields}`` as ONE JSON document that may be hundreds of MB. The compact layout the gateway
writes is split at C speed (:mod:`.results_compact`); any other layout is parsed with ijson
(:mod:`.results_ijson`). Pages are followed, and a page whose stream breaks is resumed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterable, Iterator
from itertools import chain
from typing import TYPE_CHECKING, Any

import httpx

from airflow_provider_bifrost.hooks.errors import BifrostProtocolError
from airflow_provider_bifrost.hooks.http import RetryPolicy, describe_failure, transport_error
from airflow_provider_bifrost.hooks.records import RecordBlock, ResultRecord, ResultsPage
from airflow_provider_bifrost.hooks.results_compact import compact_prefix, parse_compact, read_head
from airflow_provider_bifrost.hooks.results_ijson import parse_with_ijson

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

log = logging.getLogger(__name__)

__all__ = [
    "BatchResults",
    "RecordBlock",
    "ResultRecord",
    "ResultsPage",
    "iter_result_blocks",
    "iter_result_records",
    "parse_results_document",
]


def iter_result_blocks(chunks: Iterable[bytes], page: ResultsPage, *, lean: bool = False) -> Iterator[RecordBlock]:
    """
    Yield the items of one results document in blocks (:class:`RecordBlock`), in document order; fill
    ``page`` as it goes. Blocks keep per-item work out of Python-level loops: an export writes a block's
    JSONL in one call.

    :param chunks: the response body, in chunks.
    :param page: receives ``batch_id``, ``has_more``, ``next_cursor``, ``extra_fields`` and the count;
        complete once the iterator is exhausted.
    :param lean: records may decode their item only when asked (faster when only lines are needed).
    :raises BifrostProtocolError: the body is not a results document, or it ends mid-document.
    """
    stream = iter(chunks)
    head, match = read_head(stream)
    prefix = compact_prefix(head, match)
    if prefix is not None and match is not None:
        yield from parse_compact(head, match, prefix, stream, page, lean=lean)
    else:
        yield from parse_with_ijson(chain([head], stream), page)


def iter_result_records(chunks: Iterable[bytes], page: ResultsPage, *, lean: bool = False) -> Iterator[ResultRecord]:
    """
    Yield a record for each item of one results document (see :func:`iter_result_blocks`).

    :param chunks: the response body, in chunks.
    :param page: receives the top-level fields and the count.
    :param lean: records may decode their item only when asked.
    """
    return chain.from_iterable(block.records for block in iter_result_blocks(chunks, page, lean=lean))


def parse_results_document(chunks: Iterable[bytes], page: ResultsPage) -> Iterator[dict[str, Any]]:
    """
    Yield each result item (a dict, as sent) of one results document; fill ``page`` as it goes.

    :param chunks: the response body, in chunks.
    :param page: receives the top-level fields and the count.
    """
    for record in iter_result_records(chunks, page):
        yield record.item


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
    :param lean: records decode their item only when asked (for writing lines out).
    """

    def __init__(
        self,
        open_page: Callable[[str | None], AbstractContextManager[Iterator[bytes]]],
        *,
        retry: RetryPolicy,
        what: str,
        lean: bool = False,
    ) -> None:
        self._open_page = open_page
        self._retry = retry
        self._what = what
        self._lean = lean
        self.pages: list[ResultsPage] = []
        self._blocks = self._generate()
        self._records = chain.from_iterable(block.records for block in self._blocks)

    def __next__(self) -> dict[str, Any]:
        return next(self._records).item

    def records(self) -> Iterator[ResultRecord]:
        """The same stream as records: each item with its JSON line (the gateway's own bytes when compact)."""
        return self._records

    def blocks(self) -> Iterator[RecordBlock]:
        """The same stream as blocks of records, in order: the fast way to write many items out."""
        return self._blocks

    @property
    def item_count(self) -> int:
        """Items yielded so far."""
        return sum(page.item_count for page in self.pages)

    @property
    def parse_errors(self) -> list[Any]:
        """Every ``extra_fields.parse_errors`` entry of the pages read so far."""
        return [error for page in self.pages for error in page.parse_errors]

    def _generate(self) -> Iterator[RecordBlock]:
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

    def _parse(self, chunks: Iterator[bytes], page: ResultsPage) -> Iterator[RecordBlock]:
        """The page's blocks; a document that does not parse is reported with the request it answered."""
        try:
            yield from iter_result_blocks(chunks, page, lean=self._lean)
        except BifrostProtocolError as exc:
            raise BifrostProtocolError(f"{self._what}: {exc}") from None

    def _read_page(self, cursor: str | None) -> Generator[RecordBlock, None, ResultsPage]:
        yielded = 0
        last_id: str | None = None
        failures = 0
        while True:
            attempt = ResultsPage()
            read = 0  # items this attempt has parsed so far
            try:
                with self._open_page(cursor) as chunks:
                    for block in self._parse(chunks, attempt):
                        start, read = read, read + len(block)
                        if start < yielded <= read:  # holds the last item an earlier attempt yielded: check it
                            seen = block.custom_id(yielded - start - 1)
                            if seen != last_id:
                                raise BifrostProtocolError(
                                    f"{self._what}: the results changed between attempts (item {yielded} was "
                                    f"{last_id!r}, now {seen!r}); cannot resume safely."
                                )
                        if read <= yielded:
                            continue
                        if start < yielded:
                            block = block.split(yielded - start)[1]
                        yielded, last_id = read, block.custom_id(len(block) - 1)
                        failures = 0
                        yield block
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
