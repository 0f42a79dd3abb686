"""Ids in the URL path: one percent-encoded segment each, decoded as current gateways decode them.

A Bedrock batch id is a job ARN (``arn:aws:bedrock:...:model-invocation-job/abc``), a Gemini one is
``batches/abc``, a Vertex one is a resource name: each travels as ONE path segment with its ``/``
percent-encoded (``%2F``). uvicorn decodes ``%2F`` in ``scope["path"]``, which would split the id
over several segments; :class:`EncodedIdRouting` therefore routes on ``scope["raw_path"]``: it
rebuilds the path the router sees so that each raw segment stays one segment (a ``/`` or ``%`` inside
it stays encoded), and :func:`path_id` decodes a route parameter. With
``EmulatorConfig.decode_encoded_ids`` off (older gateways), a ``%2F`` reaches the provider as the
three characters ``%2F``.

The fault rules and the request log are not affected: they see uvicorn's decoded ``scope["path"]``
(the request log also records ``raw_path``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.types import ASGIApp, Receive, Scope, Send

CONTROL_PREFIX = "/_emulator"
# Characters a segment keeps as they are in the routing path; "/" and "%" stay encoded.
_SAFE = "!$&'()*+,;=:@~"
_KEEP_ENCODED_SLASH = {"%2F": "%252F", "%2f": "%252f"}


def decode_segment(segment: str, *, decode_slash: bool = True) -> str:
    """One raw path segment, percent-decoded (``%2F`` left as is when ``decode_slash`` is false)."""
    if not decode_slash:
        for encoded, escaped in _KEEP_ENCODED_SLASH.items():
            segment = segment.replace(encoded, escaped)
    return unquote(segment)


def routing_path(raw_path: str, *, decode_slash: bool = True) -> str:
    """The path the router matches: each raw segment decoded, then re-encoded without ``/``."""
    segments = raw_path.split("/")
    return "/".join(quote(decode_segment(segment, decode_slash=decode_slash), safe=_SAFE) for segment in segments)


def path_id(value: str) -> str:
    """A route parameter (an id) as the provider receives it."""
    return unquote(value)


class EncodedIdRouting:
    """ASGI middleware: route gateway requests on their raw path (see the module docstring).

    :param app: the application.
    :param decode_slash: called per request: whether ``%2F`` is decoded (current gateways).
    """

    def __init__(self, app: ASGIApp, decode_slash: Callable[[], bool]) -> None:
        self.app = app
        self.decode_slash = decode_slash

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Rewrite ``scope["path"]`` of a gateway request, then call the app."""
        raw = scope.get("raw_path")
        if scope["type"] == "http" and raw and not scope["path"].startswith(CONTROL_PREFIX):
            path = routing_path(raw.decode("latin-1"), decode_slash=self.decode_slash())
            scope = {**scope, "path": path}
        await self.app(scope, receive, send)
