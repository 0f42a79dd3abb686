"""What the results parsers produce: one record per result item, and what a page said besides."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple


class ResultRecord(NamedTuple):
    """One result item: its JSON on one line (no newline), and the item itself."""

    line: bytes
    item: dict[str, Any]


@dataclass
class ResultsPage:
    """What one results document said besides its items."""

    batch_id: str | None = None
    has_more: bool = False
    next_cursor: str | None = None
    extra_fields: dict[str, Any] = field(default_factory=dict)
    item_count: int = 0

    @property
    def parse_errors(self) -> list[Any]:
        """Lines the gateway could not parse and skipped (``extra_fields.parse_errors``)."""
        errors = self.extra_fields.get("parse_errors") if isinstance(self.extra_fields, dict) else None
        return list(errors) if isinstance(errors, list) else []

    def set_field(self, name: str, value: Any) -> None:
        """
        Record one top-level field of the document (others are ignored).

        :param name: ``batch_id``, ``has_more``, ``next_cursor`` or ``extra_fields``.
        :param value: its value.
        """
        if name == "has_more":
            self.has_more = bool(value)
        elif name == "next_cursor":
            self.next_cursor = str(value) if value not in (None, "") else None
        elif name == "batch_id":
            self.batch_id = str(value) if value is not None else None
        elif name == "extra_fields" and isinstance(value, dict):
            self.extra_fields = value
