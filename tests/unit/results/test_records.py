"""The one rule of whether a result item succeeded, on dicts, models and decoded statuses alike."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from airflow_provider_bifrost.hooks.models import BatchResultItem
from airflow_provider_bifrost.results.records import (
    RETRYABLE,
    ItemStatus,
    RecordBlock,
    ResultRecord,
    item_status,
    item_succeeded,
    missing_reason,
)


@pytest.mark.parametrize(
    ("item", "ok"),
    [
        ({"custom_id": "a", "response": {"status_code": 200, "body": {}}}, True),
        ({"custom_id": "a", "response": {"status_code": 400, "body": {}}}, False),
        ({"custom_id": "a", "result": {"type": "succeeded", "message": {}}}, True),
        ({"custom_id": "a", "result": {"type": "errored"}, "error": {"code": "x", "message": "y"}}, False),
        ({"custom_id": "a"}, False),
    ],
)
def test_result_item_success(item: dict[str, object], ok: bool) -> None:
    assert BatchResultItem.model_validate(item).succeeded is ok


# -- why a request failed, and whether another try is worth it ----------------------------------------


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"custom_id": "a", "response": {"status_code": 200, "body": {}}}, None),
        ({"custom_id": "a", "response": {"status_code": 429}}, "rate_limited"),
        ({"custom_id": "a", "response": {"status_code": 500}}, "server_error"),
        ({"custom_id": "a", "response": {"status_code": 503}}, "server_error"),
        ({"custom_id": "a", "response": {"status_code": 504}}, "timeout"),
        ({"custom_id": "a", "response": {"status_code": 408}}, "timeout"),
        ({"custom_id": "a", "response": {"status_code": 400}}, "invalid_request"),
        ({"custom_id": "a", "response": {"status_code": 422}}, "invalid_request"),
        ({"custom_id": "a", "response": {"status_code": 401}}, "not_allowed"),
        # OpenAI's error file: requests a batch never ran
        ({"custom_id": "a", "response": None, "error": {"code": "batch_expired", "message": "x"}}, "expired"),
        ({"custom_id": "a", "response": None, "error": {"code": "batch_cancelled", "message": "x"}}, "cancelled"),
        # Anthropic
        ({"custom_id": "a", "result": {"type": "expired"}}, "expired"),
        ({"custom_id": "a", "result": {"type": "canceled"}}, "cancelled"),
        ({"custom_id": "a", "result": {"type": "errored"}, "error": {"code": "rate_limit_error"}}, "rate_limited"),
        ({"custom_id": "a", "result": {"type": "errored"}, "error": {"code": "overloaded_error"}}, "server_error"),
        ({"custom_id": "a", "result": {"type": "errored"}, "error": {"code": "api_error"}}, "server_error"),
        ({"custom_id": "a", "result": {"type": "errored"}, "error": {"code": "timeout_error"}}, "timeout"),
        (
            {"custom_id": "a", "result": {"type": "errored"}, "error": {"code": "invalid_request_error"}},
            "invalid_request",
        ),
        ({"custom_id": "a", "result": {"type": "errored"}, "error": {"code": "permission_error"}}, "not_allowed"),
        ({"custom_id": "a", "error": {"code": "INVALID_ARGUMENT", "message": "x"}}, "invalid_request"),
        # Gemini and Vertex: a status in a string, or a gRPC name
        ({"custom_id": "a", "error": {"code": "429", "message": "x"}}, "rate_limited"),
        ({"custom_id": "a", "error": {"code": "RESOURCE_EXHAUSTED", "message": "x"}}, "rate_limited"),
        ({"custom_id": "a", "error": {"code": "DEADLINE_EXCEEDED", "message": "x"}}, "timeout"),
        ({"custom_id": "a", "error": {"code": "400", "message": "x"}}, "invalid_request"),
        # Bedrock: both
        (
            {"custom_id": "a", "response": {"status_code": 500}, "error": {"code": "500", "message": "x"}},
            "server_error",
        ),
        # nothing to go by
        ({"custom_id": "a", "error": {"message": "something went wrong"}}, "error"),
    ],
)
def test_the_one_rule_names_why_a_request_failed(item: dict[str, Any], reason: str | None) -> None:
    assert item_status(item).failure == reason
    assert (reason is None) == item_succeeded(item)
    assert (reason in RETRYABLE) == (reason in {"expired", "cancelled", "rate_limited", "server_error", "timeout"})


@pytest.mark.parametrize(
    ("status", "reason", "retried"),
    [
        ("expired", "expired", True),
        ("cancelled", "cancelled", True),
        ("canceled", "cancelled", True),
        ("completed", "missing", True),
        ("ended", "missing", True),
        ("failed", "batch_failed", False),
    ],
)
def test_a_request_without_a_result_is_retried_unless_its_batch_failed(status: str, reason: str, retried: bool) -> None:
    assert missing_reason(status) == reason
    assert (reason in RETRYABLE) is retried


def test_a_block_keeps_the_items_asked_for_and_reads_their_statuses() -> None:
    lines = [
        b'{"custom_id":"a","response":{"status_code":200}}',
        b'{"custom_id":"b","response":{"status_code":429}}',
        b'{"custom_id":"c","result":{"type":"expired"}}',
    ]
    decoded = [msgspec.json.decode(line, type=ItemStatus) for line in lines]
    block = RecordBlock(jsonl=b"\n".join(lines), decoded=decoded)
    assert [status.failure for status in block.statuses()] == [None, "rate_limited", "expired"]
    kept = block.keep([True, False, True])
    assert kept.jsonl == lines[0] + b"\n" + lines[2] and [kept.custom_id(i) for i in range(2)] == ["a", "c"]
    assert block.keep([True, True, True]) is block and len(block.keep([False] * 3)) == 0
    as_records = RecordBlock([ResultRecord(line) for line in lines])
    assert [s.failure for s in as_records.keep([False, True, True]).statuses()] == ["rate_limited", "expired"]
