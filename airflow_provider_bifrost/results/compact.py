"""
The fast results-document parser, for the compact layout the gateway writes.

The gateway writes ``{..."results":[{"custom_id":"...},{"custom_id":"...}],...}`` without
whitespace, each item starting with its ``custom_id``. The bytes ``,{"custom_id":"`` cannot occur
inside a JSON string (a quote there is always escaped), so they mark an item boundary, or, rarely,
an object inside an item's own nested array. Each candidate span is checked by decoding it with
msgspec: a span that starts at an item decodes only if it ends where the item ends, so a nested
match just makes the span grow to the next candidate. Mostly, a whole region of items is split at its
candidates, joined as lines and decoded line by line at once (:func:`_all_at_once`), which holds only when
every line is one item. Each item's own bytes are kept as its JSONL line.

Anything else (whitespace, another key first, ``results`` nested) is left to the ijson parser, from
the start or, if a span grows past :data:`MAX_SPAN`, from where this one stopped.
"""

from __future__ import annotations

import re
from itertools import chain
from typing import TYPE_CHECKING, Any

import msgspec

from airflow_provider_bifrost.exceptions import BifrostProtocolError
from airflow_provider_bifrost.results.ijson_parser import parse_with_ijson
from airflow_provider_bifrost.results.records import (
    ItemStatus,
    RecordBlock,
    ResultRecord,
    ResultsPage,
    lines_decoder,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

ITEM_START = b'{"custom_id":"'
BOUNDARY = b"," + ITEM_START
LINE_BOUNDARY = b"\n" + ITEM_START
RESULTS_KEY = re.compile(rb'"results"\s*:\s*\[\s*')
#: The document's start is looked for in at most this many bytes.
HEAD_LIMIT = 1024 * 1024
#: A span that grows past this without decoding hands the rest of the document to ijson.
MAX_SPAN = 16 * 1024 * 1024
_decode = msgspec.json.Decoder().decode
_decode_lines = msgspec.json.Decoder().decode_lines
_encode = msgspec.json.Encoder().encode


def read_head(chunks: Iterator[bytes]) -> tuple[bytes, re.Match[bytes] | None]:
    """Read until the results array (and its first item's start) is in view; the bytes and the match."""
    head = b""
    for chunk in chunks:
        head += chunk
        match = RESULTS_KEY.search(head)
        if (match and len(head) >= match.end() + len(ITEM_START)) or len(head) > HEAD_LIMIT:
            break
    return head, RESULTS_KEY.search(head)


def compact_prefix(head: bytes, match: re.Match[bytes] | None) -> dict[str, Any] | None:
    """The top-level fields before ``results`` if the document has the compact layout, else None."""
    if match is None:
        return None
    rest = head[match.end() :]
    if not (rest.startswith(ITEM_START) or rest.startswith(b"]")):
        return None
    try:
        prefix = _decode(head[: match.end()] + b"]}")  # valid only if "results" is a top-level key
    except msgspec.DecodeError:
        return None
    return prefix if isinstance(prefix, dict) and prefix.get("results") == [] else None


def _records(span: bytes, items: Any, page: ResultsPage) -> RecordBlock:
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise BifrostProtocolError(f"Result item {page.item_count} is not an object.")
    page.item_count += len(items)
    if len(items) == 1 and b"\n" not in span and b"\r" not in span:
        return RecordBlock([ResultRecord(span, items[0])])
    return RecordBlock([ResultRecord(_encode(item), item) for item in items])


def _all_at_once(region: bytes, page: ResultsPage, decode_lines: Callable[[bytes], list[Any]]) -> RecordBlock | None:
    """
    Every item in ``region`` (from an item's start to a boundary) as one block: split at the boundaries,
    joined as lines, and decoded line by line; None unless each line is exactly one item, so the span-by-span
    path decides.

    A boundary inside an item leaves a line that is not a whole JSON value (the comma it replaced is missing
    between two tokens), and an item that does not start with ``custom_id`` leaves two items on one line joined
    by a comma: either way the decode fails. Lines that decode to as many values as there are lines are then
    one item each. ``decode_lines`` decodes the items, or, lean, only what an export needs of each
    (:class:`ItemStatus`, or a struct of :mod:`.usage_structs` when it also counts usage).
    """
    if b"\n" in region or b"\r" in region:
        return None
    parts = region.split(BOUNDARY)
    jsonl = LINE_BOUNDARY.join(parts)
    try:
        decoded = decode_lines(jsonl)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    lean = decode_lines is not _decode_lines
    if len(decoded) != len(parts) or not (lean or all(type(item) is dict for item in decoded)):
        return None
    page.item_count += len(decoded)
    return RecordBlock(jsonl=jsonl, decoded=decoded)


def parse_compact(
    head: bytes,
    match: re.Match[bytes],
    prefix: dict[str, Any],
    chunks: Iterator[bytes],
    page: ResultsPage,
    *,
    lean: bool = False,
    usage: type[ItemStatus] | None = None,
) -> Iterator[RecordBlock]:
    """
    Yield the items of a compact results document in blocks, in order; fill ``page`` as it goes.

    :param head: the document's first bytes, as read by :func:`read_head`.
    :param match: where the results array starts in ``head``.
    :param prefix: the top-level fields before the array (see :func:`compact_prefix`).
    :param chunks: the rest of the body.
    :param page: receives the top-level fields and the count.
    :param lean: records decode their item only when asked (for writing lines out).
    :param usage: lean records also carry the items' token usage, decoded into this struct (see
        :mod:`.usage_structs`).
    """
    decode_lines = lines_decoder(usage or ItemStatus) if lean else _decode_lines
    for name, value in prefix.items():
        page.set_field(name, value)
    buf = head[match.end() :]
    start = search = 0
    grown = False  # the span at ``start`` has grown past a boundary inside its item: no region from it decodes
    while True:
        if not grown and (last := buf.rfind(BOUNDARY, start + 1)) > 0:
            block = _all_at_once(buf[start:last], page, decode_lines)
            if block is not None:
                yield block
                start = search = last + 1
                continue
        boundary = buf.find(BOUNDARY, search)
        if boundary < 0:
            chunk = next(chunks, None)
            if chunk is None:
                break
            if len(buf) - start > MAX_SPAN:
                yield from parse_with_ijson(chain([b'{"results":[' + buf[start:], chunk], chunks), page)
                return
            search = max(search, len(buf) - len(BOUNDARY) + 1) - start
            buf = buf[start:] + chunk
            start = 0
            continue
        span = buf[start:boundary]
        try:
            items = _decode(b"[" + span + b"]")
        except msgspec.DecodeError:
            search = boundary + 1  # a boundary inside the item's own nesting: keep growing the span
            grown = True
            continue
        yield _records(span, items, page)
        start = search = boundary + 1
        grown = False
    yield from _tail(buf[start:], page)


def _tail(tail: bytes, page: ResultsPage) -> Iterator[RecordBlock]:
    """The last item(s), the array's end, and the top-level fields after it."""
    end = tail.find(b"]")
    while end >= 0:  # the array ends at the first "]" up to which the items decode
        try:
            items = _decode(b"[" + tail[:end] + b"]")
        except msgspec.DecodeError:
            end = tail.find(b"]", end + 1)
            continue
        yield _records(tail[:end], items, page)
        rest = tail[end + 1 :].strip()  # "}" or ',"has_more":...}': the fields after the array
        try:
            fields = {} if rest == b"}" else _decode(b"{" + rest[1:]) if rest.startswith(b",") else None
        except msgspec.DecodeError:
            fields = None
        if isinstance(fields, dict):
            for name, value in fields.items():
                page.set_field(name, value)
            return
        break
    raise BifrostProtocolError(
        f"The results document is not valid JSON after {page.item_count} items; the response was cut short or "
        "is not a results document."
    )
