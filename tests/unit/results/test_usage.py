"""Token usage per model: one rule per provider shape, the same on the export's lean structs and on dicts."""

from __future__ import annotations

import json
import random
import time
from typing import Any

import pytest

from airflow_provider_bifrost.results.document import iter_result_blocks
from airflow_provider_bifrost.results.records import RecordBlock, ResultRecord, ResultsPage, item_succeeded
from airflow_provider_bifrost.results.usage import ModelUsage, UsageCounter, describe
from airflow_provider_bifrost.results.usage_structs import ChatUsageStatus, UsageStatus
from airflow_provider_bifrost.testing.emulator.results import BatchContent, token_usage
from airflow_provider_bifrost.testing.emulator.state import BatchSpec, EmulatorState
from tests.unit.results.test_document import chunked

COUNTS = ("requests", "input_tokens", "cached_input_tokens", "cache_write_input_tokens", "output_tokens")


def document(items: list[dict[str, Any]], *, compact: bool = True) -> bytes:
    """A results document: compact as the gateway writes it (the fast path), or spaced (the ijson path)."""
    separators = (",", ":") if compact else (", ", ": ")
    return json.dumps({"batch_id": "b", "results": items, "has_more": False}, separators=separators).encode()


def count(
    body: bytes, provider: str, *, chunk_size: int = 4096, lean: bool = True, struct: type[Any] = UsageStatus
) -> tuple[dict[str, Any], int]:
    """Parse a document as the export does (lean: decoded into ``struct``) and count its usage; the report, and
    the successes the counter saw."""
    counter = UsageCounter(provider)
    succeeded = 0
    blocks = iter_result_blocks(chunked(body, chunk_size), ResultsPage(), lean=lean, usage=struct if lean else None)
    for block in blocks:
        succeeded += counter.add(block)
    return counter.report(), succeeded


def totals(report: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Each model's counts, without the cost."""
    return {model: {name: counts[name] for name in COUNTS} for model, counts in report["models"].items()}


def usage(requests: int, inputs: int, cached: int, writes: int, outputs: int) -> dict[str, int]:
    return dict(zip(COUNTS, (requests, inputs, cached, writes, outputs), strict=True))


# -- one rule per shape, by hand ------------------------------------------------------------------

OPENAI_CHAT: dict[str, Any] = {
    "custom_id": "a",
    "response": {
        "status_code": 200,
        "request_id": "req_1",
        "body": {
            "id": "chatcmpl-1",
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": 1200,
                "completion_tokens": 80,
                "total_tokens": 1280,
                "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 40},
            },
        },
    },
}
OPENAI_EMBEDDING: dict[str, Any] = {
    "custom_id": "b",
    "response": {
        "status_code": 200,
        "body": {"object": "list", "data": [], "model": "text-embedding-3-small", "usage": {"prompt_tokens": 9}},
    },
}
OPENAI_RESPONSES: dict[str, Any] = {
    "custom_id": "c",
    "response": {
        "status_code": 200,
        "body": {
            "object": "response",
            "model": "gpt-4.1-mini",
            "output": [{"type": "message", "content": [{"type": "output_text", "text": "hi"}]}],
            "usage": {
                "input_tokens": 300,
                "input_tokens_details": {"cached_tokens": 128},
                "output_tokens": 50,
                "output_tokens_details": {"reasoning_tokens": 10},
                "total_tokens": 350,
            },
        },
    },
}
MESSAGE: dict[str, Any] = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-3-5-haiku-20241022",
    "content": [{"type": "text", "text": "hi"}],
    "usage": {
        "input_tokens": 20,
        "cache_creation_input_tokens": 500,
        "cache_read_input_tokens": 1000,
        "cache_creation": {"ephemeral_5m_input_tokens": 500, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 70,
    },
}
ANTHROPIC: dict[str, Any] = {"custom_id": "d", "result": {"type": "succeeded", "message": MESSAGE}}
ANTHROPIC_NULL_CACHE: dict[str, Any] = {
    "custom_id": "e",
    "result": {
        "type": "succeeded",
        "message": {
            "model": "claude-3-5-haiku-20241022",
            "usage": {
                "input_tokens": 15,
                "cache_creation_input_tokens": None,
                "cache_read_input_tokens": None,
                "output_tokens": 5,
            },
        },
    },
}
BEDROCK_CLAUDE: dict[str, Any] = {
    "custom_id": "f",
    "response": {"status_code": 200, "body": {**MESSAGE, "id": "msg_bdrk_1"}},
}
GEMINI: dict[str, Any] = {
    "custom_id": "g",
    "response": {
        "status_code": 200,
        # completion_tokens leaves out the 30 thinking tokens, which total_tokens counts
        "body": {
            "finish_reason": "STOP",
            "text": "hi",
            "usage": {"completion_tokens": 12, "prompt_tokens": 40, "total_tokens": 82},
        },
    },
}
VERTEX: dict[str, Any] = {
    "custom_id": "h",
    "response": {
        "status_code": 200,
        "body": {
            "candidates": [{"content": {"role": "model", "parts": [{"text": "hi"}]}, "finishReason": "STOP"}],
            "usageMetadata": {
                "promptTokenCount": 400,
                "candidatesTokenCount": 60,
                "thoughtsTokenCount": 25,
                "toolUsePromptTokenCount": 7,
                "cachedContentTokenCount": 256,
                "totalTokenCount": 492,
            },
            "modelVersion": "gemini-2.0-flash-001",
            "responseId": "r1",
        },
    },
}


