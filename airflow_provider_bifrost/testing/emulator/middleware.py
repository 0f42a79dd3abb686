"""The outermost ASGI middleware: logs every gateway request, adds latency, applies fault rules.

Actions of the rules (:class:`~.faults.FaultRule`): ``status`` (error status with a BifrostError body,
optional ``Retry-After``), ``html`` (a proxy's HTML error page), ``empty`` (status with no body),
``delay`` (sleep, then answer normally), ``drop`` (hang up without answering), ``truncate`` (cut the
body and hang up), ``lose_response`` (carry the request out, then hang up without answering), ``body``
(answer with a given status, content type and body).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from airflow_provider_bifrost.testing.emulator.routing import CONTROL_PREFIX

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from airflow_provider_bifrost.testing.emulator.faults import FaultRule
    from airflow_provider_bifrost.testing.emulator.state import EmulatorState

_DISCONNECT_TIMEOUT = 5.0


class FaultMiddleware:
    """Log every gateway request, add the configured latency, apply the first matching fault.

    Must wrap the application outermost (directly under uvicorn), so that the ``send`` callable it
    receives is uvicorn's own: hanging up relies on it (see :func:`_hang_up`). Control-plane routes
    (``/_emulator/...``) pass straight through.

    :param app: the emulator's ASGI application.
    :param state: the emulator state holding the rules, config and request log.
    """

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        entry = _log_entry(scope, query)
        self.state.request_log.append(entry)
        config = self.state.config
        if config.latency and (config.latency_path is None or re.search(config.latency_path, path)):
            await asyncio.sleep(config.latency)
        rule = self.state.faults.pick(method, path, query)
        entry["fault"] = rule.action if rule is not None else None

        async def logged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            await send(message)

        if rule is None:
            await self.app(scope, receive, logged_send)
        elif rule.action == "delay":
            await asyncio.sleep(rule.seconds)
            await self.app(scope, receive, logged_send)
        elif rule.action in ("status", "html", "empty", "body"):
            await _error_response(rule, logged_send)
        elif rule.action == "drop":
            await _read_body(receive)
            await _hang_up(send, receive)
        elif rule.action == "lose_response":
            await self.app(scope, receive, _losing_send(entry, send))
            await _hang_up(send, receive)
        else:
            await self.app(scope, receive, _truncating_send(rule.bytes, logged_send, send))
            await _hang_up(send, receive)


def _log_entry(scope: Scope, query: str) -> dict[str, Any]:
    return {
        "time": time.time(),
        "method": scope["method"],
        "path": scope["path"],
        "raw_path": (scope.get("raw_path") or scope["path"].encode()).decode("latin-1"),
        "query": dict(parse_qsl(query, keep_blank_values=True)),
        "headers": {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
        "status": None,
        "fault": None,
    }


async def _error_response(rule: FaultRule, send: Send) -> None:
    phrase = _phrase(rule.status)
    headers: list[tuple[bytes, bytes]] = []
    if rule.action == "status":
        body = json.dumps(
            {
                "is_bifrost_error": False,  # an upstream failure relayed, not the gateway's own verdict
                "status_code": rule.status,
                "error": {"type": "injected_fault", "message": rule.message or f"injected fault: {phrase}"},
                "extra_fields": {},
            }
        ).encode()
        headers.append((b"content-type", b"application/json"))
        if rule.retry_after is not None:
            headers.append((b"retry-after", rule.retry_after.encode("latin-1")))
    elif rule.action == "html":
        title = f"{rule.status} {phrase}"
        body = (
            f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>"
            "\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        ).encode()
        headers.append((b"content-type", b"text/html"))
    elif rule.action == "body":
        body = rule.body.encode()
        headers.append((b"content-type", rule.content_type.encode("latin-1")))
    else:
        body = b""
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": rule.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _losing_send(entry: dict[str, Any], send: Send) -> Send:
    """A ``send`` that records the status the app produced, transmits nothing and hangs up.

    The app has done its work (e.g. created the batch) by the time it starts its response.
    """

    async def lose(message: Message) -> None:
        if message["type"] == "http.response.start":
            entry["status"] = message["status"]
            _transport(send).close()

    return lose


def _truncating_send(limit: int | None, logged_send: Send, raw_send: Send) -> Send:
    """A ``send`` that lets ``limit`` body bytes through (default: half the body, or of its first
    chunk when streamed without a length), then hangs up.

    The body is cut short of its end even when it is shorter than ``limit``, so the client
    always sees an incomplete response.
    """
    content_length: int | None = None
    sent = 0
    cut = False

    async def truncate(message: Message) -> None:
        nonlocal content_length, sent, cut, limit
        if cut:
            return
        if message["type"] == "http.response.start":
            for name, value in message.get("headers", []):
                if name.lower() == b"content-length":
                    content_length = int(value)
            await logged_send(message)
            return
        body: bytes = message.get("body", b"")
        last = not message.get("more_body", False)
        if limit is None:
            limit = (content_length if content_length is not None else len(body)) // 2
        if sent + len(body) < limit and not last:
            sent += len(body)
            await logged_send(message)
            return
        keep = max(0, min(limit - sent, len(body) - 1))
        await logged_send({"type": "http.response.body", "body": body[:keep], "more_body": True})
        cut = True
        _transport(raw_send).close()

    return truncate


async def _read_body(receive: Receive) -> None:
    """Consume the request body, so closing the socket sends a FIN rather than a reset."""
    more = True
    while more:
        message = await receive()
        more = message["type"] == "http.request" and message.get("more_body", False)


def _transport(send: Send) -> asyncio.Transport:
    # An ASGI app has no way to abort a connection. uvicorn's ``send`` is the bound method
    # ``RequestResponseCycle.send`` (h11 and httptools alike), whose instance holds the
    # connection's asyncio transport; closing it makes the server hang up (after flushing what
    # was already written). This only holds if nothing wraps ``send`` before us: keep
    # FaultMiddleware outermost.
    transport: asyncio.Transport | None = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise RuntimeError("drop/truncate/lose_response faults need the app to run directly under uvicorn")
    return transport


async def _hang_up(send: Send, receive: Receive) -> None:
    """Close the connection (if not yet) and wait until uvicorn has noticed.

    Waiting for ``http.disconnect`` keeps uvicorn from complaining that the app returned
    without a response.
    """
    transport = _transport(send)
    if not transport.is_closing():
        transport.close()

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(disconnected(), _DISCONNECT_TIMEOUT)
