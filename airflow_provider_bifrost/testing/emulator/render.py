"""What the gateway sends for a batch or a file: batch, cancel and file objects, per provider.

Each provider's batch object carries the fields Bifrost's conversion of that provider's answer
fills (core/providers/*/batch*.go), and nothing else: no ``model`` field, and no ``null`` where the
gateway omits an empty field (Go ``omitempty``). Unix-second timestamps throughout.

- OpenAI/Azure: OpenAI's batch 1:1 (``endpoint``, ``input_file_id``, ``completion_window``, every
  phase timestamp, ``output_file_id``/``error_file_id`` once finished, ``errors`` when failed,
  ``metadata``).
- Anthropic: ``processing_status``, ``results_url`` once ended, ``expires_at``, ``completed_at``
  (its ``ended_at``), ``cancelling_at``; no metadata.
- Bedrock: ``input_file_id`` and ``output_file_id`` (``s3://`` URIs; the output prefix from the
  start), ``metadata`` holding only ``job_name``, ``completed_at`` when the job
  ends, ``expires_at``; ``request_counts`` from the output manifest, so zero until the job ends.
- Gemini: ``operation_name``, ``done``, ``progress``.
- Vertex: ``display_name``, ``input_file_id`` (``gs://``), ``output_file_id`` once output exists,
  ``in_progress_at`` and the end timestamp, ``errors`` (no ``object``) when failed, ``progress``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from airflow_provider_bifrost.testing.emulator.providers import (
    OPENAI_STYLE,
    anthropic_processing_status,
    listed_metadata,
    request_counts,
    wire_status,
    zero_counts,
)

if TYPE_CHECKING:
    from airflow_provider_bifrost.testing.emulator.state import Batch, BatchView, StoredFile

_END_STAMPS = ("completed_at", "failed_at", "expired_at", "cancelled_at")


def compact(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop None values, as the gateway's ``omitempty`` fields do."""
    return {k: v for k, v in obj.items() if v is not None}


def batch_counts(batch: Batch, view: BatchView) -> dict[str, int]:
    """``request_counts`` of a batch at one instant, as its provider fills them."""
    failed = batch.failed_before(view.processed)
    return request_counts(batch.provider, view.status, batch.total, view.processed, failed)


def has_output(batch: Batch, view: BatchView) -> bool:
    """Whether the batch's output exists: OpenAI's output file, Vertex's output directory."""
    if not view.terminal:
        return False
    if batch.provider in OPENAI_STYLE:
        return view.processed > batch.failed_before(view.processed)
    return view.processed > 0


def batch_object(batch: Batch, view: BatchView, request_type: str) -> dict[str, Any]:
    """The batch as the gateway returns it to ``request_type`` (``batch_create``, ``batch_retrieve``,
    ``batch_list``), None fields omitted."""
    status = wire_status(batch.provider, view.status)
    stamps = {name: int(value) for name, value in view.stamps.items()}
    obj: dict[str, Any] = {
        "id": batch.id,
        "object": "batch",
        "status": status,
        "request_counts": batch_counts(batch, view),
        "created_at": stamps["created_at"],
    }
    obj.update(_PROVIDER_FIELDS[batch.provider](batch, view, status, stamps, request_type))
    extra: dict[str, Any] = {"request_type": request_type, "provider": batch.provider}
    if request_type == "batch_create":
        extra.update(original_model_requested=batch.model, resolved_model_used=batch.model)
    obj["extra_fields"] = extra
    return compact(obj)


def _openai_fields(
    batch: Batch, view: BatchView, status: str, stamps: dict[str, int], request_type: str
) -> dict[str, Any]:
    output = has_output(batch, view)
    failed = view.terminal and batch.failed_before(view.processed) > 0
    return {
        "endpoint": batch.endpoint,
        "input_file_id": batch.input_file_id,
        "completion_window": batch.completion_window,
        "metadata": listed_metadata(batch.provider, batch.metadata, batch.job_name or ""),
        **{name: value for name, value in stamps.items() if name != "created_at"},
        "expires_at": stamps["created_at"] + _window_seconds(batch.completion_window),
        "output_file_id": batch.output_file_id if output else None,
        "error_file_id": batch.error_file_id if failed else None,
        "errors": _openai_errors(batch) if status == "failed" else None,
    }


def _anthropic_fields(
    batch: Batch, view: BatchView, status: str, stamps: dict[str, int], request_type: str
) -> dict[str, Any]:
    ended = status == "ended"
    return {
        "processing_status": anthropic_processing_status(status),
        "results_url": f"https://api.anthropic.com/v1/messages/batches/{batch.id}/results" if ended else None,
        "expires_at": stamps["created_at"] + 24 * 3600,
        "completed_at": _end_stamp(stamps) if ended else None,
        "cancelling_at": stamps.get("cancelling_at"),
    }


