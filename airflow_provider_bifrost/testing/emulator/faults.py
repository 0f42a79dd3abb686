"""Fault injection rules: which gateway requests a fault hits and what happens to them.

:class:`~.middleware.FaultMiddleware` applies them.

Actions: ``status`` (error status with a BifrostError body, optional ``Retry-After``), ``html`` (a
proxy's HTML error page), ``empty`` (status with no body), ``delay`` (sleep, then answer normally),
``drop`` (hang up without answering), ``truncate`` (cut the body and hang up), ``lose_response``
(carry the request out, then hang up without answering), ``body`` (answer with a given status,
content type and body, e.g. a 200 whose JSON is not what the API documents).
"""

from __future__ import annotations

import random
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _valid_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regex: {exc}") from None
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

    :param seed: seed of the ``probability`` draws (None: a fresh random seed).
    """

    def __init__(self, seed: int | None) -> None:
        self._rules: list[FaultRule] = []
        self._applied: list[int] = []
        self._rng = random.Random(seed)

    def reseed(self, seed: int | None) -> None:
        """Restart the random source (None: with a fresh random seed)."""
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
