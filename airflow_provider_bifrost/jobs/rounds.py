"""
Resubmission rounds: what failed for a reason worth another try, taken from the input by ``custom_id``.

When every part of a round has ended, each part's results are read (the error file too) and every request
that did not succeed gets its reason from the one rule (:attr:`~airflow_provider_bifrost.results.records.
ItemStatus.failure`; a request with no result at all, :func:`~airflow_provider_bifrost.results.records.
missing_reason`). The part's requests are then read again, in order: those whose reason is in
:data:`~airflow_provider_bifrost.results.records.RETRYABLE` are written to the next round's request file,
and every failed request's reason to the round's failures file, both under ``<export folder>/_rounds/``
(temporary names until complete). Memory holds one part's digests at a time, never the job.

The export merges the rounds: an item of a round whose request went into the next round is left out, so
the export holds one line per ``custom_id``, the latest attempt's.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from airflow_provider_bifrost.jobs.ids import DigestRuns, digest
from airflow_provider_bifrost.jobs.source import RequestSource, line_custom_id
from airflow_provider_bifrost.jobs.split import make_plan
from airflow_provider_bifrost.outcome.status import has_results
from airflow_provider_bifrost.results.export import ResultsExport
from airflow_provider_bifrost.results.records import missing_reason
from airflow_provider_bifrost.results.rounds import failing_items, split_round
from airflow_provider_bifrost.storage.paths import plain_uri, prepare_folder, storage_path

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow.sdk import Context, ObjectStoragePath

    from airflow_provider_bifrost.hooks.bifrost import BifrostHook
    from airflow_provider_bifrost.jobs.state import JobState, PartState
    from airflow_provider_bifrost.jobs.submit import PartSubmitter
    from airflow_provider_bifrost.providers import ProviderProfile

#: The folder, in a job's export folder, of its resubmission rounds' files.
ROUNDS_FOLDER = "_rounds"


def round_file(folder: ObjectStoragePath, number: int) -> ObjectStoragePath:
    """
    The request file of resubmission round ``number`` in a job's export ``folder``.

    :param folder: the job's export folder.
    :param number: the round, from 1.
    """
    return folder / ROUNDS_FOLDER / f"round-{number}.jsonl"


def failures_file(folder: ObjectStoragePath, number: int) -> ObjectStoragePath:
    """
    The file listing why each request of round ``number`` (0: the job's input) did not succeed.

    :param folder: the job's export folder.
    :param number: the round.
    """
    return folder / ROUNDS_FOLDER / f"round-{number}.failures.jsonl"


def part_blocks(hook: BifrostHook, state: JobState, profile: ProviderProfile, part: PartState, log: Any) -> Any:
    """
    A finished part's batch as its export reads it: ``(batch, export)``, the export None when the batch left
    nothing to read (it failed, or ended unsuccessfully where the provider keeps no partial results).

    :param hook: the hook to read with.
    :param state: the job.
    :param profile: its provider's profile.
    :param part: the part.
    :param log: the task's logger.
    """
    assert part.batch_id is not None
    batch = hook.get_batch(part.batch_id, state.provider)
    part.status, part.request_counts = batch.status, batch.request_counts.model_dump(exclude_none=True)
    readable = has_results(batch.status, profile.partial_statuses)
    export = ResultsExport(hook, batch, state.provider, profile, include_errors=True, log=log, count_usage=False)
    return batch, export if readable else None


def write_next_round(
    hook: BifrostHook,
    state: JobState,
    profile: ProviderProfile,
    source_of: Callable[[PartState], RequestSource],
    folder: ObjectStoragePath,
    log: Any,
) -> dict[str, Any] | None:
    """
    Write the next round's requests (those of the current round that failed for a reason worth retrying) and
    the current round's failures; return what the round left (``requests`` resubmitted, ``reasons``: reason
    -> requests, ``failures_uri``), or None when nothing failed for such a reason.

    :param hook: the hook to read the results with.
    :param state: the job, every part of its current round ended.
    :param profile: its provider's profile.
    :param source_of: where a part's requests are.
    :param folder: the job's export folder.
    :param log: the task's logger.
    """
    number = state.round + 1
    requests_path, failures_path = round_file(folder, number), failures_file(folder, state.round)
    prepare_folder(requests_path.parent)
    temps = [path.parent / f".{path.name}.tmp" for path in (requests_path, failures_path)]
    reasons: Counter[str] = Counter()
    resubmitted = 0
    with temps[0].open("wb") as requests_sink, temps[1].open("wb") as failures_sink:
        for part in state.round_parts(state.round):
            batch, export = part_blocks(hook, state, profile, part, log)
            failing = failing_items(export.blocks(lean=True) if export is not None else ())
            lines = source_of(part).part_lines(state.plan_of(part), state.spec(part))
            part_reasons, part_resubmitted = split_round(
                lines, failing, missing_reason(batch.status), requests_sink, failures_sink
            )
            reasons.update(part_reasons)
            resubmitted += part_resubmitted
    temps[1].rename(failures_path)
    if not resubmitted:
        temps[0].unlink()
        return None
    temps[0].rename(requests_path)
    return {
        "requests": resubmitted,
        "reasons": dict(reasons),
        "input_uri": plain_uri(requests_path),
        "failures_uri": plain_uri(failures_path),
    }


def start_next_round(
    context: Context,
    state: JobState,
    submitter: PartSubmitter,
    folder: ObjectStoragePath,
    limits: dict[str, int],
    *,
    look_up: bool,
) -> bool:
    """
    Start the next resubmission round of a job whose current round has ended: write its requests, plan its
    parts (within ``limits``), and, on a retried task, record the parts an earlier try already submitted.
    Return False when nothing failed for a reason worth another try.

    :param context: the task context.
    :param state: the job.
    :param submitter: the job's part submitter (its hook, profile and sources).
    :param folder: the job's export folder.
    :param limits: ``max_requests`` and ``max_bytes`` of a part.
    :param look_up: look for the round's parts an earlier try submitted (a retried task).
    """
    log = submitter.log
    left = write_next_round(
        submitter.hook, state, submitter.profile, lambda part: submitter.source_of(state, part), folder, log
    )
    if left is None:
        log.info("Job %s: nothing failed for a reason worth another try; no more rounds", state.job_id)
        return False
    with DigestRuns() as ids:
        plan = make_plan(
            RequestSource(input_uri=left["input_uri"], conn_id=submitter.rounds_conn_id), ids=ids, **limits
        )
    added = state.add_round(left["input_uri"], plan, left)
    log.info(
        "Job %s: resubmitting %s request(s) that failed (%s) as round %d, %d part(s); every failure is listed in %s",
        state.job_id,
        f"{left['requests']:,}",
        ", ".join(f"{reason}: {count:,}" for reason, count in sorted(left["reasons"].items())),
        added.round,
        len(plan.parts),
        left["failures_uri"],
    )
    if look_up:
        submitter.recover(context, state, state.round_parts(added.round))
    return True


def retried_digests(input_uri: str, conn_id: str | None) -> set[int]:
    """
    The digests of the ``custom_id``s a resubmission round holds: the earlier round's items to leave out of
    the export.

    :param input_uri: the round's request file.
    :param conn_id: its storage connection.
    """
    with storage_path(input_uri, conn_id, name="output_uri").open("rb") as stream:
        return {digest(line_custom_id(line)) for line in stream if line.strip()}