@pytest.mark.parametrize(
    ("provider", "item", "model", "expected"),
    [
        ("openai", OPENAI_CHAT, "gpt-4o-mini-2024-07-18", usage(1, 1200, 1024, 0, 80)),
        ("openai", OPENAI_EMBEDDING, "text-embedding-3-small", usage(1, 9, 0, 0, 0)),
        ("openai", OPENAI_RESPONSES, "gpt-4.1-mini", usage(1, 300, 128, 0, 50)),
        ("anthropic", ANTHROPIC, "claude-3-5-haiku-20241022", usage(1, 1520, 1000, 500, 70)),
        ("anthropic", ANTHROPIC_NULL_CACHE, "claude-3-5-haiku-20241022", usage(1, 15, 0, 0, 5)),
        ("bedrock", BEDROCK_CLAUDE, "claude-3-5-haiku-20241022", usage(1, 1520, 1000, 500, 70)),
        ("gemini", GEMINI, "gemini", usage(1, 40, 0, 0, 42)),
        ("vertex", VERTEX, "gemini-2.0-flash-001", usage(1, 407, 256, 0, 85)),
    ],
    ids=[
        "openai-chat",
        "openai-embedding",
        "openai-responses",
        "anthropic",
        "anthropic-null",
        "bedrock",
        "gemini",
        "vertex",
    ],
)
def test_each_shape_by_hand(provider: str, item: dict[str, Any], model: str, expected: dict[str, int]) -> None:
    items = [item, {**item, "custom_id": "z"}]
    doubled = {name: 2 * value for name, value in expected.items()}
    fast, succeeded = count(document(items), provider)
    assert totals(fast) == {model: doubled} and succeeded == 2
    assert fast["total"] == {**doubled, "cost_usd": None}
    assert (fast["without_usage"], fast["unpriced_models"]) == (0, [model])
    loose = UsageCounter(provider)
    assert loose.add_items(items) == 2
    assert loose.report() == fast  # the same rule on dicts


def test_the_export_decodes_each_item_once_into_the_usage_struct() -> None:
    blocks = list(iter_result_blocks([document([OPENAI_CHAT, ANTHROPIC])], ResultsPage(), lean=True, usage=UsageStatus))
    decoded = [d for block in blocks for d in block.decoded()]
    assert [type(d) for d in decoded] == [UsageStatus, dict]  # the last item is parsed with the array's end
    status = decoded[0]
    assert status.response is not None and status.response.body is not None
    assert status.response.body.usage is not None and status.response.body.usage.prompt_tokens == 1200
    assert status.succeeded is item_succeeded(OPENAI_CHAT) is True


