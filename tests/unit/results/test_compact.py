"""The fast parser of the compact results document: item boundaries, the gateway's own bytes, handing over."""

from __future__ import annotations

import json

import pytest

from airflow_provider_bifrost.results.document import parse_results_document
from airflow_provider_bifrost.results.records import ResultsPage
from tests.unit.results.test_document import chunked


@pytest.mark.parametrize("chunk_size", [1, 5, 64, 100_000])
def test_compact_boundaries_inside_items_are_not_item_boundaries(chunk_size: int) -> None:
    """``,{"custom_id":`` inside an item's own nested array, and items whose first key is another."""
    tricky = [
        {"custom_id": "a", "body": {"list": [{"custom_id": "x"}, {"custom_id": "y"}]}},
        {"custom_id": "b", "text": 'says ,{"custom_id": and } ] inside a string'},
        {"result": {"type": "succeeded"}, "custom_id": "c"},
        {"custom_id": "d", "nested": [[{"custom_id": "z"}], {"custom_id": "w"}]},
    ]
    body = json.dumps({"batch_id": "b", "results": tricky, "has_more": False}, separators=(",", ":")).encode()
    page = ResultsPage()
    assert list(parse_results_document(chunked(body, chunk_size), page)) == tricky
    assert (page.item_count, page.batch_id) == (4, "b")


def test_compact_lines_are_the_gateways_own_bytes() -> None:
    from airflow_provider_bifrost.results.document import iter_result_records

    raw = [b'{"custom_id":"a","response":{"status_code":200,"body":{"x":1.50}}}', b'{"custom_id":"b","n":1e3}']
    body = b'{"batch_id":"b","results":[' + b",".join(raw) + b'],"extra_fields":{}}'
    records = list(iter_result_records(chunked(body, 10), ResultsPage()))
    assert [r.line for r in records] == raw
    assert records[0].item["response"]["body"]["x"] == 1.5


def test_compact_hands_over_to_ijson_when_a_span_never_closes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Items that never start with custom_id make one ever-growing span: past the limit, ijson takes over."""
    from airflow_provider_bifrost.results import compact

    monkeypatch.setattr(compact, "MAX_SPAN", 2000)
    odd = [{"custom_id": "first"}] + [{"n": i, "custom_id": f"r{i}"} for i in range(500)]
    body = json.dumps({"results": odd, "has_more": True, "next_cursor": "c"}, separators=(",", ":")).encode()
    page = ResultsPage()
    assert list(parse_results_document(chunked(body, 512), page)) == odd
    assert (page.has_more, page.next_cursor, page.item_count) == (True, "c", 501)


@pytest.mark.parametrize("seed", range(6))
def test_lines_counts_and_successes_are_exact_whatever_the_chunks(seed: int) -> None:
    """Random items (some with ``,{"custom_id":"`` nested in them, some not starting with it) in random chunks:
    one line per item, the gateway's bytes, and the successes of the one rule, in both modes."""
    import random

    from airflow_provider_bifrost.results.document import iter_result_blocks
    from airflow_provider_bifrost.results.records import item_succeeded

    rng = random.Random(seed)

    def item(i: int) -> dict[str, object]:
        kind = rng.random()
        if kind < 0.15:
            return {"custom_id": f"r{i}", "body": {"list": [{"custom_id": "x"}, {"custom_id": f"y{i}"}]}}
        if kind < 0.25:
            return {"response": {"status_code": 200}, "custom_id": f"r{i}"}
        if kind < 0.35:
            return {"custom_id": f"r{i}", "error": {"code": "bad", "message": "no"}}
        status = rng.choice([200, 200, 200, 500])
        return {"custom_id": f"r{i}", "response": {"status_code": status, "body": {"text": "x" * rng.randrange(300)}}}

    items = [item(i) for i in range(rng.randrange(50, 400))]
    lines = [json.dumps(i, separators=(",", ":")).encode() for i in items]
    body = b'{"batch_id":"b","results":[' + b",".join(lines) + b'],"has_more":false}'
    cuts = sorted(rng.sample(range(1, len(body)), 40))
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    for lean in (False, True):
        page = ResultsPage()
        blocks = list(iter_result_blocks(iter(pieces), page, lean=lean))
        assert b"\n".join(block.jsonl for block in blocks if len(block)) == b"\n".join(lines)
        assert sum(len(block) for block in blocks) == page.item_count == len(items)
        assert sum(block.succeeded() for block in blocks) == sum(item_succeeded(i) for i in items)
