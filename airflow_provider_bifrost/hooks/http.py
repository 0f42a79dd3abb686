"""
The HTTP layer of the hook: clients for a gateway (sync, async, and one async client shared per event loop),
and turning an error response into the right :class:`~airflow_provider_bifrost.exceptions.BifrostAPIError`.

Credentials never follow a redirect to another origin; at most :data:`MAX_ERROR_BODY` bytes of an error
body are read. What is retried, and how, is :mod:`.retry`'s job. The shared client moves its bytes over
aiohttp's connection pool (:mod:`.transport`), the download client over urllib3's (:mod:`.download_transport`);
everything above the bytes is the same httpx client.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from airflow_provider_bifrost import __version__
from airflow_provider_bifrost.exceptions import (
    BifrostAPIError,
    BifrostAuthenticationError,
    BifrostBadRequestError,
    BifrostBudgetExceededError,
    BifrostNotFoundError,
    BifrostOperationError,
    BifrostPermissionError,
    BifrostRateLimitError,
    BifrostServerError,
    BifrostUnsupportedOperationError,
)
from airflow_provider_bifrost.hooks.models import ErrorBody
from airflow_provider_bifrost.hooks.retry import parse_retry_after

if TYPE_CHECKING:
    import ssl
    from collections.abc import AsyncIterator, Callable, Iterator

    from airflow_provider_bifrost.hooks.connection import GatewaySettings

#: At most this much of an error body is read (enough for a message, bounded for hostile bodies).
MAX_ERROR_BODY = 64 * 1024
#: How much of a non-JSON error body (an HTML page from a proxy, say) goes into a message.
BODY_EXCERPT_CHARS = 200
USER_AGENT = f"airflow-provider-bifrost/{__version__}"
#: Connections one client keeps open to a gateway, and so requests it lets run at once.
MAX_CONNECTIONS = 100


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def _strip_credentials_off_origin(settings: GatewaySettings) -> Callable[[httpx.Request], None]:
    origin = httpx.URL(settings.base_url)

    def strip(request: httpx.Request) -> None:
        if not _same_origin(request.url, origin):
            for name in settings.credential_headers:
                request.headers.pop(name, None)

    return strip


@functools.lru_cache(maxsize=16)
def ssl_context(verify: bool | str) -> ssl.SSLContext | bool:
    """
    One TLS context per verification setting for the whole process: building one costs ~80 ms.

    :param verify: True (system/certifi CAs), False, or a CA bundle path.
    """
    return False if verify is False else httpx.create_ssl_context(verify=verify)


def client_kwargs(settings: GatewaySettings) -> dict[str, object]:
    """Keyword arguments shared by the sync and async clients of one gateway."""
    return {
        "base_url": settings.base_url,
        "headers": {"User-Agent": USER_AGENT, **settings.headers, **settings.credential_headers},
        "timeout": settings.httpx_timeout,
        "verify": ssl_context(settings.verify),
        "follow_redirects": True,
        "max_redirects": 5,
        "limits": httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS),
    }


def build_client(settings: GatewaySettings, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """
    A sync client for the gateway; credentials never follow a redirect to another origin.

    :param settings: the gateway settings.
    :param transport: an httpx transport to use instead of the network (e.g. ``httpx.MockTransport``).
    """
    strip = _strip_credentials_off_origin(settings)
    return httpx.Client(event_hooks={"request": [strip]}, transport=transport, **client_kwargs(settings))  # type: ignore[arg-type]


def build_download_client(settings: GatewaySettings) -> httpx.Client:
    """
    The sync client for streamed downloads (results pages, file contents): :func:`build_client` on urllib3's
    connection pool (:class:`~airflow_provider_bifrost.hooks.download_transport.Urllib3Transport`), which
    reads a body with a third of the CPU httpcore spends.

    :param settings: the gateway settings.
    """
    from airflow_provider_bifrost.hooks.download_transport import Urllib3Transport

    return build_client(settings, Urllib3Transport(ssl_context(settings.verify), MAX_CONNECTIONS))


def build_async_client(
    settings: GatewaySettings, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """
    An async client for the gateway; credentials never follow a redirect to another origin.

    :param settings: the gateway settings.
    :param transport: an httpx transport to use instead of the network.
    """
    strip = _strip_credentials_off_origin(settings)

    async def astrip(request: httpx.Request) -> None:
        strip(request)

    return httpx.AsyncClient(event_hooks={"request": [astrip]}, transport=transport, **client_kwargs(settings))  # type: ignore[arg-type]


_QUIET: ContextVar[bool] = ContextVar("bifrost_quiet_request_log", default=False)


class _QuietRequestLog(logging.Filter):
    """Drops httpx's INFO line about a request sent inside :func:`quiet_request_log`; nothing else."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO or not _QUIET.get()


_QUIET_FILTER = _QuietRequestLog()


@contextmanager
def quiet_request_log() -> Iterator[None]:
    """
    Within the block (in this task), httpx logs no INFO line per request: a wait's status checks, which a
    triggerer sends hundreds of times a second, log only what the poll decision logs (its failures and the
    end of the wait). httpx's warnings and errors, and every other request's line, are untouched.
    """
    logger = logging.getLogger("httpx")
    if _QUIET_FILTER not in logger.filters:
        logger.addFilter(_QUIET_FILTER)
    token = _QUIET.set(True)
    try:
        yield
    finally:
        _QUIET.reset(token)


