"""Batch, cancel and file objects: the fields each provider's gateway fills, and nothing else."""

from __future__ import annotations

import time
from typing import Any

import pytest

from airflow_provider_bifrost.testing.emulator.render import batch_object, cancel_object, file_object
from airflow_provider_bifrost.testing.emulator.state import BatchSpec, EmulatorState, StoredFile
from tests.unit.testing.emulator.helpers import INSTANT, PROVIDERS


def _nulls(value: Any) -> list[str]:
    """Paths of every null inside a JSON value."""
    if value is None:
        return ["."]
    if isinstance(value, dict):
        return [f"{key}{path}" for key, item in value.items() for path in _nulls(item)]
    if isinstance(value, list):
        return [f"[{i}]{path}" for i, item in enumerate(value) for path in _nulls(item)]
    return []


def _batch(provider: str, **spec: Any) -> tuple[Any, Any]:
    state = EmulatorState()
    batch = state.add_batch(BatchSpec(provider=provider, **spec))
    return batch, batch.view(time.time())


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("request_type", ["batch_create", "batch_retrieve", "batch_list"])
@pytest.mark.parametrize("outcome", ["completed", "failed", "cancelled", "expired"])
def test_no_model_and_no_null(provider: str, request_type: str, outcome: str) -> None:
    batch, view = _batch(provider, requests=5, failed=2, outcome=outcome, timeline=INSTANT, metadata={"a": "b"})
    obj = batch_object(batch, view, request_type)
    assert "model" not in obj
    assert _nulls(obj) == []
    assert {"id", "object", "status", "request_counts", "created_at", "extra_fields"} <= set(obj)
    assert set(obj["request_counts"]) >= {"total", "completed", "failed"}
    if "progress" in obj:
        assert isinstance(obj["progress"], int)
    assert _nulls(cancel_object(batch, view)) == []


def test_openai_errors_omit_param_and_unknown_lines() -> None:
    batch, view = _batch("openai", requests=3, outcome="failed", timeline=INSTANT)
    errors = batch_object(batch, view, "batch_retrieve")["errors"]
    assert all(set(entry) == {"code", "message", "line"} for entry in errors["data"])
    nothing_failed, view = _batch("openai", requests=3, outcome="failed", failed=0, timeline=INSTANT)
    assert batch_object(nothing_failed, view, "batch_retrieve")["errors"]["data"] == [
        {"code": "batch_failed", "message": "the batch failed"}
    ]


def test_anthropic_counts_send_only_non_zero_extras() -> None:
    batch, view = _batch("anthropic", requests=4, manual=True)
    assert batch_object(batch, view, "batch_retrieve")["request_counts"] == {
        "total": 4,
        "completed": 0,
        "failed": 0,
        "pending": 4,
    }


def test_progress_is_an_integer_percentage() -> None:
    state = EmulatorState()
    batch = state.add_batch(BatchSpec(provider="gemini", requests=3, timeline=(0, 30, 0)))
    view = batch.view(batch.created_at + 10)  # a third of the requests ran
    assert batch_object(batch, view, "batch_retrieve")["progress"] == 33


def test_bedrock_create_and_list_carry_less() -> None:
    batch, view = _batch("bedrock", requests=3, timeline=INSTANT, job_name="nightly")
    created = batch_object(batch, view, "batch_create")
    assert {"metadata", "output_file_id"}.isdisjoint(created)
    listed = batch_object(batch, view, "batch_list")
    assert listed["request_counts"] == {"total": 0, "completed": 0, "failed": 0}  # job summaries carry no counts
    assert listed["metadata"]["job_name"] == "nightly"
    assert batch_object(batch, view, "batch_retrieve")["request_counts"]["total"] == 3


def test_gemini_create_and_list() -> None:
    batch, view = _batch("gemini", requests=3, timeline=INSTANT)
    created = batch_object(batch, view, "batch_create")
    assert created["endpoint"] == "/v1/chat/completions" and "done" not in created
    listed = batch_object(batch, view, "batch_list")
    assert listed["operation_name"] == batch.id and "done" not in listed


def test_gemini_files_report_vision_when_read_back() -> None:
    stored = StoredFile(id="files/abc", provider="gemini", filename="x.jsonl", purpose="batch", created_at=0)
    assert file_object(stored, 3, "file_upload")["purpose"] == "batch"
    assert file_object(stored, 3, "file_retrieve")["purpose"] == "vision"
    assert "extra_fields" not in file_object(stored, 3)
