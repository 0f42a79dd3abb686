"""
What the results parsers produce: one record per result item, blocks of them, and what a page said besides;
the one rule of whether an item succeeded (:attr:`ItemStatus.succeeded`, which the others delegate to), and
the one rule of why it did not and whether that is worth another try (:attr:`ItemStatus.failure`,
:data:`RETRYABLE`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from collections.abc import Callable

#: Why a request did not succeed, when another try may well succeed: its batch expired or was cancelled before
#: it ran, the provider was rate limited, failed on its side or timed out; and a request that has no result at
#: all in a batch that completed, expired or was cancelled. Not an invalid or refused request: that fails again.
RETRYABLE = frozenset({"expired", "cancelled", "rate_limited", "server_error", "timeout", "missing"})

_EXPIRED_CODES = frozenset({"batch_expired", "expired"})
_CANCELLED_CODES = frozenset({"batch_cancelled", "batch_canceled", "cancelled", "canceled"})
_RATE_CODES = frozenset(
    {"rate_limit_error", "rate_limit_exceeded", "rate_limited", "resource_exhausted", "too_many_requests"}
)
_SERVER_CODES = frozenset(
    {"api_error", "server_error", "internal_error", "internal", "overloaded_error", "unavailable"}
)
_TIMEOUT_CODES = frozenset({"timeout", "timeout_error", "request_timeout", "deadline_exceeded"})
_INVALID_CODES = frozenset(
    {"invalid_request_error", "invalid_request", "invalid_argument", "invalid_value", "request_too_large"}
)
_REFUSED_CODES = frozenset({"authentication_error", "permission_error", "permission_denied", "unauthenticated"})


def failure_reason(status_code: Any, code: Any) -> str:
    """
    Why a request failed, from its HTTP status and its error code (either may be missing; a code may be a
    provider's name for it, e.g. Anthropic's ``rate_limit_error``, or a status in a string, as Gemini writes it).

    :param status_code: the item's ``response.status_code``, if any.
    :param code: the item's ``error.code``, if any.
    """
    name = str(code).strip().lower() if code is not None else ""
    if name in _EXPIRED_CODES:
        return "expired"
    if name in _CANCELLED_CODES:
        return "cancelled"
    if name in _RATE_CODES:
        return "rate_limited"
    if name in _SERVER_CODES:
        return "server_error"
    if name in _TIMEOUT_CODES:
        return "timeout"
    if name in _INVALID_CODES:
        return "invalid_request"
    if name in _REFUSED_CODES:
        return "not_allowed"
    status = status_code if isinstance(status_code, int) and not isinstance(status_code, bool) else None
    if (status is None or 200 <= status < 300) and name.isdigit():
        status = int(name)
    if status is None or 200 <= status < 300:
        return "error"
    if status == 429:
        return "rate_limited"
    if status in (408, 504):
        return "timeout"
    if status >= 500:
        return "server_error"
    if status in (401, 403):
        return "not_allowed"
    return "invalid_request"


def missing_reason(batch_status: str | None) -> str:
    """
    Why a request of a finished batch has no result at all: the batch ``expired`` or was ``cancelled`` before
    it ran (worth another try), the batch ``failed`` (its input was refused: not worth it), or it is
    ``missing`` from a batch that completed.

    :param batch_status: the batch's final status.
    """
    if batch_status == "expired":
        return "expired"
    if batch_status in ("cancelled", "canceled"):
        return "cancelled"
    if batch_status == "failed":
        return "batch_failed"
    return "missing"


# The structs an export decodes each item into skip everything else at C speed (the bodies above all). They
# hold decoded JSON, which never refers back to them, so the garbage collector need not track them (gc=False).


class ItemResponse(msgspec.Struct, gc=False):
    """What the success rule needs of an item's ``response`` (OpenAI style)."""

    status_code: Any = None


class ItemResult(msgspec.Struct, gc=False):
    """What the success rule needs of an item's ``result`` (Anthropic style)."""

    type: Any = None


class ItemError(msgspec.Struct, gc=False):
    """An item's ``error``."""

    code: Any = None
    message: Any = None


class ItemStatus(msgspec.Struct, gc=False):
    """What an export needs of an item; msgspec skips everything else (the bodies) while decoding."""

    custom_id: Any = None
    response: ItemResponse | None = None
    result: ItemResult | None = None
    error: ItemError | None = None

    @property
    def succeeded(self) -> bool:
        """
        Whether the request produced a usable answer: no error, and a ``succeeded`` result (Anthropic
        style) or a 2xx response (OpenAI style). The one rule: every other check delegates to it.
        """
        if self.error is not None and (self.error.code or self.error.message):
            return False
        if self.result is not None:
            return bool(self.result.type == "succeeded")
        code = self.response.status_code if self.response is not None else None
        return isinstance(code, int) and not isinstance(code, bool) and 200 <= code < 300

    @property
    def failure(self) -> str | None:
        """
        Why the request did not succeed (None: it did): ``expired``, ``cancelled``, ``rate_limited``,
        ``server_error``, ``timeout`` (each in :data:`RETRYABLE`), ``invalid_request``, ``not_allowed`` or
        ``error`` (unknown). The one rule: resubmission and the manifest's reasons read it.
        """
        if self.succeeded:
            return None
        kind = self.result.type if self.result is not None else None
        if kind == "expired":
            return "expired"
        if kind in ("canceled", "cancelled"):
            return "cancelled"
        return failure_reason(
            self.response.status_code if self.response is not None else None,
            self.error.code if self.error is not None else None,
        )


