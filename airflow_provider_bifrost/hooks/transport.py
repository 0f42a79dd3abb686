"""
An httpx transport that moves the bytes over aiohttp's connection pool: the transport of the async client
that the triggers of one event loop share (:class:`~airflow_provider_bifrost.hooks.http.SharedAsyncClients`).

httpx's own pool (httpcore) scans every connection for every queued request each time it hands one out
(encode/httpcore#1035): with hundreds of triggers polling one gateway that scan was most of a triggerer's
CPU. aiohttp's connector keeps a host's idle connections in a list and hands one out without a scan, and
parses HTTP in C. Only the bytes move differently: the client above stays httpx's, so headers, redirects
and the credential rule, timeouts, error responses and retries are exactly those of :mod:`.http` and
:mod:`.retry`. This transport raises the httpx exceptions httpcore raises for the same failures
(``ConnectError`` with the TLS library's own words, ``ConnectTimeout``, ``ReadTimeout``, ``ReadError``,
``RemoteProtocolError``), so every error path is the same. :mod:`.http` imports this module (and so aiohttp)
only when it builds a shared client.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import TYPE_CHECKING, Any

import aiohttp
import httpx

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

#: Bytes read from a response at a time.
READ_CHUNK = 64 * 1024
#: Seconds an idle connection is kept for reuse (httpx's default too).
KEEPALIVE_EXPIRY = 5.0


def httpx_error(exc: BaseException) -> httpx.TransportError:
    """
    The httpx exception httpcore raises for the failure aiohttp reported as ``exc``.

    :param exc: an ``aiohttp.ClientError`` or a timeout.
    """
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(str(exc) or "timed out connecting")
    if isinstance(exc, (aiohttp.ServerTimeoutError, asyncio.TimeoutError)):
        return httpx.ReadTimeout(str(exc) or "timed out reading the response")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return httpx.ConnectError(str(exc.certificate_error))
    if isinstance(exc, aiohttp.ClientConnectorError):
        # The OS's or the TLS library's own words (CERTIFICATE_VERIFY_FAILED, WRONG_VERSION_NUMBER...), as
        # httpx reports them: retry.tls_hint reads them.
        return httpx.ConnectError(str(exc.os_error))
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError("Server disconnected without sending a response.")
    if isinstance(exc, (aiohttp.ClientPayloadError, aiohttp.ClientResponseError)):
        return httpx.RemoteProtocolError(str(exc))
    if isinstance(exc, aiohttp.ClientOSError):
        return httpx.ReadError(str(exc))
    return httpx.TransportError(str(exc) or type(exc).__name__)


class _Body(httpx.AsyncByteStream):
    """A response body read from aiohttp; failures mid-body become httpx's exceptions."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(READ_CHUNK):
                yield chunk
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            error = httpx_error(exc)
            error.request = self._request
            raise error from exc

    async def aclose(self) -> None:
        # Back to the pool when the body was read to its end; closed otherwise (as httpx does).
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """
    Send httpx requests through one ``aiohttp.ClientSession`` (created on the first request, in its loop).

    :param verify: an ``ssl.SSLContext``, or False not to verify (``hooks.http.ssl_context``).
    :param max_connections: connections kept to the gateway at most.
    """

    def __init__(self, verify: ssl.SSLContext | bool, max_connections: int) -> None:
        self._ssl: ssl.SSLContext | bool = verify if isinstance(verify, ssl.SSLContext) else bool(verify)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections, limit_per_host=0, ssl=self._ssl, keepalive_timeout=KEEPALIVE_EXPIRY
        )
        # httpx decodes the body, keeps the cookies and follows the redirects: aiohttp does none of it.
        return aiohttp.ClientSession(
            connector=connector, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request; the response's body is streamed."""
        if self._session is None:
            self._session = self._open()
        timeout: dict[str, Any] = request.extensions.get("timeout", {})
        body = await request.aread()
        try:
            response = await self._session.request(
                request.method,
                str(request.url),
                headers=[(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw],
                data=body or None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=timeout.get("connect"), sock_read=timeout.get("read")
                ),
            )
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            error = httpx_error(exc)
            error.request = request
            raise error from exc
        return httpx.Response(
            response.status,
            headers=list(response.raw_headers),
            stream=_Body(response, request),
            extensions={
                "http_version": f"HTTP/{response.version.major}.{response.version.minor}".encode()
                if response.version
                else b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
            },
        )

    async def aclose(self) -> None:
        """Close every connection."""
        if self._session is not None:
            await self._session.close()
            self._session = None
