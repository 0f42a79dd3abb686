"""In-memory store of the emulator: configuration, batches, files, storage blobs, fault rules, request log.

A batch's status is never stored: it is computed from the clock at read time (see :meth:`Batch.view`),
so a batch moves through ``validating`` -> ``in_progress`` -> ``finalizing`` -> its outcome without
any background task. Cancelling or forcing a status freezes the view at that instant. The view holds
the batch's generic *phase*; what each provider's gateway shows for it is :mod:`.providers`' business.

Why one long module: the configuration, the batch specification and the store are read together by every
route; the per-provider rules, the rendering and the faults live in their own modules.
"""

from __future__ import annotations

import bisect
import random
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, NonNegativeInt

from airflow_provider_bifrost.testing.emulator.faults import FaultSet, Regex
from airflow_provider_bifrost.testing.emulator.providers import (
    BATCH_PROVIDERS,
    DEFAULT_MODELS,
    ENDPOINTS,
    FULLY_PROCESSED_PHASES,
    OPENAI_STYLE,
    OUTCOME_ALIASES,
    PROVIDERS,
    TERMINAL_PHASES,
    new_batch_id,
    new_file_id,
    resolve_bare_file_id,
    resolve_bare_id,
)

STAMP_FIELDS = {
    "in_progress": "in_progress_at",
    "finalizing": "finalizing_at",
    "completed": "completed_at",
    "ended": "completed_at",
    "partially_completed": "completed_at",
    "failed": "failed_at",
    "expired": "expired_at",
    "cancelling": "cancelling_at",
    "cancelled": "cancelled_at",
    "canceled": "cancelled_at",
}
REQUEST_LOG_SIZE = 10_000
DEFAULT_BEDROCK_OUTPUT = "s3://bifrost-emulator/bedrock-batch-output/"
DEFAULT_VERTEX_OUTPUT = "gs://bifrost-emulator/vertex-batch-output"

Timeline = tuple[NonNegativeFloat, NonNegativeFloat, NonNegativeFloat]
VirtualKeyPolicy = Literal[
    "ok",
    "budget_exceeded",
    "blocked",
    "model_blocked",
    "provider_blocked",
    "rate_limited",
    "request_limited",
    "token_limited",
]
FileKind = Literal["upload", "input", "output", "error"]


class EmulatorConfig(BaseModel):
    """Emulator-wide settings; change them at run time with :meth:`EmulatorClient.configure`.

    :param basic_auth: ``(user, password)`` accepted as gateway Basic auth; enables gateway auth.
    :param bearer_token: token accepted as ``Authorization: Bearer``; enables gateway auth.
    :param virtual_keys: virtual key -> policy (``ok``, ``budget_exceeded``, ``blocked``,
        ``model_blocked``, ``provider_blocked``, ``rate_limited``, ``request_limited``,
        ``token_limited``); when set (even empty) every gateway request needs a known key.
    :param virtual_key_error_names: ``virtual_key`` (``virtual_key_not_found``,
        ``virtual_key_blocked``) or ``access``: the names gateways from v2.1 use
        (``access_not_found``, ``access_blocked``).
    :param timeline: default ``(validating, in_progress, finalizing)`` durations in seconds.
    :param manual: default for new batches: stay ``in_progress`` until a status is forced.
    :param outcome: default final phase (None: ``completed``, which Anthropic shows as ``ended``).
    :param failed_requests: default number of failed requests per batch created through the gateway.
    :param failure_codes: the HTTP status each failed request ends with, in turn (the first failed request
        the first code, the next the second...): 400 an invalid request, 429 rate limited, 500/503 a server
        error, 408/504 a timeout; each provider writes it in its own item shape.
    :param item_bytes: default approximate size of one result item (None: natural size, ~500 bytes).
    :param cancel_delay: seconds a cancelled batch stays ``cancelling``.
    :param results_page_size: page the results route (``has_more``/``next_cursor``); None: one document.
    :param latency: seconds added to every gateway request whose path matches ``latency_path``.
    :param latency_path: regex searched in the path (None: every gateway request).
    :param stream_chunk_delay: seconds slept after each chunk of a streamed body (results, file
        content): a slow link, so a test can act while a download is under way.
    :param seed: seed of ids, result contents and fault probabilities. None (the default): a fresh
        random seed, so a restarted emulator never hands out an id of an earlier run.
    :param decode_encoded_ids: a percent-encoded id in the URL path (``batches%2Fabc``) is decoded,
        as gateways from mid-June 2026 do. False: ``%2F`` reaches the provider undecoded, as on older
        gateways (Bedrock ARNs cannot be addressed; Gemini and Vertex still take the bare trailing id).
    :param gemini_info_placeholder: a finished Gemini batch without results answers the single
        placeholder item ``{"custom_id": "info", ...}`` of older gateways instead of no items.
    :param custom_providers: custom providers the gateway defines, each with the provider it is built on
        (``{"corp-openai": "openai"}``): a request naming one is served as its base provider.
    :param bedrock_role_arn: a role ARN held on the gateway's Bedrock key: Bedrock batches may then
        be created without a ``role_arn``.
    """

    model_config = ConfigDict(extra="forbid")

    basic_auth: tuple[str, str] | None = None
    bearer_token: str | None = None
    virtual_keys: dict[str, VirtualKeyPolicy] | None = None
    virtual_key_error_names: Literal["virtual_key", "access"] = "virtual_key"
    timeline: Timeline = (0.2, 0.5, 0.2)
    manual: bool = False
    outcome: str | None = None
    failed_requests: int = Field(default=0, ge=0)
    failure_codes: list[Annotated[int, Field(ge=400, le=599)]] = Field(default_factory=lambda: [400], min_length=1)
    item_bytes: int | None = Field(default=None, ge=0)
    cancel_delay: NonNegativeFloat = 0.0
    results_page_size: int | None = Field(default=None, ge=1)
    latency: NonNegativeFloat = 0.0
    latency_path: Regex | None = None
    stream_chunk_delay: NonNegativeFloat = 0.0
    seed: int | None = None
    decode_encoded_ids: bool = True
    gemini_info_placeholder: bool = False
    bedrock_role_arn: str | None = None
    custom_providers: dict[str, str] = Field(default_factory=dict)


