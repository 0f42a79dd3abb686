"""
The shared client's aiohttp transport behaves like httpx's own on the wire: each case runs against a small
loopback server through both transports, and both must answer or fail the same way (the same httpx
exception, the same error from the hook's HTTP layer, the same credential rule on redirects).
"""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
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
from tests.unit.hooks.gateway_doubles import SECRET, settings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

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


async def read_request(reader: asyncio.StreamReader) -> dict[str, str]:
    """The request line and headers of one request (lower-cased names)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    return {"request-line": lines[0], **headers}


def answer(status: int, body: bytes, headers: dict[str, str] | None = None) -> Any:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body)
        await writer.drain()
        writer.close()

    return handle


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


async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.close()


async def cut_short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"id": "b1"')
    await writer.drain()
    writer.close()


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    await asyncio.sleep(5)
    writer.close()


async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
    await writer.drain()
    writer.close()


@pytest.mark.parametrize("kind", TRANSPORTS)
@pytest.mark.parametrize(
    ("handler", "error"),
    [
        (hang_up, httpx.RemoteProtocolError),
        (cut_short, httpx.RemoteProtocolError),
        (silent, httpx.ReadTimeout),
        (garbage, httpx.RemoteProtocolError),
    ],
)
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


async def bad_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """What an HTTP server answers to a TLS handshake."""
    await reader.read(1)
    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    await writer.drain()
    writer.close()


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_https_to_a_plain_http_port_says_so(kind: str) -> None:
    async with server(bad_request) as url:
        with pytest.raises(httpx.ConnectError) as info:
            await get(kind, url.replace("http://", "https://") + "/v1/batches/b1", verify=ssl.create_default_context())
    assert tls_hint(info.value) is not None and "plain HTTP" in str(tls_hint(info.value))


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A server TLS context with a freshly made self-signed certificate for 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    folder: Path = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_an_untrusted_certificate_says_so(kind: str, self_signed: ssl.SSLContext) -> None:
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

    async def elsewhere(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n{"id": "b1"}\n')
        await writer.drain()
        writer.close()

    async with server(elsewhere) as other:

        async def moved(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(await read_request(reader))
            writer.write(f"HTTP/1.1 302 Found\r\nLocation: {other}/v1/batches/b1\r\nContent-Length: 0\r\n\r\n".encode())
            await writer.drain()
            writer.close()

        async with server(moved) as url:
            gateway = settings(base_url=url)
            client = build_shared_async_client(gateway) if kind == "aiohttp" else build_async_client(gateway)
            async with client:
                response = await client.get("/v1/batches/b1", params={"provider": "openai"})
    assert response.json() == {"id": "b1"}
    first, second = seen
    assert first["x-bf-vk"] == SECRET and first["authorization"] == "Bearer tok"
    assert "x-bf-vk" not in second and "authorization" not in second
    assert second["x-bf-dim-team"] == "data"
    assert second["request-line"] == "GET /v1/batches/b1 HTTP/1.1"
