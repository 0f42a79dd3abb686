"""The per-provider table: statuses, request counts, ids, create rules, metadata retention."""

from __future__ import annotations

import random

import pytest

from airflow_provider_bifrost.testing.emulator.providers import (
    create_error,
    listed_metadata,
    new_batch_id,
    request_counts,
    resolve_bare_id,
    wire_status,
)


@pytest.mark.parametrize(
    ("provider", "phase", "status"),
    [
        ("openai", "finalizing", "finalizing"),
        ("anthropic", "validating", "in_progress"),
        ("anthropic", "completed", "ended"),
        ("anthropic", "cancelled", "ended"),
        ("anthropic", "cancelling", "cancelling"),
        ("bedrock", "partially_completed", "failed"),
        ("bedrock", "finalizing", "in_progress"),
        ("gemini", "validating", "in_progress"),
        ("vertex", "validating", "validating"),
        ("vertex", "partially_completed", "completed"),
        ("openai", "paused_by_provider", "paused_by_provider"),  # unknown strings pass through
    ],
)
def test_wire_status(provider: str, phase: str, status: str) -> None:
    assert wire_status(provider, phase) == status


def test_request_counts_per_provider() -> None:
    assert request_counts("openai", "in_progress", 10, 6, 1) == {"total": 10, "completed": 5, "failed": 1}
    assert request_counts("anthropic", "cancelled", 10, 6, 1) == {
        "total": 10,
        "completed": 5,
        "failed": 1,
        "succeeded": 5,
        "canceled": 4,
    }
    assert request_counts("bedrock", "in_progress", 10, 6, 1) == {"total": 0, "completed": 0, "failed": 0}
    assert request_counts("bedrock", "completed", 10, 10, 1) == {"total": 10, "completed": 9, "failed": 1}
    gemini = request_counts("gemini", "in_progress", 10, 6, 1)
    assert gemini == {"total": 10, "completed": 6, "failed": 1, "succeeded": 5, "pending": 4}
    assert request_counts("vertex", "completed", 10, 10, 1) == {"total": 10, "completed": 9, "failed": 1}


def test_bare_ids() -> None:
    rng = random.Random(1)
    assert resolve_bare_id("gemini", "abc") == "batches/abc"
    assert resolve_bare_id("gemini", "batches/abc") is None
    vertex = new_batch_id("vertex", rng)
    assert resolve_bare_id("vertex", vertex.rpartition("/")[2]) == vertex
    assert resolve_bare_id("bedrock", "abc") is None


def test_create_rules_run_in_the_providers_order() -> None:
    def error(provider: str, model: str | None, role_arn: str | None, output_s3_uri: str | None) -> str | None:
        return create_error(
            provider,
            has_requests=True,
            has_blob=False,
            endpoint=None,
            model=model,
            role_arn=role_arn,
            output_s3_uri=output_s3_uri,
            output_folder=None,
        )

    assert (error("bedrock", None, None, None) or "").startswith("role_arn")
    assert (error("bedrock", None, "r", None) or "").startswith("output_s3_uri")
    assert error("bedrock", "m", "r", "s3://b/") is None
    assert error("gemini", "m", None, None) is None


def test_listed_metadata() -> None:
    assert listed_metadata("openai", {"a": "b"}, "job") == {"a": "b"}
    assert listed_metadata("bedrock", {"a": "b"}, "job") == {"job_name": "job"}
    assert listed_metadata("anthropic", {"a": "b"}, "job") is None
    assert listed_metadata("gemini", {"a": "b"}, "job") is None
    assert listed_metadata("vertex", {"a": "b"}, "job") is None
