"""In-memory store of the emulator: configuration, batches, files, fault rules and the request log.

A batch's status is never stored: it is computed from the clock at read time (see :meth:`Batch.view`),
so a batch moves through ``validating`` -> ``in_progress`` -> ``finalizing`` -> its outcome without
any background task. Cancelling or forcing a status freezes the view at that instant.

Why one long module: the configuration, the batch specification and the store are read together by every
route; the faults and the rendering live in their own modules.
"""

from __future__ import annotations

import bisect
import random
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, NonNegativeInt

from airflow_provider_bifrost.testing.emulator.faults import FaultSet, Regex

PROVIDERS = (
    "openai",
    "azure",
    "anthropic",
    "bedrock",
    "cohere",
    "vertex",
    "vllm",
    "mistral",
    "ollama",
    "groq",
    "sgl",
    "parasail",
    "perplexity",
    "replicate",
    "cerebras",
    "gemini",
    "openrouter",
    "elevenlabs",
    "huggingface",
    "nebius",
    "xai",
    "runway",
    "fireworks",
)
BATCH_PROVIDERS = frozenset({"openai", "azure", "anthropic", "gemini", "bedrock", "vertex"})
ENDPOINT_REQUIRED = frozenset({"openai", "azure"})
ENDPOINTS = ("/v1/chat/completions", "/v1/embeddings", "/v1/completions", "/v1/responses", "/v1/messages")
TERMINAL_STATUSES = frozenset({"completed", "ended", "failed", "expired", "cancelled", "canceled", "deleted"})
# Statuses meaning "every request was processed"; other terminal ones keep the progress they had.
_FULLY_PROCESSED = frozenset({"completed", "ended", "failed", "expired"})
STAMP_FIELDS = {
    "in_progress": "in_progress_at",
    "finalizing": "finalizing_at",
    "completed": "completed_at",
    "ended": "completed_at",
    "failed": "failed_at",
    "expired": "expired_at",
    "cancelling": "cancelling_at",
    "cancelled": "cancelled_at",
    "canceled": "cancelled_at",
}
REQUEST_LOG_SIZE = 10_000

Timeline = tuple[NonNegativeFloat, NonNegativeFloat, NonNegativeFloat]
VirtualKeyPolicy = Literal["ok", "budget_exceeded", "blocked", "rate_limited"]
FileKind = Literal["upload", "input", "output", "error"]


class EmulatorConfig(BaseModel):
    """Emulator-wide settings; change them at run time with :meth:`EmulatorClient.configure`.

    :param basic_auth: ``(user, password)`` accepted as gateway Basic auth; enables gateway auth.
    :param bearer_token: token accepted as ``Authorization: Bearer``; enables gateway auth.
    :param virtual_keys: virtual key -> policy (``ok``, ``budget_exceeded``, ``blocked``,
        ``rate_limited``); when set (even empty) every gateway request needs a known key.
    :param timeline: default ``(validating, in_progress, finalizing)`` durations in seconds.
    :param manual: default for new batches: stay ``in_progress`` until a status is forced.
    :param outcome: default final status (None: ``ended`` for anthropic, ``completed`` otherwise).
    :param failed_requests: default number of failed requests per batch created through the gateway.
    :param item_bytes: default approximate size of one result item (None: natural size, ~400 bytes).
    :param cancel_delay: seconds a cancelled batch stays ``cancelling``.
    :param results_page_size: page the results route (``has_more``/``next_cursor``); None: one document.
    :param latency: seconds added to every gateway request whose path matches ``latency_path``.
    :param latency_path: regex searched in the path (None: every gateway request).
    :param stream_chunk_delay: seconds slept after each chunk of a streamed body (results, file
        content): a slow link, so a test can act while a download is under way.
    :param seed: seed of ids, result contents and fault probabilities.
    """

    model_config = ConfigDict(extra="forbid")

    basic_auth: tuple[str, str] | None = None
    bearer_token: str | None = None
    virtual_keys: dict[str, VirtualKeyPolicy] | None = None
    timeline: Timeline = (0.2, 0.5, 0.2)
    manual: bool = False
    outcome: str | None = None
    failed_requests: int = Field(default=0, ge=0)
    item_bytes: int | None = Field(default=None, ge=0)
    cancel_delay: NonNegativeFloat = 0.0
    results_page_size: int | None = Field(default=None, ge=1)
    latency: NonNegativeFloat = 0.0
    latency_path: Regex | None = None
    stream_chunk_delay: NonNegativeFloat = 0.0
    seed: int = 0


