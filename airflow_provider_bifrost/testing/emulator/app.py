"""The emulated gateway: batch and file routes under ``/v1`` and their OpenAI-SDK aliases.

Ids arrive as one percent-encoded path segment each (see :mod:`.routing`); each route reads its
``provider`` the way the gateway does (query ``provider``; ``x-model-provider`` for the file list;
the body's ``provider`` on the OpenAI-SDK aliases, as sent with ``extra_body``).

Why one long module: the emulated gateway's routes are one surface, each route a small function beside its
OpenAI-SDK alias; the per-provider rules (:mod:`.providers`), the state, the rendering and the faults live in
their own modules.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import secrets
import shutil
import time
from dataclasses import replace
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
    handle_gateway_error,
    handle_validation_error,
    operation_error,
    request_error,
    unsupported_operation,
    upstream_error,
)
from airflow_provider_bifrost.testing.emulator.providers import (
    BATCH_PROVIDERS,
    ENDPOINTS,
    OPENAI_STYLE,
    PROVIDERS,
    create_error,
    gemini_state,
    vertex_state,
    wire_status,
)
from airflow_provider_bifrost.testing.emulator.render import (
    batch_object,
    cancel_object,
    file_object,
    has_output,
)
from airflow_provider_bifrost.testing.emulator.results import BatchContent
from airflow_provider_bifrost.testing.emulator.routing import EncodedIdRouting, path_id
from airflow_provider_bifrost.testing.emulator.state import BatchSpec, EmulatorState, StoredFile

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Iterator
    from pathlib import Path
    from typing import IO

    from airflow_provider_bifrost.testing.emulator.state import Batch, BatchView

_gateway = APIRouter(dependencies=[Depends(check_auth)])
#: Create keys the gateway reads itself; any other key is passed to the provider.
_KNOWN_CREATE_KEYS = frozenset(
    {
        "model",
        "input_file_id",
        "requests",
        "input_blob",
        "endpoint",
        "completion_window",
        "metadata",
        "output_folder",
        "display_name",
    }
)
#: Providers whose batch list ignores the cursor: page 1 comes back again.
_LIST_CURSOR_IGNORED = frozenset({"anthropic", "gemini", "bedrock"})


def create_app(state: EmulatorState) -> FastAPI:
    """The emulator's FastAPI application: gateway routes and the ``/_emulator`` control plane.

    Faults and the request log live in :class:`~.middleware.FaultMiddleware`, which must wrap this
    app outermost (``run_emulator`` and the CLI do).

    :param state: the store the routes read and write.
    """
    app = FastAPI(title="Bifrost emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.emulator = state
    app.add_exception_handler(GatewayError, handle_gateway_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_middleware(EncodedIdRouting, decode_slash=lambda: state.config.decode_encoded_ids)
    app.include_router(_gateway)
    app.include_router(control_router)
    return app


def _check_provider(
    state: EmulatorState, provider: str | None, request_type: str, where: str = "the provider query parameter"
) -> str:
    """The provider a request names, a custom provider of the config as the provider it is built on."""
    if not provider:
        raise request_error(f"provider is required: pass it as {where}", request_type=request_type)
    provider = state.config.custom_providers.get(provider, provider)
    if provider not in PROVIDERS:
        raise request_error(f"invalid provider: {provider}", request_type=request_type)
    if provider not in BATCH_PROVIDERS:
        raise unsupported_operation(provider, request_type)
    return provider


def _find_batch(state: EmulatorState, batch_id: str, provider: str, request_type: str) -> Batch:
    batch = state.find_batch(batch_id, provider)
    if batch is None:
        raise upstream_error(404, f"batch not found: {batch_id}", provider=provider, request_type=request_type)
    return batch


def _find_file(state: EmulatorState, file_id: str, provider: str, request_type: str) -> StoredFile:
    stored = state.find_file(file_id, provider, time.time())
    if stored is None:
        raise upstream_error(404, f"file not found: {file_id}", provider=provider, request_type=request_type)
    return stored


def _check_limit(limit: int, maximum: int, request_type: str) -> None:
    if not 1 <= limit <= maximum:
        raise request_error(f"limit must be between 1 and {maximum}", request_type=request_type)


async def _chunks(chunks: Iterator[bytes], delay: float = 0.0) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
        await asyncio.sleep(delay)  # also a cancellation point: a client that hangs up stops the stream


def _alias_provider(request: Request, body_provider: Any = None) -> str:
    """The provider of an OpenAI-SDK alias request: the body's (``extra_body``), the query's
    (``extra_query``) or ``x-model-provider``; default openai."""
    provider = body_provider or request.query_params.get("provider") or request.headers.get("x-model-provider")
    return provider if isinstance(provider, str) and provider else "openai"


# --- batches: create -------------------------------------------------------------------------


@_gateway.post("/v1/batches")
async def create_batch(request: Request, state: StateDep) -> dict[str, Any]:
    """Create a batch; the provider comes from ``model`` (``provider/model``), else from
    ``?provider=`` or the ``x-model-provider`` header (gateways from mid-2026).

    Inputs: exactly one of ``input_file_id``, inline ``requests`` (``{custom_id, method, url, body}``
    or ``{custom_id, params}``) and ``input_blob`` (an Azure blob URL).
    """
    body = await _json_object(request)
    fallback = request.query_params.get("provider") or request.headers.get("x-model-provider")
    return _create_batch(state, body, fallback, alias=False)


@_gateway.post("/openai/v1/batches")
async def openai_create_batch(request: Request, state: StateDep) -> dict[str, Any]:
    """OpenAI-SDK alias of batch creation: the provider is the body's ``provider`` (sent with
    ``extra_body={"provider": ...}``), default openai; ``model`` is optional."""
    body = await _json_object(request)
    return _create_batch(state, body, _alias_provider(request, body.get("provider")), alias=True)


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise request_error("Invalid request format: invalid JSON body", request_type="batch_create") from None
    if not isinstance(body, dict):
        raise request_error("Invalid request format: the body must be a JSON object", request_type="batch_create")
    return body


def _resolve_model(
    state: EmulatorState, body: dict[str, Any], fallback: str | None, request_type: str
) -> tuple[str, str | None]:
    """``(provider, model name)`` of a create request."""
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise request_error("Invalid request format: model must be a string", request_type=request_type)
    prefix, _, name = (model or "").partition("/")
    if name and (prefix in PROVIDERS or prefix in state.config.custom_providers):
        return _check_provider(state, prefix, request_type), name
    if fallback:
        return _check_provider(state, fallback, request_type), model or None
    if model and not name:
        raise request_error(
            "model should be in provider/model format (e.g. openai/gpt-4o-mini) or provider must be specified",
            request_type=request_type,
        )
    if model:
        return _check_provider(state, prefix, request_type), name
    raise request_error(
        "model is required (as provider/model), or the provider query parameter or x-model-provider header",
        request_type=request_type,
    )


def _create_batch(state: EmulatorState, body: dict[str, Any], fallback: str | None, *, alias: bool) -> dict[str, Any]:
    request_type = "batch_create"
    provider, model = _resolve_model(state, body, fallback, request_type)

    def invalid(message: str) -> GatewayError:
        return request_error(message, request_type=request_type, provider=provider)

    inputs = [key for key in ("input_file_id", "requests", "input_blob") if body.get(key) not in (None, "", [])]
    if len(inputs) > 1:
        raise invalid(f"{' and '.join(inputs)} are exclusive: send exactly one of them, not both")
    if not inputs:
        raise invalid("exactly one of input_file_id, requests, input_blob is required")
    endpoint = body.get("endpoint")
    window = body.get("completion_window") or "24h"
    metadata = body.get("metadata")
    display_name = body.get("display_name")
    output_folder = body.get("output_folder")
    if endpoint is not None and endpoint not in ENDPOINTS:
        raise invalid(f"endpoint must be one of {', '.join(ENDPOINTS)}")
    if not isinstance(window, str):
        raise invalid("Invalid request format: completion_window must be a string")
    valid_metadata = isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())
    if metadata is not None and not valid_metadata:
        raise invalid("Invalid request format: metadata must map strings to strings")
    if display_name is not None and not isinstance(display_name, str):
        raise invalid("Invalid request format: display_name must be a string")
    folder_url = output_folder.get("url") if isinstance(output_folder, dict) else None
    if output_folder is not None and not isinstance(folder_url, str):
        raise invalid('Invalid request format: output_folder must be {"url": "..."}')
    inline_ids = _inline_custom_ids(body["requests"], invalid) if inputs[0] == "requests" else None
    extra = {k: v for k, v in body.items() if k not in _KNOWN_CREATE_KEYS and not (alias and k == "provider")}
    role_arn, output_s3_uri = _str_param(extra, "role_arn"), _str_param(extra, "output_s3_uri")
    refusal = create_error(
        provider,
        has_requests=inline_ids is not None,
        has_blob=inputs[0] == "input_blob",
        endpoint=endpoint,
        model=model,
        role_arn=role_arn or (state.config.bedrock_role_arn if provider == "bedrock" else None),
        output_s3_uri=output_s3_uri,
        output_folder=folder_url,
    )
    if refusal is not None:
        raise operation_error(refusal, provider=provider, request_type=request_type, model=model)
    input_file_id, input_blob = None, body.get("input_blob")
    if inline_ids is not None:
        custom_ids = inline_ids
    elif inputs[0] == "input_file_id":
        input_file_id, custom_ids = _file_input(state, str(body["input_file_id"]), provider, model)
    else:
        custom_ids = _blob_custom_ids(state, str(input_blob), provider, model)
    try:
        batch = state.add_batch(
            BatchSpec(
                provider=provider,
                requests=custom_ids,
                model=model,
                endpoint=endpoint,
                input_file_id=input_file_id,
                completion_window=window,
                metadata=metadata,
                display_name=display_name,
                job_name=_str_param(extra, "job_name"),
                output_s3_uri=output_s3_uri,
                output_folder=folder_url,
                input_blob=input_blob,
                extra_params=extra,
            )
        )
    except ValueError as exc:
        raise invalid(str(exc)) from None
    return batch_object(batch, batch.view(time.time()), request_type)


def _str_param(params: dict[str, Any], key: str) -> str | None:
    """A string extra parameter (the provider ignores one of another type)."""
    value = params.get(key)
    return value if isinstance(value, str) else None


def _file_input(state: EmulatorState, file_id: str, provider: str, model: str | None) -> tuple[str, list[str]]:
    """The input file's id (a bare Gemini id made whole) and the custom ids of its requests."""
    if file_id in state.blobs:  # an s3:// or gs:// object registered with add_blob
        return file_id, list(state.blobs[file_id])
    stored = state.find_file(file_id, provider, time.time())
    if stored is None:
        message = f"file not found: {file_id}"
        raise upstream_error(404, message, provider=provider, request_type="batch_create", model=model)
    if stored.kind == "input":
        return stored.id, list(state.batches[stored.batch_id or ""].custom_ids)
    if not stored.custom_ids:
        message = f"file {file_id} is not a batch input file (purpose must be batch)"
        raise request_error(message, request_type="batch_create", provider=provider)
    return stored.id, stored.custom_ids


