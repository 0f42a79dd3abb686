"""The HTTP layer: error responses into the right exception, and credentials on redirects."""

from __future__ import annotations

import httpx
import pytest

from airflow_provider_bifrost.exceptions import (
    BifrostBadRequestError,
    BifrostBudgetExceededError,
    BifrostNotFoundError,
    BifrostPermissionError,
    BifrostServerError,
    BifrostUnsupportedOperationError,
)
from tests.unit.hooks.gateway_doubles import SECRET, client_for, get, policy, scripted


@pytest.mark.parametrize(
    ("response", "cls", "fragment"),
    [
        (
            httpx.Response(502, headers={"content-type": "text/html"}, text="<html><body><h1>502 Bad Gateway</h1>"),
            BifrostServerError,
            "non-JSON body (text/html)",
        ),
        (httpx.Response(503, text=""), BifrostServerError, "empty body"),
        (
            httpx.Response(402, json={"type": "budget_exceeded", "error": {"message": "budget used"}}),
            BifrostBudgetExceededError,
            "budget_exceeded",
        ),
        (
            httpx.Response(403, json={"type": "virtual_key_blocked", "error": {"message": "blocked"}}),
            BifrostPermissionError,
            "virtual_key_blocked",
        ),
        (httpx.Response(404, json={"error": {"message": "batch not found"}}), BifrostNotFoundError, "not found"),
        (
            httpx.Response(400, json={"error": {"code": "unsupported_operation", "message": "batch not supported"}}),
            BifrostUnsupportedOperationError,
            "batch support only for: anthropic, azure",
        ),
        (httpx.Response(413, json={"error": {"message": "too large"}}), BifrostBadRequestError, "HTTP 413"),
        (httpx.Response(422, json=["odd"]), BifrostBadRequestError, "non-JSON body"),
    ],
)
def test_error_classes(response: httpx.Response, cls: type[Exception], fragment: str) -> None:
    transport, _ = scripted(response)
    with pytest.raises(cls, match=None) as info:
        get(client_for(transport), policy([], max_retries=0))
    assert type(info.value) is cls
    assert fragment in str(info.value)


def test_credentials_never_follow_a_redirect_to_another_origin() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "gw.test":
            return httpx.Response(302, headers={"Location": "http://elsewhere.test/v1/batches/b1"})
        return httpx.Response(200, json={"id": "b1"})

    get(client_for(httpx.MockTransport(handle)), policy([]))
    first, second = seen
    assert first.headers["x-bf-vk"] == SECRET and first.headers["authorization"] == "Bearer tok"
    assert "x-bf-vk" not in second.headers and "authorization" not in second.headers
    assert second.headers["x-bf-dim-team"] == "data"


def test_credentials_follow_a_same_origin_redirect() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/v1/batches/b1":
            return httpx.Response(307, headers={"Location": "/v1/batches/b1/moved"})
        return httpx.Response(200, json={"id": "b1"})

    get(client_for(httpx.MockTransport(handle)), policy([]))
    assert seen[1].headers["x-bf-vk"] == SECRET
