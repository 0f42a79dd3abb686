"""
HTTP policy for the Bifrost gateway: clients, timeouts, retries with backoff, error translation.

Retries (tenacity) cover connect errors, timeouts, dropped connections and HTTP 429/500/502/503/504,
with exponential backoff and jitter, honouring ``Retry-After``. Requests that are not safe to repeat
(creating a batch, uploading a file) are retried only when they certainly never reached the gateway
(connection refused, connect timeout) or were refused with 429.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import httpx
import tenacity

from airflow_provider_bifrost import __version__
from airflow_provider_bifrost.hooks.errors import (
    BifrostAPIError,
    BifrostTransportError,
    api_error_from_response,
)

if TYPE_CHECKING:
    import ssl
    from collections.abc import AsyncIterator, Awaitable, Callable

    from airflow_provider_bifrost.hooks.connection import GatewaySettings

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
#: Failures after which the request certainly never reached the gateway.
NOT_SENT_ERRORS: tuple[type[Exception], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: At most this much of an error body is read (enough for a message, bounded for hostile bodies).
MAX_ERROR_BODY = 64 * 1024
USER_AGENT = f"airflow-provider-bifrost/{__version__}"

T = TypeVar("T")


@dataclass
class RetryPolicy:
    """
    How often and how long to wait between attempts.

    :param max_retries: retries after the first attempt.
    :param backoff_base: seconds before the first retry; doubles each time.
    :param backoff_max: cap on one backoff wait.
    :param retry_after_max: cap on a server-requested ``Retry-After`` wait.
    :param sleep: blocking sleep (injectable for tests).
    :param asleep: async sleep (injectable for tests).
    :param rng: source of jitter.
    """

    max_retries: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    retry_after_max: float = 120.0
    sleep: Callable[[float], None] = time.sleep
    asleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)

    def backoff(self, attempt: int, error: BaseException | None) -> float:
        """
        Seconds to wait after failed attempt number ``attempt`` (1-based).

        :param attempt: the attempt that just failed.
        :param error: its exception; a ``Retry-After`` it carries wins over the backoff.
        """
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return min(float(retry_after), self.retry_after_max)
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def is_retryable(self, error: BaseException, *, idempotent: bool) -> bool:
        """
        Whether ``error`` is worth another attempt.

        :param error: what the attempt raised.
        :param idempotent: whether repeating the request is harmless.
        """
        if isinstance(error, BifrostAPIError):
            return error.http_status in RETRYABLE_STATUS if idempotent else error.http_status == 429
        if tls_hint(error) is not None:  # an untrusted certificate or a plain-HTTP port stays so: fail at once
            return False
        if isinstance(error, NOT_SENT_ERRORS):
            return True
        return idempotent and isinstance(error, httpx.TransportError)

    def _retrying_kwargs(self, what: str, idempotent: bool) -> dict[str, object]:
        def log_retry(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            log.warning(
                "%s: %s (attempt %d of %d); retrying in %.1f s",
                what,
                describe_failure(error),
                state.attempt_number,
                self.max_retries + 1,
                wait,
            )

        return {
            "stop": tenacity.stop_after_attempt(self.max_retries + 1),
            "wait": lambda state: self.backoff(
                state.attempt_number, state.outcome.exception() if state.outcome else None
            ),
            "retry": tenacity.retry_if_exception(lambda e: self.is_retryable(e, idempotent=idempotent)),
            "before_sleep": log_retry,
            "reraise": True,
        }

    def call(self, what: str, fn: Callable[[], T], *, idempotent: bool = True) -> T:
        """
        Run ``fn`` with retries; translate a final transport failure into :class:`BifrostTransportError`.

        :param what: the request, as ``METHOD /path``, for logs and errors.
        :param fn: one attempt.
        :param idempotent: whether repeating the request is harmless.
        """
        retrying = tenacity.Retrying(sleep=self.sleep, **self._retrying_kwargs(what, idempotent))  # type: ignore[arg-type]
        try:
            return retrying(fn)
        except httpx.TransportError as exc:
            raise transport_error(what, exc) from exc

    async def acall(self, what: str, fn: Callable[[], Awaitable[T]], *, idempotent: bool = True) -> T:
        """
        Async twin of :meth:`call`.

        :param what: the request, as ``METHOD /path``, for logs and errors.
        :param fn: one attempt (a coroutine function).
        :param idempotent: whether repeating the request is harmless.
        """
        retrying = tenacity.AsyncRetrying(sleep=self.asleep, **self._retrying_kwargs(what, idempotent))  # type: ignore[arg-type]
        try:
            return await retrying(fn)
        except httpx.TransportError as exc:
            raise transport_error(what, exc) from exc


def describe_failure(error: BaseException | None) -> str:
    """One line about a failed attempt, for logs (never includes headers)."""
    if isinstance(error, BifrostAPIError):
        return f"HTTP {error.http_status}"
    return f"{type(error).__name__}: {error}" if error else "failed"


def transport_error(what: str, exc: httpx.TransportError) -> BifrostTransportError:
    """
    A person-readable error for a request that never got a complete answer.

    :param what: the request, as ``METHOD /path``.
    :param exc: the last httpx error.
    """
    origin = ""
    try:
        url = exc.request.url
        origin = f" at {url.scheme}://{url.netloc.decode()}"
    except RuntimeError:
        pass
    reason = (str(exc) or type(exc).__name__).rstrip(".")  # httpx ends some messages with a full stop
    if (tls := tls_hint(exc)) is not None:
        hint = tls
    elif "SSL" in reason:
        hint = "The TLS handshake with the gateway failed."
    elif isinstance(exc, httpx.TimeoutException):
        hint = "The gateway did not answer in time: check it is healthy, or raise the connection's extra `timeout`."
    elif isinstance(exc, httpx.ConnectError):
        hint = "Check the connection's Gateway URL and port, and that the gateway is running and reachable."
    else:
        hint = "The connection to the gateway failed mid-request."
    return BifrostTransportError(f"Bifrost {what}{origin} failed: {type(exc).__name__}: {reason}. {hint}")


#: OpenSSL's words for a TLS client that got a plain-HTTP answer (they vary with the OpenSSL version).
_PLAIN_HTTP_ANSWER = ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST")


def tls_hint(error: BaseException | None) -> str | None:
    """
    What to do about a TLS failure that repeating cannot fix (untrusted certificate, plain HTTP on an https
    URL); None for any other error.

    :param error: what a request raised.
    """
    if not isinstance(error, httpx.ConnectError):
        return None
    reason = str(error)
    if "CERTIFICATE_VERIFY_FAILED" in reason:
        return (
            "TLS verification failed: the gateway's certificate is not trusted. If a private CA signed it, point "
            "the connection's extra `verify` at that CA bundle; if the host name does not match, use the name the "
            "certificate was issued for."
        )
    if any(marker in reason for marker in _PLAIN_HTTP_ANSWER):
        return (
            "The gateway answered in plain HTTP, not TLS: write the Gateway URL with http://, or use the port "
            "where the gateway serves https."
        )
    return None


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


#: Connections one client keeps open to a gateway, and so requests it lets run at once.
MAX_CONNECTIONS = 100


@dataclass
class SharedClient:
    """
    A loop-wide client and the gate in front of it.

    The gate lets at most :data:`MAX_CONNECTIONS` requests in at once: httpcore's pool does work
    proportional to (queued requests x connections) each time it hands out a connection
    (encode/httpcore#1035), so letting a thousand triggers queue inside it stalls the event loop
    for seconds; waiting on a semaphore costs nothing.
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
            client = await asyncio.to_thread(build_async_client, settings)
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
    try:
        body = _read_capped(response)
    finally:
        response.close()
    raise api_error_from_response(response, body)


async def araise_for_error(response: httpx.Response) -> None:
    """
    Async twin of :func:`raise_for_error`.

    :param response: a response whose body may not have been read yet.
    """
    if response.status_code < 300:
        return
    body = b""
    try:
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) >= MAX_ERROR_BODY:
                break
    except httpx.TransportError:
        pass
    finally:
        await response.aclose()
    raise api_error_from_response(response, body)


def _read_capped(response: httpx.Response) -> bytes:
    body = b""
    try:
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) >= MAX_ERROR_BODY:
                break
    except httpx.TransportError:
        pass
    return body
