"""The emulated gateway: batch and file routes under ``/v1`` and their OpenAI-SDK aliases.

Why one long module: the emulated gateway's routes are one surface, each route a small function beside
its OpenAI-SDK alias; the state, the rendering and the faults live in their own modules.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, StreamingResponse
from starlette.datastructures import UploadFile

from airflow_provider_bifrost.testing.emulator.auth import check_auth
from airflow_provider_bifrost.testing.emulator.control import StateDep, control_router
from airflow_provider_bifrost.testing.emulator.errors import (
    GatewayError,
    bifrost_error,
    handle_gateway_error,
    handle_validation_error,
)
from airflow_provider_bifrost.testing.emulator.render import (
    BatchContent,
    batch_object,
    cancel_object,
    file_object,
)
from airflow_provider_bifrost.testing.emulator.state import (
    BATCH_PROVIDERS,
    ENDPOINT_REQUIRED,
    ENDPOINTS,
    PROVIDERS,
    BatchSpec,
    EmulatorState,
    StoredFile,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Iterator
    from pathlib import Path
    from typing import IO

    from airflow_provider_bifrost.testing.emulator.state import Batch


_gateway = APIRouter(dependencies=[Depends(check_auth)])


def create_app(state: EmulatorState) -> FastAPI:
    """The emulator's FastAPI application: gateway routes and the ``/_emulator`` control plane.

    Faults and the request log live in :class:`~.faults.FaultMiddleware`, which must wrap this
    app outermost (``run_emulator`` and the CLI do).

    :param state: the store the routes read and write.
    """
    app = FastAPI(title="Bifrost emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.emulator = state
    app.add_exception_handler(GatewayError, handle_gateway_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.include_router(_gateway)
    app.include_router(control_router)
    return app


def _check_provider(provider: str | None, request_type: str) -> str:
    if not provider:
        raise bifrost_error(400, "provider is required", request_type=request_type)
    if provider not in PROVIDERS:
        raise bifrost_error(400, f"invalid provider: {provider}", request_type=request_type)
    if provider not in BATCH_PROVIDERS:
        raise bifrost_error(
            400,
            f"{request_type} is not supported by {provider} provider",
            error_type="unsupported_operation",
            code="unsupported_operation",
            provider=provider,
            request_type=request_type,
        )
    return provider


def _find_batch(state: EmulatorState, batch_id: str, provider: str, request_type: str) -> Batch:
    batch = state.find_batch(batch_id, provider)
    if batch is None:
        raise bifrost_error(404, f"batch not found: {batch_id}", provider=provider, request_type=request_type)
    return batch


def _find_file(state: EmulatorState, file_id: str, provider: str, request_type: str) -> StoredFile:
    stored = state.find_file(file_id, provider, time.time())
    if stored is None:
        raise bifrost_error(404, f"file not found: {file_id}", provider=provider, request_type=request_type)
    return stored


def _after_index(ids: list[str], after: str | None, request_type: str) -> int:
    if after is None:
        return 0
    try:
        return ids.index(after) + 1
    except ValueError:
        raise bifrost_error(400, f"invalid cursor: {after}", request_type=request_type) from None


def _check_limit(limit: int, maximum: int, request_type: str) -> None:
    if not 1 <= limit <= maximum:
        raise bifrost_error(400, f"limit must be between 1 and {maximum}", request_type=request_type)


async def _chunks(chunks: Iterator[bytes], delay: float = 0.0) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
        await asyncio.sleep(delay)  # also a cancellation point: a client that hangs up stops the stream


# --- batches ---------------------------------------------------------------------------------


@_gateway.post("/v1/batches")
async def create_batch(request: Request, state: StateDep) -> dict[str, Any]:
    """Create a batch; the provider comes from ``model`` (``provider/model``).

    Inputs: ``input_file_id``, inline ``requests`` (``{custom_id, method, url, body}`` or
    ``{custom_id, params}``) or ``input_blob`` (inline JSONL text, one request per line).
    """
    return _create_batch(state, await _json_object(request), None)


@_gateway.post("/openai/v1/batches")
async def openai_create_batch(request: Request, state: StateDep) -> dict[str, Any]:
    """OpenAI-SDK alias of batch creation (provider openai, ``model`` optional)."""
    return _create_batch(state, await _json_object(request), "openai")


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise bifrost_error(400, "invalid JSON body", request_type="batch_create") from None
    if not isinstance(body, dict):
        raise bifrost_error(400, "the body must be a JSON object", request_type="batch_create")
    return body


def _create_batch(state: EmulatorState, body: dict[str, Any], provider: str | None) -> dict[str, Any]:
    request_type = "batch_create"

    def invalid(message: str) -> GatewayError:
        return bifrost_error(400, message, provider=provider, request_type=request_type)

    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise invalid("model must be a string")
    if provider is None:
        if not model:
            raise invalid("model is required")
        prefix, _, name = model.partition("/")
        if not name:
            raise invalid("model must be in the form provider/model, e.g. openai/gpt-4o-mini")
        provider = _check_provider(prefix, request_type)
    input_keys = ("input_file_id", "requests", "input_blob")
    inputs = [key for key in input_keys if body.get(key) not in (None, "", [])]
    if len(inputs) != 1:
        raise invalid("exactly one of input_file_id, requests, input_blob is required")
    endpoint = body.get("endpoint")
    if endpoint is None and provider in ENDPOINT_REQUIRED:
        raise invalid(f"endpoint is required for provider {provider}")
    if endpoint is not None and endpoint not in ENDPOINTS:
        raise invalid(f"endpoint must be one of {', '.join(ENDPOINTS)}")
    window = body.get("completion_window") or "24h"
    metadata = body.get("metadata")
    if not isinstance(window, str):
        raise invalid("completion_window must be a string")
    valid_metadata = isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())
    if metadata is not None and not valid_metadata:
        raise invalid("metadata must map strings to strings")
    input_file_id = body.get("input_file_id")
    try:
        if inputs[0] == "input_file_id":
            custom_ids = _file_custom_ids(state, str(input_file_id), provider)
        elif inputs[0] == "requests":
            custom_ids = _inline_custom_ids(body["requests"])
        else:
            blob = body["input_blob"]
            custom_ids = _custom_ids_from_lines(blob.splitlines() if isinstance(blob, str) else [""])
        if not custom_ids:
            raise ValueError("the batch has no requests")
        batch = state.add_batch(
            BatchSpec(
                provider=provider,
                requests=custom_ids,
                model=model,
                endpoint=endpoint,
                input_file_id=input_file_id,
                completion_window=window,
                metadata=metadata,
            )
        )
    except ValueError as exc:
        raise invalid(str(exc)) from None
    return batch_object(batch, batch.view(time.time()), request_type)


def _file_custom_ids(state: EmulatorState, file_id: str, provider: str) -> list[str]:
    stored = _find_file(state, file_id, provider, "batch_create")
    if stored.kind == "input":
        return list(state.batches[stored.batch_id or ""].custom_ids)
    if stored.custom_ids is None:
        raise ValueError(f"file {file_id} is not a batch input file (purpose must be batch)")
    return stored.custom_ids


def _inline_custom_ids(requests: Any) -> list[str]:
    if not isinstance(requests, list):
        raise ValueError("requests must be a list")
    custom_ids = []
    for number, item in enumerate(requests):
        if not isinstance(item, dict):
            raise ValueError(f"requests[{number}] must be an object")
        custom_id = item.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            raise ValueError(f"requests[{number}]: custom_id is required")
        if not isinstance(item.get("body", item.get("params")), dict):
            raise ValueError(f"requests[{number}]: body (or params) is required")
        custom_ids.append(custom_id)
    return custom_ids


def _custom_ids_from_lines(lines: Iterable[str | bytes]) -> list[str]:
    """The ``custom_id`` of every non-blank JSONL line.

    :raises ValueError: a line is not a JSON object with a non-empty ``custom_id`` (with its number).
    """
    custom_ids = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            raise ValueError(f"line {number}: invalid JSON") from None
        custom_id = obj.get("custom_id") if isinstance(obj, dict) else None
        if not isinstance(custom_id, str) or not custom_id:
            raise ValueError(f"line {number}: custom_id is required")
        custom_ids.append(custom_id)
    return custom_ids


@_gateway.get("/v1/batches")
async def list_batches(
    state: StateDep, provider: str | None = None, limit: int = 20, after: str | None = None
) -> dict[str, Any]:
    """List a provider's batches, newest first; pass ``next_cursor`` back as ``after``."""
    return _list_batches(state, _check_provider(provider, "batch_list"), limit, after)