def _blob_custom_ids(state: EmulatorState, url: str, provider: str, model: str | None) -> list[str]:
    custom_ids = state.blobs.get(url)
    if custom_ids is None:  # Azure validates the input when the batch is created
        raise upstream_error(
            400,
            f"The specified blob does not exist: {url}",
            provider=provider,
            request_type="batch_create",
            error_type="invalid_request_error",
            model=model,
        )
    return list(custom_ids)


def _inline_custom_ids(requests: Any, invalid: Any) -> list[str]:
    if not isinstance(requests, list):
        raise invalid("Invalid request format: requests must be a list")
    custom_ids = []
    for number, item in enumerate(requests):
        if not isinstance(item, dict):
            raise invalid(f"requests[{number}] must be an object")
        custom_id = item.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            raise invalid(f"requests[{number}]: custom_id is required")
        if not isinstance(item.get("body", item.get("params")), dict):
            raise invalid(f"requests[{number}]: body (or params) is required")
        custom_ids.append(custom_id)
    return custom_ids


def _custom_ids_from_lines(lines: Iterable[str | bytes]) -> list[str]:
    """The ``custom_id`` (or Gemini's ``key``, Bedrock's ``recordId``) of every non-blank JSONL line.

    :raises ValueError: a line is not a JSON object with a non-empty id (with its number).
    """
    custom_ids = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            raise ValueError(f"line {number}: invalid JSON") from None
        custom_id = None
        if isinstance(obj, dict):
            custom_id = obj.get("custom_id") or obj.get("key") or obj.get("recordId")
        if not isinstance(custom_id, str) or not custom_id:
            raise ValueError(f"line {number}: custom_id is required")
        custom_ids.append(custom_id)
    return custom_ids


