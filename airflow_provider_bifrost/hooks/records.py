"""What the results parsers produce: one record per result item, and what a page said besides."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from airflow_provider_bifrost.hooks.models import item_succeeded


class _Outcome(msgspec.Struct):
    status_code: Any = None
    type: Any = None
    code: Any = None
    message: Any = None


class ItemStatus(msgspec.Struct):
    """What an export needs of an item; msgspec skips everything else (the bodies) while decoding."""

    custom_id: Any = None
    response: _Outcome | None = None
    result: _Outcome | None = None
    error: _Outcome | None = None

    @property
    def succeeded(self) -> bool:
        """The same rule as :func:`~airflow_provider_bifrost.hooks.models.item_succeeded`."""
        if self.error is not None and (self.error.code or self.error.message):
            return False
        if self.result is not None:
            return bool(self.result.type == "succeeded")
        code = self.response.status_code if self.response is not None else None
        return isinstance(code, int) and not isinstance(code, bool) and 200 <= code < 300


class ResultRecord:
    """
    One result item: its JSON on one line (no newline), and the item, decoded when first asked for.

    :param line: the item's JSON.
    :param item: the item, if already decoded.
    :param status: what an export needs of it, if decoded that way instead.
    """

    __slots__ = ("_item", "line", "status")

    def __init__(self, line: bytes, item: dict[str, Any] | None = None, status: ItemStatus | None = None) -> None:
        self.line = line
        self._item = item
        self.status = status

    @property
    def item(self) -> dict[str, Any]:
        """The item as a dict, as the gateway sent it."""
        if self._item is None:
            self._item = msgspec.json.decode(self.line)
        return self._item

    @property
    def custom_id(self) -> Any:
        """The item's ``custom_id``."""
        return self.status.custom_id if self.status is not None else self.item.get("custom_id")

    @property
    def succeeded(self) -> bool:
        """Whether the request produced a usable answer."""
        return self.status.succeeded if self.status is not None else item_succeeded(self.item)


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
