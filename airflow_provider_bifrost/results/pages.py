"""
Every result item of a batch across pages: pages followed, a page whose stream breaks resumed.

Pages are followed through ``has_more``/``next_cursor`` (sent back as ``after``); a repeated cursor, or
``has_more`` without one, stops with :class:`~airflow_provider_bifrost.exceptions.BifrostProtocolError`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from itertools import chain
from typing import TYPE_CHECKING, Any

import httpx

from airflow_provider_bifrost.exceptions import BifrostProtocolError
from airflow_provider_bifrost.results.document import iter_result_blocks
from airflow_provider_bifrost.results.records import RecordBlock, ResultRecord, ResultsPage

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from airflow_provider_bifrost.hooks.retry import RetryPolicy
    from airflow_provider_bifrost.results.records import ItemStatus


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
    :param usage: lean records also carry the items' token usage, decoded into this struct (see
        :mod:`.usage_structs`).
    """

    def __init__(
        self,
        open_page: Callable[[str | None], AbstractContextManager[Iterator[bytes]]],
        *,
        retry: RetryPolicy,
        what: str,
        lean: bool = False,
        usage: type[ItemStatus] | None = None,
    ) -> None:
        self._open_page = open_page
        self._retry = retry
        self._what = what
        self._lean = lean
        self._usage = usage
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
            yield from iter_result_blocks(chunks, page, lean=self._lean, usage=self._usage)
        except BifrostProtocolError as exc:
            raise BifrostProtocolError(f"{self._what}: {exc}") from None

    def _read_page(self, cursor: str | None) -> Generator[RecordBlock, None, ResultsPage]:
        yielded = 0
        last_id: str | None = None
        failures = self._retry.streak()
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
                        failures.reset()
                        yield block
                return attempt
            except httpx.TransportError as exc:
                self._retry.pause(failures, self._what, exc, f"after {yielded} items")