def item_status(item: dict[str, Any]) -> ItemStatus:
    """
    What the success and failure rules read of a result item given as a plain dict.

    :param item: one result item, as sent by the gateway.
    """
    response, result, error = item.get("response"), item.get("result"), item.get("error")
    return ItemStatus(
        custom_id=item.get("custom_id"),
        response=ItemResponse(response.get("status_code")) if isinstance(response, dict) else None,
        result=ItemResult(result.get("type")) if isinstance(result, dict) else None,
        error=ItemError(error.get("code"), error.get("message")) if isinstance(error, dict) else None,
    )


@cache
def lines_decoder(struct: type[ItemStatus]) -> Callable[[bytes], list[Any]]:
    """
    Decode JSON lines into ``struct`` (:class:`ItemStatus` or a subclass): one decoder per struct.

    :param struct: what each line is decoded into.
    """
    return msgspec.json.Decoder(struct).decode_lines


def item_succeeded(item: dict[str, Any]) -> bool:
    """
    Whether a result item (as a plain dict) is a usable answer, by :attr:`ItemStatus.succeeded`.

    :param item: one result item, as sent by the gateway.
    """
    return item_status(item).succeeded


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


class RecordBlock:
    """
    Consecutive result items of one results document, in order: one JSONL string, and records on demand.

    The fast parser hands a whole region of the document over as the gateway's own bytes, one item per
    line, with what each item decoded to; records and per-line copies are made only if asked for. The
    other parsers wrap the records they made.

    :param records: the records, when already made.
    :param jsonl: the items' JSON lines joined by ``\\n`` (no trailing newline), when given as one string.
    :param decoded: with ``jsonl``: each item as decoded (a dict, or an :class:`ItemStatus` when lean).
    """

    __slots__ = ("_decoded", "_jsonl", "_records")

    def __init__(
        self,
        records: list[ResultRecord] | None = None,
        *,
        jsonl: bytes | None = None,
        decoded: list[Any] | None = None,
    ) -> None:
        if (records is None) == (decoded is None) or (decoded is not None and jsonl is None):
            raise ValueError("give either records, or jsonl with decoded")
        self._records = records
        self._jsonl = jsonl
        self._decoded = decoded

    def __len__(self) -> int:
        return len(self._records if self._records is not None else self._decoded)  # type: ignore[arg-type]

    @property
    def records(self) -> list[ResultRecord]:
        """One record per item."""
        if self._records is None:
            assert self._jsonl is not None
            assert self._decoded is not None
            lines = self._jsonl.split(b"\n") if self._decoded else []
            self._records = [
                ResultRecord(line, status=d) if isinstance(d, ItemStatus) else ResultRecord(line, d)
                for line, d in zip(lines, self._decoded, strict=True)
            ]
        return self._records

    @property
    def jsonl(self) -> bytes:
        """The items' JSON lines joined by ``\\n``, without a trailing newline."""
        if self._jsonl is None:
            self._jsonl = b"\n".join(record.line for record in self.records)
        return self._jsonl

    def decoded(self) -> list[Any]:
        """Each item as decoded: its :class:`ItemStatus` (or a subclass's) when lean, else the item as a dict."""
        if self._records is None:
            assert self._decoded is not None
            return self._decoded
        return [record.status if record.status is not None else record.item for record in self._records]

    def custom_id(self, index: int) -> Any:
        """
        The ``custom_id`` of item ``index``.

        :param index: its position in the block.
        """
        if self._records is not None:
            return self._records[index].custom_id
        assert self._decoded is not None
        decoded = self._decoded[index]
        return decoded.custom_id if isinstance(decoded, ItemStatus) else decoded.get("custom_id")

    def succeeded(self) -> int:
        """How many of the items are successful answers."""
        if self._records is not None:
            return sum(record.succeeded for record in self._records)
        assert self._decoded is not None
        return sum(item_succeeded(decoded) if type(decoded) is dict else decoded.succeeded for decoded in self._decoded)

    def split(self, index: int) -> tuple[RecordBlock, RecordBlock]:
        """
        The items before ``index``, and the rest.

        :param index: where to split, from 0 to the block's length.
        """
        if self._records is not None:
            return RecordBlock(self._records[:index]), RecordBlock(self._records[index:])
        assert self._jsonl is not None
        assert self._decoded is not None
        if index <= 0:
            return RecordBlock(jsonl=b"", decoded=[]), self
        if index >= len(self._decoded):
            return self, RecordBlock(jsonl=b"", decoded=[])
        cut = -1
        for _ in range(index):
            cut = self._jsonl.index(b"\n", cut + 1)
        head = RecordBlock(jsonl=self._jsonl[:cut], decoded=self._decoded[:index])
        return head, RecordBlock(jsonl=self._jsonl[cut + 1 :], decoded=self._decoded[index:])

    def statuses(self) -> list[ItemStatus]:
        """What the success and failure rules read of each item, in order."""
        return [decoded if isinstance(decoded, ItemStatus) else item_status(decoded) for decoded in self.decoded()]

    def keep(self, mask: list[bool]) -> RecordBlock:
        """
        The items whose ``mask`` entry is true, in order (the block itself when all are).

        :param mask: one flag per item.
        """
        if all(mask):
            return self
        if self._records is not None:
            return RecordBlock([record for record, kept in zip(self._records, mask, strict=True) if kept])
        assert self._jsonl is not None
        assert self._decoded is not None
        lines = self._jsonl.split(b"\n") if self._decoded else []
        pairs = [(line, d) for line, d, kept in zip(lines, self._decoded, mask, strict=True) if kept]
        return RecordBlock(jsonl=b"\n".join(line for line, _ in pairs), decoded=[d for _, d in pairs])