def _bedrock_fields(
    batch: Batch, view: BatchView, status: str, stamps: dict[str, int], request_type: str
) -> dict[str, Any]:
    if request_type == "batch_list":  # the job summaries: no input/output config, no counts
        return {
            "request_counts": zero_counts(),
            "metadata": listed_metadata(batch.provider, batch.metadata, batch.job_name or ""),
            "completed_at": _end_stamp(stamps) if view.terminal else None,
        }
    fields: dict[str, Any] = {
        "input_file_id": batch.input_file_id,
        "expires_at": stamps["created_at"] + _window_seconds(batch.completion_window),
    }
    if request_type != "batch_create":
        fields.update(
            output_file_id=batch.output_file_id,
            metadata=listed_metadata(batch.provider, batch.metadata, batch.job_name or ""),
            completed_at=_end_stamp(stamps) if view.terminal else None,
        )
    return fields


def _gemini_fields(
    batch: Batch, view: BatchView, status: str, stamps: dict[str, int], request_type: str
) -> dict[str, Any]:
    fields: dict[str, Any] = {"operation_name": batch.id}
    if request_type == "batch_list":  # the list carries no batch stats
        fields["request_counts"] = zero_counts()
    elif request_type == "batch_create":
        fields.update(endpoint=batch.endpoint, input_file_id=batch.input_file_id)
    else:
        fields.update(done=view.terminal, progress=_progress(batch, view))
    return fields


def _vertex_fields(
    batch: Batch, view: BatchView, status: str, stamps: dict[str, int], request_type: str
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "display_name": batch.display_name,
        "input_file_id": batch.input_file_id,
        "output_file_id": batch.output_file_id if has_output(batch, view) else None,
        "in_progress_at": stamps.get("in_progress_at"),
        "progress": _progress(batch, view),
    }
    end = _end_stamp(stamps)
    if view.terminal and end is not None and (name := _VERTEX_END.get(status)) is not None:
        fields[name] = end
    if status == "failed":
        message = "batch prediction job failed: the emulator failed it on purpose"
        fields["errors"] = {"data": [{"code": "13", "message": message}]}
    return fields


_VERTEX_END = {"completed": "completed_at", "failed": "failed_at", "cancelled": "cancelled_at", "expired": "expired_at"}
_PROVIDER_FIELDS = {
    "openai": _openai_fields,
    "azure": _openai_fields,
    "anthropic": _anthropic_fields,
    "bedrock": _bedrock_fields,
    "gemini": _gemini_fields,
    "vertex": _vertex_fields,
}


def cancel_object(batch: Batch, view: BatchView) -> dict[str, Any]:
    """The answer of the cancel route (also on the OpenAI-SDK alias): the short cancel object."""
    status = wire_status(batch.provider, view.status)
    counts = zero_counts() if batch.provider == "gemini" else batch_counts(batch, view)
    return compact(
        {
            "id": batch.id,
            "object": "batch",
            "status": status,
            "request_counts": counts,
            "cancelling_at": None if batch.provider == "bedrock" else _int_or_none(view.stamps.get("cancelling_at")),
            "cancelled_at": _int_or_none(view.stamps.get("cancelled_at")),
            "extra_fields": {"request_type": "batch_cancel", "provider": batch.provider},
        }
    )


def file_object(stored: StoredFile, size: int, request_type: str | None = None) -> dict[str, Any]:
    """A file object; ``request_type`` set: a whole answer (with ``extra_fields``), else a list entry.

    Gemini's files API has no purpose: the gateway reports ``vision`` when it reads a file back.
    """
    purpose = stored.purpose
    if stored.provider == "gemini" and request_type != "file_upload":
        purpose = "vision"
    obj: dict[str, Any] = {
        "id": stored.id,
        "object": "file",
        "bytes": size,
        "created_at": int(stored.created_at),
        "filename": stored.filename,
        "purpose": purpose,
        "status": "processed",
    }
    if request_type is not None:
        obj["extra_fields"] = {"request_type": request_type, "provider": stored.provider}
    return obj


def _end_stamp(stamps: dict[str, int]) -> int | None:
    return next((stamps[name] for name in _END_STAMPS if name in stamps), None)


def _progress(batch: Batch, view: BatchView) -> int:
    return 100 * view.processed // batch.total if batch.total else 100


def _int_or_none(value: float | None) -> int | None:
    return None if value is None else int(value)


def _window_seconds(window: str) -> int:
    match = re.fullmatch(r"(\d+)h", window)
    return int(match.group(1)) * 3600 if match else 24 * 3600


def _openai_errors(batch: Batch) -> dict[str, Any]:
    """OpenAI's ``errors`` of a failed batch; ``param`` and ``line`` omitted when they have no value."""
    data: list[dict[str, Any]] = [
        {"code": "invalid_request", "message": f"request {batch.custom_ids[i]!r} is invalid", "line": i + 1}
        for i in batch.failed[:10]
    ] or [{"code": "batch_failed", "message": "the batch failed"}]
    return {"object": "list", "data": data}