class BatchSpec(BaseModel):
    """What a new batch looks like; unset fields take the :class:`EmulatorConfig` defaults.

    :param provider: a batch-capable provider (openai, azure, anthropic, gemini, bedrock, vertex).
    :param requests: number of requests (custom ids ``request-0``...) or the explicit custom ids.
    :param model: the model name (a ``provider/`` prefix is dropped); default: one per provider.
    :param endpoint: the batch's endpoint (default ``/v1/chat/completions``, anthropic ``/v1/messages``).
    :param input_file_id: the input file's id (default: a file the gateway would have made).
    :param metadata: the batch's metadata (kept or dropped as the provider does).
    :param outcome: final phase reached at the end of the timeline (``completed``, ``failed``,
        ``expired``, ``cancelled``, ``partially_completed`` or ``PartiallyCompleted``, any string).
    :param failed: number of failed requests (default: all when ``outcome="failed"``, else config).
    :param failure_codes: the HTTP status of each failed request, in turn (default: the config's).
    :param processed: requests that ran before the outcome (default: all of them, or as many as
        had run when the batch was cancelled).
    :param timeline: ``(validating, in_progress, finalizing)`` seconds.
    :param manual: stay ``in_progress`` until a status is forced.
    :param item_bytes: approximate size of one result item (pads the completion text).
    :param parse_errors: listed as-is in the results' ``extra_fields.parse_errors``.
    :param cursor_bug: make paged results misbehave: ``repeat`` a cursor or leave it ``missing``.
    :param results_page_size: page size of this batch's results (overrides the config).
    :param seed: seed of the result contents (default: drawn from the emulator's random source).
    :param display_name: Vertex (and Gemini) job display name.
    :param job_name: Bedrock job name (default: ``metadata["job_name"]``, else ``bifrost-batch-<time>``).
    :param output_s3_uri: Bedrock output prefix.
    :param output_folder: Vertex ``gs://`` / Azure blob output prefix.
    :param input_blob: Azure input blob URL.
    :param extra_params: unknown create keys, passed to the provider as the gateway does.
    :param age: seconds ago the batch was created (its timeline runs from then), e.g. to list old batches.
    """

    model_config = ConfigDict(extra="forbid")

    provider: str = "openai"
    requests: NonNegativeInt | list[str] = 10
    model: str | None = None
    endpoint: str | None = None
    input_file_id: str | None = None
    completion_window: str = "24h"
    metadata: dict[str, str] | None = None
    outcome: str | None = None
    failed: int | None = Field(default=None, ge=0)
    failure_codes: list[Annotated[int, Field(ge=400, le=599)]] | None = Field(default=None, min_length=1)
    processed: int | None = Field(default=None, ge=0)
    timeline: Timeline | None = None
    manual: bool | None = None
    item_bytes: int | None = Field(default=None, ge=0)
    parse_errors: list[Any] | None = None
    cursor_bug: Literal["repeat", "missing"] | None = None
    results_page_size: int | None = Field(default=None, ge=1)
    seed: int | None = None
    display_name: str | None = None
    job_name: str | None = None
    output_s3_uri: str | None = None
    output_folder: str | None = None
    input_blob: str | None = None
    extra_params: dict[str, Any] | None = None
    age: NonNegativeFloat = 0.0


