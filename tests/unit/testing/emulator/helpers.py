"""Requests and assertions shared by the emulator's tests (plain httpx over loopback)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

if TYPE_CHECKING:
    import httpx

CHAT = "/v1/chat/completions"
INSTANT = (0.0, 0.0, 0.0)
PROVIDERS = ("openai", "azure", "anthropic", "bedrock", "gemini", "vertex")
MODELS = {
    "openai": "openai/gpt-4o-mini",
    "azure": "azure/gpt-4o-mini",
    "anthropic": "anthropic/claude-3-5-haiku-latest",
    "bedrock": "bedrock/anthropic.claude-3-haiku-20240307-v1:0",
    "gemini": "gemini/gemini-2.0-flash",
    "vertex": "vertex/gemini-2.0-flash-001",
}
#: What each provider needs beside model and inputs to accept a create request.
CREATE_EXTRAS: dict[str, dict[str, Any]] = {
    "openai": {"endpoint": CHAT},
    "azure": {"endpoint": CHAT},
    "anthropic": {},
    "bedrock": {"role_arn": "arn:aws:iam::123456789012:role/batch", "output_s3_uri": "s3://bucket/out/"},
    "gemini": {},
    "vertex": {"output_folder": {"url": "gs://bucket/out"}},
}
ErrorKind = Literal["request", "operation", "upstream"]


def seg(resource_id: str) -> str:
    """An id as ONE path segment: percent-encoded whole (``/`` as ``%2F``)."""
    return quote(resource_id, safe="")


def inline_requests(count: int, prefix: str = "req") -> list[dict[str, Any]]:
    return [
        {"custom_id": f"{prefix}-{i}", "method": "POST", "url": CHAT, "body": {"model": "gpt-4o-mini"}}
        for i in range(count)
    ]


def create_body(provider: str, count: int = 3, **extra: Any) -> dict[str, Any]:
    """A create request the provider accepts: its model, inline requests and what it requires."""
    return {"model": MODELS[provider], "requests": inline_requests(count), **CREATE_EXTRAS[provider], **extra}


def create_batch(http: httpx.Client, provider: str = "openai", count: int = 3, **extra: Any) -> dict[str, Any]:
    response = http.post("/v1/batches", json=create_body(provider, count, **extra))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def create_openai_batch(http: httpx.Client, count: int = 3, **extra: Any) -> dict[str, Any]:
    return create_batch(http, "openai", count, **extra)


def get_batch(http: httpx.Client, batch_id: str, provider: str = "openai") -> dict[str, Any]:
    response = http.get(f"/v1/batches/{seg(batch_id)}", params={"provider": provider})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def get_results_response(http: httpx.Client, batch_id: str, provider: str = "openai", **params: str) -> httpx.Response:
    return http.get(f"/v1/batches/{seg(batch_id)}/results", params={"provider": provider, **params})


def results(http: httpx.Client, batch_id: str, provider: str = "openai", **params: str) -> dict[str, Any]:
    response = get_results_response(http, batch_id, provider, **params)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def cancel(http: httpx.Client, batch_id: str, provider: str = "openai") -> httpx.Response:
    return http.post(f"/v1/batches/{seg(batch_id)}/cancel", params={"provider": provider})


def assert_bifrost_error(
    response: httpx.Response, status: int, message: str, kind: ErrorKind = "request"
) -> dict[str, Any]:
    """The response is the gateway's error of this kind.

    ``request``: the HTTP handler's own 400 (``is_bifrost_error`` false, ``status_code`` set);
    ``operation``: a gateway operation error (HTTP 500, ``is_bifrost_error`` true, no ``status_code``);
    ``upstream``: the provider's error with its status (``is_bifrost_error`` false).
    """
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["is_bifrost_error"] is (kind == "operation")
    if kind == "operation":
        assert "status_code" not in body
    else:
        assert body["status_code"] == status
    assert message in body["error"]["message"]
    assert None not in body.values() and None not in body["error"].values()
    return body


def jsonl(*custom_ids: str) -> bytes:
    lines = [{"custom_id": c, "method": "POST", "url": CHAT, "body": {}} for c in custom_ids]
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def upload(http: httpx.Client, provider: str, content: bytes, purpose: str = "batch") -> dict[str, Any]:
    response = http.post(
        "/v1/files", params={"provider": provider}, files={"file": ("in.jsonl", content)}, data={"purpose": purpose}
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result
