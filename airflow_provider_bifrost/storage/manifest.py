"""
The manifest of an export (``_manifest.json``, written last, also the export task's XCom value), and
reading exported results back as items.

The schema is :class:`Manifest` (``docs/results-format.md`` documents it field by field). URIs in it are
plain, without an Airflow connection id, so other tools understand them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_bifrost.storage.paths import plain_uri, storage_path

if TYPE_CHECKING:
    from airflow_provider_bifrost.storage.shards import Shard

MANIFEST_NAME = "_manifest.json"


@dataclass(frozen=True)
class ExportCounts:
    """
    What an export holds, counted.

    :param results: items exported, in all files.
    :param succeeded: items that succeeded (``ItemStatus.succeeded``).
    :param from_error_file: items that came from the batch's error file (part of ``results``).
    :param parse_errors: result lines the gateway could not parse and skipped (not in the files).
    :param expected: the batch's request total as the gateway reported it (0 when it reported none).
    """

    results: int
    succeeded: int
    from_error_file: int
    parse_errors: int
    expected: int

    @property
    def errored(self) -> int:
        """``results`` minus ``succeeded``."""
        return self.results - self.succeeded


@dataclass(frozen=True)
class Manifest:
    """
    An export's manifest.

    :param batch_id: the batch.
    :param provider: its provider.
    :param status: the batch's status when it was exported.
    :param output_uri: the export's folder, ``<output_uri>/<batch_id>``.
    :param output_conn_id: the storage connection the files were written with.
    :param shards: the files, in order.
    :param counts: what the files hold.
    :param compression: ``"gzip"`` or None.
    :param results_per_file: items per file as asked for (None: one file).
    :param partial: the batch did not succeed (failed, expired, cancelled) and this is what it produced.
    :param usage: the token usage per model and in total, with its cost (``results.usage.UsageCounter.report``);
        None when it was not counted.
    :param batch_ids: the batches exported, oldest first: a batch and its resubmission rounds, merged (each
        ``custom_id``'s latest attempt); None: ``batch_id`` alone.
    :param rounds: with several batches, one row per round, as a job's manifest has them (``round``,
        ``requests``, ``batches``, ``statuses``, ``resubmitted``: its items a later round answered again,
        ``reasons``: why its items did not succeed, ``failures_uri``: None); None for one batch.
    :param still_failing: with several batches, what the export still holds that did not succeed
        (``requests``, ``reasons``, ``first_ids``); None for one batch.
    :param exported_at: when the export finished, ISO 8601, UTC.
    """

    batch_id: str
    provider: str
    status: str | None
    output_uri: str
    output_conn_id: str | None
    shards: list[Shard]
    counts: ExportCounts
    compression: str | None
    results_per_file: int | None
    partial: bool = False
    usage: Mapping[str, Any] | None = None
    batch_ids: list[str] | None = None
    rounds: list[dict[str, Any]] | None = None
    still_failing: dict[str, Any] | None = None
    exported_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())

    def to_dict(self) -> dict[str, Any]:
        """The manifest as JSON-safe data: every field, ``files`` (the shards' URIs), ``bytes``, ``counts.errored``."""
        return {
            "batch_id": self.batch_id,
            "batch_ids": list(self.batch_ids) if self.batch_ids is not None else [self.batch_id],
            "provider": self.provider,
            "status": self.status,
            "output_uri": self.output_uri,
            "output_conn_id": self.output_conn_id,
            "files": [shard.uri for shard in self.shards],
            "shards": [dataclasses.asdict(shard) for shard in self.shards],
            "counts": {
                "results": self.counts.results,
                "succeeded": self.counts.succeeded,
                "errored": self.counts.errored,
                "from_error_file": self.counts.from_error_file,
                "parse_errors": self.counts.parse_errors,
                "expected": self.counts.expected,
            },
            "bytes": sum(shard.bytes for shard in self.shards),
            "compression": self.compression,
            "results_per_file": self.results_per_file,
            "partial": self.partial,
            "usage": dict(self.usage) if self.usage is not None else None,
            "rounds": self.rounds,
            "still_failing": self.still_failing,
            "exported_at": self.exported_at,
        }


@dataclass(frozen=True)
class JobCounts(ExportCounts):
    """
    What a job's export holds, counted, and how it compares with the job's input.

    :param missing: input ``custom_id``s with no line in the export.
    :param unexpected: exported ``custom_id``s that were not in the input.
    :param duplicated: exported lines repeating a ``custom_id`` already exported.
    """

    missing: int = 0
    unexpected: int = 0
    duplicated: int = 0


@dataclass(frozen=True)
class PartEntry:
    """
    One part of a job in its manifest.

    :param part: its number, from 1 (as logs name it: ``part 2/5``).
    :param batch_id: its batch.
    :param status: the batch's final status.
    :param requests: the requests it held.
    :param results: items it exported.
    :param succeeded: of which succeeded.
    :param from_error_file: of which came from the batch's error file.
    :param files: the files holding its items (a file may hold items of two parts).
    :param round: the round it belongs to: 0 for the job's input, then each resubmission of what failed.
    """

    part: int
    batch_id: str
    status: str | None
    requests: int
    results: int
    succeeded: int
    from_error_file: int
    files: list[str]
    round: int = 0


@dataclass(frozen=True)
class JobManifest:
    """
    The manifest of a job's export: every part's results in one set of files.

    :param job_id: the job (``job-<16 hex digits>``, from its task instance).
    :param provider: its provider.
    :param output_uri: the export's folder, ``<output_uri>/<job_id>``.
    :param output_conn_id: the storage connection the files were written with.
    :param shards: the files, in order.
    :param counts: what the files hold, and how it compares with the input.
    :param parts: each part, in order.
    :param compression: ``"gzip"`` or None.
    :param results_per_file: items per file as asked for (None: one file).
    :param usage: the token usage per model and in total (with the cost, given prices); None when not counted.
    :param rounds: with resubmission, one row per round: ``round``, ``requests``, ``batches``, ``statuses``,
        ``resubmitted`` (its requests sent again in the next round), ``reasons`` (why its requests did not
        succeed, retried or not), ``failures_uri`` (each of them with its reason); None without resubmission.
    :param still_failing: with resubmission, what the export still holds that did not succeed: ``requests``,
        ``reasons`` and ``first_ids``; None without resubmission.
    :param exported_at: when the export finished, ISO 8601, UTC.
    """

    job_id: str
    provider: str
    output_uri: str
    output_conn_id: str | None
    shards: list[Shard]
    counts: JobCounts
    parts: list[PartEntry]
    compression: str | None
    results_per_file: int | None
    usage: dict[str, Any] | None = None
    rounds: list[dict[str, Any]] | None = None
    still_failing: dict[str, Any] | None = None
    exported_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())

    def to_dict(self) -> dict[str, Any]:
        """The manifest as JSON-safe data, like :meth:`Manifest.to_dict` plus the parts and the id check."""
        return {
            "job_id": self.job_id,
            "provider": self.provider,
            "output_uri": self.output_uri,
            "output_conn_id": self.output_conn_id,
            "files": [shard.uri for shard in self.shards],
            "shards": [dataclasses.asdict(shard) for shard in self.shards],
            "counts": {**dataclasses.asdict(self.counts), "errored": self.counts.errored},
            "parts": [dataclasses.asdict(part) for part in self.parts],
            "bytes": sum(shard.bytes for shard in self.shards),
            "compression": self.compression,
            "results_per_file": self.results_per_file,
            "usage": self.usage,
            "rounds": self.rounds,
            "still_failing": self.still_failing,
            "exported_at": self.exported_at,
        }


