"""BifrostError bodies: the three kinds of gateway error, current extra_fields names, no nulls."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_bifrost.testing.emulator.errors import (
    operation_error,
    request_error,
    unsupported_operation,
    upstream_error,
)

if TYPE_CHECKING:
    import httpx


def test_request_error() -> None:
    error = request_error("provider is required", request_type="batch_list")
    assert (error.status_code, error.body) == (
        400,
        {
            "is_bifrost_error": False,
            "status_code": 400,
            "error": {"message": "provider is required"},
            "extra_fields": {"request_type": "batch_list"},
        },
    )


def test_operation_error_has_no_status_code() -> None:
    error = operation_error("endpoint is required for OpenAI batch API", provider="openai", request_type="batch_create")
    assert error.status_code == 500
    assert error.body == {
        "is_bifrost_error": True,
        "error": {"message": "endpoint is required for OpenAI batch API"},
        "extra_fields": {"provider": "openai", "request_type": "batch_create"},
    }


def test_upstream_error_and_model_names() -> None:
    error = upstream_error(
        404, "batch not found: x", provider="openai", request_type="batch_create", error_type="t", model="m"
    )
    assert error.body["status_code"] == 404
    assert error.body["error"] == {"type": "t", "message": "batch not found: x"}
    assert error.body["extra_fields"] == {
        "provider": "openai",
        "request_type": "batch_create",
        "original_model_requested": "m",
        "resolved_model_used": "m",
    }


def test_unsupported_operation() -> None:
    error = unsupported_operation("cohere", "batch_list")
    assert error.body["error"]["code"] == "unsupported_operation"
    assert error.body["error"]["message"] == "batch_list is not supported by cohere provider"


def test_bad_query_types_are_a_request_error(http: httpx.Client) -> None:
    response = http.get("/v1/batches", params={"provider": "openai", "limit": "many"})
    assert response.status_code == 400
    body = response.json()
    assert body["is_bifrost_error"] is False
    assert body["error"]["message"].startswith("invalid query.limit")
