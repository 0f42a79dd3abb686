from __future__ import annotations

import json

import pytest

from airflow_provider_bifrost.hooks.errors import BifrostProtocolError
from airflow_provider_bifrost.hooks.results import ResultsPage, parse_results_document


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def items(n: int) -> list[dict[str, object]]:
    return [{"custom_id": f"r{i}", "response": {"status_code": 200, "body": {"n": i, "f": 0.5}}} for i in range(n)]


@pytest.mark.parametrize("chunk_size", [1, 7, 4096])
def test_items_and_page_fields_after_the_array(chunk_size: int) -> None:
    doc = {
        "batch_id": "b1",
        "results": items(50),
        "has_more": True,
        "next_cursor": "c2",
        "extra_fields": {"parse_errors": ["line 3: bad json"], "provider": "openai"},
    }
    page = ResultsPage()
    got = list(parse_results_document(chunked(json.dumps(doc).encode(), chunk_size), page))
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


def test_nested_keys_named_like_page_fields_are_not_confused() -> None:
    doc = {"results": [{"custom_id": "a", "has_more": True, "results": [1], "extra_fields": {"x": 1}}]}
    page = ResultsPage()
    assert list(parse_results_document([json.dumps(doc).encode()], page)) == doc["results"]
    assert page.has_more is False
    assert page.extra_fields == {}


def test_empty_results_is_fine_but_no_results_key_is_not() -> None:
    assert list(parse_results_document([b'{"batch_id": "b", "results": []}'], ResultsPage())) == []
    with pytest.raises(BifrostProtocolError, match="no `results` array"):
        list(parse_results_document([b'{"data": []}'], ResultsPage()))


def test_truncated_document_names_how_far_it_got() -> None:
    body = json.dumps({"results": items(3)}).encode()
    got: list[object] = []
    with pytest.raises(BifrostProtocolError, match="after 2 items"):
        for item in parse_results_document([body[: len(body) - 40]], ResultsPage()):
            got.append(item)
    assert len(got) == 2


@pytest.mark.parametrize("body", [b"<html>502 Bad Gateway</html>", b"", b"[1, 2]"])
def test_not_a_results_document(body: bytes) -> None:
    with pytest.raises(BifrostProtocolError):
        list(parse_results_document([body], ResultsPage()))


def test_item_that_is_not_an_object() -> None:
    with pytest.raises(BifrostProtocolError, match="is a int, not an object"):
        list(parse_results_document([b'{"results": [{"custom_id": "a"}, 5]}'], ResultsPage()))


def test_streams_without_building_a_list() -> None:
    """100,000 items stream through in bounded memory: a list of them would take tens of MB."""
    import tracemalloc

    def body():  # produces the document lazily, so the input side holds nothing either
        yield b'{"batch_id": "big", "results": ['
        for i in range(100_000):
            yield (b"," if i else b"") + b'{"custom_id": "r%d", "response": {"status_code": 200, "body": {}}}' % i
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
