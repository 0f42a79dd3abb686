"""The retry policy: backoff, Retry-After, what is retried, and the translation of final failures."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest

from airflow_provider_bifrost.exceptions import (
    BifrostAuthenticationError,
    BifrostBadRequestError,
    BifrostBudgetExceededError,
    BifrostNotFoundError,
    BifrostPermissionError,
    BifrostRateLimitError,
    BifrostServerError,
    BifrostTransportError,
)
from airflow_provider_bifrost.hooks.retry import RetryPolicy, parse_retry_after
from tests.unit.hooks.gateway_doubles import SECRET, client_for, get, policy, scripted


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


@pytest.mark.parametrize("synchronous", [True, False])
def test_one_attempt_is_tried_once_and_translated_like_any_other(synchronous: bool) -> None:
    """max_retries=0 (a wait's status checks) skips tenacity: the same single attempt, the same errors."""
    import asyncio

    calls: list[int] = []
    request = httpx.Request("GET", "http://gw.test/v1/batches/b1")

    def fail(error: Exception) -> object:
        calls.append(1)
        raise error

    async def afail(error: Exception) -> object:
        return fail(error)

    def run(error: Exception) -> object:
        retry = RetryPolicy(max_retries=0)
        if synchronous:
            return retry.call("GET /v1/batches/b1", lambda: fail(error))
        return asyncio.run(retry.acall("GET /v1/batches/b1", lambda: afail(error)))

    with pytest.raises(BifrostTransportError, match=r"GET /v1/batches/b1 at http://gw.test failed: ReadTimeout"):
        run(httpx.ReadTimeout("timed out", request=request))
    with pytest.raises(BifrostServerError):
        run(BifrostServerError(503, "GET", "/v1/batches/b1"))
    assert len(calls) == 2