# -- every provider shape the emulator writes, against its own per-item formula -----------------

#: (provider, endpoint, the usage style the emulator renders for it, the model the results name).
EMULATED = [
    ("openai", None, "openai", "gpt-4o-mini"),
    ("azure", None, "openai", "gpt-4o-mini"),
    ("openai", "/v1/embeddings", "embedding", "gpt-4o-mini"),
    ("openai", "/v1/messages", "anthropic", "gpt-4o-mini"),
    ("anthropic", None, "anthropic", "claude-3-5-haiku-latest"),
    ("bedrock", None, "anthropic", "anthropic.claude-3-haiku-20240307-v1:0"),
    ("gemini", None, "gemini", "gemini"),
    ("vertex", None, "vertex", "gemini-2.0-flash-001"),
]


def emulated_document(provider: str, endpoint: str | None, requests: int = 700, failed: int = 23) -> bytes:
    """The ``/results`` document the emulator writes for a finished batch (OpenAI's: the successes only)."""
    state = EmulatorState()
    try:
        spec = BatchSpec(provider=provider, endpoint=endpoint, requests=requests, failed=failed, item_bytes=300)
        batch = state.add_batch(spec)
        return b"".join(BatchContent(batch, batch.view(time.time() + 10**6)).results(None, None))
    finally:
        state.close()


def expected_usage(items: list[dict[str, Any]], style: str) -> dict[str, int]:
    """Usage by hand: each answered item's tokens from the emulator's formula, by the style it renders."""
    counts = usage(0, 0, 0, 0, 0)
    for item in items:
        if "error" in item or item.get("result", {}).get("type", "succeeded") != "succeeded":
            continue
        prompt, completion, cache_read, cache_creation = token_usage(int(item["custom_id"].removeprefix("request-")))
        counts["requests"] += 1
        counts["input_tokens"] += prompt
        counts["output_tokens"] += 0 if style == "embedding" else completion
        counts["cached_input_tokens"] += cache_read if style in ("openai", "anthropic", "vertex") else 0
        counts["cache_write_input_tokens"] += cache_creation if style == "anthropic" else 0
    return counts


@pytest.mark.parametrize(("provider", "endpoint", "style", "model"), EMULATED)
def test_every_emulated_shape_against_a_hand_count(provider: str, endpoint: str | None, style: str, model: str) -> None:
    body = emulated_document(provider, endpoint)
    items = json.loads(body)["results"]
    expected = expected_usage(items, style)
    assert expected["requests"] >= 677  # the successes (Anthropic, Bedrock, Gemini and Vertex list the failures too)
    report, succeeded = count(body, provider, chunk_size=3000)
    assert totals(report) == {model: expected}
    assert succeeded == sum(item_succeeded(item) for item in items) == expected["requests"]
    assert report["without_usage"] == 0


@pytest.mark.parametrize(("provider", "endpoint", "style", "model"), EMULATED)
def test_the_ijson_path_counts_the_same_as_the_fast_path(
    provider: str, endpoint: str | None, style: str, model: str
) -> None:
    """A document the compact parser does not take (whitespace) goes through ijson, as dicts: same totals."""
    body = emulated_document(provider, endpoint, requests=300, failed=9)
    spaced = document(json.loads(body)["results"], compact=False)
    fast, fast_succeeded = count(body, provider)
    slow, slow_succeeded = count(spaced, provider)
    full, _ = count(body, provider, lean=False)  # the compact parser decoding whole items (XCom's way)
    assert slow == fast == full and slow_succeeded == fast_succeeded
    assert fast["total"]["requests"] > 0


