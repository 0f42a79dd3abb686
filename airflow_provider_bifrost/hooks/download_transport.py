"""
An httpx transport that moves the bytes of the sync client's streamed downloads (results pages, file
contents) over urllib3's connection pool: the transport of the hook's download client.

httpcore reads a body through h11, which copies every byte several times in Python on its way out (into
its receive buffer, out of it twice, into ``bytes``): reading a 410 MB results document cost 0.6-0.7 s
of CPU that way and 0.2 s through urllib3, whose reads are http.client's buffered ones; a quarter of an
export's CPU. Only the bytes move differently: the client above stays httpx's, so headers, redirects and
the credential rule, timeouts, content decoding, error responses and retries are exactly those of
:mod:`.http` and :mod:`.retry`. This transport raises the httpx exceptions httpcore raises for the same
failures (``ConnectError`` with the TLS library's own words, ``ConnectTimeout``, ``ReadTimeout``,
``ReadError``, ``RemoteProtocolError``), so every error path is the same. It sends the request's body
whole: it carries downloads (GETs), never uploads.
"""

from __future__ import annotations

import http.client
import ssl
import warnings
from typing import TYPE_CHECKING, Any

import httpx
import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    IncompleteRead,
    InsecureRequestWarning,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

#: Bytes asked of urllib3 at a time, and the least the body yields at a time (but for its last piece): urllib3
#: yields a chunked body one HTTP chunk at a time (often 8-64 KB), and whoever reads the body pays per piece.
READ_CHUNK = 512 * 1024
BODY_CUT_SHORT = "peer closed connection without sending complete message body"


def httpx_error(exc: BaseException) -> httpx.TransportError:
    """
    The httpx exception httpcore raises for the failure urllib3 reported as ``exc``.

    :param exc: a ``urllib3.exceptions.HTTPError`` or an ``OSError``.
    """
    if isinstance(exc, NewConnectionError):  # before ConnectTimeoutError, its base class
        return httpx.ConnectError(str(exc.__cause__ or exc.__context__ or exc))
    if isinstance(exc, ConnectTimeoutError):
        return httpx.ConnectTimeout("timed out")  # the socket's words, as httpcore passes them on
    if isinstance(exc, ReadTimeoutError):
        return httpx.ReadTimeout("timed out")
    if isinstance(exc, SSLError):
        # The TLS library's own words (CERTIFICATE_VERIFY_FAILED, WRONG_VERSION_NUMBER...), as httpx reports
        # them: retry.tls_hint reads them.
        return httpx.ConnectError(str(exc))
    reason = exc.args[1] if isinstance(exc, ProtocolError) and len(exc.args) > 1 else exc
    if isinstance(reason, http.client.RemoteDisconnected):  # before ConnectionResetError, one of its base classes
        return httpx.RemoteProtocolError("Server disconnected without sending a response.")
    if isinstance(exc, ProtocolError):
        if isinstance(reason, ConnectionResetError):
            return httpx.ReadError(str(reason))
        # A body cut short, in h11's words (what the error messages and the docs quote).
        if isinstance(reason, IncompleteRead):  # urllib3's: a Content-Length body
            return httpx.RemoteProtocolError(
                f"{BODY_CUT_SHORT} (received {reason.partial} bytes, expected {reason.partial + reason.expected})"
            )
        if isinstance(reason, http.client.IncompleteRead) or exc.args[:1] == ("Response ended prematurely",):
            return httpx.RemoteProtocolError(f"{BODY_CUT_SHORT} (incomplete chunked read)")
        if isinstance(reason, http.client.BadStatusLine):  # not HTTP at all (another service on the port)
            line = bytearray(str(reason.args[0]).rstrip("\r\n").encode("latin-1", "replace"))
            return httpx.RemoteProtocolError(f"illegal status line: {line!r}")
        return httpx.RemoteProtocolError(str(exc))
    if isinstance(exc, OSError):
        return httpx.ReadError(str(exc))
    return httpx.TransportError(str(exc) or type(exc).__name__)


class _Body(httpx.SyncByteStream):
    """A response body read from urllib3; failures mid-body become httpx's exceptions."""

    def __init__(self, response: urllib3.BaseHTTPResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request
        self._complete = False

    def __iter__(self) -> Iterator[bytes]:
        pending: list[bytes] = []
        size = 0
        try:
            for chunk in self._response.stream(READ_CHUNK, decode_content=False):
                pending.append(chunk)
                size += len(chunk)
                if size >= READ_CHUNK:
                    yield chunk if len(pending) == 1 else b"".join(pending)
                    pending, size = [], 0
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            error = httpx_error(exc)
            error.request = self._request
            raise error from exc
        if pending:
            yield b"".join(pending)
        self._complete = True

    def close(self) -> None:
        # Back to the pool when the body was read to its end; closed otherwise (as httpx does).
        if not self._complete:
            self._response.close()
        self._response.release_conn()


class Urllib3Transport(httpx.BaseTransport):
    """
    Send httpx requests through one ``urllib3.PoolManager``.

    :param verify: an ``ssl.SSLContext``, or False not to verify (``hooks.http.ssl_context``).
    :param max_connections: connections kept to one gateway at most.
    """

    def __init__(self, verify: ssl.SSLContext | bool, max_connections: int) -> None:
        self._verify = verify is not False
        tls: dict[str, Any] = {"ssl_context": verify} if isinstance(verify, ssl.SSLContext) else {}
        if not self._verify:
            tls["cert_reqs"] = "CERT_NONE"
        self._pool = urllib3.PoolManager(maxsize=max_connections, retries=False, **tls)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request; the response's body is streamed."""
        timeout: dict[str, Any] = request.extensions.get("timeout", {})
        headers = urllib3.HTTPHeaderDict()
        for name, value in request.headers.raw:
            headers.add(name.decode("latin-1"), value.decode("latin-1"))
        try:
            with warnings.catch_warnings():
                if not self._verify:  # verify=False is the connection's explicit choice: httpx does not warn
                    warnings.simplefilter("ignore", InsecureRequestWarning)
                response = self._pool.urlopen(
                    request.method,
                    str(request.url),
                    body=request.read() or None,
                    headers=headers,
                    redirect=False,
                    retries=False,
                    preload_content=False,
                    decode_content=False,
                    timeout=urllib3.Timeout(connect=timeout.get("connect"), read=timeout.get("read")),
                )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            error = httpx_error(exc)
            error.request = request
            raise error from exc
        return httpx.Response(
            response.status,
            headers=list(response.headers.items()),
            stream=_Body(response, request),
            extensions={
                "http_version": b"HTTP/1.0" if response.version == 10 else b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
            },
        )

    def close(self) -> None:
        """Close every connection."""
        self._pool.clear()
