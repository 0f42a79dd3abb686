"""
The export of a batch and its resubmission rounds as one: exactly one line per ``custom_id``, the latest
attempt's.

The rounds are read oldest first, each as the single-batch export reads it (:class:`~airflow_provider_bifrost.
results.export.ResultsExport`: the provider's results rules, the error file). An item is left out when a later
round answered its ``custom_id`` again. To know that without holding the results, the later rounds' ids are
read first, as 8-byte digests, one sorted array per round (:class:`~airflow_provider_bifrost.results.rounds.
SortedDigests`, collected on disk): memory grows with what was resubmitted, never with the results, and the
lines stream through one :class:`~airflow_provider_bifrost.storage.shards.ShardWriter`.

The manifest is the single-batch one (:class:`~airflow_provider_bifrost.storage.manifest.Manifest`, named after
the first batch) with ``batch_ids``, ``rounds`` and ``still_failing`` as a job's manifest has them.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from airflow_provider_bifrost.outcome.status import BatchState, has_results
from airflow_provider_bifrost.results.export import ResultsExport, ShardOutput, xcom_items
from airflow_provider_bifrost.results.records import missing_reason
from airflow_provider_bifrost.results.rounds import SortedDigests, StillFailing, id_digest
from airflow_provider_bifrost.results.usage import UsageCounter, describe
from airflow_provider_bifrost.storage.manifest import ExportCounts, Manifest

if TYPE_CHECKING:
    import logging
    from collections.abc import Iterator, Mapping

    from airflow_provider_bifrost.hooks.bifrost import BifrostHook
    from airflow_provider_bifrost.hooks.models import Batch
    from airflow_provider_bifrost.providers import ProviderProfile
    from airflow_provider_bifrost.results.records import RecordBlock
    from airflow_provider_bifrost.storage.shards import Compression


class MergedExport:
    """
    The export of several finished batches, the rounds of one set of requests, oldest first.

    :param hook: the hook to read them with.
    :param batches: the batches, as retrieved (finished), oldest first.
    :param provider: their provider.
    :param profile: the provider's profile.
    :param include_errors: also export the requests in the batches' error files.
    :param log: the task's logger.
    :param count_usage: count the token usage per model over every round (the manifest's ``usage``).
    :param prices: model -> US dollars per million tokens (validated), for the cost of that usage.
    """

    def __init__(
        self,
        hook: BifrostHook,
        batches: list[Batch],
        provider: str,
        profile: ProviderProfile,
        *,
        include_errors: bool,
        log: logging.Logger,
        count_usage: bool = True,
        prices: Mapping[str, Mapping[str, float]] | None = None,
    ) -> None:
        self.hook, self.batches, self.provider, self.profile = hook, batches, provider, profile
        self.include_errors, self.log, self.prices = include_errors, log, prices
        self.batch_id = batches[0].id
        self.usage = UsageCounter(provider, profile.name) if count_usage else None
        self.failing = StillFailing()
        self.rows: list[dict[str, Any]] = []
        self.parse_errors = self.from_error_file = 0

    def _export(self, batch: Batch) -> ResultsExport:
        export = ResultsExport(
            self.hook,
            batch,
            self.provider,
            self.profile,
            include_errors=self.include_errors,
            log=self.log,
            count_usage=self.usage is not None,
        )
        export.usage = self.usage  # one count over every round
        return export

    def _latest(self) -> Iterator[RecordBlock]:
        """Every round's items in blocks, oldest round first, less those a later round answered again."""
        later: list[SortedDigests] = []
        for batch in self.batches[1:]:  # the later rounds' ids, read first, newest kept last
            blocks = (
                self._export(batch).blocks(lean=True)
                if has_results(batch.status, self.profile.partial_statuses)
                else iter(())
            )
            later.append(SortedDigests(id_digest(b.custom_id(i)) for b, _ in blocks for i in range(len(b))))
        self.parse_errors = self.from_error_file = 0
        for number, batch in enumerate(self.batches):
            newer = later[number:]
            reasons: Counter[str] = Counter()
            results = resubmitted = 0
            export = self._export(batch) if has_results(batch.status, self.profile.partial_statuses) else None
            for block, from_errors in export.blocks(lean=True) if export is not None else ():
                results += len(block)
                reasons.update(reason for status in block.statuses() if (reason := status.failure) is not None)
                if newer:
                    keep = [not any(id_digest(block.custom_id(i)) in ids for ids in newer) for i in range(len(block))]
                    resubmitted += len(block) - sum(keep)
                    block = block.keep(keep)
                self.failing.add(block)
                self.from_error_file += len(block) if from_errors else 0
                yield block
            self.parse_errors += export.parse_errors if export is not None else 0
            if (unanswered := batch.request_counts.total - results) > 0:
                reasons[missing_reason(batch.status)] += unanswered
            self.rows.append(
                {
                    "round": number,
                    "requests": batch.request_counts.total,
                    "batches": [batch.id],
                    "statuses": [batch.status],
                    "resubmitted": resubmitted,
                    "reasons": dict(reasons),
                    "failures_uri": None,
                }
            )

    def to_xcom(self, max_results: int) -> list[dict[str, Any]]:
        """
        Every item, the latest attempt of each ``custom_id``, as plain dicts; more than ``max_results`` fails.

        :param max_results: the most items returned.
        """
        items = xcom_items(self._latest(), max_results, self.usage, f"Batch {self.batch_id} and its rounds have")
        self.log.info("Batch %s and %d round(s): returning %d results", self.batch_id, len(self.rows) - 1, len(items))
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
        Write the merged items as JSONL shards under ``<output_uri>/<first batch id>``, then the manifest.

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
        progress = out.progress
        succeeded = 0
        with out.errors(), out.shards() as writer:
            for block in self._latest():
                succeeded += out.write(writer, block)
            shards = writer.finish()
        progress.report("exported")
        expected = self.batches[0].request_counts.total
        last = self.batches[-1]
        manifest = Manifest(
            batch_id=self.batch_id,
            provider=self.provider,
            status=last.status,
            output_uri=out.uri,
            output_conn_id=output_conn_id,
            shards=shards,
            counts=ExportCounts(
                results=progress.items,
                succeeded=succeeded,
                from_error_file=self.from_error_file,
                parse_errors=self.parse_errors,
                expected=expected,
            ),
            compression=compression,
            results_per_file=results_per_file,
            partial=last.state is not BatchState.SUCCEEDED,
            usage=self._report_usage(),
            batch_ids=[batch.id for batch in self.batches],
            rounds=self.rows,
            still_failing=self.failing.report(max(expected - progress.items, 0)),
        ).to_dict()
        if expected and progress.items != expected:
            self.log.warning(
                "Batch %s had %s requests but its rounds exported %s results, one per custom_id.",
                self.batch_id,
                f"{expected:,}",
                f"{progress.items:,}",
            )
        out.write_manifest(manifest, f"Batch {self.batch_id} and its rounds")
        return manifest

    def _report_usage(self) -> dict[str, Any] | None:
        if self.usage is None:
            return None
        report = self.usage.report(self.prices)
        self.log.info("Batch %s and its rounds token usage: %s", self.batch_id, describe(report) or "none")
        return report
