"""
The control plane (``/_emulator/...``, never subject to auth or faults) and its Python client.

Why one long module: the client's methods mirror the control routes one to one, each documented where a
test author reads it.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Body, Depends, HTTPException, Request
from pydantic import ValidationError

from airflow_provider_bifrost.testing.emulator.faults import FaultRule
from airflow_provider_bifrost.testing.emulator.render import batch_object
from airflow_provider_bifrost.testing.emulator.routing import CONTROL_PREFIX
from airflow_provider_bifrost.testing.emulator.state import BatchSpec, EmulatorState

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from types import TracebackType


def _state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


StateDep = Annotated[EmulatorState, Depends(_state)]
control_router = APIRouter(prefix=CONTROL_PREFIX)


@control_router.get("/health")
async def health(state: StateDep) -> dict[str, Any]:
    """Liveness."""
    return {"status": "ok", "batches": len(state.batches)}


@control_router.post("/reset")
async def reset(state: StateDep, config: Annotated[bool, Body(embed=True)] = False) -> dict[str, Any]:
    """Drop batches, files, faults and the request log (and the config if ``config`` is true)."""
    state.reset(config=config)
    return {"status": "ok"}


@control_router.get("/config")
async def get_config(state: StateDep) -> dict[str, Any]:
    """The current configuration."""
    return state.config.model_dump()


@control_router.post("/config")
async def configure(state: StateDep, changes: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    """Apply a partial configuration; answers the whole configuration."""
    try:
        return state.configure(changes).model_dump()
    except ValidationError as exc:
        raise HTTPException(422, exc.errors(include_url=False, include_context=False)) from None


@control_router.post("/batches")
async def add_batch(state: StateDep, spec: BatchSpec) -> dict[str, Any]:
    """Create a batch directly (no gateway validation, any outcome/timeline/failure count)."""
    try:
        batch = state.add_batch(spec)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    return batch_object(batch, batch.view(time.time()), "batch_retrieve")


@control_router.post("/blobs")
async def add_blob(
    state: StateDep,
    url: Annotated[str, Body(embed=True)],
    requests: Annotated[int | list[str], Body(embed=True)],
) -> dict[str, Any]:
    """Register what a storage URL holds (an Azure blob for ``input_blob``, an ``s3://`` or ``gs://``
    object for ``input_file_id``): that many requests, or the requests with these custom ids."""
    custom_ids = [f"request-{i}" for i in range(requests)] if isinstance(requests, int) else requests
    try:
        state.add_blob(url, custom_ids)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    return {"url": url, "requests": len(custom_ids)}


@control_router.get("/batches")
async def list_batches(state: StateDep) -> dict[str, Any]:
    """Every batch of every provider, oldest first, with their count."""
    now = time.time()
    data = [batch_object(batch, batch.view(now), "batch_retrieve") for batch in state.batches.values()]
    return {"object": "list", "count": len(data), "data": data}


@control_router.post("/batches/status")
async def set_status_many(
    state: StateDep,
    status: Annotated[str, Body(embed=True)],
    batch_ids: Annotated[list[str] | None, Body(embed=True)] = None,
) -> dict[str, Any]:
    """Force one status on many batches (all when ``batch_ids`` is omitted) at the same instant."""
    try:
        count = state.force_statuses(status, batch_ids, time.time())
    except KeyError as exc:
        raise HTTPException(404, f"batch not found: {exc.args[0]}") from None
    return {"status": status, "count": count}


@control_router.post("/batches/{batch_id:path}/status")
async def set_status(
    batch_id: str,
    state: StateDep,
    status: Annotated[str, Body(embed=True)],
    processed: Annotated[int | None, Body(embed=True, ge=0)] = None,
) -> dict[str, Any]:
    """Force a batch's phase from now on (any string; the id may contain ``/``), and how many requests ran."""
    batch = state.batches.get(batch_id)
    if batch is None:
        raise HTTPException(404, f"batch not found: {batch_id}")
    now = time.time()
    batch.force_status(status, now, processed)
    return batch_object(batch, batch.view(now), "batch_retrieve")


@control_router.get("/faults")
async def get_faults(state: StateDep) -> list[dict[str, Any]]:
    """The fault rules, each with its ``applied`` count."""
    return state.faults.snapshot()