@_gateway.get("/openai/v1/batches")
async def openai_list_batches(state: StateDep, limit: int = 20, after: str | None = None) -> dict[str, Any]:
    """OpenAI-SDK alias of the batch list."""
    return _list_batches(state, "openai", limit, after)


def _list_batches(state: EmulatorState, provider: str, limit: int, after: str | None) -> dict[str, Any]:
    _check_limit(limit, 100, "batch_list")
    batches = [batch for batch in reversed(state.batches.values()) if batch.provider == provider]
    start = _after_index([batch.id for batch in batches], after, "batch_list")
    page = batches[start : start + limit]
    has_more = start + limit < len(batches)
    now = time.time()
    result: dict[str, Any] = {
        "object": "list",
        "data": [batch_object(batch, batch.view(now), "batch_list") for batch in page],
        "has_more": has_more,
    }
    if page:
        result.update(first_id=page[0].id, last_id=page[-1].id)
        if has_more:
            result["next_cursor"] = page[-1].id
    return result


@_gateway.get("/v1/batches/{batch_id}")
async def retrieve_batch(batch_id: str, state: StateDep, provider: str | None = None) -> dict[str, Any]:
    """One batch, its status computed now."""
    return _retrieve_batch(state, batch_id, _check_provider(provider, "batch_retrieve"))


