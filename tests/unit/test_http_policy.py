from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest

from airflow_provider_bifrost.hooks.connection import GatewaySettings
from airflow_provider_bifrost.hooks.errors import (
    BifrostAuthenticationError,
    BifrostBadRequestError,
    BifrostBudgetExceededError,
    BifrostNotFoundError,
    BifrostPermissionError,
    BifrostRateLimitError,
    BifrostServerError,
    BifrostTransportError,
    BifrostUnsupportedOperationError,
    parse_retry_after,
)
from airflow_provider_bifrost.hooks.http import RetryPolicy, build_client, raise_for_error

SECRET = "sk-bf-never-print-me"


def policy(sleeps: list[float], max_retries: int = 3) -> RetryPolicy:
    return RetryPolicy(max_retries=max_retries, sleep=sleeps.append, rng=random.Random(7))


def settings(**overrides: object) -> GatewaySettings:
    values: dict[str, object] = {
        "conn_id": "t",
        "base_url": "http://gw.test",
        "credential_headers": {"x-bf-vk": SECRET, "Authorization": "Bearer tok"},
        "headers": {"x-bf-dim-team": "data"},
    }
    values.update(overrides)
    return GatewaySettings(**values)  # type: ignore[arg-type]


def client_for(handler: httpx.MockTransport) -> httpx.Client:
    return build_client(settings(), transport=handler)


def scripted(*responses: httpx.Response | Exception) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handle), seen


def get(client: httpx.Client, retry: RetryPolicy, *, idempotent: bool = True, method: str = "GET") -> httpx.Response:
    def attempt() -> httpx.Response:
        response = client.request(method, "/v1/batches/b1", params={"provider": "openai"})
        raise_for_error(response)
        return response

    return retry.call(f"{method} /v1/batches/b1", attempt, idempotent=idempotent)


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    retry = RetryPolicy(backoff_base=1.0, backoff_max=8.0, rng=random.Random(1))
    for attempt, ceiling in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 8), (9, 8)]:
        wait = retry.backoff(attempt, None)
        assert ceiling / 2 <= wait <= ceiling


def test_retry_after_wins_and_is_capped() -> None:
    retry = RetryPolicy(retry_after_max=30.0)
    assert retry.backoff(1, BifrostRateLimitError(429, "GET", "/x", retry_after=7.0)) == 7.0
    assert retry.backoff(1, BifrostRateLimitError(429, "GET", "/x", retry_after=3600.0)) == 30.0


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=60), usegmt=True)
    assert 50 <= (parse_retry_after(later) or 0) <= 61


@pytest.mark.parametrize(
    ("error", "idempotent", "retry"),
    [
        (BifrostServerError(500, "GET", "/"), True, True),
        (BifrostServerError(502, "GET", "/"), True, True),
        (BifrostServerError(503, "GET", "/"), True, True),
        (BifrostServerError(504, "GET", "/"), True, True),
        (BifrostRateLimitError(429, "GET", "/"), True, True),
        (BifrostServerError(501, "GET", "/"), True, False),
        (BifrostBadRequestError(400, "GET", "/"), True, False),
        (BifrostAuthenticationError(401, "GET", "/"), True, False),
        (BifrostBudgetExceededError(402, "GET", "/"), True, False),
        (BifrostPermissionError(403, "GET", "/"), True, False),
        (BifrostNotFoundError(404, "GET", "/"), True, False),
        (BifrostBadRequestError(413, "GET", "/"), True, False),
        (BifrostBadRequestError(422, "GET", "/"), True, False),
        (httpx.ConnectError("refused"), True, True),
        (httpx.ReadTimeout("slow"), True, True),
        (httpx.RemoteProtocolError("dropped"), True, True),
        # Not safe to repeat: only when the request certainly never arrived, or was refused with 429.
        (BifrostServerError(503, "POST", "/"), False, False),
        (BifrostServerError(500, "POST", "/"), False, False),
        (BifrostRateLimitError(429, "POST", "/"), False, True),
        (httpx.ConnectError("refused"), False, True),
        (httpx.ConnectTimeout("no route"), False, True),
        (httpx.ReadTimeout("slow"), False, False),
        (httpx.RemoteProtocolError("dropped"), False, False),
    ],
)
def test_what_is_retried(error: BaseException, idempotent: bool, retry: bool) -> None:
    assert RetryPolicy().is_retryable(error, idempotent=idempotent) is retry


def test_transient_errors_are_retried_then_succeed() -> None:
    transport, seen = scripted(
        httpx.Response(503, json={"error": {"message": "busy"}}),
        httpx.Response(429, headers={"Retry-After": "4"}, json={"error": {"message": "slow down"}}),
        httpx.ConnectError("refused"),
        httpx.Response(200, json={"id": "b1"}),
    )
    sleeps: list[float] = []
    response = get(client_for(transport), policy(sleeps))
    assert response.json() == {"id": "b1"}
    assert len(seen) == 4
    assert len(sleeps) == 3
    assert 0.5 <= sleeps[0] <= 1.0 and sleeps[1] == 4.0 and 2.0 <= sleeps[2] <= 4.0


def test_retries_are_bounded() -> None:
    transport, seen = scripted(*[httpx.Response(502, text="") for _ in range(4)])
    sleeps: list[float] = []
    with pytest.raises(BifrostServerError, match="HTTP 502"):
        get(client_for(transport), policy(sleeps, max_retries=3))
    assert len(seen) == 4 and len(sleeps) == 3


def test_permanent_error_fails_fast_with_a_full_message() -> None:
    body = {
        "is_bifrost_error": True,
        "type": "virtual_key_not_found",
        "status_code": 401,
        "error": {"message": "virtual key not found"},
    }
    transport, seen = scripted(httpx.Response(401, json=body))
    sleeps: list[float] = []
    with pytest.raises(BifrostAuthenticationError) as info:
        get(client_for(transport), policy(sleeps))
    text = str(info.value)
    assert len(seen) == 1 and sleeps == []
    assert "GET /v1/batches/b1" in text and "HTTP 401" in text
    assert "virtual_key_not_found" in text and "virtual key not found" in text
    assert SECRET not in text and "provider=" not in text


def test_unsafe_request_is_not_repeated_after_a_server_error() -> None:
    transport, seen = scripted(httpx.Response(503, text=""))
    with pytest.raises(BifrostServerError):
        get(client_for(transport), policy([]), idempotent=False, method="POST")
    assert len(seen) == 1


def test_exhausted_transport_error_is_translated() -> None:
    transport, _ = scripted(*[httpx.ConnectError("connection refused") for _ in range(3)])
    with pytest.raises(BifrostTransportError, match="Check the connection's Gateway URL") as info:
        get(client_for(transport), policy([], max_retries=2))
    assert "http://gw.test" in str(info.value) and SECRET not in str(info.value)


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
