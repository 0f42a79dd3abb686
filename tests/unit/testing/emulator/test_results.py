"""The /results document and JSONL files: item shapes per provider, token usage, paging, size, speed."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import ijson
import pytest

from airflow_provider_bifrost.testing.emulator.results import token_usage
from tests.unit.testing.emulator.helpers import (
    INSTANT,
    PROVIDERS,
    assert_bifrost_error,
    cancel,
    get_batch,
    get_results_response,
    results,
)

if TYPE_CHECKING:
    import httpx

    from airflow_provider_bifrost.testing.emulator import EmulatorClient


def test_openai_results_exclude_failed_requests(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = get_batch(http, emu.add_batch("openai", 50, failed=5, timeline=INSTANT)["id"])
    document = results(http, batch["id"])
    assert document["batch_id"] == batch["id"]
    assert document["extra_fields"] == {"request_type": "batch_results", "provider": "openai"}
    assert "has_more" not in document
    ok_ids = [item["custom_id"] for item in document["results"]]
    assert len(ok_ids) == len(set(ok_ids)) == 45
    item = document["results"][0]
    assert set(item) == {"custom_id", "response"}
    assert item["response"]["status_code"] == 200
    assert item["response"]["body"]["object"] == "chat.completion"
    assert item["response"]["request_id"]

    def lines(file_id: str) -> list[dict[str, Any]]:
        response = http.get(f"/v1/files/{file_id}/content", params={"provider": "openai"})
        assert response.status_code == 200
        return [json.loads(line) for line in response.text.splitlines()]

    errors = lines(batch["error_file_id"])
    failed_ids = {line["custom_id"] for line in errors}
    assert len(failed_ids) == 5
    assert failed_ids.isdisjoint(ok_ids)
    assert failed_ids | set(ok_ids) == {f"request-{i}" for i in range(50)}
    assert errors[0]["error"] is None  # the error file is OpenAI's own JSONL, which writes null
    assert errors[0]["response"]["status_code"] == 400
    assert set(errors[0]["response"]["body"]["error"]) == {"message", "type", "code"}
    assert [line["custom_id"] for line in lines(batch["output_file_id"])] == ok_ids


def test_anthropic_results(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = emu.add_batch("anthropic", 20, failed=3, timeline=INSTANT, parse_errors=[{"line": 7}])
    document = results(http, batch["id"], "anthropic")
    assert document["extra_fields"]["parse_errors"] == [{"line": 7}]
    items = document["results"]
    assert [item["custom_id"] for item in items] == [f"request-{i}" for i in range(20)]
    errored = [item for item in items if item["result"]["type"] == "errored"]
    assert len(errored) == 3
    # the gateway omits an empty message: no null
    assert all("message" not in item["result"] and item["error"]["message"] for item in errored)
    assert errored[0]["error"]["code"] == "invalid_request_error"
    ok = next(item for item in items if item["result"]["type"] == "succeeded")
    assert ok["result"]["message"]["type"] == "message"
    assert "response" not in ok and "error" not in ok


def test_anthropic_cancelled_requests_are_canceled(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = emu.add_batch("anthropic", 3, manual=True)
    cancel(http, batch["id"], "anthropic")
    items = results(http, batch["id"], "anthropic")["results"]
    assert {item["result"]["type"] for item in items} == {"canceled"}
    assert all(set(item["result"]) == {"type"} for item in items)


def test_bedrock_results(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = emu.add_batch("bedrock", 6, outcome="PartiallyCompleted", failed=2, timeline=INSTANT)
    assert get_batch(http, batch["id"], "bedrock")["status"] == "failed"  # results are still readable
    items = results(http, batch["id"], "bedrock")["results"]
    assert len(items) == 6
    errors = [item for item in items if "error" in item]
    assert len(errors) == 2
    assert errors[0]["response"] == {"status_code": 400}  # a record error: error + response.status_code
    assert errors[0]["error"]["code"] == "400"
    ok = next(item for item in items if "error" not in item)
    assert set(ok["response"]) == {"status_code", "body"}  # modelOutput as the body, no request id
    assert ok["response"]["body"]["type"] == "message"


def test_gemini_results_are_flattened(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = emu.add_batch("gemini", 5, failed=1, timeline=INSTANT)
    items = results(http, batch["id"], "gemini")["results"]
    assert len(items) == 5
    error = next(item for item in items if "error" in item)
    assert set(error) == {"custom_id", "error"}
    assert set(error["error"]) == {"code", "message"}
    ok = next(item for item in items if "error" not in item)
    assert set(ok["response"]) == {"status_code", "body"}
    assert set(ok["response"]["body"]) == {"text", "finish_reason", "usage"}
    assert set(ok["response"]["body"]["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}


def test_vertex_results_are_raw_vertex_responses(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = emu.add_batch("vertex", 4, failed=1, timeline=INSTANT)
    items = results(http, batch["id"], "vertex")["results"]
    body = next(item for item in items if "error" not in item)["response"]["body"]
    assert body["candidates"][0]["content"]["parts"][0]["text"].startswith("Answer")
    assert {"promptTokenCount", "candidatesTokenCount", "totalTokenCount"} <= set(body["usageMetadata"])
    assert sum("error" in item for item in items) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_token_usage_is_realistic_and_deterministic(emu: EmulatorClient, http: httpx.Client, provider: str) -> None:
    batch = emu.add_batch(provider, 7, timeline=INSTANT)
    items = results(http, batch["id"], provider)["results"]
    assert items == results(http, batch["id"], provider)["results"]
    for i, item in enumerate(items):
        prompt, completion, cache_read, cache_creation = token_usage(i)
        body = item["result"]["message"] if provider == "anthropic" else item["response"]["body"]
        if provider in ("openai", "azure"):
            usage = body["usage"]
            assert (usage["prompt_tokens"], usage["completion_tokens"]) == (prompt, completion)
            assert usage["total_tokens"] == prompt + completion
            assert usage["prompt_tokens_details"]["cached_tokens"] == cache_read
        elif provider in ("anthropic", "bedrock"):
            usage = body["usage"]
            assert usage["cache_read_input_tokens"] == cache_read
            assert usage["cache_creation_input_tokens"] == cache_creation
            assert usage["input_tokens"] + cache_read + cache_creation == prompt
            assert usage["output_tokens"] == completion
        elif provider == "gemini":
            usage = body["usage"]
            assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (
                prompt,
                completion,
                prompt + completion,
            )
        else:
            usage = body["usageMetadata"]
            assert (usage["promptTokenCount"], usage["candidatesTokenCount"]) == (prompt, completion)
            assert usage.get("cachedContentTokenCount", 0) == cache_read


@pytest.mark.parametrize("provider", PROVIDERS)
def test_results_document_is_compact(emu: EmulatorClient, http: httpx.Client, provider: str) -> None:
    batch = emu.add_batch(provider, 20, failed=3, timeline=INSTANT)
    raw = get_results_response(http, batch["id"], provider).text
    document = json.loads(raw)
    assert raw == json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    assert raw.count('{"custom_id":"') == len(document["results"])


def test_results_with_explicit_ids_embeddings_and_item_size(emu: EmulatorClient, http: httpx.Client) -> None:
    ids = ['quote"d', "slash\\ed", "unicodé"]
    batch = emu.add_batch("azure", ids, timeline=INSTANT, endpoint="/v1/embeddings", item_bytes=2000)
    response = http.get(f"/v1/batches/{batch['id']}/results", params={"provider": "azure"})
    items = response.json()["results"]
    assert [item["custom_id"] for item in items] == ids
    assert items[0]["response"]["body"]["data"][0]["object"] == "embedding"
    sized = emu.add_batch("openai", 100, timeline=INSTANT, item_bytes=1000)
    raw = http.get(f"/v1/batches/{sized['id']}/results", params={"provider": "openai"}).content
    assert 900 < len(raw) / 100 < 1100
    assert raw == http.get(f"/v1/batches/{sized['id']}/results", params={"provider": "openai"}).content


def test_results_stream_parses_with_ijson(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = emu.add_batch("bedrock", 3000, timeline=INSTANT)
    url = f"/v1/batches/{batch['id'].replace('/', '%2F')}/results"
    with http.stream("GET", url, params={"provider": "bedrock"}) as response:
        assert response.headers["content-type"] == "application/json"
        parsed = ijson.sendable_list()
        parser = ijson.items_coro(parsed, "results.item")
        for chunk in response.iter_bytes():
            parser.send(chunk)
        parser.close()
    ids = [item["custom_id"] for item in parsed]
    assert ids == [f"request-{i}" for i in range(3000)]


def read_pages(http: httpx.Client, batch_id: str, max_pages: int = 10) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    params: dict[str, str] = {}
    while len(pages) < max_pages:
        pages.append(results(http, batch_id, **params))
        if not pages[-1]["has_more"] or "next_cursor" not in pages[-1]:
            break
        params = {"after": pages[-1]["next_cursor"]}
    return pages


def test_paged_results(emu: EmulatorClient, http: httpx.Client) -> None:
    emu.configure(results_page_size=4)
    batch = emu.add_batch("openai", 10, failed=1, timeline=INSTANT)
    pages = read_pages(http, batch["id"])
    assert [len(page["results"]) for page in pages] == [4, 4, 1]
    assert [page["has_more"] for page in pages] == [True, True, False]
    ids = [item["custom_id"] for page in pages for item in page["results"]]
    assert len(set(ids)) == 9
    assert_bifrost_error(
        http.get(f"/v1/batches/{batch['id']}/results", params={"provider": "openai", "after": "bogus"}),
        400,
        "invalid cursor",
    )


def test_cursor_bugs(emu: EmulatorClient, http: httpx.Client) -> None:
    repeat = emu.add_batch("openai", 10, timeline=INSTANT, results_page_size=3, cursor_bug="repeat")
    pages = read_pages(http, repeat["id"], max_pages=3)
    assert pages[0]["next_cursor"] == pages[1]["next_cursor"] == pages[2]["next_cursor"]
    missing = emu.add_batch("openai", 10, timeline=INSTANT, results_page_size=3, cursor_bug="missing")
    page = results(http, missing["id"])
    assert page["has_more"] is True
    assert "next_cursor" not in page


def test_large_results_document_streams(emu: EmulatorClient, http: httpx.Client) -> None:
    count = 400_000
    batch = emu.add_batch("openai", count, timeline=INSTANT, item_bytes=1000)
    marker = b'"custom_id":'
    items = size = 0
    carry = b""
    start = time.perf_counter()
    with http.stream("GET", f"/v1/batches/{batch['id']}/results", params={"provider": "openai"}) as response:
        for chunk in response.iter_raw():
            size += len(chunk)
            items += (carry + chunk).count(marker)
            carry = chunk[-(len(marker) - 1) :]
    elapsed = time.perf_counter() - start
    print(f"\n{count} items, {size / 1e6:.0f} MB in {elapsed:.2f} s: {size / 1e6 / elapsed:.0f} MB/s")
    assert items == count
    assert size > count * 900


@pytest.mark.parametrize("provider", PROVIDERS)
def test_failed_requests_end_with_each_failure_code_in_turn(
    emu: EmulatorClient, http: httpx.Client, provider: str
) -> None:
    batch = get_batch(
        http, emu.add_batch(provider, 12, failed=6, failure_codes=[429, 400, 500], timeline=INSTANT)["id"], provider
    )
    if provider in ("openai", "azure"):
        response = http.get(f"/v1/files/{batch['error_file_id']}/content", params={"provider": provider})
        items = [json.loads(line) for line in response.text.splitlines()]
        codes = [item["response"]["status_code"] for item in items]
        kinds = [item["response"]["body"]["error"]["code"] for item in items]
        assert kinds[:3] == ["rate_limit_exceeded", "invalid_value", "server_error"]
    else:
        items = [item for item in results(http, batch["id"], provider=provider)["results"] if item.get("error")]
        codes = [item["error"]["code"] for item in items]
        if provider == "anthropic":
            assert all(item["result"]["type"] == "errored" for item in items)
            codes = [{"rate_limit_error": 429, "invalid_request_error": 400, "api_error": 500}[c] for c in codes]
        else:
            codes = [int(code) for code in codes]
        if provider == "bedrock":
            assert [item["response"]["status_code"] for item in items] == codes
    assert codes == [429, 400, 500, 429, 400, 500]