@control_router.put("/faults")
async def replace_faults(state: StateDep, rules: list[FaultRule]) -> list[dict[str, Any]]:
    """Replace the fault rules."""
    state.faults.replace(rules)
    return state.faults.snapshot()


@control_router.post("/faults")
async def append_faults(state: StateDep, rules: list[FaultRule]) -> list[dict[str, Any]]:
    """Append fault rules."""
    state.faults.extend(rules)
    return state.faults.snapshot()


@control_router.delete("/faults")
async def clear_faults(state: StateDep) -> list[dict[str, Any]]:
    """Remove every fault rule."""
    state.faults.replace([])
    return []


@control_router.get("/requests")
async def get_requests(
    state: StateDep,
    path: str | None = None,
    method: str | None = None,
) -> list[dict[str, Any]]:
    """The request log (last 10,000 gateway requests), oldest first, optionally filtered."""
    try:
        pattern = re.compile(path) if path is not None else None
    except re.error as exc:
        raise HTTPException(400, f"invalid path regex: {exc}") from None
    entries = list(state.request_log)
    if pattern is not None:
        entries = [entry for entry in entries if pattern.search(entry["path"])]
    if method is not None:
        entries = [entry for entry in entries if entry["method"] == method.upper()]
    return entries


@control_router.delete("/requests")
async def clear_requests(state: StateDep) -> dict[str, Any]:
    """Empty the request log."""
    state.request_log.clear()
    return {"status": "ok"}


class EmulatorError(RuntimeError):
    """A control-plane call was refused (invalid spec, unknown batch...)."""