def build_shared_async_client(settings: GatewaySettings) -> httpx.AsyncClient:
    """
    The async client a loop's triggers share: :func:`build_async_client` on aiohttp's connection pool
    (:class:`~airflow_provider_bifrost.hooks.transport.AiohttpTransport`), which hands out connections
    without httpcore's scan of every connection per queued request (encode/httpcore#1035).

    :param settings: the gateway settings.
    """
    from airflow_provider_bifrost.hooks.transport import AiohttpTransport

    return build_async_client(settings, AiohttpTransport(ssl_context(settings.verify), MAX_CONNECTIONS))


@dataclass
class SharedClient:
    """
    A loop-wide client and the gate in front of it.

    The gate lets at most :data:`MAX_CONNECTIONS` requests in at once, so a thousand triggers polling
    together wait on a semaphore, which costs nothing, rather than queue inside the connection pool.
    """

    client: httpx.AsyncClient
    gate: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAX_CONNECTIONS))
    leases: int = 0


class SharedAsyncClients:
    """
    One ``httpx.AsyncClient`` per event loop and gateway, leased by every trigger polling it.

    Hundreds of triggers in one triggerer then share one connection pool and one TLS context; the
    client is closed when its last lease ends.
    """

    def __init__(self) -> None:
        self._clients: dict[tuple[int, tuple[object, ...]], SharedClient] = {}

    def __len__(self) -> int:
        return len(self._clients)

    @asynccontextmanager
    async def lease(self, settings: GatewaySettings) -> AsyncIterator[SharedClient]:
        """
        The shared client for ``settings`` on the running loop, for the duration of the block.

        :param settings: the gateway settings.
        """
        key = (id(asyncio.get_running_loop()), settings.client_key)
        if key not in self._clients:
            # Built off the loop: the first TLS context of a process takes tens of milliseconds.
            client = await asyncio.to_thread(build_shared_async_client, settings)
            self._clients.setdefault(key, SharedClient(client))
        shared = self._clients[key]
        shared.leases += 1
        try:
            yield shared
        finally:
            shared.leases -= 1
            if shared.leases == 0:
                del self._clients[key]
                await shared.client.aclose()


#: The process-wide registry the hook leases async clients from.
SHARED_ASYNC_CLIENTS = SharedAsyncClients()


def raise_for_error(response: httpx.Response) -> None:
    """
    Raise the matching :class:`BifrostAPIError` for an error response (streamed or not), closing it.

    :param response: a response whose body may not have been read yet.
    """
    if response.status_code < 300:
        return
    body = bytearray()
    try:
        for chunk in response.iter_bytes():
            if _capped(body, chunk):
                break
    except httpx.TransportError:
        pass
    finally:
        response.close()
    raise api_error(response, bytes(body))


async def araise_for_error(response: httpx.Response) -> None:
    """
    Async twin of :func:`raise_for_error`.

    :param response: a response whose body may not have been read yet.
    """
    if response.status_code < 300:
        return
    body = bytearray()
    try:
        async for chunk in response.aiter_bytes():
            if _capped(body, chunk):
                break
    except httpx.TransportError:
        pass
    finally:
        await response.aclose()
    raise api_error(response, bytes(body))


def _capped(body: bytearray, chunk: bytes) -> bool:
    """Add ``chunk`` to an error body being read; whether the body has reached :data:`MAX_ERROR_BODY`."""
    body += chunk
    return len(body) >= MAX_ERROR_BODY


_BY_STATUS: dict[int, type[BifrostAPIError]] = {
    401: BifrostAuthenticationError,
    402: BifrostBudgetExceededError,
    403: BifrostPermissionError,
    404: BifrostNotFoundError,
    429: BifrostRateLimitError,
}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def api_error(response: httpx.Response, body: bytes) -> BifrostAPIError:
    """
    Build the right :class:`BifrostAPIError` subclass for an error response.

    :param response: the response (its body already read into ``body``).
    :param body: the response body, possibly empty, HTML or truncated.
    """
    status = response.status_code
    error_type = error_code = message = None
    try:
        payload = json.loads(body) if body.strip() else None
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        try:
            parsed = ErrorBody.model_validate(payload)
        except ValueError:
            parsed = ErrorBody()
        detail = parsed.error
        error_type = parsed.type or (detail.type if detail else None)
        error_code = detail.code if detail else None
        message = (detail.message if detail else None) or _text(payload.get("message"))
        if message is None:
            message = f"JSON error body without a message: {json.dumps(payload)[:BODY_EXCERPT_CHARS]}"
    elif body.strip():
        kind = response.headers.get("content-type", "unknown content type").split(";")[0]
        excerpt = " ".join(body[: BODY_EXCERPT_CHARS * 4].decode("utf-8", "replace").split())
        message = f"non-JSON body ({kind}), probably from a proxy: {excerpt[:BODY_EXCERPT_CHARS]!r}"
    else:
        message = "empty body, probably from a proxy in front of the gateway"

    cls = _BY_STATUS.get(status)
    if cls is None:
        if status == 500 and isinstance(payload, dict) and payload.get("is_bifrost_error") is True:
            cls = BifrostOperationError
        elif status >= 500:
            cls = BifrostServerError
        elif "unsupported_operation" in (error_code, error_type):
            cls = BifrostUnsupportedOperationError
        else:
            cls = BifrostBadRequestError
    return cls(
        status,
        response.request.method,
        response.request.url.path,
        error_type=error_type,
        error_code=error_code,
        api_message=message,
        retry_after=parse_retry_after(response.headers.get("retry-after")),
    )