@_gateway.get("/openai/v1/batches/{batch_id}")
async def openai_retrieve_batch(batch_id: str, state: StateDep) -> dict[str, Any]:
    """OpenAI-SDK alias of batch retrieval."""
    return _retrieve_batch(state, batch_id, "openai")


def _retrieve_batch(state: EmulatorState, batch_id: str, provider: str) -> dict[str, Any]:
    batch = _find_batch(state, batch_id, provider, "batch_retrieve")
    return batch_object(batch, batch.view(time.time()), "batch_retrieve")


@_gateway.post("/v1/batches/{batch_id}/cancel")
async def cancel_batch(batch_id: str, state: StateDep, provider: str | None = None) -> dict[str, Any]:
    """Start cancelling a batch (``cancelling``, then ``cancelled``)."""
    return _cancel_batch(state, batch_id, _check_provider(provider, "batch_cancel"))


@_gateway.post("/openai/v1/batches/{batch_id}/cancel")
async def openai_cancel_batch(batch_id: str, state: StateDep) -> dict[str, Any]:
    """OpenAI-SDK alias of batch cancellation."""
    return _cancel_batch(state, batch_id, "openai")


def _cancel_batch(state: EmulatorState, batch_id: str, provider: str) -> dict[str, Any]:
    batch = _find_batch(state, batch_id, provider, "batch_cancel")
    now = time.time()
    view = batch.view(now)
    if view.terminal:
        raise bifrost_error(
            400,
            f"cannot cancel a batch with status {view.status}",
            provider=provider,
            request_type="batch_cancel",
        )
    if view.status != "cancelling":
        view = batch.cancel(now, state.config.cancel_delay)
    return cancel_object(batch, view)