class EmulatorClient:
    """Drive a running emulator through its control plane (``/_emulator``).

    The same API whether the emulator runs in a thread, a subprocess or from the command line.

    :param url: the emulator's base URL, e.g. ``http://127.0.0.1:8080``; point your Bifrost
        connection at it.
    :param timeout: timeout of the control calls, in seconds.
    """

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url + CONTROL_PREFIX, timeout=timeout)

    def __repr__(self) -> str:
        return f"EmulatorClient({self.url!r})"

    def __enter__(self) -> EmulatorClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.is_error:
            call = f"{method} {CONTROL_PREFIX}{path}"
            raise EmulatorError(f"{call}: HTTP {response.status_code}: {response.text}")
        return response.json()

    def health(self) -> dict[str, Any]:
        """``{"status": "ok", "batches": N}``; raises if the emulator does not answer."""
        result: dict[str, Any] = self._call("GET", "/health")
        return result

    def reset(self, *, config: bool = False) -> None:
        """Drop batches, files, fault rules and the request log.

        :param config: also restore the default configuration.
        """
        self._call("POST", "/reset", json={"config": config})

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change emulator-wide settings; returns the whole configuration.

        :param changes: fields of :class:`~.state.EmulatorConfig`: ``basic_auth=(user, password)``,
            ``bearer_token``, ``virtual_keys={key: "ok" | "budget_exceeded" | "blocked" |
            "model_blocked" | "provider_blocked" | "rate_limited" | "request_limited" |
            "token_limited"}``, ``virtual_key_error_names`` (``virtual_key`` or ``access``),
            ``timeline=(validating, in_progress, finalizing)``, ``manual``, ``outcome``,
            ``failed_requests``, ``item_bytes``, ``cancel_delay``, ``results_page_size``,
            ``latency``, ``latency_path``, ``stream_chunk_delay``, ``seed``,
            ``decode_encoded_ids``, ``gemini_info_placeholder``, ``bedrock_role_arn``.
            docs/emulator.md describes each.
        """
        result: dict[str, Any] = self._call("POST", "/config", json=changes)
        return result

    def config(self) -> dict[str, Any]:
        """The current configuration."""
        result: dict[str, Any] = self._call("GET", "/config")
        return result

    def add_batch(
        self,
        provider: str = "openai",
        requests: int | Sequence[str] = 10,
        *,
        outcome: str | None = None,
        failed: int | None = None,
        failure_codes: Sequence[int] | None = None,
        processed: int | None = None,
        timeline: tuple[float, float, float] | None = None,
        manual: bool | None = None,
        item_bytes: int | None = None,
        metadata: Mapping[str, str] | None = None,
        model: str | None = None,
        endpoint: str | None = None,
        input_file_id: str | None = None,
        completion_window: str = "24h",
        parse_errors: Sequence[Any] | None = None,
        cursor_bug: str | None = None,
        results_page_size: int | None = None,
        seed: int | None = None,
        display_name: str | None = None,
        job_name: str | None = None,
        output_s3_uri: str | None = None,
        output_folder: str | None = None,
        input_blob: str | None = None,
        age: float | None = None,
    ) -> dict[str, Any]:
        """Create a batch directly, with its provider's id shape; returns the batch object.

        :param provider: openai, azure, anthropic, gemini, bedrock or vertex.
        :param requests: number of requests (custom ids ``request-0``...) or the custom ids.
        :param outcome: final phase (default ``completed``, which Anthropic shows as ``ended``;
            also ``failed``, ``expired``, ``cancelled``, ``partially_completed`` /
            ``PartiallyCompleted`` (Bedrock shows ``failed`` with readable results, Vertex
            ``completed``) or any string, sent as it is).
        :param failed: how many requests fail (default: all for ``outcome="failed"``, else the
            config's ``failed_requests``); ``failed=requests`` with the default outcome is an
            OpenAI batch that completed with every request failed (no ``output_file_id``).
        :param failure_codes: the HTTP status of each failed request, in turn (default: the config's).
        :param processed: how many requests ran before the outcome (default: all).
        :param timeline: ``(validating, in_progress, finalizing)`` seconds (default: the config's).
        :param manual: stay ``in_progress`` until :meth:`set_status`.
        :param item_bytes: approximate size of one result item.
        :param metadata: the batch's metadata (kept by openai/azure only; Bedrock's
            ``job_name`` entry names the job).
        :param model: the model (``provider/model`` or the bare name; default: one per provider).
        :param endpoint: e.g. ``/v1/embeddings`` (default ``/v1/chat/completions``, anthropic
            ``/v1/messages``).
        :param input_file_id: the input file's id (default: one the gateway would have made).
        :param completion_window: e.g. ``24h``.
        :param parse_errors: listed in the results' ``extra_fields.parse_errors``.
        :param cursor_bug: ``repeat`` or ``missing``: paged results misbehave.
        :param results_page_size: page this batch's results.
        :param seed: seed of the result contents.
        :param display_name: the job's display name (Vertex lists it).
        :param job_name: Bedrock's job name (listed back in ``metadata``).
        :param output_s3_uri: Bedrock's output prefix (its ``output_file_id``).
        :param output_folder: Vertex's ``gs://`` output prefix.
        :param input_blob: Azure's input blob URL.
        :param age: seconds ago the batch was created (default: now).
        """
        spec: dict[str, Any] = {
            "provider": provider,
            "requests": requests if isinstance(requests, int) else list(requests),
            "outcome": outcome,
            "failed": failed,
            "failure_codes": list(failure_codes) if failure_codes is not None else None,
            "processed": processed,
            "timeline": timeline,
            "manual": manual,
            "item_bytes": item_bytes,
            "metadata": dict(metadata) if metadata is not None else None,
            "model": model,
            "endpoint": endpoint,
            "input_file_id": input_file_id,
            "completion_window": completion_window,
            "parse_errors": list(parse_errors) if parse_errors is not None else None,
            "cursor_bug": cursor_bug,
            "results_page_size": results_page_size,
            "seed": seed,
            "display_name": display_name,
            "job_name": job_name,
            "output_s3_uri": output_s3_uri,
            "output_folder": output_folder,
            "input_blob": input_blob,
            "age": age,
        }
        payload = {k: v for k, v in spec.items() if v is not None}
        result: dict[str, Any] = self._call("POST", "/batches", json=payload)
        return result

    def add_blob(self, url: str, requests: int | Sequence[str] = 10) -> None:
        """Register what a storage URL holds, so a create request can name it.

        An Azure blob URL is an ``input_blob``; an ``s3://`` or ``gs://`` URL an ``input_file_id``
        of Bedrock or Vertex. Unregistered, the provider answers as for a missing object.

        :param url: the storage URL.
        :param requests: number of requests (custom ids ``request-0``...) or the custom ids.
        """
        self._call(
            "POST", "/blobs", json={"url": url, "requests": requests if isinstance(requests, int) else list(requests)}
        )

    def set_status(self, batch_id: str, status: str, *, processed: int | None = None) -> dict[str, Any]:
        """Force a batch's phase now (e.g. ``completed``, ``cancelled``, ``paused``); returns the batch.

        The provider shows it as it would (``completed`` is Anthropic's ``ended``); a string that
        is not a phase is sent as it is. Final phases ``completed``/``ended``/``failed``/``expired``/
        ``partially_completed`` mark the batch's requests processed; others keep the progress it had.
        ``processed`` says how many requests ran instead (e.g. a batch that expired half-way: the
        others expired or have no result, as the provider shows it).
        """
        path = f"/batches/{quote(batch_id, safe='')}/status"
        body: dict[str, Any] = {"status": status} | ({"processed": processed} if processed is not None else {})
        result: dict[str, Any] = self._call("POST", path, json=body)
        return result

    def set_status_many(self, status: str, batch_ids: Sequence[str] | None = None) -> int:
        """Force one status on many batches at the same instant; returns how many were changed.

        Unlike one :meth:`set_status` call per batch, every batch turns at once: no poller can see
        some of them changed and others not. Unknown ids raise :class:`EmulatorError` (HTTP 404)
        and change nothing.

        :param status: any status string, as for :meth:`set_status`.
        :param batch_ids: the batches (None: every batch of every provider).
        """
        payload: dict[str, Any] = {"status": status}
        if batch_ids is not None:
            payload["batch_ids"] = list(batch_ids)
        count: int = self._call("POST", "/batches/status", json=payload)["count"]
        return count

    def batches(self) -> list[dict[str, Any]]:
        """Every batch of every provider, oldest first."""
        result: list[dict[str, Any]] = self._call("GET", "/batches")["data"]
        return result

    def add_fault(
        self,
        action: str,
        *,
        method: str | None = None,
        path: str | None = None,
        query: str | None = None,
        status: int | None = None,
        retry_after: str | None = None,
        message: str | None = None,
        seconds: float | None = None,
        bytes: int | None = None,
        body: str | None = None,
        content_type: str | None = None,
        times: int | None = None,
        probability: float | None = None,
    ) -> list[dict[str, Any]]:
        """Append one fault rule (see :class:`~.faults.FaultRule`); returns every rule.

        :param action: ``status``, ``html``, ``empty``, ``delay``, ``drop``, ``truncate``,
            ``lose_response`` or ``body`` (answer ``status`` with ``body`` as ``content_type``).
        """
        rule = {
            "action": action,
            "method": method,
            "path": path,
            "query": query,
            "status": status,
            "retry_after": retry_after,
            "message": message,
            "seconds": seconds,
            "bytes": bytes,
            "body": body,
            "content_type": content_type,
            "times": times,
            "probability": probability,
        }
        return self._faults("POST", [{k: v for k, v in rule.items() if v is not None}])

    def set_faults(self, rules: Sequence[FaultRule | Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Replace every fault rule; returns them."""
        payload = [_rule_payload(rule) for rule in rules]
        return self._faults("PUT", payload)

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self._faults("DELETE", None)

    def faults(self) -> list[dict[str, Any]]:
        """The fault rules, each with its ``applied`` count."""
        return self._faults("GET", None)

    def _faults(self, method: str, payload: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call(method, "/faults", json=payload)
        return result

    def requests(self, path_regex: str | None = None, *, method: str | None = None) -> list[dict[str, Any]]:
        """Logged gateway requests, oldest first: ``method``, ``path``, ``query``, ``headers``,
        ``status`` (None if no response was sent), ``fault`` (the action applied, or None), ``time``.

        :param path_regex: keep requests whose path this regex matches (searched).
        :param method: keep requests with this method.
        """
        params = {k: v for k, v in {"path": path_regex, "method": method}.items() if v is not None}
        result: list[dict[str, Any]] = self._call("GET", "/requests", params=params)
        return result

    def clear_requests(self) -> None:
        """Empty the request log."""
        self._call("DELETE", "/requests")


def _rule_payload(rule: FaultRule | Mapping[str, Any]) -> dict[str, Any]:
    return rule.model_dump(exclude_defaults=True) if isinstance(rule, FaultRule) else dict(rule)
