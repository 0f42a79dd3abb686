from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_bifrost.exceptions import BifrostProtocolError
from airflow_provider_bifrost.results.document import parse_results_document
from airflow_provider_bifrost.results.records import ResultsPage


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.fixture(params=["compact", "spaced"])
def dumps(request: pytest.FixtureRequest) -> Any:
    """Encode a document the way the gateway does (compact: the fast path) or with whitespace (ijson)."""
    separators = (",", ":") if request.param == "compact" else (", ", ": ")
    return lambda doc: json.dumps(doc, separators=separators).encode()


def items(n: int) -> list[dict[str, object]]:
    return [{"custom_id": f"r{i}", "response": {"status_code": 200, "body": {"n": i, "f": 0.5}}} for i in range(n)]


@pytest.mark.parametrize("chunk_size", [1, 7, 4096])
def test_items_and_page_fields_after_the_array(chunk_size: int, dumps: Any) -> None:
    doc = {
        "batch_id": "b1",
        "results": items(50),
        "has_more": True,
        "next_cursor": "c2",
        "extra_fields": {"parse_errors": ["line 3: bad json"], "provider": "openai"},
    }
    page = ResultsPage()
    got = list(parse_results_document(chunked(dumps(doc), chunk_size), page))
    assert got == doc["results"]
    assert (page.batch_id, page.has_more, page.next_cursor, page.item_count) == ("b1", True, "c2", 50)
    assert page.parse_errors == ["line 3: bad json"]


def test_page_fields_before_the_array_and_floats_stay_floats() -> None:
    body = b'{"extra_fields": {}, "has_more": false, "batch_id": "b", "results": [{"custom_id": "a", "x": 1.25}]}'
    page = ResultsPage()
    got = list(parse_results_document([body], page))
    assert got == [{"custom_id": "a", "x": 1.25}]
    assert isinstance(got[0]["x"], float)
    assert (page.has_more, page.batch_id) == (False, "b")


def test_nested_keys_named_like_page_fields_are_not_confused(dumps: Any) -> None:
    doc = {"results": [{"custom_id": "a", "has_more": True, "results": [1], "extra_fields": {"x": 1}}]}
    page = ResultsPage()
    assert list(parse_results_document([dumps(doc)], page)) == doc["results"]
    assert page.has_more is False
    assert page.extra_fields == {}


def test_empty_results_is_fine_but_no_results_key_is_not() -> None:
    assert list(parse_results_document([b'{"batch_id": "b", "results": []}'], ResultsPage())) == []
    page = ResultsPage()
    assert (
        list(parse_results_document([b'{"batch_id":"b","results":[],"has_more":true,"next_cursor":"n"}'], page)) == []
    )
    assert (page.has_more, page.next_cursor) == (True, "n")
    with pytest.raises(BifrostProtocolError, match="no `results` array"):
        list(parse_results_document([b'{"data": []}'], ResultsPage()))


def test_truncated_document_names_how_far_it_got(dumps: Any) -> None:
    body = dumps({"results": items(3)})
    got: list[object] = []
    with pytest.raises(BifrostProtocolError, match="after 2 items"):
        for item in parse_results_document([body[: len(body) - 40]], ResultsPage()):
            got.append(item)
    assert len(got) == 2


@pytest.mark.parametrize(
    "body", [b"<html>502 Bad Gateway</html>", b"", b"[1, 2]", b'{"x":{"results":[{"custom_id":"a"}]}}']
)
def test_not_a_results_document(body: bytes) -> None:
    with pytest.raises(BifrostProtocolError):
        list(parse_results_document([body], ResultsPage()))


@pytest.mark.parametrize("body", [b'{"results": [{"custom_id": "a"}, 5]}', b'{"results":[{"custom_id":"a"},5]}'])
def test_item_that_is_not_an_object(body: bytes) -> None:
    with pytest.raises(BifrostProtocolError, match="not an object"):
        list(parse_results_document([body], ResultsPage()))


@pytest.mark.parametrize("separator", [b"", b" "])
def test_streams_without_building_a_list(separator: bytes) -> None:
    """100,000 items stream through in bounded memory: a list of them would take tens of MB."""
    import tracemalloc

    def body():  # produces the document lazily, so the input side holds nothing either
        yield b'{"batch_id":"big","results":['
        for i in range(100_000):
            item = b'{"custom_id":"r%d",%s"response":{"status_code":200,"body":{}}}' % (i, separator)
            yield (b"," if i else b"") + item
        yield b"]}"

    page = ResultsPage()
    tracemalloc.start()
    try:
        count = sum(1 for _ in parse_results_document(body(), page))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == page.item_count == 100_000
    assert peak < 4 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB: items are being accumulated"


SUCCESS_CASES: list[tuple[dict[str, Any], bool]] = [
    ({"custom_id": "a", "response": {"status_code": 200, "body": {"x": 1}}}, True),
    ({"custom_id": "a", "response": {"status_code": 429, "body": {}}}, False),
    ({"custom_id": "a", "result": {"type": "succeeded", "message": {}}}, True),
    ({"custom_id": "a", "result": {"type": "errored"}, "error": {"code": "x", "message": "y"}}, False),
    ({"custom_id": "a", "response": {"status_code": 200}, "error": {"code": "boom"}}, False),
    ({"custom_id": "a", "response": {"status_code": "200"}}, False),
    ({"custom_id": "a"}, False),
]


def test_lean_records_match_full_records() -> None:
    """Lean decoding (for writing lines out) gives the same lines, ids, items and success as full decoding."""
    from airflow_provider_bifrost.results.document import iter_result_records
    from airflow_provider_bifrost.results.records import item_succeeded

    items = [item for item, _ in SUCCESS_CASES] * 3
    body = json.dumps({"results": items, "has_more": False}, separators=(",", ":")).encode()
    full = list(iter_result_records(chunked(body, 64), ResultsPage()))
    lean = list(iter_result_records(chunked(body, 64), ResultsPage(), lean=True))
    assert [r.line for r in lean] == [r.line for r in full]
    assert [r.custom_id for r in lean] == [r.custom_id for r in full]
    assert [r.succeeded for r in lean] == [r.succeeded for r in full] == [item_succeeded(i) for i in items]
    assert [r.succeeded for r in full[: len(SUCCESS_CASES)]] == [ok for _, ok in SUCCESS_CASES]
    assert [r.item for r in lean] == items


@pytest.mark.parametrize("lean", [False, True])
def test_blocks_split_count_and_join_like_their_records(lean: bool, dumps: Any) -> None:
    """A block's JSONL, success count, ids and every split agree with its records, on both parsers."""
    from airflow_provider_bifrost.results.document import iter_result_blocks

    docs = [item for item, _ in SUCCESS_CASES] * 5
    blocks = list(iter_result_blocks(chunked(dumps({"results": docs}), 512), ResultsPage(), lean=lean))
    assert sum(len(block) for block in blocks) == len(docs)
    for block in blocks:
        lines = [record.line for record in block.records]
        assert block.jsonl == b"\n".join(lines)
        assert block.succeeded() == sum(record.succeeded for record in block.records)
        assert [block.custom_id(i) for i in range(len(block))] == [record.custom_id for record in block.records]
        for index in range(len(block) + 1):
            head, rest = block.split(index)
            assert (len(head), len(rest)) == (index, len(block) - index)
            assert [r.line for r in head.records] + [r.line for r in rest.records] == lines
            assert head.jsonl == b"\n".join(lines[:index]) and rest.jsonl == b"\n".join(lines[index:])
