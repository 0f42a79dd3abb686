"""Fault injection: rules, and the outermost ASGI middleware that applies them and logs requests.

Actions: ``status`` (error status with a BifrostError body, optional ``Retry-After``), ``html`` (a
proxy's HTML error page), ``empty`` (status with no body), ``delay`` (sleep, then answer normally),
``drop`` (hang up without answering), ``truncate`` (cut the body and hang up), ``lose_response``
(carry the request out, then hang up without answering), ``body`` (answer with a given status,
content type and body, e.g. a 200 whose JSON is not what the API documents).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import time
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol
from urllib.parse import parse_qsl

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from collections import deque

    from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTROL_PREFIX = "/_emulator"
_DISCONNECT_TIMEOUT = 5.0


def _valid_regex(value: str) -> str:
    re.compile(value)
    return value


Regex = Annotated[str, AfterValidator(_valid_regex)]
FaultAction = Literal["status", "html", "empty", "delay", "drop", "truncate", "lose_response", "body"]


class FaultRule(BaseModel):
    """One fault: which gateway requests it hits and what happens to them.

    :param action: ``status``, ``html``, ``empty``, ``delay``, ``drop``, ``truncate``, ``lose_response`` or
        ``body``.
    :param method: HTTP method to match (None: any).
    :param path: regex searched in the request path (None: any).
    :param query: substring of the raw query string (None: any).
    :param status: HTTP status of ``status``, ``html``, ``empty`` and ``body``.
    :param retry_after: ``Retry-After`` header value of a ``status`` answer (seconds or HTTP date).
    :param message: error message of a ``status`` answer.
    :param seconds: sleep of a ``delay``.
    :param bytes: body bytes a ``truncate`` lets through (None: half of the body, or of its first
        chunk when it is streamed).
    :param body: the body a ``body`` answer sends, as is.
    :param content_type: the content type of a ``body`` answer.
    :param times: apply to the first N matching requests only (None: always).
    :param probability: chance of applying to a matching request (seeded by the emulator's seed).
    """

    model_config = ConfigDict(extra="forbid")

    action: FaultAction
    method: str | None = None
    path: Regex | None = None
    query: str | None = None
    status: int = Field(default=503, ge=100, le=599)
    retry_after: str | None = None
    message: str | None = None
    seconds: float = Field(default=1.0, ge=0)
    bytes: int | None = Field(default=None, ge=0)
    body: str = ""
    content_type: str = "application/json"
    times: int | None = Field(default=None, ge=0)
    probability: float = Field(default=1.0, ge=0, le=1)

    def matches(self, method: str, path: str, query: str) -> bool:
        """Whether a request is targeted by this rule (ignoring ``times`` and ``probability``)."""
        return (
            (self.method is None or self.method.upper() == method)
            and (self.path is None or re.search(self.path, path) is not None)
            and (self.query is None or self.query in query)
        )


class FaultSet:
    """The active rules, how often each was applied, and the seeded random source.

    :param seed: seed of the ``probability`` draws.
    """

    def __init__(self, seed: int) -> None:
        self._rules: list[FaultRule] = []
        self._applied: list[int] = []
        self._rng = random.Random(seed)

    def reseed(self, seed: int) -> None:
        """Restart the random source."""
        self._rng.seed(seed)

    def replace(self, rules: list[FaultRule]) -> None:
        """Replace every rule."""
        self._rules = list(rules)
        self._applied = [0] * len(rules)

    def extend(self, rules: list[FaultRule]) -> None:
        """Append rules (checked after the existing ones)."""
        self._rules.extend(rules)
        self._applied.extend([0] * len(rules))

    def snapshot(self) -> list[dict[str, Any]]:
        """The rules as JSON, each with its ``applied`` count."""
        pairs = zip(self._rules, self._applied, strict=True)
        return [{**rule.model_dump(), "applied": applied} for rule, applied in pairs]

    def pick(self, method: str, path: str, query: str) -> FaultRule | None:
        """The first rule to apply to this request, counting it as applied."""
        for index, rule in enumerate(self._rules):
            if not rule.matches(method, path, query):
                continue
            if rule.times is not None and self._applied[index] >= rule.times:
                continue
            if rule.probability < 1 and self._rng.random() >= rule.probability:
                continue
            self._applied[index] += 1
            return rule
        return None


class _FaultState(Protocol):
    """What the middleware reads of the emulator's state (``EmulatorState``, which imports this module)."""

    faults: FaultSet
    request_log: deque[dict[str, Any]]

    @property
    def config(self) -> Any: ...


class FaultMiddleware:
    """Log every gateway request, add the configured latency, apply the first matching fault.

    Must wrap the application outermost (directly under uvicorn), so that the ``send`` callable it
    receives is uvicorn's own: hanging up relies on it (see :func:`_hang_up`). Control-plane routes
    (``/_emulator/...``) pass straight through.

    :param app: the emulator's ASGI application.
    :param state: the emulator state holding the rules, config and request log.
    """

    def __init__(self, app: ASGIApp, state: _FaultState) -> None:
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
