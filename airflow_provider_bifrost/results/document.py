"""
One results document, streamed: ``{batch_id, results: [...], has_more, next_cursor, extra_fields}``.

``GET /v1/batches/{id}/results`` answers the whole result set as ONE JSON document that may be hundreds
of MB. The compact layout the gateway writes is split at C speed (:mod:`.compact`); any other layout is
parsed with ijson (:mod:`.ijson_parser`). Either way the items come out in blocks, in document order, in
bounded memory.
"""

from __future__ import annotations

from itertools import chain
from typing import TYPE_CHECKING, Any

from airflow_provider_bifrost.results.compact import compact_prefix, parse_compact, read_head
from airflow_provider_bifrost.results.ijson_parser import parse_with_ijson

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from airflow_provider_bifrost.results.records import ItemStatus, RecordBlock, ResultRecord, ResultsPage


def iter_result_blocks(
    chunks: Iterable[bytes],
    page: ResultsPage,
    *,
    lean: bool = False,
    usage: type[ItemStatus] | None = None,
) -> Iterator[RecordBlock]:
    """
    Yield the items of one results document in blocks (:class:`RecordBlock`), in document order; fill
    ``page`` as it goes. Blocks keep per-item work out of Python-level loops: an export writes a block's
    JSONL in one call.

    :param chunks: the response body, in chunks.
    :param page: receives ``batch_id``, ``has_more``, ``next_cursor``, ``extra_fields`` and the count;
        complete once the iterator is exhausted.
    :param lean: records may decode their item only when asked (faster when only lines are needed).
    :param usage: lean records also carry the items' token usage, decoded into this struct (see
        :mod:`.usage_structs`).
    :raises BifrostProtocolError: the body is not a results document, or it ends mid-document.
    """
    stream = iter(chunks)
    head, match = read_head(stream)
    prefix = compact_prefix(head, match)
    if prefix is not None and match is not None:
        yield from parse_compact(head, match, prefix, stream, page, lean=lean, usage=usage)
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
