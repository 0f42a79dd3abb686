"""
Submitting a job's parts: one batch per part, tagged with the task instance and the part's number.

Runs in a worker (never in the triggerer): a part's lines are read again from the job's input, uploaded as
a file where the provider takes one, sent inline otherwise. A create whose answer was lost, or a try after a
lost worker, finds the part's earlier batch by its tag (a fingerprint where the provider keeps none), so no
part is ever submitted twice.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_bifrost.exceptions import BifrostTransportError
from airflow_provider_bifrost.idempotency import (
    BifrostDuplicateCandidatesError,
    find_earlier_batch,
    find_tagged_batches,
    tagged,
)
from airflow_provider_bifrost.jobs.source import RequestSource, line_request
from airflow_provider_bifrost.jobs.state import job_identity, part_tag

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_bifrost.hooks.bifrost import BifrostHook
    from airflow_provider_bifrost.jobs.state import JobState, PartState
    from airflow_provider_bifrost.providers import ProviderProfile


@dataclass
class PartSubmitter:
    """
    Creates the batches of one job's parts with the operator's create arguments.

    :param hook: the hook that creates the batches.
    :param profile: the job's provider's profile.
    :param source: the job's requests.
    :param create: the create arguments every part shares (model, endpoint, completion window, extra body,
        output folder).
    :param metadata: the user's metadata of every batch.
    :param display_name: the user's display name of every batch.
    :param log: the task's logger.
    :param rounds_conn_id: the storage connection of the resubmission rounds' request files.
    """

    hook: BifrostHook
    profile: ProviderProfile
    source: RequestSource
    create: dict[str, Any]
    metadata: dict[str, str] | None
    display_name: str | None
    log: Any
    rounds_conn_id: str | None = None

    def source_of(self, state: JobState, part: PartState) -> RequestSource:
        """
        Where ``part``'s requests are: the job's input, or its resubmission round's file.

        :param state: the job.
        :param part: one of its parts.
        """
        if not part.round:
            return self.source
        return RequestSource(input_uri=state.rounds[part.round - 1].input_uri, conn_id=self.rounds_conn_id)

    def submit(self, context: Context, state: JobState, part: PartState) -> None:
        """
        Create one part's batch and record it in ``part``.

        :param context: the task context (the tags name its task instance).
        :param state: the job.
        :param part: the part, not yet submitted.
        :raises BifrostTransportError: the create answer was lost and no batch of the part was found.
        """
        job_key, job_name = job_identity(context)
        key, name = part_tag(job_key, job_name, part.index, state.part_name(part))
        metadata, display_name = tagged(self.profile, key, name, self.metadata, self.display_name)
        spec, plan, source = state.spec(part), state.plan_of(part), self.source_of(state, part)
        arguments: dict[str, Any] = {}
        if self.profile.part_input == "input_file_id":
            with tempfile.NamedTemporaryFile(prefix=f"{state.job_id}-part-{part.index:05d}-", suffix=".jsonl") as sink:
                source.write_part(plan, spec, sink)
                sink.flush()
                arguments["input_file_id"] = self.hook.upload_file(sink.name, state.provider).id
        else:
            arguments["requests"] = [line_request(line) for line in source.part_lines(plan, spec)]
        submitted_at = time.time()
        try:
            batch = self.hook.create_batch(
                provider=state.provider, metadata=metadata, display_name=display_name, **self.create, **arguments
            )
        except BifrostTransportError:
            self.log.warning(
                "Job %s %s: the create answer was lost; looking for its batch", state.job_id, state.part_name(part)
            )
            found = self._find(context, state, part, submitted_at=submitted_at)
            if found is None:
                raise
            part.batch_id, part.status = found, None
        else:
            part.batch_id, part.status = batch.id, batch.status
            part.request_counts = batch.request_counts.model_dump(exclude_none=True)
        self.log.info(
            "Job %s %s (%s requests): batch %s",
            state.job_id,
            state.part_name(part),
            f"{spec.requests:,}",
            part.batch_id,
        )

    def _find(self, context: Context, state: JobState, part: PartState, *, submitted_at: float | None) -> str | None:
        """One part's batch, by its tag, or by its fingerprint among the batches no other part holds."""
        job_key, job_name = job_identity(context)
        key, _ = part_tag(job_key, job_name, part.index, state.part_name(part))
        return find_earlier_batch(
            self.hook,
            state.provider,
            self.profile,
            key,
            context,
            self.log,
            requests=state.spec(part).requests,
            submitted_at=submitted_at,
            exclude={other.batch_id for other in state.parts if other.batch_id},
        )

    def resume(self, context: Context, state: JobState) -> None:
        """
        Take up a saved state: if a create was in flight when the earlier try ended, record that part's batch
        when it was created (the answer never reached the state), so the part is not submitted twice.

        :param context: the task context.
        :param state: the saved job state.
        """
        if state.submitting is None:
            return
        part = state.parts[state.submitting]
        since = state.submitting_at  # its batch, if made, is no older (None: a state saved without it)
        if part.batch_id is None and (found := self._find(context, state, part, submitted_at=since)) is not None:
            part.batch_id = found
            self.log.info(
                "Job %s %s: its create was in flight when the earlier try ended; its batch is %s",
                state.job_id,
                state.part_name(part),
                found,
            )
        state.submitting = state.submitting_at = None

    def recover(self, context: Context, state: JobState, parts: list[PartState] | None = None) -> None:
        """
        Record the batches an earlier try submitted, found by their tags (no saved state: Airflow 3.2, or a
        state store that lost it).

        :param context: the task context.
        :param state: the job.
        :param parts: the parts to look for, none submitted yet (default: every part of the job).
        """
        parts = state.parts if parts is None else parts
        job_key, job_name = job_identity(context)
        keys = {part_tag(job_key, job_name, part.index, state.part_name(part))[0]: part.index for part in parts}
        found: dict[int, str]
        if self.profile.tag_field is not None:
            found = find_tagged_batches(self.hook, state.provider, self.profile, keys, context, self.log)
            for index, batch_id in found.items():
                state.parts[index].batch_id = batch_id
        else:  # a fingerprint per part, among the batches no other part holds: the task stops if two look alike
            found = {}
            for part in parts:
                try:
                    earlier = self._find(context, state, part, submitted_at=None)
                except BifrostDuplicateCandidatesError as exc:
                    raise BifrostDuplicateCandidatesError(
                        f"Job {state.job_id} {state.part_name(part)}: an earlier try submitted parts of the same "
                        f"size, which {state.provider} cannot tell apart (it keeps no tag). Rather than run a part "
                        "twice or never, the task stops. Cancel the job's batches and trigger a new DAG run; on "
                        f"Airflow 3.3+ the job's saved state avoids this. The lookup said: {exc}"
                    ) from None
                if earlier is not None:
                    found[part.index] = part.batch_id = earlier
        if found:
            self.log.info("Job %s: reattached to %d part(s) of an earlier try", state.job_id, len(found))
