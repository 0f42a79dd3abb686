"""
Exporting a finished batch's results: into XCom when small, into sharded JSONL files and a manifest when large.

The results stream (and, for OpenAI-style batches, the error file's lines, which ``/results`` leaves out)
goes through in blocks, in flat memory; the counts and the token usage per model (:mod:`.usage`) are taken
on the way and the manifest is built from them (:class:`~airflow_provider_bifrost.storage.manifest.Manifest`).
Files appear under their final names only when all are complete
(:class:`~airflow_provider_bifrost.storage.shards.ShardWriter`).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from itertools import islice
from typing import TYPE_CHECKING, Any

import msgspec

from airflow_provider_bifrost.exceptions import BifrostResultsNotReadyError
from airflow_provider_bifrost.outcome.status import BatchState
from airflow_provider_bifrost.results.records import RecordBlock, ResultRecord
from airflow_provider_bifrost.results.usage import UsageCounter, describe
from airflow_provider_bifrost.storage.errors import storage_errors
from airflow_provider_bifrost.storage.manifest import ExportCounts, Manifest, write_manifest
from airflow_provider_bifrost.storage.paths import export_folder, plain_uri, storage_path
from airflow_provider_bifrost.storage.shards import ShardWriter
from airflow_provider_bifrost.version_compat import AirflowFailException

if TYPE_CHECKING:
    import logging
    from collections.abc import Iterable, Iterator, Mapping
    from contextlib import AbstractContextManager

    from airflow_provider_bifrost.hooks.bifrost import BifrostHook
    from airflow_provider_bifrost.hooks.models import Batch
    from airflow_provider_bifrost.providers import ProviderProfile
    from airflow_provider_bifrost.results.pages import BatchResults
    from airflow_provider_bifrost.storage.shards import Compression

#: Seconds between progress lines in the task log.
PROGRESS_EVERY = 10.0
#: Error-file items handled per block.
ERROR_FILE_BLOCK = 256
#: The ``custom_id`` of the lone item older gateways answer for a Gemini batch without results.
PLACEHOLDER_ID = "info"
_encode = msgspec.json.Encoder().encode


def _without_placeholder(blocks: Iterator[RecordBlock], log: Any) -> Iterator[RecordBlock]:
    """The blocks, or none when the whole answer is the one ``custom_id: "info"`` item meaning "no results"."""
    first = next(blocks, None)
    if first is None:
        return
    if len(first) == 1 and first.custom_id(0) == PLACEHOLDER_ID:
        second = next(blocks, None)
        if second is None:
            log.info("The gateway answered its 'info' placeholder: the batch has no results")
            return
        yield first
        yield second
    else:
        yield first
    yield from blocks


class ExportProgress:
    """
    Items written, rate and bytes, logged at a steady cadence.

    :param log: the task's logger.
    :param batch_id: the batch (or job), for the lines.
    :param every: seconds between lines.
    :param noun: what ``batch_id`` names, for the lines: ``Batch`` or ``Job``.
    """

    def __init__(self, log: Any, batch_id: str, every: float = PROGRESS_EVERY, noun: str = "Batch") -> None:
        self.log, self.batch_id, self.every, self.noun = log, batch_id, every, noun
        self.items = self.bytes = 0
        self.started = self._last = time.monotonic()

    def add(self, items: int, size: int) -> None:
        """
        Count a written block; log a line when one is due.

        :param items: items in it.
        :param size: its bytes, newlines included.
        """
        self.items += items
        self.bytes += size
        if (now := time.monotonic()) - self._last >= self.every:
            self._last = now
            self.report("exporting")

    def report(self, what: str) -> None:
        """
        Log one line: items, items/s, MB, MB/s.

        :param what: the phase (``exporting``, ``exported``).
        """
        elapsed = max(time.monotonic() - self.started, 1e-9)
        self.log.info(
            "%s %s %s: %s items (%s items/s), %.1f MB (%.1f MB/s)",
            self.noun,
            self.batch_id,
            what,
            f"{self.items:,}",
            f"{self.items / elapsed:,.0f}",
            self.bytes / 1e6,
            self.bytes / 1e6 / elapsed,
        )


def xcom_items(
    blocks: Iterable[RecordBlock], max_results: int, usage: UsageCounter | None, holder: str
) -> list[dict[str, Any]]:
    """
    Every item of ``blocks`` as a plain dict, its usage counted; more than ``max_results`` fails the task.

    :param blocks: the exported items.
    :param max_results: the most items returned.
    :param usage: the counter of the export's token usage, if counted.
    :param holder: what holds the items, with its verb, for the failure: ``Batch b1 has``.
    """
    items: list[dict[str, Any]] = []
    for block in blocks:
        if len(items) + len(block) > max_results:
            raise AirflowFailException(
                f"{holder} more than max_xcom_results={max_results} results: set output_uri "
                "(e.g. s3://bucket/prefix or file:///path) to export them to object storage."
            )
        items.extend(record.item for record in block.records)
        if usage is not None:
            usage.add(block)
    return items


class ShardOutput:
    """
    Where an export goes, ``<output_uri>/<name>``, and the writing of its blocks into one
    :class:`~airflow_provider_bifrost.storage.shards.ShardWriter`, with progress lines, counting what succeeded;
    then its manifest. Shared by the exports of a batch, of a batch and its rounds and of a job.

    :param output_uri: where to write (any ``ObjectStoragePath`` scheme).
    :param output_conn_id: the storage connection, if any.
    :param name: the export's folder under ``output_uri`` (the batch or job id).
    :param log: the task's logger.
    :param results_per_file: items per file (None: one file).
    :param compression: ``"gzip"`` or None.
    :param usage: the counter of the export's token usage, if counted.
    :param noun: what ``name`` names, for the progress lines: ``Batch`` or ``Job``.
    """

    def __init__(
        self,
        output_uri: str,
        output_conn_id: str | None,
        name: str,
        log: Any,
        *,
        results_per_file: int | None,
        compression: Compression | None,
        usage: UsageCounter | None,
        noun: str = "Batch",
    ) -> None:
        self.root = storage_path(output_uri.rstrip("/"), output_conn_id)
        self.folder = export_folder(self.root, name)
        self.uri = plain_uri(self.folder)
        self.results_per_file, self.compression, self.usage = results_per_file, compression, usage
        self.log = log
        self.progress = ExportProgress(log, name, noun=noun)

    def errors(self) -> AbstractContextManager[None]:
        """Storage failures in the folder named by their cause, as ``output_uri``'s."""
        return storage_errors("output_uri", self.uri, "output_conn_id", self.root.fs)

    @contextmanager
    def shards(self) -> Iterator[ShardWriter]:
        """The writer of the shards (call its ``finish`` inside); aborted, no file left, when the body fails."""
        writer = ShardWriter(self.folder, items_per_file=self.results_per_file, compression=self.compression)
        try:
            yield writer
        except BaseException:
            writer.abort()
            raise

    def write(self, writer: ShardWriter, block: RecordBlock) -> int:
        """
        Write a block and count it; return how many of its items succeeded.

        :param writer: the writer, from :meth:`shards`.
        :param block: the items.
        """
        writer.write_block(block)
        self.progress.add(len(block), len(block.jsonl) + 1)
        # Counting usage asks each item whether it succeeded: one pass over the items for both.
        return self.usage.add(block) if self.usage is not None else block.succeeded()

    def write_manifest(self, manifest: dict[str, Any], what: str) -> None:
        """
        Write the manifest in the folder and log where.

        :param manifest: the manifest, as a dict.
        :param what: what it describes, for the line: ``Batch b1``.
        """
        with self.errors():
            self.log.info("%s: manifest at %s", what, write_manifest(self.folder, manifest))