class BatchSpec(BaseModel):
    """What a new batch looks like; unset fields take the :class:`EmulatorConfig` defaults.

    :param provider: a batch-capable provider (openai, azure, anthropic, gemini, bedrock, vertex).
    :param requests: number of requests (custom ids ``request-0``...) or the explicit custom ids.
    :param outcome: final status reached at the end of the timeline.
    :param failed: number of failed requests (default: all when ``outcome="failed"``, else config).
    :param timeline: ``(validating, in_progress, finalizing)`` seconds.
    :param manual: stay ``in_progress`` until a status is forced.
    :param item_bytes: approximate size of one result item (pads the completion text).
    :param parse_errors: listed as-is in the results' ``extra_fields.parse_errors``.
    :param cursor_bug: make paged results misbehave: ``repeat`` a cursor or leave it ``missing``.
    :param results_page_size: page size of this batch's results (overrides the config).
    :param seed: seed of the result contents (default: drawn from the emulator's seed).
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
    timeline: Timeline | None = None
    manual: bool | None = None
    item_bytes: int | None = Field(default=None, ge=0)
    parse_errors: list[Any] | None = None
    cursor_bug: Literal["repeat", "missing"] | None = None
    results_page_size: int | None = Field(default=None, ge=1)
    seed: int | None = None


@dataclass(frozen=True)
class BatchView:
    """A batch as seen at one instant: its status, how many requests ran, the phase timestamps."""

    status: str
    processed: int
    stamps: dict[str, float]

    @property
    def terminal(self) -> bool:
        """Whether the status is a final one (results can be read)."""
        return self.status in TERMINAL_STATUSES


@dataclass
class Batch:
    """One batch job; its status comes from :meth:`view`."""

    id: str
    provider: str
    model: str | None
    endpoint: str | None
    input_file_id: str | None
    completion_window: str
    metadata: dict[str, str] | None
    custom_ids: list[str]
    failed: list[int]  # sorted indices of the requests that fail
    outcome: str
    timeline: tuple[float, float, float] | None  # None: manual
    item_bytes: int | None
    parse_errors: list[Any] | None
    cursor_bug: str | None
    results_page_size: int | None
    seed: int
    output_file_id: str
    error_file_id: str
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
            done = int(self.total * (elapsed - validating) / running)
            return BatchView("in_progress", min(done, self.total), stamps)
        stamps["finalizing_at"] = self.created_at + validating + running
        if elapsed < validating + running + finalizing:
            return BatchView("finalizing", self.total, stamps)
        end = self.created_at + validating + running + finalizing
        if self.outcome in STAMP_FIELDS:
            stamps[STAMP_FIELDS[self.outcome]] = end
        return BatchView(self.outcome, self.total, stamps)

    def cancel(self, now: float, delay: float) -> BatchView:
        """Start cancelling: progress stops now, the status turns ``cancelled`` after ``delay``."""
        current = self.view(now)
        self.frozen = replace(current, status="cancelling", stamps={**current.stamps, "cancelling_at": now})
        self.cancelled_after = now + delay
        return self.frozen

    def force_status(self, status: str, now: float) -> BatchView:
        """Set any status string from now on (final ones like ``completed`` process every request)."""
        current = self.view(now)
        processed = self.total if status in _FULLY_PROCESSED else current.processed
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
        """Drop batches, files, fault rules and the request log.

        :param config: also restore the default configuration.
        """
        if config:
            self.config = EmulatorConfig()
        self.batches.clear()
        for stored in self.files.values():
            if stored.path is not None:
                stored.path.unlink(missing_ok=True)
        self.files.clear()
        self.faults = FaultSet(self.config.seed)
        self.request_log.clear()
        self._rng.seed(self.config.seed)

    def close(self) -> None:
        """Remove the uploaded files from disk."""
        self._dir.cleanup()

    def new_id(self, prefix: str) -> str:
        """A fresh id, reproducible for a given seed."""
        return f"{prefix}{self._rng.getrandbits(96):024x}"

    def add_file(self, stored: StoredFile) -> StoredFile:
        """Register a file."""
        self.files[stored.id] = stored
        return stored

    def add_batch(self, spec: BatchSpec) -> Batch:
        """Create a batch from a spec, filling unset fields from the config.

        :raises ValueError: invalid spec (unknown provider, duplicate custom ids, bad endpoint...).
        """
        if spec.provider not in BATCH_PROVIDERS:
            raise ValueError(f"provider {spec.provider!r} does not support batches")
        if spec.endpoint is not None and spec.endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {', '.join(ENDPOINTS)}")
        if isinstance(spec.requests, int):
            custom_ids = [f"request-{i}" for i in range(spec.requests)]
        else:
            custom_ids = list(spec.requests)
            duplicate = _first_duplicate(custom_ids)
            if duplicate is not None:
                raise ValueError(f"duplicate custom_id: {duplicate!r}")
        cfg = self.config
        outcome = spec.outcome or cfg.outcome or ("ended" if spec.provider == "anthropic" else "completed")
        if spec.failed is not None:
            n_failed = spec.failed
        else:
            n_failed = len(custom_ids) if outcome == "failed" else cfg.failed_requests
        n_failed = min(n_failed, len(custom_ids))
        manual = cfg.manual if spec.manual is None else spec.manual
        batch = Batch(
            id=self.new_id("msgbatch_" if spec.provider == "anthropic" else "batch_"),
            provider=spec.provider,
            model=spec.model,
            endpoint=spec.endpoint or _default_endpoint(spec.provider),
            input_file_id=spec.input_file_id,
            completion_window=spec.completion_window,
            metadata=spec.metadata,
            custom_ids=custom_ids,
            failed=sorted(self._rng.sample(range(len(custom_ids)), n_failed)),
            outcome=outcome,
            timeline=None if manual else (spec.timeline or cfg.timeline),
            item_bytes=spec.item_bytes if spec.item_bytes is not None else cfg.item_bytes,
            parse_errors=spec.parse_errors,
            cursor_bug=spec.cursor_bug,
            results_page_size=spec.results_page_size,
            seed=spec.seed if spec.seed is not None else self._rng.getrandbits(32),
            output_file_id=self.new_id("file-"),
            error_file_id=self.new_id("file-"),
        )
        self.batches[batch.id] = batch
        if batch.provider != "anthropic":
            if batch.input_file_id is None:  # like the gateway, turn inline requests into a file
                batch.input_file_id = self._add_generated_file(batch, "input", "batch").id
            self._add_generated_file(batch, "output", "batch_output", batch.output_file_id)
            self._add_generated_file(batch, "error", "batch_output", batch.error_file_id)
        return batch

    def _add_generated_file(
        self,
        batch: Batch,
        kind: FileKind,
        purpose: str,
        file_id: str | None = None,
    ) -> StoredFile:
        return self.add_file(
            StoredFile(
                id=file_id or self.new_id("file-"),
                provider=batch.provider,
                filename=f"batch_{kind}.jsonl",
                purpose=purpose,
                created_at=batch.created_at,
                batch_id=batch.id,
                kind=kind,
            )
        )

    def force_statuses(self, status: str, batch_ids: list[str] | None, now: float) -> int:
        """Force one status on many batches at the same instant; returns how many changed.

        :param status: any status string (see :meth:`Batch.force_status`).
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
        """The batch with this id, if it belongs to ``provider``."""
        batch = self.batches.get(batch_id)
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
        if stored is None or stored.provider != provider:
            return None
        if stored.kind != "upload" and self.generated_lines(stored, now) == 0:
            return None
        return stored


def _default_endpoint(provider: str) -> str:
    return "/v1/messages" if provider == "anthropic" else "/v1/chat/completions"


def _first_duplicate(values: list[str]) -> str | None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            return value
        seen.add(value)
    return None