def write_manifest(folder: Any, manifest: Mapping[str, Any]) -> str:
    """
    Write ``_manifest.json`` into ``folder`` atomically (temporary name, then rename); return its plain URI.

    :param folder: an ``ObjectStoragePath``.
    :param manifest: the manifest, as :meth:`Manifest.to_dict` gives it.
    """
    temp = folder / f".{MANIFEST_NAME}.tmp"
    final = folder / MANIFEST_NAME
    try:
        temp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
        temp.rename(final)
    except BaseException:
        with contextlib.suppress(Exception):
            temp.unlink()
        raise
    return plain_uri(final)


def read_manifest(uri: str, conn_id: str | None = None) -> dict[str, Any]:
    """
    Read an export's manifest.

    :param uri: the manifest's URI, or the export folder's.
    :param conn_id: the storage connection.
    """
    path = storage_path(uri, conn_id)
    if path.name != MANIFEST_NAME:
        path = path / MANIFEST_NAME
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest


def iter_result_items(source: str | Mapping[str, Any], conn_id: str | None = None) -> Iterator[dict[str, Any]]:
    """
    Read exported results back, one item (dict, API shape) at a time, in bounded memory.

    :param source: a shard's URI (``.jsonl`` or ``.jsonl.gz``), a manifest's URI, or a manifest dict
        (e.g. the export task's XCom value): then every shard it lists, in order.
    :param conn_id: the storage connection (default for a manifest: the one it was written with).
    """
    if isinstance(source, Mapping):
        for uri in source["files"]:
            yield from iter_result_items(uri, conn_id or source.get("output_conn_id"))
        return
    if source.endswith(MANIFEST_NAME):
        yield from iter_result_items(read_manifest(source, conn_id), conn_id)
        return
    path = storage_path(source, conn_id)
    with path.open("rb") as raw:
        stream: Any = gzip.GzipFile(fileobj=raw, mode="rb") if source.endswith(".gz") else raw
        for line in stream:
            if line.strip():
                yield json.loads(line)