@dataclass(frozen=True)
class BatchView:
    """A batch as seen at one instant: its phase, how many requests ran, the phase timestamps."""

    status: str
    processed: int
    stamps: dict[str, float]

    @property
    def terminal(self) -> bool:
        """Whether the phase is a final one (results, if any, can be read)."""
        return self.status in TERMINAL_PHASES


@dataclass
class Batch:
    """One batch job; its phase comes from :meth:`view`."""

    id: str
    provider: str
    model: str
    endpoint: str
    input_file_id: str | None
    completion_window: str
    metadata: dict[str, str] | None
    custom_ids: list[str]
    failed: list[int]  # sorted indices of the requests that fail
    failure_codes: list[int]  # the status of each failed request, in turn
    outcome: str
    processed_at_end: int  # requests that have run once the outcome is reached
    timeline: tuple[float, float, float] | None  # None: manual
    item_bytes: int | None
    parse_errors: list[Any] | None
    cursor_bug: str | None
    results_page_size: int | None
    seed: int
    output_file_id: str | None = None  # openai/azure: the output file; bedrock/vertex: the output prefix
    error_file_id: str | None = None  # openai/azure only
    display_name: str | None = None
    job_name: str | None = None
    input_blob: str | None = None
    extra_params: dict[str, Any] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    frozen: BatchView | None = None  # set by a cancel or a forced status
    cancelled_after: float | None = None  # when a frozen "cancelling" turns "cancelled"

    @property
    def total(self) -> int:
        """Number of requests."""
        return len(self.custom_ids)

    def failed_before(self, processed: int) -> int:
        """Number of failed requests among the first ``processed`` ones."""
        return bisect.bisect_left(self.failed, processed)

    def failure_code(self, index: int) -> int:
        """The HTTP status failed request ``index`` ends with."""
        return self.failure_codes[bisect.bisect_left(self.failed, index) % len(self.failure_codes)]

    def view(self, now: float) -> BatchView:
        """The batch at time ``now`` (unix seconds)."""
        if self.frozen is None:
            return self._natural_view(now)
        if self.cancelled_after is not None and now >= self.cancelled_after:
            stamps = {**self.frozen.stamps, "cancelled_at": self.cancelled_after}
            return replace(self.frozen, status="cancelled", stamps=stamps)
        return self.frozen

    def _natural_view(self, now: float) -> BatchView:
        stamps = {"created_at": self.created_at}
        if self.timeline is None:
            stamps["in_progress_at"] = self.created_at
            return BatchView("in_progress", 0, stamps)
        validating, running, finalizing = self.timeline
        elapsed = now - self.created_at
        if elapsed < validating:
            return BatchView("validating", 0, stamps)
        stamps["in_progress_at"] = self.created_at + validating
        if elapsed < validating + running:
            done = int(self.processed_at_end * (elapsed - validating) / running)
            return BatchView("in_progress", min(done, self.processed_at_end), stamps)
        stamps["finalizing_at"] = self.created_at + validating + running
        if elapsed < validating + running + finalizing:
            return BatchView("finalizing", self.processed_at_end, stamps)
        end = self.created_at + validating + running + finalizing
        if self.outcome in STAMP_FIELDS:
            stamps[STAMP_FIELDS[self.outcome]] = end
        return BatchView(self.outcome, self.processed_at_end, stamps)

    def cancel(self, now: float, delay: float) -> BatchView:
        """Start cancelling: progress stops now, the phase turns ``cancelled`` after ``delay``."""
        current = self.view(now)
        self.frozen = replace(current, status="cancelling", stamps={**current.stamps, "cancelling_at": now})
        self.cancelled_after = now + delay
        return self.frozen

    def force_status(self, status: str, now: float, processed: int | None = None) -> BatchView:
        """Set any phase or status string from now on (final ones like ``completed`` process the batch, unless
        ``processed`` says how many requests ran)."""
        current = self.view(now)
        if processed is None:
            processed = self.processed_at_end if status in FULLY_PROCESSED_PHASES else current.processed
        processed = min(processed, self.total)
        stamps = dict(current.stamps)
        if status in STAMP_FIELDS:
            stamps[STAMP_FIELDS[status]] = now
        self.frozen = BatchView(status, processed, stamps)
        self.cancelled_after = None
        return self.frozen


