"""Operators for Bifrost batches: export every result of a finished batch."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from functools import cached_property
from itertools import islice, repeat
from typing import TYPE_CHECKING, Any

import msgspec
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_bifrost.hooks.bifrost import BifrostHook, validate_id
from airflow_provider_bifrost.hooks.records import ResultRecord
from airflow_provider_bifrost.hooks.status import BatchState
from airflow_provider_bifrost.storage.manifest import write_manifest
from airflow_provider_bifrost.storage.paths import plain_uri, storage_path
from airflow_provider_bifrost.storage.shards import COMPRESSIONS, ShardWriter

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from airflow.sdk import Context

    from airflow_provider_bifrost.hooks.models import Batch
    from airflow_provider_bifrost.hooks.results import BatchResults

_encode = msgspec.json.Encoder().encode
#: Seconds between progress lines in the task log.
PROGRESS_EVERY = 10.0
#: Error-file items handled per block.
ERROR_FILE_BLOCK = 256


class _Progress:
    """Items written, rate and bytes, logged at a steady cadence."""

    def __init__(self, log: Any, batch_id: str, every: float = PROGRESS_EVERY) -> None:
        self.log, self.batch_id, self.every = log, batch_id, every
        self.items = self.bytes = 0
        self.started = self._last = time.monotonic()

    def add(self, items: int, size: int) -> None:
        self.items += items
        self.bytes += size
        if (now := time.monotonic()) - self._last >= self.every:
            self._last = now
            self.report("exporting")

    def report(self, what: str) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        self.log.info(
            "Batch %s %s: %s items (%s items/s), %.1f MB (%.1f MB/s)",
            self.batch_id,
            what,
            f"{self.items:,}",
            f"{self.items / elapsed:,.0f}",
            self.bytes / 1e6,
            self.bytes / 1e6 / elapsed,
        )


class BifrostBatchResultsOperator(BaseOperator):
    """
    Export every result of a finished batch: into XCom when small, into object storage when large.

    Without ``output_uri`` the result items (plain dicts, as the API sends them) are the XCom value,
    up to ``max_xcom_results``; a larger batch fails before anything is pushed, asking for
    ``output_uri``.

    With ``output_uri`` (any ``ObjectStoragePath`` scheme: ``s3://``, ``gs://``, ``file://``,
    ``memory://``...) the items are streamed, one per line, into ``<output_uri>/<batch_id>/part-00000.jsonl``
    (``.jsonl.gz`` with ``compression="gzip"``), a new file every ``results_per_file`` items, in flat
    memory whatever the count. A file appears under its final name only when complete, and
    ``_manifest.json`` is written last; a retry rewrites the same names and leaves no extra files. The
    XCom value is the manifest (see :mod:`airflow_provider_bifrost.storage.manifest`). A batch that
    ended with no results gives an empty manifest (no files) rather than an error.

    :param batch_id: the batch (templated).
    :param provider: its provider (templated); default: the connection's ``default_provider``.
    :param bifrost_conn_id: the Bifrost connection.
    :param output_uri: where to write (templated); None: into XCom.
    :param output_conn_id: the Airflow connection of the storage (e.g. an AWS connection; templated, empty
        means none).
    :param results_per_file: items per file; None: one file.
    :param compression: ``"gzip"`` or None.
    :param include_errors: also export the requests the provider reported in the batch's error file
        (OpenAI's ``error_file_id``, which the results route leaves out).
    :param max_xcom_results: the most items the XCom mode returns.
    """

    template_fields: Sequence[str] = ("batch_id", "provider", "output_uri", "output_conn_id")
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        batch_id: str,
        provider: str | None = None,
        bifrost_conn_id: str = BifrostHook.default_conn_name,
        output_uri: str | None = None,
        output_conn_id: str | None = None,
        results_per_file: int | None = None,
        compression: str | None = None,
        include_errors: bool = True,
        max_xcom_results: int = 1000,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if compression is not None and compression not in COMPRESSIONS:
            raise ValueError(f"compression must be None or one of {COMPRESSIONS}, got {compression!r} ({self.task_id})")
        if results_per_file is not None and (isinstance(results_per_file, bool) or results_per_file < 1):
            raise ValueError(f"results_per_file must be a positive number of items, got {results_per_file!r}")
        if isinstance(max_xcom_results, bool) or max_xcom_results < 0:
            raise ValueError(f"max_xcom_results must be zero or more, got {max_xcom_results!r} ({self.task_id})")
        self.batch_id = batch_id
        self.provider = provider
        self.bifrost_conn_id = bifrost_conn_id
        self.output_uri = output_uri
        self.output_conn_id = output_conn_id
        self.results_per_file = results_per_file
        self.compression = compression
        self.include_errors = include_errors
        self.max_xcom_results = max_xcom_results

    @cached_property
    def hook(self) -> BifrostHook:
        """The hook for ``bifrost_conn_id``."""
        return BifrostHook(self.bifrost_conn_id)

    def execute(self, context: Context) -> Any:
        """Check the batch is finished, then export its results to XCom or storage."""
        validate_id(self.batch_id)
        provider = self.hook.resolve_provider(self.provider)
        batch = self.hook.get_batch(self.batch_id, provider)
        if batch.state is BatchState.RUNNING:
            raise AirflowException(
                f"Batch {self.batch_id} is still {batch.status}, so it has no results yet: wait for it first "
                "(BifrostBatchSensor)."
            )
        if batch.state is not BatchState.SUCCEEDED:
            errors = "; ".join(batch.error_messages()) or "no error details"
            raise AirflowFailException(f"Batch {self.batch_id} ended {batch.status}: no results to export ({errors}).")
        if not (self.output_uri or "").strip():
            return self._to_xcom(batch, provider)
        return self._to_storage(batch, provider)

    def _blocks(self, batch: Batch, provider: str, results: BatchResults) -> Iterator[tuple[list[ResultRecord], bool]]:
        """Every record in blocks, the results then the error file's lines; each block says if it is the latter."""
        yield from zip(results.blocks(), repeat(False))
        if results.parse_errors:
            self.log.warning(
                "Batch %s: the gateway could not parse %d result line(s) and skipped them: %s",
                self.batch_id,
                len(results.parse_errors),
                results.parse_errors[:5],
            )
        if self.include_errors and batch.error_file_id:
            items = self.hook.iter_file_items(batch.error_file_id, provider)
            while block := [ResultRecord(_encode(item), item) for item in islice(items, ERROR_FILE_BLOCK)]:
                yield block, True

    def _to_xcom(self, batch: Batch, provider: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        results = self.hook.iter_batch_result_dicts(self.batch_id, provider)
        for block, _ in self._blocks(batch, provider, results):
            if len(items) + len(block) > self.max_xcom_results:
                raise AirflowFailException(
                    f"Batch {self.batch_id} has more than max_xcom_results={self.max_xcom_results} results: set "
                    "output_uri (e.g. s3://bucket/prefix or file:///path) to export them to object storage."
                )
            items.extend(record.item for record in block)
        self.log.info("Batch %s: returning %d results through XCom", self.batch_id, len(items))
        return items

    def _to_storage(self, batch: Batch, provider: str) -> dict[str, Any]:
        assert self.output_uri is not None
        root = storage_path(self.output_uri.rstrip("/"), self.output_conn_id or None)
        folder = root / self.batch_id
        writer = ShardWriter(folder, items_per_file=self.results_per_file, compression=self.compression)  # type: ignore[arg-type]
        results = self.hook.iter_batch_result_lines(self.batch_id, provider)
        progress = _Progress(self.log, self.batch_id)
        succeeded = from_error_file = 0
        try:
            for block, from_errors in self._blocks(batch, provider, results):
                lines = [record.line for record in block]
                writer.write_many(lines)
                progress.add(len(lines), sum(map(len, lines)) + len(lines))
                succeeded += sum(record.succeeded for record in block)
                from_error_file += len(block) if from_errors else 0
            shards = writer.finish()
        except BaseException:
            writer.abort()
            raise
        progress.report("exported")
        manifest = {
            "batch_id": self.batch_id,
            "provider": provider,
            "status": batch.status,
            "output_uri": plain_uri(folder),
            "output_conn_id": self.output_conn_id or None,
            "files": [shard.uri for shard in shards],
            "shards": [{"uri": s.uri, "items": s.items, "bytes": s.bytes} for s in shards],
            "counts": {
                "results": progress.items,
                "succeeded": succeeded,
                "errored": progress.items - succeeded,
                "from_error_file": from_error_file,
                "parse_errors": len(results.parse_errors),
            },
            "bytes": sum(shard.bytes for shard in shards),
            "compression": self.compression,
            "results_per_file": self.results_per_file,
            "exported_at": datetime.now(timezone.utc).isoformat(),
        }
        self.log.info("Batch %s: manifest at %s", self.batch_id, write_manifest(folder, manifest))
        return manifest
