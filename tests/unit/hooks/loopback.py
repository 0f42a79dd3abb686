"""
Loopback servers' handlers and the cases the transport tests share: each transport (httpx's own, aiohttp's
for the shared async client, urllib3's for the download client) must answer or fail the same way against
the same server.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.unit.hooks.gateway_doubles import SECRET

if TYPE_CHECKING:
    from pathlib import Path


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


async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.close()


def sends(raw: bytes) -> Any:
    """A handler that reads the request, sends ``raw`` and hangs up."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(raw)
        await writer.drain()
        writer.close()

    return handle


#: A Content-Length body cut short.
cut_short = sends(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"id": "b1"')
#: A chunked body cut short.
cut_chunked = sends(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n{"id": "b1"\r\n')
#: Not HTTP at all (another service on the port).
garbage = sends(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    await asyncio.sleep(5)
    writer.close()


#: A broken answer, and the httpx exception every transport raises for it.
BROKEN_ANSWERS = [
    (hang_up, httpx.RemoteProtocolError),
    (cut_short, httpx.RemoteProtocolError),
    (cut_chunked, httpx.RemoteProtocolError),
    (silent, httpx.ReadTimeout),
    (garbage, httpx.RemoteProtocolError),
]


async def bad_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """What an HTTP server answers to a TLS handshake."""
    await reader.read(1)
    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    await writer.drain()
    writer.close()


def self_signed_context(folder: Path) -> ssl.SSLContext:
    """
    A server TLS context with a freshly made self-signed certificate for 127.0.0.1.

    :param folder: where its certificate and key files go.
    """
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
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A server TLS context with a freshly made self-signed certificate for 127.0.0.1."""
    return self_signed_context(tmp_path_factory.mktemp("tls"))


def answer_once(seen: list[dict[str, str]]) -> Any:
    """A server at another origin: records the request it gets, answers a batch."""

    async def elsewhere(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n{"id": "b1"}\n')
        await writer.drain()
        writer.close()

    return elsewhere


def redirect_once(seen: list[dict[str, str]], other: str) -> Any:
    """The gateway: records the request it gets, redirects it to ``other``."""

    async def moved(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        writer.write(f"HTTP/1.1 302 Found\r\nLocation: {other}/v1/batches/b1\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    return moved


def check_credentials_stayed_home(seen: list[dict[str, str]], response: httpx.Response) -> None:
    """The redirect was followed, and only the gateway's own origin saw the credentials."""
    assert response.json() == {"id": "b1"}
    first, second = seen
    assert first["x-bf-vk"] == SECRET and first["authorization"] == "Bearer tok"
    assert "x-bf-vk" not in second and "authorization" not in second
    assert second["x-bf-dim-team"] == "data"
    assert second["request-line"] == "GET /v1/batches/b1 HTTP/1.1"
