"""
Pydantic models of the gateway's wire format.

Every field may be absent (the gateway omits what a provider does not fill) and unknown fields are
kept (``extra="allow"``), so a newer gateway never breaks parsing and nothing it sent is lost.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_bifrost.outcome.status import BatchState, batch_state, done_requests, unsuccessful_requests
from airflow_provider_bifrost.results.records import item_succeeded

#: The batch object's timestamps (unix seconds), in lifecycle order.
BATCH_TIMESTAMPS = (
    "created_at",
    "in_progress_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "cancelling_at",
    "cancelled_at",
    "expires_at",
)


class WireModel(BaseModel):
    """Base: tolerant of absent fields, keeps unknown ones."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def to_dict(self) -> dict[str, Any]:
        """The object as the gateway sent it (unknown fields included, unset ones left out)."""
        return self.model_dump(mode="json", exclude_unset=True)


class RequestCounts(WireModel):
    """How many of a batch's requests are in each state; only total/completed/failed are always set."""

    total: int = 0
    completed: int = 0
    failed: int = 0
    succeeded: int | None = None
    expired: int | None = None
    canceled: int | None = None
    pending: int | None = None

    @property
    def done(self) -> int:
        """Requests processed so far (:func:`~airflow_provider_bifrost.outcome.status.done_requests`)."""
        return done_requests(self.model_dump())

    @property
    def unsuccessful(self) -> int:
        """Requests that did not succeed: failed, expired or cancelled."""
        return unsuccessful_requests(self.model_dump())


class BatchErrorData(WireModel):
    """One batch-level error (for a failed batch, e.g. a bad input line)."""

    code: str | None = None
    message: str | None = None
    param: Any = None
    line: int | None = None


class BatchErrors(WireModel):
    """The batch's ``errors`` list object."""

    object: str | None = None
    data: list[BatchErrorData] = Field(default_factory=list)


class Batch(WireModel):
    """A batch object (``GET /v1/batches/{id}``)."""

    id: str
    object: str | None = None
    endpoint: str | None = None
    input_file_id: str | None = None
    completion_window: str | None = None
    status: str | None = None
    request_counts: RequestCounts = Field(default_factory=RequestCounts)
    metadata: dict[str, Any] | None = None
    created_at: int | None = None
    expires_at: int | None = None
    in_progress_at: int | None = None
    finalizing_at: int | None = None
    completed_at: int | None = None
    failed_at: int | None = None
    expired_at: int | None = None
    cancelling_at: int | None = None
    cancelled_at: int | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: BatchErrors | None = None
    processing_status: str | None = None
    results_url: str | None = None
    display_name: str | None = None
    extra_fields: dict[str, Any] | None = None

    @property
    def state(self) -> BatchState:
        """What the status means, per the one status policy."""
        return batch_state(self.status)

    def progress_line(self) -> str:
        """One line a person reads at a glance: ``batch_abc in_progress: 7,412/10,000 done (74%), 12 failed``."""
        counts = self.request_counts
        done = counts.done
        share = f" ({100 * done // counts.total}%)" if counts.total else ""
        return f"{self.id} {self.status}: {done:,}/{counts.total:,} done{share}, {counts.unsuccessful:,} failed"

    def summary(self, provider: str) -> dict[str, Any]:
        """
        A compact, JSON-safe description for XCom and trigger events: never the results.

        :param provider: the provider the batch belongs to.
        """
        return {
            "batch_id": self.id,
            "provider": provider,
            "status": self.status,
            "request_counts": self.request_counts.model_dump(mode="json", exclude_none=True),
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "errors": self.error_messages(),
            **{name: getattr(self, name) for name in BATCH_TIMESTAMPS if getattr(self, name) is not None},
        }

    def error_messages(self) -> list[str]:
        """The batch's own error details, one line each."""
        if not self.errors:
            return []
        lines = []
        for error in self.errors.data:
            where = f" (line {error.line})" if error.line is not None else ""
            param = f" [param {error.param}]" if error.param else ""
            lines.append(f"{error.code or 'error'}{where}{param}: {error.message or 'no message'}")
        return lines


class BatchList(WireModel):
    """One page of ``GET /v1/batches``."""

    object: str | None = None
    data: list[Batch] = Field(default_factory=list)
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool = False
    next_cursor: str | None = None


class ResultResponse(WireModel):
    """OpenAI/Bedrock-style result: the provider's HTTP response to one request."""

    status_code: int | None = None
    request_id: str | None = None
    body: Any = None


class ResultOutcome(WireModel):
    """Anthropic-style result: ``succeeded``/``errored``/``expired``/``canceled`` and the message."""

    type: str | None = None
    message: Any = None


class ResultError(WireModel):
    """A per-request error."""

    code: str | None = None
    message: str | None = None


class BatchResultItem(WireModel):
    """One request's result, as in ``GET /v1/batches/{id}/results`` and in output/error files."""

    custom_id: str | None = None
    response: ResultResponse | None = None
    result: ResultOutcome | None = None
    error: ResultError | None = None

    @property
    def succeeded(self) -> bool:
        """Whether the request produced a usable answer."""
        return item_succeeded(self.to_dict())


class FileObject(WireModel):
    """A file object (``POST /v1/files``, ``GET /v1/files/{id}``)."""

    id: str
    object: str | None = None
    bytes: int | None = None
    created_at: int | None = None
    filename: str | None = None
    purpose: str | None = None
    status: str | None = None


class ErrorDetail(WireModel):
    """``error`` inside a BifrostError body."""

    type: str | None = None
    code: str | None = None
    message: str | None = None
    param: Any = None
    event_id: str | None = None


class ErrorBody(WireModel):
    """A BifrostError body."""

    event_id: str | None = None
    type: str | None = None
    is_bifrost_error: bool | None = None
    status_code: int | None = None
    error: ErrorDetail | None = None
    extra_fields: dict[str, Any] | None = None