@dataclass
class StoredFile:
    """An uploaded file (on disk) or a batch's input/output/error file (generated on read)."""

    id: str
    provider: str
    filename: str
    purpose: str
    created_at: float
    path: Path | None = None
    size: int = 0
    custom_ids: list[str] | None = None  # for purpose=batch uploads
    batch_id: str | None = None  # for generated files
    kind: FileKind = "upload"


class EmulatorState:
    """Everything the emulator knows; only ever touched from the server's event loop.

    :param config: initial configuration (default: :class:`EmulatorConfig` defaults).
    """

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.batches: dict[str, Batch] = {}
        self.files: dict[str, StoredFile] = {}
        self.blobs: dict[str, list[str]] = {}  # storage URL -> the custom ids of the requests it holds
        self.faults = FaultSet(self.config.seed)
        self.request_log: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        self._rng = random.Random(self.config.seed)
        self._dir = tempfile.TemporaryDirectory(prefix="bifrost-emulator-")

    @property
    def file_dir(self) -> Path:
        """Directory holding uploaded files."""
        return Path(self._dir.name)

    def configure(self, changes: dict[str, Any]) -> EmulatorConfig:
        """Apply a partial configuration (validated); a new ``seed`` reseeds ids and faults.

        :param changes: field name -> new value.
        """
        self.config = EmulatorConfig.model_validate({**self.config.model_dump(), **changes})
        if "seed" in changes:
            self._rng.seed(self.config.seed)
            self.faults.reseed(self.config.seed)
        return self.config

    def reset(self, *, config: bool = False) -> None:
        """Drop batches, files, blobs, fault rules and the request log.

        :param config: also restore the default configuration.
        """
        if config:
            self.config = EmulatorConfig()
        self.batches.clear()
        for stored in self.files.values():
            if stored.path is not None:
                stored.path.unlink(missing_ok=True)
        self.files.clear()
        self.blobs.clear()
        self.faults = FaultSet(self.config.seed)
        self.request_log.clear()
        self._rng.seed(self.config.seed)

    def close(self) -> None:
        """Remove the uploaded files from disk."""
        self._dir.cleanup()

    def new_file_id(self, provider: str) -> str:
        """A fresh file id in the provider's shape, reproducible for a given seed."""
        return new_file_id(provider, self._rng)

    def add_file(self, stored: StoredFile) -> StoredFile:
        """Register a file."""
        self.files[stored.id] = stored
        return stored

    def add_blob(self, url: str, custom_ids: list[str]) -> None:
        """Register what a storage URL (Azure blob, ``s3://``, ``gs://``) holds: these requests.

        :raises ValueError: duplicate custom ids.
        """
        _check_unique(custom_ids)
        self.blobs[url] = list(custom_ids)

    def add_batch(self, spec: BatchSpec) -> Batch:
        """Create a batch from a spec, filling unset fields from the config.

        :raises ValueError: invalid spec (unknown provider, duplicate custom ids, bad endpoint...).
        """
        provider = spec.provider
        if provider not in BATCH_PROVIDERS:
            raise ValueError(f"provider {provider!r} does not support batches")
        if spec.endpoint is not None and spec.endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {', '.join(ENDPOINTS)}")
        if isinstance(spec.requests, int):
            custom_ids = [f"request-{i}" for i in range(spec.requests)]
        else:
            custom_ids = list(spec.requests)
            _check_unique(custom_ids)
        cfg = self.config
        outcome = spec.outcome or cfg.outcome or "completed"
        outcome = OUTCOME_ALIASES.get(outcome, outcome)
        if spec.failed is not None:
            n_failed = spec.failed
        else:
            n_failed = len(custom_ids) if outcome == "failed" else cfg.failed_requests
        n_processed = len(custom_ids) if spec.processed is None else min(spec.processed, len(custom_ids))
        n_failed = min(n_failed, n_processed)
        manual = cfg.manual if spec.manual is None else spec.manual
        prefix, _, name = (spec.model or "").partition("/")
        model = name if prefix in PROVIDERS and name else spec.model or DEFAULT_MODELS[provider]
        created = time.time() - spec.age
        metadata = spec.metadata
        batch = Batch(
            id=new_batch_id(provider, self._rng),
            provider=provider,
            model=model,
            endpoint=spec.endpoint or ("/v1/messages" if provider == "anthropic" else "/v1/chat/completions"),
            input_file_id=spec.input_file_id,
            completion_window=spec.completion_window,
            metadata=metadata,
            custom_ids=custom_ids,
            failed=sorted(self._rng.sample(range(n_processed), n_failed)),
            failure_codes=list(spec.failure_codes or cfg.failure_codes),
            outcome=outcome,
            processed_at_end=n_processed,
            timeline=None if manual else (spec.timeline or cfg.timeline),
            item_bytes=spec.item_bytes if spec.item_bytes is not None else cfg.item_bytes,
            parse_errors=spec.parse_errors,
            cursor_bug=spec.cursor_bug,
            results_page_size=spec.results_page_size,
            seed=spec.seed if spec.seed is not None else self._rng.getrandbits(32),
            display_name=spec.display_name,
            job_name=spec.job_name or (metadata or {}).get("job_name") or f"bifrost-batch-{int(created)}",
            input_blob=spec.input_blob,
            extra_params=dict(spec.extra_params or {}),
            created_at=created,
        )
        if provider in OPENAI_STYLE:
            if batch.input_file_id is None and batch.input_blob is None:
                # like the gateway, turn inline requests into an uploaded file
                batch.input_file_id = self._add_generated_file(batch, "input", "batch").id
            batch.output_file_id = self._add_generated_file(batch, "output", "batch_output").id
            batch.error_file_id = self._add_generated_file(batch, "error", "batch_output").id
        elif provider == "bedrock":
            output = spec.output_s3_uri or DEFAULT_BEDROCK_OUTPUT
            batch.output_file_id = output
            if batch.input_file_id is None:  # the gateway uploads inline requests beside the output
                batch.input_file_id = f"{output.rstrip('/')}/bifrost-batch-input/{batch.job_name}.jsonl"
        elif provider == "vertex":
            output = (spec.output_folder or DEFAULT_VERTEX_OUTPUT).rstrip("/")
            batch.display_name = batch.display_name or f"bifrost-batch-{int(created)}"
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
            batch.output_file_id = f"{output}/prediction-model-{stamp}.000000Z"
            if batch.input_file_id is None:
                batch.input_file_id = f"{output}/bifrost-batch-input/{batch.display_name}.jsonl"
        self.batches[batch.id] = batch
        return batch

    def _add_generated_file(self, batch: Batch, kind: FileKind, purpose: str) -> StoredFile:
        return self.add_file(
            StoredFile(
                id=self.new_file_id(batch.provider),
                provider=batch.provider,
                filename=f"batch_{kind}.jsonl",
                purpose=purpose,
                created_at=batch.created_at,
                batch_id=batch.id,
                kind=kind,
            )
        )

    def force_statuses(self, status: str, batch_ids: list[str] | None, now: float) -> int:
        """Force one phase on many batches at the same instant; returns how many changed.

        :param status: any phase or status string (see :meth:`Batch.force_status`).
        :param batch_ids: the batches (None: every batch of every provider).
        :param now: the instant the statuses take effect (unix seconds).
        :raises KeyError: an id is unknown (then no batch is changed).
        """
        if batch_ids is None:
            targets = list(self.batches.values())
        else:
            missing = [batch_id for batch_id in batch_ids if batch_id not in self.batches]
            if missing:
                raise KeyError(missing[0])
            targets = [self.batches[batch_id] for batch_id in dict.fromkeys(batch_ids)]
        for batch in targets:
            batch.force_status(status, now)
        return len(targets)

    def find_batch(self, batch_id: str, provider: str) -> Batch | None:
        """The batch with this id (or bare trailing id, where the provider takes one) of ``provider``."""
        batch = self.batches.get(batch_id)
        if batch is None and (full := resolve_bare_id(provider, batch_id)) is not None:
            batch = self.batches.get(full)
        return batch if batch is not None and batch.provider == provider else None

    def generated_lines(self, stored: StoredFile, now: float) -> int:
        """How many lines a generated file has now (output/error: 0 until the batch is done)."""
        batch = self.batches[stored.batch_id or ""]
        if stored.kind == "input":
            return batch.total
        view = batch.view(now)
        if not view.terminal:
            return 0
        failed = batch.failed_before(view.processed)
        return failed if stored.kind == "error" else view.processed - failed

    def find_file(self, file_id: str, provider: str, now: float) -> StoredFile | None:
        """The file with this id for ``provider``; generated files exist once their batch is done."""
        stored = self.files.get(file_id)
        if stored is None and (full := resolve_bare_file_id(provider, file_id)) is not None:
            stored = self.files.get(full)
        if stored is None or stored.provider != provider:
            return None
        if stored.kind != "upload" and self.generated_lines(stored, now) == 0:
            return None
        return stored


def _check_unique(values: list[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate custom_id: {value!r}")
        seen.add(value)