# -- the leaner struct of OpenAI's chat usage ----------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "endpoint", "expected"),
    [
        ("openai", "/v1/chat/completions", ChatUsageStatus),
        ("azure", "/v1/embeddings", ChatUsageStatus),
        ("openai", "/v1/completions", ChatUsageStatus),
        ("openai", "/v1/responses", UsageStatus),
        ("openai", "/v1/messages", UsageStatus),
        ("openai", None, UsageStatus),
        ("anthropic", "/v1/chat/completions", UsageStatus),
        ("gemini", "/v1/chat/completions", UsageStatus),
    ],
)
def test_only_openai_style_chat_batches_decode_the_leaner_struct(
    provider: str, endpoint: str | None, expected: type
) -> None:
    assert UsageCounter(provider).struct_for(endpoint) is expected
    # a custom provider decodes as its base does
    custom = UsageCounter("my-gateway", "openai").struct_for(endpoint)
    assert custom is UsageCounter("openai").struct_for(endpoint)


@pytest.mark.parametrize(("provider", "endpoint", "style", "model"), EMULATED)
def test_the_leaner_struct_counts_what_the_general_one_does_on_every_shape(
    provider: str, endpoint: str | None, style: str, model: str
) -> None:
    """Chat-shaped documents are counted by the chat loop; any other shape goes back to the general loop."""
    body = emulated_document(provider, endpoint, requests=300, failed=9)
    chat = count(body, provider, chunk_size=5000, struct=ChatUsageStatus)
    assert chat == count(body, provider, chunk_size=5000)
    assert chat[0]["total"]["requests"] > 0


def chat_item(i: int, model: str, prompt: int, completion: int, cached: int | None) -> dict[str, Any]:
    usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion}
    if cached is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    body = {"id": f"c{i}", "model": model, "choices": [], "usage": usage}
    return {"custom_id": f"r{i}", "response": {"status_code": 200, "body": body}}


def test_the_chat_loop_keeps_models_apart_and_hands_odd_blocks_to_the_general_loop() -> None:
    rng = random.Random(7)
    items: list[dict[str, Any]] = []
    expected: dict[str, dict[str, int]] = {}
    for i in range(600):
        model = rng.choice(["gpt-4o-mini", "gpt-4o", "gpt-4o-mini"])
        prompt, completion, cached = rng.randrange(9, 90), rng.randrange(90), rng.choice([None, 0, rng.randrange(9)])
        items.append(chat_item(i, model, prompt, completion, cached))
        row = expected.setdefault(model, usage(0, 0, 0, 0, 0))
        for name, value in zip(COUNTS, (1, prompt, cached or 0, 0, completion), strict=True):
            row[name] += value
    for chunk_size in (900, 50_000):
        report, succeeded = count(document(items), "openai", chunk_size=chunk_size, struct=ChatUsageStatus)
        assert totals(report) == expected and succeeded == 600
    # Answers the chat struct cannot hold, among chat answers: a Responses-style usage, an answer without usage,
    # a failure, an Anthropic-style result. Their blocks are counted by the general rules: the same totals.
    odd = [OPENAI_RESPONSES, {"custom_id": "x", "response": {"status_code": 200, "body": {"text": "hi"}}}]
    odd += [{"custom_id": "f", "response": {"status_code": 500, "body": {"error": {"message": "down"}}}}, ANTHROPIC]
    mixed = items[:250] + odd + items[250:]
    for chunk_size in (900, 50_000):
        chat = count(document(mixed), "openai", chunk_size=chunk_size, struct=ChatUsageStatus)
        general = count(document(mixed), "openai", chunk_size=chunk_size)
        assert chat == general
        assert chat[0]["without_usage"] == 1 and chat[1] == 603


# -- models, answers without usage, odd values ---------------------------------------------------


def test_models_are_kept_apart_across_and_within_blocks() -> None:
    rng = random.Random(4)
    items: list[dict[str, Any]] = []
    expected: dict[str, dict[str, int]] = {}
    for i in range(400):
        model = rng.choice(["claude-3-5-haiku-20241022", "claude-sonnet-4-20250514", "claude-3-5-haiku-20241022"])
        fresh, read, write, out = rng.randrange(50), rng.randrange(50), rng.randrange(9), rng.randrange(90)
        tokens = {"input_tokens": fresh, "cache_read_input_tokens": read}
        tokens.update(cache_creation_input_tokens=write, output_tokens=out)
        message = {"model": model, "usage": tokens}
        items.append({"custom_id": f"r{i}", "result": {"type": "succeeded", "message": message}})
        row = expected.setdefault(model, usage(0, 0, 0, 0, 0))
        for name, value in zip(COUNTS, (1, fresh + read + write, read, write, out), strict=True):
            row[name] += value
    for chunk_size in (700, 50_000):
        report, _ = count(document(items), "anthropic", chunk_size=chunk_size)
        assert totals(report) == expected
        assert report["total"]["requests"] == 400


