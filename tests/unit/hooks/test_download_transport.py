"""
The download client's urllib3 transport behaves like httpx's own on the wire: each case runs against a small
loopback server (in a thread) through both sync transports, and both must answer or fail the same way (the
same httpx exception, the same error from the hook's HTTP layer, the same credential rule on redirects).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import ssl
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from airflow_provider_bifrost.exceptions import BifrostRateLimitError, BifrostServerError
from airflow_provider_bifrost.hooks.download_transport import READ_CHUNK, Urllib3Transport
from airflow_provider_bifrost.hooks.http import build_client, build_download_client, raise_for_error
from airflow_provider_bifrost.hooks.retry import tls_hint
from tests.unit.hooks.gateway_doubles import settings
from tests.unit.hooks.loopback import (
    BROKEN_ANSWERS,
    answer,
    answer_once,
    bad_request,
    check_credentials_stayed_home,
    hang_up,
    read_request,
    redirect_once,
    self_signed,  # noqa: F401 - the fixture
)

if TYPE_CHECKING:
    from collections.abc import Iterator

TRANSPORTS = ["httpx", "urllib3"]


def transport(kind: str, verify: ssl.SSLContext | bool = False) -> httpx.BaseTransport:
    if kind == "httpx":
        return httpx.HTTPTransport(verify=verify)
    return Urllib3Transport(verify, max_connections=10)


@contextmanager
def server(handler: Any, context: ssl.SSLContext | None = None) -> Iterator[str]:
    """A loopback server answering each connection with ``handler``, on its own thread's loop; its origin."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    listening = asyncio.run_coroutine_threadsafe(asyncio.start_server(handler, "127.0.0.1", 0, ssl=context), loop)
    started = listening.result(timeout=10)
    port = started.sockets[0].getsockname()[1]
    try:
        yield f"{'https' if context else 'http'}://127.0.0.1:{port}"
    finally:

        async def shut_down() -> None:
            started.close()
            handlers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shut_down(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def get(kind: str, url: str, *, timeout: float = 5.0, verify: ssl.SSLContext | bool = False) -> httpx.Response:
    with httpx.Client(transport=transport(kind, verify), timeout=timeout) as client:
        response = client.get(url)
        raise_for_error(response)
        return response


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_a_body_is_read_and_decoded_once(kind: str) -> None:
    body = json.dumps({"id": "b1", "status": "in_progress"}).encode()
    with server(answer(200, gzip.compress(body), {"Content-Encoding": "gzip"})) as url:
        response = get(kind, f"{url}/v1/batches/b1")
    assert response.status_code == 200
    assert response.json() == {"id": "b1", "status": "in_progress"}


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_an_error_response_is_the_same_error(kind: str) -> None:
    rate_limited = json.dumps({"error": {"message": "slow down"}}).encode()
    with server(answer(429, rate_limited, {"Retry-After": "7"})) as url, pytest.raises(BifrostRateLimitError) as info:
        get(kind, f"{url}/v1/batches/b1")
    assert info.value.retry_after == 7.0 and "slow down" in str(info.value)
    bad_gateway = answer(502, b"<html>bad gateway</html>", {"Content-Type": "text/html"})
    with server(bad_gateway) as url, pytest.raises(BifrostServerError, match="non-JSON body"):
        get(kind, f"{url}/v1/batches/b1")


@pytest.mark.parametrize(("handler", "error"), BROKEN_ANSWERS)
def test_a_broken_answer_is_the_same_httpx_error_with_the_same_words(handler: Any, error: type[Exception]) -> None:
    """The messages the hook's errors quote (and the docs show) are the same through either transport."""
    messages = []
    for kind in TRANSPORTS:
        with server(handler) as url, pytest.raises(error) as info:
            get(kind, f"{url}/v1/batches/b1", timeout=0.5)
        assert isinstance(info.value, httpx.TransportError)
        assert info.value.request.url.path == "/v1/batches/b1"
        messages.append(str(info.value))
    assert messages[0] == messages[1]


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_a_refused_connection_is_a_connect_error(kind: str) -> None:
    with server(hang_up) as url:
        pass  # closed: nothing listens there any more
    with pytest.raises(httpx.ConnectError):
        get(kind, f"{url}/v1/batches/b1")


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_https_to_a_plain_http_port_says_so(kind: str) -> None:
    with server(bad_request) as url, pytest.raises(httpx.ConnectError) as info:
        get(kind, url.replace("http://", "https://") + "/v1/batches/b1", verify=ssl.create_default_context())
    assert tls_hint(info.value) is not None and "plain HTTP" in str(tls_hint(info.value))


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_an_untrusted_certificate_says_so(kind: str, self_signed: ssl.SSLContext) -> None:  # noqa: F811
    with server(answer(200, b"{}"), self_signed) as url:
        with pytest.raises(httpx.ConnectError) as info:
            get(kind, f"{url}/v1/batches/b1", verify=ssl.create_default_context())
        assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
        assert tls_hint(info.value) is not None and "not trusted" in str(tls_hint(info.value))
        # verify=False (the connection's extra) accepts it, on both.
        response = get(kind, f"{url}/v1/batches/b1", verify=False)
    assert response.json() == {}


#: What :func:`keep_alive` answers: 32 KB HTTP chunks, more than two of the download transport's reads.
KEEP_ALIVE_CHUNKS = 2 * READ_CHUNK // (32 * 1024) + 3


def keep_alive(connections: list[int]) -> Any:
    """Answer every request of a connection with a body of :data:`KEEP_ALIVE_CHUNKS` chunks; count the connections."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        chunk = b"x" * 32 * 1024
        try:
            while True:
                await read_request(reader)
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                for _ in range(KEEP_ALIVE_CHUNKS):
                    writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return handle


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_a_body_read_to_its_end_frees_its_connection_and_a_body_left_unread_closes_it(kind: str) -> None:
    connections: list[int] = []
    size = KEEP_ALIVE_CHUNKS * 32 * 1024
    with server(keep_alive(connections)) as url, httpx.Client(transport=transport(kind), timeout=5) as client:
        for _ in range(3):
            with client.stream("GET", f"{url}/v1/files/f1/content") as response:
                assert sum(len(chunk) for chunk in response.iter_bytes()) == size
        assert len(connections) == 1
        with client.stream("GET", f"{url}/v1/files/f1/content") as response:
            next(response.iter_bytes())  # the rest is never read: the connection cannot be reused
        with client.stream("GET", f"{url}/v1/files/f1/content") as response:
            assert sum(len(chunk) for chunk in response.iter_bytes()) == size
    assert len(connections) == 2


def test_the_urllib3_body_comes_in_pieces_of_at_least_one_read_however_small_the_http_chunks() -> None:
    with (
        server(keep_alive([])) as url,
        httpx.Client(transport=transport("urllib3"), timeout=5) as client,
        client.stream("GET", f"{url}/v1/files/f1/content") as response,
    ):
        pieces = [len(piece) for piece in response.iter_raw()]
    assert sum(pieces) == KEEP_ALIVE_CHUNKS * 32 * 1024
    assert len(pieces) == 3  # two whole reads of 32 KB chunks, then the rest
    assert all(size >= READ_CHUNK for size in pieces[:-1]) and 0 < pieces[-1] < READ_CHUNK


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_credentials_never_follow_a_redirect_to_another_origin(kind: str) -> None:
    seen: list[dict[str, str]] = []
    with server(answer_once(seen)) as other, server(redirect_once(seen, other)) as url:
        gateway = settings(base_url=url)
        with build_download_client(gateway) if kind == "urllib3" else build_client(gateway) as client:
            response = client.get("/v1/batches/b1", params={"provider": "openai"})
    check_credentials_stayed_home(seen, response)