# --- batches: list, retrieve, cancel ---------------------------------------------------------


@_gateway.get("/v1/batches")
async def list_batches(
    state: StateDep, provider: str | None = None, limit: int = 20, after: str | None = None
) -> dict[str, Any]:
    """List a provider's batches, newest first; pass ``next_cursor`` back as ``after``."""
    return _list_batches(state, _check_provider(state, provider, "batch_list"), limit, after)


@_gateway.get("/openai/v1/batches")
async def openai_list_batches(
    request: Request, state: StateDep, limit: int = 20, after: str | None = None
) -> dict[str, Any]:
    """OpenAI-SDK alias of the batch list, in OpenAI's list shape (``first_id``/``last_id``: the
    SDK pages with ``after=<last id>``)."""
    provider = _check_provider(state, _alias_provider(request), "batch_list")
    page = _list_batches(state, provider, limit, after)
    if page["data"]:
        page.update(first_id=page["data"][0]["id"], last_id=page["data"][-1]["id"])
    return page


def _list_batches(state: EmulatorState, provider: str, limit: int, after: str | None) -> dict[str, Any]:
    request_type = "batch_list"
    _check_limit(limit, 100, request_type)
    batches = [batch for batch in reversed(state.batches.values()) if batch.provider == provider]
    start = 0
    if after is not None and provider not in _LIST_CURSOR_IGNORED:
        last_id = _decode_cursor(after)
        ids = [batch.id for batch in batches]
        if last_id not in ids:
            raise operation_error("invalid pagination cursor", provider=provider, request_type=request_type)
        start = ids.index(last_id) + 1
    page = batches[start : start + limit]
    has_more = start + limit < len(batches)
    now = time.time()
    result: dict[str, Any] = {
        "object": "list",
        "data": [batch_object(batch, batch.view(now), request_type) for batch in page],
        "has_more": has_more,
        "extra_fields": {"request_type": request_type, "provider": provider},
    }
    if has_more:
        result["next_cursor"] = _encode_cursor(page[-1].id)
    return result