@_gateway.get("/v1/batches/{batch_id}/results")
async def batch_results(
    batch_id: str, state: StateDep, provider: str | None = None, after: str | None = None
) -> Response:
    """The results document, streamed (one page of it in paged mode)."""
    request_type = "batch_results"
    provider = _check_provider(provider, request_type)
    batch = _find_batch(state, batch_id, provider, request_type)
    view = batch.view(time.time())
    if not view.terminal:
        raise bifrost_error(
            500,
            f"batch is not yet completed (status: {view.status})",
            provider=provider,
            request_type=request_type,
        )
    page_size = batch.results_page_size or state.config.results_page_size
    try:
        chunks = BatchContent(batch, view).results(after, page_size)
    except ValueError as exc:
        raise bifrost_error(400, str(exc), provider=provider, request_type=request_type) from None
    return StreamingResponse(_chunks(chunks, state.config.stream_chunk_delay), media_type="application/json")


# --- files -----------------------------------------------------------------------------------


@_gateway.post("/v1/files")
async def upload_file(request: Request, state: StateDep, provider: str | None = None) -> dict[str, Any]:
    """Upload a file (multipart ``file`` + ``purpose``); provider from the query or ``x-model-provider``."""
    return await _upload_file(request, state, provider or request.headers.get("x-model-provider"))


@_gateway.post("/openai/v1/files")
async def openai_upload_file(request: Request, state: StateDep) -> dict[str, Any]:
    """OpenAI-SDK alias of the upload."""
    return await _upload_file(request, state, "openai")


async def _upload_file(request: Request, state: EmulatorState, provider: str | None) -> dict[str, Any]:
    request_type = "file_upload"
    provider = _check_provider(provider, request_type)
    async with request.form() as form:
        upload, purpose = form.get("file"), form.get("purpose")
        if not isinstance(upload, UploadFile):
            raise bifrost_error(400, "file is required", provider=provider, request_type=request_type)
        if not isinstance(purpose, str) or not purpose:
            raise bifrost_error(400, "purpose is required", provider=provider, request_type=request_type)
        file_id = state.new_id("file-")
        path = state.file_dir / file_id
        is_batch = purpose == "batch"
        try:
            size, custom_ids = await anyio.to_thread.run_sync(_store_upload, upload.file, path, is_batch)
        except ValueError as exc:
            path.unlink(missing_ok=True)
            raise bifrost_error(400, str(exc), provider=provider, request_type=request_type) from None
    stored = state.add_file(
        StoredFile(
            id=file_id,
            provider=provider,
            filename=upload.filename or "upload.jsonl",
            purpose=purpose,
            created_at=time.time(),
            path=path,
            size=size,
            custom_ids=custom_ids,
        )
    )
    return file_object(stored, size)


def _store_upload(source: IO[bytes], path: Path, validate: bool) -> tuple[int, list[str] | None]:
    """Copy an upload to ``path``; for a batch file, collect (and so check) its custom ids."""
    source.seek(0)
    custom_ids = None
    with path.open("wb") as target:
        if validate:
            custom_ids = _custom_ids_from_lines(_copied_lines(source, target))
        else:
            shutil.copyfileobj(source, target)
    return path.stat().st_size, custom_ids


def _copied_lines(source: IO[bytes], target: IO[bytes]) -> Iterator[bytes]:
    for line in source:
        target.write(line)
        yield line


@_gateway.get("/v1/files")
async def list_files(
    request: Request,
    state: StateDep,
    purpose: str | None = None,
    limit: int = 20,
    after: str | None = None,
    order: str = "desc",
) -> dict[str, Any]:
    """List files; the provider comes from the ``x-model-provider`` query parameter or header."""
    provider = request.query_params.get("x-model-provider") or request.headers.get("x-model-provider")
    return _list_files(state, _check_provider(provider, "file_list"), purpose, limit, after, order)


@_gateway.get("/openai/v1/files")
async def openai_list_files(
    state: StateDep,
    purpose: str | None = None,
    limit: int = 20,
    after: str | None = None,
    order: str = "desc",
) -> dict[str, Any]:
    """OpenAI-SDK alias of the file list."""
    return _list_files(state, "openai", purpose, limit, after, order)