def test_answers_without_usage_are_counted_apart_and_errors_not_at_all() -> None:
    items = [
        OPENAI_CHAT,
        {"custom_id": "llama", "response": {"status_code": 200, "body": {"generation": "hi", "stop_reason": "stop"}}},
        {"custom_id": "empty", "response": {"status_code": 200}},
        {"custom_id": "failed", "response": {"status_code": 400, "body": {"error": {"message": "bad"}}}},
        {"custom_id": "errored", "result": {"type": "errored"}, "error": {"code": "invalid_request_error"}},
        {"custom_id": "expired", "result": {"type": "expired"}},
    ]
    for provider in ("openai", "bedrock"):
        report, succeeded = count(document(items), provider)
        assert succeeded == 3
        assert report["without_usage"] == 2
        assert report["total"]["requests"] == 1


def test_odd_values_are_read_leniently_or_counted_without_usage() -> None:
    """A count as a string or an integral float fails the lean decode; the block is then parsed item by item
    and the same rules read it leniently. A count that is no number leaves that item without usage."""
    body = OPENAI_CHAT["response"]["body"]
    odd_usage = {"prompt_tokens": "12", "completion_tokens": 3.0}
    bad_usage = {"prompt_tokens": "many", "completion_tokens": 1}
    items = [
        OPENAI_CHAT,
        {"custom_id": "odd", "response": {"status_code": 200, "body": {**body, "usage": odd_usage}}},
        {"custom_id": "bad", "response": {"status_code": 200, "body": {**body, "usage": bad_usage}}},
        OPENAI_CHAT,
    ]
    report, succeeded = count(document(items), "openai", chunk_size=64)
    assert succeeded == 4
    assert totals(report) == {"gpt-4o-mini-2024-07-18": usage(3, 2412, 2048, 0, 163)}
    assert report["without_usage"] == 1


def test_blocks_of_records_decoded_lean_without_usage_are_read_from_their_lines() -> None:
    from airflow_provider_bifrost.results.records import ItemStatus

    line = json.dumps(OPENAI_CHAT).encode()
    block = RecordBlock([ResultRecord(line, status=ItemStatus(custom_id="a"))])
    counter = UsageCounter("openai")
    counter.add(block)
    assert counter.report()["total"]["input_tokens"] == 1200


# -- cost -----------------------------------------------------------------------------------------


def test_cost_per_model_with_and_without_prices_of_their_own() -> None:
    counter = UsageCounter("anthropic")
    counter.add_items([ANTHROPIC] * 1000 + [OPENAI_CHAT] * 500)  # two models: one priced, one by provider/name
    report = counter.report({"anthropic/claude-3-5-haiku-20241022": {"input": 0.4, "output": 2.0}})
    haiku = report["models"]["claude-3-5-haiku-20241022"]
    # 1,520,000 input tokens (cache reads and writes at the input price: none of their own), 70,000 output
    assert haiku["cost_usd"] == pytest.approx(1_520_000 * 0.4 / 1e6 + 70_000 * 2.0 / 1e6)
    assert report["models"]["gpt-4o-mini-2024-07-18"]["cost_usd"] is None
    assert report["unpriced_models"] == ["gpt-4o-mini-2024-07-18"]
    assert report["total"]["cost_usd"] == haiku["cost_usd"]  # the priced models'
    assert report["total"]["input_tokens"] == 1_520_000 + 600_000

    priced = counter.report(
        {
            "claude-3-5-haiku-20241022": {"input": 0.4, "output": 2.0, "cached_input": 0.04, "cache_write_input": 0.5},
            "gpt-4o-mini-2024-07-18": {"input": 0.075, "output": 0.3},
        }
    )
    haiku_cost = (20_000 * 0.4 + 1_000_000 * 0.04 + 500_000 * 0.5 + 70_000 * 2.0) / 1e6
    gpt_cost = (600_000 * 0.075 + 40_000 * 0.3) / 1e6  # cached tokens at the input price
    assert priced["models"]["claude-3-5-haiku-20241022"]["cost_usd"] == pytest.approx(haiku_cost)
    assert priced["models"]["gpt-4o-mini-2024-07-18"]["cost_usd"] == pytest.approx(gpt_cost)
    assert priced["total"]["cost_usd"] == pytest.approx(haiku_cost + gpt_cost)
    assert priced["unpriced_models"] == []