class ResultsExport:
    """
    The export of one finished batch's results.

    What is read follows the provider's profile: ``/results`` only once an OpenAI-style batch has an
    ``output_file_id`` (a batch whose every request failed has only its error file), Gemini's lone ``"info"``
    placeholder item is no result, and an empty answer where the provider writes results late (Bedrock) is
    "not ready", never an empty success.

    :param hook: the hook to read them with.
    :param batch: the batch, as retrieved (finished).
    :param provider: its provider.
    :param profile: the provider's profile.
    :param include_errors: also export the requests in the batch's error file (``error_file_id``).
    :param log: the task's logger.
    :param count_usage: count the token usage per model on the way (the manifest's ``usage``, and a log line).
    :param prices: model -> US dollars per million tokens (validated), for the cost of that usage.
    """

    def __init__(
        self,
        hook: BifrostHook,
        batch: Batch,
        provider: str,
        profile: ProviderProfile,
        *,
        include_errors: bool,
        log: logging.Logger,
        count_usage: bool = True,
        prices: Mapping[str, Mapping[str, float]] | None = None,
    ) -> None:
        self.hook = hook
        self.batch = batch
        self.batch_id = batch.id
        self.provider = provider
        self.profile = profile
        self.include_errors = include_errors
        self.log = log
        self.parse_errors = 0
        self.prices = prices
        self.usage = UsageCounter(provider, profile.name) if count_usage else None

    def to_xcom(self, max_results: int) -> list[dict[str, Any]]:
        """
        Every result item as a plain dict (as the API sends it); more than ``max_results`` fails the task.

        :param max_results: the most items returned.
        """
        blocks = (block for block, _ in self._blocks(self._results(lean=False)))
        items = xcom_items(blocks, max_results, self.usage, f"Batch {self.batch_id} has")
        self._check_count(len(items))
        self.log.info("Batch %s: returning %d results through XCom", self.batch_id, len(items))
        self._report_usage()
        return items

    def to_storage(
        self,
        output_uri: str,
        output_conn_id: str | None,
        *,
        results_per_file: int | None,
        compression: Compression | None,
    ) -> dict[str, Any]:
        """
        Write the results as JSONL shards under ``<output_uri>/<batch_id>``, then the manifest; return it.

        :param output_uri: where to write (any ``ObjectStoragePath`` scheme).
        :param output_conn_id: the storage connection, if any.
        :param results_per_file: items per file (None: one file).
        :param compression: ``"gzip"`` or None.
        """
        out = ShardOutput(
            output_uri,
            output_conn_id,
            self.batch_id,
            self.log,
            results_per_file=results_per_file,
            compression=compression,
            usage=self.usage,
        )
        with out.errors(), out.shards() as writer:
            results = self._results(lean=True)
            succeeded = from_error_file = 0
            for block, from_errors in self._blocks(results):
                succeeded += out.write(writer, block)
                from_error_file += len(block) if from_errors else 0
            shards = writer.finish()
        out.progress.report("exported")
        self._check_count(out.progress.items)
        usage_report = self._report_usage()
        manifest = Manifest(
            batch_id=self.batch_id,
            provider=self.provider,
            status=self.batch.status,
            output_uri=out.uri,
            output_conn_id=output_conn_id,
            shards=shards,
            counts=ExportCounts(
                results=out.progress.items,
                succeeded=succeeded,
                from_error_file=from_error_file,
                parse_errors=len(results.parse_errors) if results is not None else 0,
                expected=self.batch.request_counts.total,
            ),
            compression=compression,
            results_per_file=results_per_file,
            partial=self.batch.state is not BatchState.SUCCEEDED,
            usage=usage_report,
        ).to_dict()
        out.write_manifest(manifest, f"Batch {self.batch_id}")
        return manifest

    def blocks(self, *, lean: bool) -> Iterator[tuple[RecordBlock, bool]]:
        """
        Every record of the batch in blocks, the results then the error file's lines (each block says if it is
        the latter); once exhausted, :attr:`parse_errors` counts the lines the gateway skipped.

        :param lean: records decode their item only when asked (for writing lines out).
        """
        results = self._results(lean=lean)
        yield from self._blocks(results)
        self.parse_errors = len(results.parse_errors) if results is not None else 0

    def _results(self, *, lean: bool) -> BatchResults | None:
        """The results stream, or None when the profile says ``/results`` has nothing to read."""
        if self.profile.results_need_output_file and not self.batch.output_file_id:
            self.log.info(
                "Batch %s has no output file (%s): its results route has nothing to read%s",
                self.batch_id,
                self.batch.status,
                "; exporting its error file" if self.batch.error_file_id and self.include_errors else "",
            )
            return None
        if lean:
            usage = self.usage.struct_for(self.batch.endpoint) if self.usage is not None else None
            return self.hook.iter_batch_result_lines(self.batch_id, self.provider, usage=usage)
        return self.hook.iter_batch_result_dicts(self.batch_id, self.provider)

    def _report_usage(self) -> dict[str, Any] | None:
        """The token usage counted (with its cost, given prices), logged in one line; None when not counted."""
        if self.usage is None:
            return None
        report = self.usage.report(self.prices)
        self.log.info("Batch %s token usage: %s", self.batch_id, describe(report) or "none in the results")
        if self.prices and report["unpriced_models"]:
            self.log.warning(
                "Batch %s: no price for %s in prices, so the cost leaves out their usage; prices name a model as "
                "the results do (above), or as <provider>/<model>.",
                self.batch_id,
                ", ".join(repr(name) for name in report["unpriced_models"]),
            )
        return report

    def _blocks(self, results: BatchResults | None) -> Iterator[tuple[RecordBlock, bool]]:
        """Every record in blocks, the results then the error file's lines; each block says if it is the latter."""
        if results is not None:
            blocks = results.blocks()
            if self.profile.info_placeholder:
                blocks = _without_placeholder(blocks, self.log)
            count = 0
            for block in blocks:
                count += len(block)
                yield block, False
            if not count and self.profile.empty_results_not_ready and self.batch.request_counts.total:
                raise BifrostResultsNotReadyError(
                    f"Batch {self.batch_id} ({self.batch.status}, {self.batch.request_counts.total:,} requests): the "
                    f"gateway answered no results yet; {self.provider} writes them after the job ends. Retry later."
                )
            if results.parse_errors:
                self.log.warning(
                    "Batch %s: the gateway could not parse %d result line(s) and skipped them: %s",
                    self.batch_id,
                    len(results.parse_errors),
                    results.parse_errors[:5],
                )
        if self.include_errors and self.profile.error_file and self.batch.error_file_id:
            items = self.hook.iter_file_items(self.batch.error_file_id, self.provider)
            while records := [ResultRecord(_encode(item), item) for item in islice(items, ERROR_FILE_BLOCK)]:
                yield RecordBlock(records), True

    def _check_count(self, exported: int) -> None:
        """Warn when the export holds fewer or more items than the batch says it had requests."""
        total = self.batch.request_counts.total
        if total and exported != total:
            self.log.warning(
                "Batch %s reports %s requests but %s results were exported%s: check the gateway's results.",
                self.batch_id,
                f"{total:,}",
                f"{exported:,}",
                "" if self.include_errors else " (include_errors=False leaves out the error file's requests)",
            )
