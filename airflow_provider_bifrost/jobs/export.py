"""
A job's export: every part's results (and error-file lines) into one folder of shards and one manifest.

Each part's batch is read as the single-batch export reads it (:class:`~airflow_provider_bifrost.results.
export.ResultsExport`: the provider's results rules, partial output where the profile keeps it) and written,
in part order, through one :class:`~airflow_provider_bifrost.storage.shards.ShardWriter`. Every exported
item's ``custom_id`` is checked against the job's input, in flat memory (:mod:`.ids`): the manifest counts
the input ids with no line, the lines with an id not in the input, and repeated lines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_bifrost.jobs.ids import DigestRuns, compare, digests
from airflow_provider_bifrost.jobs.rounds import retried_digests
from airflow_provider_bifrost.outcome.status import has_results
from airflow_provider_bifrost.results.export import ResultsExport, ShardOutput, xcom_items
from airflow_provider_bifrost.results.rounds import StillFailing, id_digest, id_digests, unique
from airflow_provider_bifrost.results.usage import UsageCounter, describe
from airflow_provider_bifrost.storage.manifest import JobCounts, JobManifest, PartEntry

if TYPE_CHECKING:
    import logging
    from collections.abc import Iterator, Mapping

    from airflow_provider_bifrost.hooks.bifrost import BifrostHook
    from airflow_provider_bifrost.jobs.source import RequestSource
    from airflow_provider_bifrost.jobs.state import JobState, PartState
    from airflow_provider_bifrost.providers import ProviderProfile
    from airflow_provider_bifrost.results.records import RecordBlock
    from airflow_provider_bifrost.storage.shards import Compression


class JobExport:
    """
    The export of one finished job.

    :param hook: the hook to read the batches with.
    :param job: the job, every part finished.
    :param profile: its provider's profile.
    :param source: the job's requests (read again to check the exported ids against them).
    :param include_errors: also export the requests in the batches' error files.
    :param log: the task's logger.
    :param count_usage: count the token usage per model over every part (the manifest's ``usage``).
    :param prices: model -> US dollars per million tokens (validated), for the cost of that usage.
    :param rounds_conn_id: the storage connection of the resubmission rounds' request files.
    """

    def __init__(
        self,
        hook: BifrostHook,
        job: JobState,
        profile: ProviderProfile,
        source: RequestSource,
        *,
        include_errors: bool,
        log: logging.Logger,
        count_usage: bool = True,
        prices: Mapping[str, Mapping[str, float]] | None = None,
        rounds_conn_id: str | None = None,
    ) -> None:
        self.hook = hook
        self.job = job
        self.profile = profile
        self.source = source
        self.include_errors = include_errors
        self.log = log
        self.prices = prices
        self.rounds_conn_id = rounds_conn_id
        self.usage = UsageCounter(job.provider, profile.name) if count_usage else None
        self.failing = StillFailing() if job.rounds else None
        self._resubmitted_cache: dict[int, set[int]] = {}

    def _parts(self) -> Iterator[tuple[PartState, ResultsExport | None]]:
        """Each part, with the export of its batch, or None when its batch left nothing to read."""
        for part in self.job.parts:
            assert part.batch_id is not None
            batch = self.hook.get_batch(part.batch_id, self.job.provider)
            part.status, part.request_counts = batch.status, batch.request_counts.model_dump(exclude_none=True)
            readable = has_results(batch.status, self.profile.partial_statuses)
            if not readable:
                self.log.warning(
                    "Job %s %s: batch %s ended %s, no results",
                    self.job.job_id,
                    self.job.part_name(part),
                    batch.id,
                    batch.status,
                )
                yield part, None
                continue
            export = ResultsExport(
                self.hook,
                batch,
                self.job.provider,
                self.profile,
                include_errors=self.include_errors,
                log=self.log,
                count_usage=self.usage is not None,
            )
            export.usage = self.usage  # one count over every part
            yield part, export

    def _latest(self, part: PartState, export: ResultsExport | None) -> Iterator[tuple[RecordBlock, bool]]:
        """
        A part's items in blocks, its results then its error file's lines (each block says if it is the
        latter), less the items whose requests were resubmitted in the next round (that round's stand for them).
        """
        if export is None:
            return
        resubmitted = self._resubmitted(part.round + 1)
        for block, from_errors in export.blocks(lean=True):
            if resubmitted:
                block = block.keep([id_digest(block.custom_id(i)) not in resubmitted for i in range(len(block))])
            if self.failing is not None:
                self.failing.add(block)
            yield block, from_errors

    def _resubmitted(self, number: int) -> set[int]:
        """The digests of the requests resubmitted in round ``number`` (none when there is no such round)."""
        if number > self.job.round:
            return set()
        if number not in self._resubmitted_cache:
            self._resubmitted_cache.clear()  # rounds are read in order: one set in memory at a time
            self._resubmitted_cache[number] = retried_digests(
                self.job.rounds[number - 1].input_uri, self.rounds_conn_id
            )
        return self._resubmitted_cache[number]

    def to_xcom(self, max_results: int) -> list[dict[str, Any]]:
        """
        Every result item of every part, as plain dicts; more than ``max_results`` fails the task.

        :param max_results: the most items returned.
        """
        blocks = (block for part, export in self._parts() for block, _ in self._latest(part, export))
        items = xcom_items(blocks, max_results, self.usage, f"Job {self.job.job_id} has")
        self.log.info("Job %s: returning %d results through XCom", self.job.job_id, len(items))
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
        Write every part's results as JSONL shards under ``<output_uri>/<job_id>``, then the manifest; return it.

        :param output_uri: where to write (any ``ObjectStoragePath`` scheme).
        :param output_conn_id: the storage connection, if any.
        :param results_per_file: items per file (None: one file).
        :param compression: ``"gzip"`` or None.
        """
        out = ShardOutput(
            output_uri,
            output_conn_id,
            self.job.job_id,
            self.log,
            results_per_file=results_per_file,
            compression=compression,
            usage=self.usage,
            noun="Job",
        )
        progress = out.progress
        entries: list[tuple[PartState, int, int, int, int, int]] = []  # results, ok, errored, first/last shard
        totals = [0, 0, 0]  # succeeded, from_error_file, parse_errors
        with out.errors(), DigestRuns() as seen:
            with out.shards() as writer:
                for part, export in self._parts():
                    first, results, succeeded, from_errors = writer.shard_index, 0, 0, 0
                    for block, errors in self._latest(part, export):
                        succeeded += out.write(writer, block)
                        seen.extend(id_digests(block.custom_id(index) for index in range(len(block))))
                        results += len(block)
                        from_errors += len(block) if errors else 0
                    last = writer.shard_index if writer.writing else writer.shard_index - 1
                    totals[0] += succeeded
                    totals[1] += from_errors
                    totals[2] += export.parse_errors if export is not None else 0
                    entries.append((part, results, succeeded, from_errors, first, last if results else first - 1))
                shards = writer.finish()
            progress.report("exported")
            with DigestRuns() as expected:
                expected.extend(digests(self.source.custom_ids(self.job.plan)))
                missing, unexpected, duplicated = compare(unique(expected.sorted()), seen.sorted())
        manifest = JobManifest(
            job_id=self.job.job_id,
            provider=self.job.provider,
            output_uri=out.uri,
            output_conn_id=output_conn_id,
            shards=shards,
            counts=JobCounts(
                results=progress.items,
                succeeded=totals[0],
                from_error_file=totals[1],
                parse_errors=totals[2],
                expected=self.job.plan.requests,
                missing=missing,
                unexpected=unexpected,
                duplicated=duplicated,
            ),
            parts=[
                PartEntry(
                    part=self.job.spec(part).index + 1,
                    round=part.round,
                    batch_id=part.batch_id or "",
                    status=part.status,
                    requests=self.job.spec(part).requests,
                    results=results,
                    succeeded=succeeded,
                    from_error_file=from_errors,
                    files=[shard.uri for shard in shards[first : last + 1]],
                )
                for part, results, succeeded, from_errors, first, last in entries
            ],
            compression=compression,
            results_per_file=results_per_file,
            usage=self._report_usage(),
            rounds=self._rounds() if self.job.rounds else None,
            still_failing=self.failing.report(missing) if self.failing is not None else None,
        ).to_dict()
        if missing or unexpected or duplicated:
            self.log.warning(
                "Job %s: %d input ids have no result, %d results are not from the input, %d repeat an id",
                self.job.job_id,
                missing,
                unexpected,
                duplicated,
            )
        out.write_manifest(manifest, f"Job {self.job.job_id}")
        return manifest

    def _rounds(self) -> list[dict[str, Any]]:
        """The manifest's table of rounds: each round's requests, batches, and what it left to the next."""
        table = []
        for number in range(self.job.round + 1):
            parts = self.job.round_parts(number)
            plan = self.job.rounds[number - 1].plan if number else self.job.plan
            after = self.job.rounds[number].before if number < self.job.round else {}
            table.append(
                {
                    "round": number,
                    "requests": plan.requests,
                    "batches": [part.batch_id for part in parts],
                    "statuses": [part.status for part in parts],
                    "resubmitted": after.get("requests", 0),
                    "reasons": after.get("reasons", {}),
                    "failures_uri": after.get("failures_uri"),
                }
            )
        return table

    def _report_usage(self) -> dict[str, Any] | None:
        """The job's token usage (with its cost, given prices), logged in one line; None when not counted."""
        if self.usage is None:
            return None
        report = self.usage.report(self.prices)
        self.log.info("Job %s token usage: %s", self.job.job_id, describe(report) or "none in the results")
        if self.prices and report["unpriced_models"]:
            self.log.warning(
                "Job %s: no price for %s in prices, so the cost leaves out their usage",
                self.job.job_id,
                ", ".join(report["unpriced_models"]),
            )
        return report