def test_cost_rounds_to_micro_dollars_and_never_charges_negative_fresh_tokens() -> None:
    odd = ModelUsage(requests=1, input_tokens=10, cached_input_tokens=30, output_tokens=1)  # more cached than input
    assert odd.cost_usd({"input": 1.0, "output": 1.0}) == pytest.approx(31 / 1e6)
    counter = UsageCounter("openai")
    counter.add_items([OPENAI_EMBEDDING])
    assert counter.report({"text-embedding-3-small": {"input": 0.02, "output": 0.0}})["total"]["cost_usd"] == 0.0


def test_no_usage_at_all() -> None:
    counter = UsageCounter("openai")
    counter.add(RecordBlock([]))
    report = counter.report({"gpt-4o": {"input": 1, "output": 1}})
    assert report == {
        "models": {},
        "total": {**usage(0, 0, 0, 0, 0), "cost_usd": None},
        "without_usage": 0,
        "unpriced_models": [],
    }
    assert describe(report) == ""


def test_describe_is_one_line_per_export() -> None:
    counter = UsageCounter("anthropic")
    counter.add_items([ANTHROPIC, ANTHROPIC, OPENAI_CHAT, {"custom_id": "x", "response": {"status_code": 200}}])
    line = describe(counter.report({"claude-3-5-haiku-20241022": {"input": 0.4, "output": 2.0}}))
    assert line == (
        "claude-3-5-haiku-20241022: 2 requests, 3,040 input tokens (2,000 cached, 1,000 cache writes), 140 output "
        "tokens, $0.0015; gpt-4o-mini-2024-07-18: 1 requests, 1,200 input tokens (1,024 cached), 80 output tokens; "
        "total: 3 requests, 4,240 input tokens (3,024 cached, 1,000 cache writes), 220 output tokens, $0.0015; "
        "1 answers without usage"
    )
    single = UsageCounter("openai")
    single.add_items([OPENAI_CHAT])
    assert (
        describe(single.report())
        == "gpt-4o-mini-2024-07-18: 1 requests, 1,200 input tokens (1,024 cached), 80 output tokens"
    )


# -- the fast path and the dict path agree, whatever the items and the chunks --------------------


@pytest.mark.parametrize("seed", range(4))
def test_fast_and_dict_paths_agree_on_random_items(seed: int) -> None:
    rng = random.Random(seed)
    shapes = [OPENAI_CHAT, OPENAI_EMBEDDING, OPENAI_RESPONSES, ANTHROPIC, ANTHROPIC_NULL_CACHE, BEDROCK_CLAUDE, VERTEX]
    errors: list[dict[str, Any]] = [
        {"response": {"status_code": 500, "body": {"error": {"message": "x"}}}},
        {"result": {"type": "errored"}, "error": {"code": "x", "message": "y"}},
        {"error": {"code": "400", "message": "bad"}},
        {"response": {"status_code": 200, "body": {"nothing": ["to", "count"]}}},
    ]
    items = [
        {**rng.choice(shapes if rng.random() < 0.85 else errors), "custom_id": f"r{i}"}
        for i in range(rng.randrange(100, 400))
    ]
    body = document(items)
    fast, succeeded = count(body, "openai", chunk_size=rng.choice([97, 1500, 20_000]))
    loose = UsageCounter("openai")
    assert loose.add_items(items) == succeeded == sum(item_succeeded(item) for item in items)
    assert loose.report() == fast
