"""
A job's plan: its requests split into parts, each part a range of inline requests or byte ranges of the
input files (:mod:`.split` makes it). JSON-safe, small, and the same for the same input, so it rides in the
job's state and tells a retry whether the input changed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Segment:
    """Bytes ``[start, end)`` of source file ``source``: whole lines."""

    source: int
    start: int
    end: int


@dataclass(frozen=True)
class PartPlan:
    """
    One part of a job: the requests one batch holds.

    :param index: its number, from 0.
    :param requests: how many requests.
    :param bytes: their JSONL size, newlines included.
    :param first: inline input: the index of its first request.
    :param segments: file input: where its lines are.
    """

    index: int
    requests: int
    bytes: int
    first: int = 0
    segments: tuple[Segment, ...] = ()


@dataclass
class Plan:
    """
    How a job's requests are split into parts.

    :param sources: the input files' URIs, in order (empty for inline requests).
    :param parts: the parts, in order.
    :param requests: every request of the job.
    :param content: a digest of every request line, in order: an input edited in place (the same sizes, other
        requests) makes another plan.
    """

    sources: list[str]
    parts: list[PartPlan] = field(default_factory=list)
    requests: int = 0
    content: str = ""

    @property
    def fingerprint(self) -> str:
        """What identifies the plan: two tries that make the same one split the same input the same way."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (lists, not tuples), for the job's state."""
        data: dict[str, Any] = json.loads(json.dumps(asdict(self)))
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        """
        The plan :meth:`to_dict` gave.

        :param data: its dict.
        """
        parts = [
            PartPlan(**{**part, "segments": tuple(Segment(**segment) for segment in part["segments"])})
            for part in data["parts"]
        ]
        return cls(
            sources=list(data["sources"]), parts=parts, requests=data["requests"], content=data.get("content", "")
        )