def _encode_cursor(batch_id: str) -> str:
    """An opaque cursor (the gateway's serial list helper: key index and the provider's cursor)."""
    return base64.urlsafe_b64encode(f"0:{batch_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    """The batch id a cursor continues after; a bare batch id is taken as it is."""
    try:
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return cursor
    key, sep, batch_id = decoded.partition(":")
    return batch_id if sep and key.isdigit() else cursor


@_gateway.get("/v1/batches/{batch_id}")
async def retrieve_batch(batch_id: str, state: StateDep, provider: str | None = None) -> dict[str, Any]:
    """One batch, its status computed now."""
    return _retrieve_batch(state, path_id(batch_id), _check_provider(state, provider, "batch_retrieve"))


@_gateway.get("/openai/v1/batches/{batch_id}")
async def openai_retrieve_batch(batch_id: str, request: Request, state: StateDep) -> dict[str, Any]:
    """OpenAI-SDK alias of batch retrieval."""
    return _retrieve_batch(state, path_id(batch_id), _check_provider(state, _alias_provider(request), "batch_retrieve"))


def _retrieve_batch(state: EmulatorState, batch_id: str, provider: str) -> dict[str, Any]:
    batch = _find_batch(state, batch_id, provider, "batch_retrieve")
    return batch_object(batch, batch.view(time.time()), "batch_retrieve")


@_gateway.post("/v1/batches/{batch_id}/cancel")
async def cancel_batch(batch_id: str, state: StateDep, provider: str | None = None) -> dict[str, Any]:
    """Start cancelling a batch (``cancelling``, then ``cancelled``: Anthropic ``ended``)."""
    return _cancel_batch(state, path_id(batch_id), _check_provider(state, provider, "batch_cancel"))


@_gateway.post("/openai/v1/batches/{batch_id}/cancel")
async def openai_cancel_batch(batch_id: str, request: Request, state: StateDep) -> dict[str, Any]:
    """OpenAI-SDK alias of batch cancellation (the same short cancel object)."""
    return _cancel_batch(state, path_id(batch_id), _check_provider(state, _alias_provider(request), "batch_cancel"))


def _cancel_batch(state: EmulatorState, batch_id: str, provider: str) -> dict[str, Any]:
    request_type = "batch_cancel"
    batch = _find_batch(state, batch_id, provider, request_type)
    now = time.time()
    view = batch.view(now)
    if view.terminal:  # the provider refuses: an error status, not necessarily 409
        status = wire_status(provider, view.status)
        message = f"cannot cancel a batch with status {status}"
        raise upstream_error(400, message, provider=provider, request_type=request_type, error_type="invalid_request")
    if view.status != "cancelling":
        view = batch.cancel(now, state.config.cancel_delay)
    return cancel_object(batch, view)


# --- batches: results ------------------------------------------------------------------------


@_gateway.get("/v1/batches/{batch_id}/results")
async def batch_results(
    batch_id: str, state: StateDep, provider: str | None = None, after: str | None = None
) -> Response:
    """The results document, streamed (one page of it in paged mode); per provider, what
    ``/results`` answers while nothing is ready differs (see :func:`_results_view`)."""
    request_type = "batch_results"
    provider = _check_provider(state, provider, request_type)
    batch = _find_batch(state, path_id(batch_id), provider, request_type)
    view = _results_view(batch, batch.view(time.time()))
    page_size = batch.results_page_size or state.config.results_page_size
    placeholder = (
        provider == "gemini"
        and state.config.gemini_info_placeholder
        and gemini_state(view.status) in ("BATCH_STATE_SUCCEEDED", "BATCH_STATE_FAILED")
    )
    try:
        chunks = BatchContent(batch, view).results(after, page_size, info_placeholder=placeholder)
    except ValueError as exc:
        raise request_error(str(exc), provider=provider, request_type=request_type) from None
    return StreamingResponse(_chunks(chunks, state.config.stream_chunk_delay), media_type="application/json")


def _results_view(batch: Batch, view: BatchView) -> BatchView:
    """The view the results are read from, or the error the gateway answers while nothing is ready.

    OpenAI/Azure: 500 while ``output_file_id`` is empty (not finished, or every request failed).
    Anthropic: the provider's error before ``ended``. Bedrock: 200 with no items before the job
    ends. Gemini: 500 while pending or running. Vertex: 500 until the job's output exists.
    """
    provider, request_type = batch.provider, "batch_results"
    if provider in OPENAI_STYLE and not has_output(batch, view):
        message = "batch results not available: output_file_id is empty"
        raise operation_error(message, provider=provider, request_type=request_type)
    if provider == "anthropic" and wire_status(provider, view.status) != "ended":
        message = f"batch {batch.id} has not ended yet: results are available once processing_status is ended"
        raise upstream_error(
            400, message, provider=provider, request_type=request_type, error_type="invalid_request_error"
        )
    if provider == "gemini" and view.status in ("validating", "in_progress", "finalizing"):
        state = gemini_state(view.status)
        message = f"batch {batch.id} is still processing (state: {state}), results not yet available"
        raise operation_error(message, provider=provider, request_type=request_type)
    if provider == "vertex" and not has_output(batch, view):
        message = f"batch results not available: the job has no output yet (state: {vertex_state(view.status)})"
        raise operation_error(message, provider=provider, request_type=request_type)
    if not view.terminal:  # Bedrock's output prefix (and Gemini's dest) are still empty
        return replace(view, processed=0)
    return view


# --- files -----------------------------------------------------------------------------------


@_gateway.post("/v1/files")
async def upload_file(request: Request, state: StateDep, provider: str | None = None) -> dict[str, Any]:
    """Upload a file (multipart ``file`` + ``purpose``); provider from the query,
    ``x-model-provider``, or a ``provider`` form field (``extra_body``)."""
    return await _upload_file(request, state, provider or request.headers.get("x-model-provider"), None)


@_gateway.post("/openai/v1/files")
async def openai_upload_file(request: Request, state: StateDep) -> dict[str, Any]:
    """OpenAI-SDK alias of the upload (provider: a ``provider`` form field, default openai)."""
    return await _upload_file(request, state, None, _alias_provider(request))


async def _upload_file(
    request: Request, state: EmulatorState, provider: str | None, default: str | None
) -> dict[str, Any]:
    request_type = "file_upload"
    async with request.form() as form:
        form_provider = form.get("provider")
        provider = provider or (form_provider if isinstance(form_provider, str) else None) or default
        provider = _check_provider(
            state, provider, request_type, "the provider query parameter or x-model-provider header"
        )
        upload, purpose = form.get("file"), form.get("purpose")
        if not isinstance(purpose, str) or not purpose:
            raise request_error("purpose is required", provider=provider, request_type=request_type)
        if not isinstance(upload, UploadFile):
            raise request_error("file is required", provider=provider, request_type=request_type)
        file_id = state.new_file_id(provider)
        path = state.file_dir / secrets.token_hex(12)
        is_batch = purpose == "batch"
        try:
            size, custom_ids = await anyio.to_thread.run_sync(_store_upload, upload.file, path, is_batch)
        except ValueError as exc:
            path.unlink(missing_ok=True)
            raise request_error(str(exc), provider=provider, request_type=request_type) from None
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
    return file_object(stored, size, request_type)


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
    provider = _check_provider(state, provider, "file_list", "the x-model-provider query parameter or header")
    return _list_files(state, provider, purpose, limit, after, order)


@_gateway.get("/openai/v1/files")
async def openai_list_files(
    request: Request,
    state: StateDep,
    purpose: str | None = None,
    limit: int = 20,
    after: str | None = None,
    order: str = "desc",
) -> dict[str, Any]:
    """OpenAI-SDK alias of the file list."""
    provider = _check_provider(state, _alias_provider(request), "file_list")
    return _list_files(state, provider, purpose, limit, after, order)


def _list_files(
    state: EmulatorState, provider: str, purpose: str | None, limit: int, after: str | None, order: str
) -> dict[str, Any]:
    request_type = "file_list"
    _check_limit(limit, 10_000, request_type)
    if order not in ("asc", "desc"):
        raise request_error("order must be asc or desc", provider=provider, request_type=request_type)
    now = time.time()
    files = [
        stored
        for stored in state.files.values()
        if (purpose is None or stored.purpose == purpose) and state.find_file(stored.id, provider, now)
    ]
    if order == "desc":
        files.reverse()
    start = 0
    if after is not None:
        ids = [stored.id for stored in files]
        if after not in ids:
            raise request_error(f"invalid cursor: {after}", provider=provider, request_type=request_type)
        start = ids.index(after) + 1
    page = files[start : start + limit]
    has_more = start + limit < len(files)
    result: dict[str, Any] = {
        "object": "list",
        "data": [file_object(stored, _file_size(state, stored, now)) for stored in page],
        "has_more": has_more,
        "extra_fields": {"request_type": request_type, "provider": provider},
    }
    if has_more:
        result["after"] = page[-1].id
    return result


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
    return _retrieve_file(state, path_id(file_id), _check_provider(state, provider, "file_retrieve"))


@_gateway.get("/openai/v1/files/{file_id}")
async def openai_retrieve_file(file_id: str, request: Request, state: StateDep) -> dict[str, Any]:
    """OpenAI-SDK alias of file retrieval."""
    return _retrieve_file(state, path_id(file_id), _check_provider(state, _alias_provider(request), "file_retrieve"))


def _retrieve_file(state: EmulatorState, file_id: str, provider: str) -> dict[str, Any]:
    now = time.time()
    stored = _find_file(state, file_id, provider, "file_retrieve")
    return file_object(stored, _file_size(state, stored, now), "file_retrieve")


@_gateway.delete("/v1/files/{file_id}")
async def delete_file(file_id: str, state: StateDep, provider: str | None = None) -> dict[str, Any]:
    """Delete a file."""
    return _delete_file(state, path_id(file_id), _check_provider(state, provider, "file_delete"))


@_gateway.delete("/openai/v1/files/{file_id}")
async def openai_delete_file(file_id: str, request: Request, state: StateDep) -> dict[str, Any]:
    """OpenAI-SDK alias of file deletion."""
    return _delete_file(state, path_id(file_id), _check_provider(state, _alias_provider(request), "file_delete"))


def _delete_file(state: EmulatorState, file_id: str, provider: str) -> dict[str, Any]:
    request_type = "file_delete"
    stored = _find_file(state, file_id, provider, request_type)
    del state.files[stored.id]
    if stored.path is not None:
        stored.path.unlink(missing_ok=True)
    extra = {"request_type": request_type, "provider": provider}
    return {"id": stored.id, "object": "file", "deleted": True, "extra_fields": extra}


@_gateway.get("/v1/files/{file_id}/content")
async def file_content(file_id: str, state: StateDep, provider: str | None = None) -> Response:
    """A file's raw bytes, streamed (Gemini: 500, its files API has no download)."""
    return _file_content(state, path_id(file_id), _check_provider(state, provider, "file_content"))


@_gateway.get("/openai/v1/files/{file_id}/content")
async def openai_file_content(file_id: str, request: Request, state: StateDep) -> Response:
    """OpenAI-SDK alias of the file content."""
    return _file_content(state, path_id(file_id), _check_provider(state, _alias_provider(request), "file_content"))


def _file_content(state: EmulatorState, file_id: str, provider: str) -> Response:
    request_type = "file_content"
    if provider == "gemini":
        message = "Gemini Files API doesn't support direct content download. Use the file URI in your requests instead."
        raise operation_error(message, provider=provider, request_type=request_type)
    stored = _find_file(state, file_id, provider, request_type)
    if stored.path is not None:
        return FileResponse(stored.path, media_type="application/octet-stream")
    chunks = _generated_content(state, stored, time.time())
    return StreamingResponse(_chunks(chunks, state.config.stream_chunk_delay), media_type="application/octet-stream")
