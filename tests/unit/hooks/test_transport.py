"""
The shared client's aiohttp transport behaves like httpx's own on the wire: each case runs against a small
loopback server through both transports, and both must answer or fail the same way (the same httpx
exception, the same error from the hook's HTTP layer, the same credential rule on redirects).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import ssl
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from airflow_provider_bifrost.exceptions import BifrostRateLimitError, BifrostServerError
from airflow_provider_bifrost.hooks.http import araise_for_error, build_async_client, build_shared_async_client
from airflow_provider_bifrost.hooks.retry import tls_hint
from airflow_provider_bifrost.hooks.transport import AiohttpTransport
from tests.unit.hooks.gateway_doubles import settings
from tests.unit.hooks.loopback import (
    BROKEN_ANSWERS,
    answer,
    answer_once,
    bad_request,
    check_credentials_stayed_home,
    hang_up,
    redirect_once,
    self_signed,  # noqa: F401 - the fixture
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

TRANSPORTS = ["httpx", "aiohttp"]


def transport(kind: str, verify: ssl.SSLContext | bool = False) -> httpx.AsyncBaseTransport:
    if kind == "httpx":
        return httpx.AsyncHTTPTransport(verify=verify)
    return AiohttpTransport(verify, max_connections=10)


@asynccontextmanager
async def server(handler: Any, context: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    """A loopback server answering each connection with ``handler``; its origin."""
    listening = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=context)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield f"{'https' if context else 'http'}://127.0.0.1:{port}"
    finally:
        listening.close()


async def get(kind: str, url: str, *, timeout: float = 5.0, verify: ssl.SSLContext | bool = False) -> httpx.Response:
    async with httpx.AsyncClient(transport=transport(kind, verify), timeout=timeout) as client:
        response = await client.get(url)
        await araise_for_error(response)
        return response


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_a_body_is_read_and_decoded_once(kind: str) -> None:
    body = json.dumps({"id": "b1", "status": "in_progress"}).encode()
    async with server(answer(200, gzip.compress(body), {"Content-Encoding": "gzip"})) as url:
        response = await get(kind, f"{url}/v1/batches/b1")
    assert response.status_code == 200
    assert response.json() == {"id": "b1", "status": "in_progress"}


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_an_error_response_is_the_same_error(kind: str) -> None:
    rate_limited = json.dumps({"error": {"message": "slow down"}}).encode()
    async with server(answer(429, rate_limited, {"Retry-After": "7"})) as url:
        with pytest.raises(BifrostRateLimitError) as info:
            await get(kind, f"{url}/v1/batches/b1")
    assert info.value.retry_after == 7.0 and "slow down" in str(info.value)
    async with server(answer(502, b"<html>bad gateway</html>", {"Content-Type": "text/html"})) as url:
        with pytest.raises(BifrostServerError, match="non-JSON body"):
            await get(kind, f"{url}/v1/batches/b1")


@pytest.mark.parametrize("kind", TRANSPORTS)
@pytest.mark.parametrize(("handler", "error"), BROKEN_ANSWERS)
async def test_a_broken_answer_is_the_same_httpx_error(kind: str, handler: Any, error: type[Exception]) -> None:
    async with server(handler) as url:
        with pytest.raises(error) as info:
            await get(kind, f"{url}/v1/batches/b1", timeout=0.5)
    assert isinstance(info.value, httpx.TransportError)
    assert info.value.request.url.path == "/v1/batches/b1"


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_a_refused_connection_is_a_connect_error(kind: str) -> None:
    async with server(hang_up) as url:
        pass  # closed: nothing listens there any more
    with pytest.raises(httpx.ConnectError):
        await get(kind, f"{url}/v1/batches/b1")


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_https_to_a_plain_http_port_says_so(kind: str) -> None:
    async with server(bad_request) as url:
        with pytest.raises(httpx.ConnectError) as info:
            await get(kind, url.replace("http://", "https://") + "/v1/batches/b1", verify=ssl.create_default_context())
    assert tls_hint(info.value) is not None and "plain HTTP" in str(tls_hint(info.value))


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_an_untrusted_certificate_says_so(kind: str, self_signed: ssl.SSLContext) -> None:  # noqa: F811
    async with server(answer(200, b"{}"), self_signed) as url:
        with pytest.raises(httpx.ConnectError) as info:
            await get(kind, f"{url}/v1/batches/b1", verify=ssl.create_default_context())
        assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
        assert tls_hint(info.value) is not None and "not trusted" in str(tls_hint(info.value))
        # verify=False (the connection's extra) accepts it, on both.
        response = await get(kind, f"{url}/v1/batches/b1", verify=False)
    assert response.json() == {}


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_credentials_never_follow_a_redirect_to_another_origin(kind: str) -> None:
    seen: list[dict[str, str]] = []
    async with server(answer_once(seen)) as other, server(redirect_once(seen, other)) as url:
        gateway = settings(base_url=url)
        client = build_shared_async_client(gateway) if kind == "aiohttp" else build_async_client(gateway)
        async with client:
            response = await client.get("/v1/batches/b1", params={"provider": "openai"})
    check_credentials_stayed_home(seen, response)