def _list_files(
    state: EmulatorState, provider: str, purpose: str | None, limit: int, after: str | None, order: str
) -> dict[str, Any]:
    request_type = "file_list"
    _check_limit(limit, 10_000, request_type)
    if order not in ("asc", "desc"):
        raise bifrost_error(400, "order must be asc or desc", provider=provider, request_type=request_type)
    now = time.time()
    files = [
        stored
        for stored in state.files.values()
        if (purpose is None or stored.purpose == purpose) and state.find_file(stored.id, provider, now)
    ]
    if order == "desc":
        files.reverse()
    start = _after_index([stored.id for stored in files], after, request_type)
    page = files[start : start + limit]
    return {
        "object": "list",
        "data": [file_object(stored, _file_size(state, stored, now)) for stored in page],
        "has_more": start + limit < len(files),
        "after": page[-1].id if page else None,
    }


def _file_size(state: EmulatorState, stored: StoredFile, now: float) -> int:
    if stored.kind == "upload":
        return stored.size
    return sum(len(chunk) for chunk in _generated_content(state, stored, now))


def _generated_content(state: EmulatorState, stored: StoredFile, now: float) -> Iterator[bytes]:
    batch = state.batches[stored.batch_id or ""]
    return BatchContent(batch, batch.view(now)).jsonl(stored.kind)


@_gateway.get("/v1/files/{file_id}")
async def retrieve_file(file_id: str, state: StateDep, provider: str | None = None) -> dict[str, Any]:
    """One file object."""
    return _retrieve_file(state, file_id, _check_provider(provider, "file_retrieve"))


@_gateway.get("/openai/v1/files/{file_id}")
async def openai_retrieve_file(file_id: str, state: StateDep) -> dict[str, Any]:
    """OpenAI-SDK alias of file retrieval."""
    return _retrieve_file(state, file_id, "openai")


def _retrieve_file(state: EmulatorState, file_id: str, provider: str) -> dict[str, Any]:
    now = time.time()
    stored = _find_file(state, file_id, provider, "file_retrieve")
    return file_object(stored, _file_size(state, stored, now))


@_gateway.delete("/v1/files/{file_id}")
async def delete_file(file_id: str, state: StateDep, provider: str | None = None) -> dict[str, Any]:
    """Delete a file."""
    return _delete_file(state, file_id, _check_provider(provider, "file_delete"))


@_gateway.delete("/openai/v1/files/{file_id}")
async def openai_delete_file(file_id: str, state: StateDep) -> dict[str, Any]:
    """OpenAI-SDK alias of file deletion."""
    return _delete_file(state, file_id, "openai")


def _delete_file(state: EmulatorState, file_id: str, provider: str) -> dict[str, Any]:
    stored = _find_file(state, file_id, provider, "file_delete")
    del state.files[stored.id]
    if stored.path is not None:
        stored.path.unlink(missing_ok=True)
    return {"id": stored.id, "object": "file", "deleted": True}


@_gateway.get("/v1/files/{file_id}/content")
async def file_content(file_id: str, state: StateDep, provider: str | None = None) -> Response:
    """A file's raw bytes, streamed."""
    return _file_content(state, file_id, _check_provider(provider, "file_content"))


@_gateway.get("/openai/v1/files/{file_id}/content")
async def openai_file_content(file_id: str, state: StateDep) -> Response:
    """OpenAI-SDK alias of the file content."""
    return _file_content(state, file_id, "openai")


def _file_content(state: EmulatorState, file_id: str, provider: str) -> Response:
    stored = _find_file(state, file_id, provider, "file_content")
    if stored.path is not None:
        return FileResponse(stored.path, media_type="application/octet-stream")
    chunks = _generated_content(state, stored, time.time())
    return StreamingResponse(_chunks(chunks, state.config.stream_chunk_delay), media_type="application/octet-stream")
