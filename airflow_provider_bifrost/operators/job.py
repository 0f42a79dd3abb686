"""
``BifrostBatchJobOperator``: a job of any size, split into batches within the provider's limits, submitted in
waves, waited on together in the triggerer, exported as one.

DAG files import this module: at module level it imports only what building and checking the task needs; the
planning, the hook, the storage, the export and the trigger are imported when the task runs.

Why one long module: one operator class, the order of a job's steps (plan, submit in waves, defer, export,
decide); each step's work lives in ``jobs/`` (plan, submit, state, export) and ``triggers/job.py``, and the
arguments, each documented and checked here, are most of its length.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_bifrost.assets import announce, declare_output_asset
from airflow_provider_bifrost.constants import (
    DEFAULT_COMPLETION_WINDOW,
    DEFAULT_CONN_NAME,
    DEFAULT_MAX_XCOM_RESULTS,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_WAIT_TIMEOUT,
    NOT_FOUND_GRACE,
)
from airflow_provider_bifrost.creation import check_create_arguments
from airflow_provider_bifrost.exceptions import BifrostConfigError
from airflow_provider_bifrost.mixins import DEFERRAL_GRACE, BifrostHookMixin
from airflow_provider_bifrost.outcome.progress import DEFAULT_PROGRESS_EVERY
from airflow_provider_bifrost.providers import TAG_IN_JOB_NAME
from airflow_provider_bifrost.validation import (
    always,
    check_compression,
    check_positive_seconds,
    check_prices,
    check_rounds,
    check_storage_uri,
    check_threshold,
    check_usage_options,
    is_given,
    named_provider,
    untemplated,
)
from airflow_provider_bifrost.version_compat import AirflowException, AirflowFailException

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Asset, Context

    from airflow_provider_bifrost.jobs.source import RequestSource
    from airflow_provider_bifrost.jobs.state import JobState
    from airflow_provider_bifrost.jobs.submit import PartSubmitter
    from airflow_provider_bifrost.providers import ProviderProfile

#: ``extra_body`` keys the operator sets itself: Bedrock's job name carries each part's tag.
RESERVED_BODY = frozenset({TAG_IN_JOB_NAME})


class BifrostBatchJobOperator(BifrostHookMixin, BaseOperator):
    """
    Run a job of any size as batches: split, submit in waves, wait deferred, export every result as one.

    The requests (``requests`` inline or from XCom, or ``input_uri``: one or many JSONL files on any
    ``ObjectStoragePath``, a glob allowed) are read as a stream and split into parts of at most
    ``max_requests_per_batch`` requests and ``max_bytes_per_batch`` bytes (by default the provider's limits);
    every ``custom_id`` must be unique across the job. At most ``max_active_batches`` parts run at once: the
    task defers to :class:`~airflow_provider_bifrost.triggers.job.BifrostJobTrigger` while they run, and
    submits the next parts (in a worker, never in the triggerer) each time one finishes. Each part's batch is
    tagged with the task instance and its number, so a retried or cleared task reattaches to the parts
    already submitted and submits only the missing ones (exactly, from the task state store on Airflow 3.3+;
    by the tags otherwise, see ``docs/providers.md`` for what each provider keeps).

    When every part has finished, their results (and error-file lines) are exported as one: into
    ``<output_uri>/<job_id>`` as sharded JSONL with one manifest (job-level counts, a table of the parts, and
    a check of the exported ``custom_id``s against the input: missing, unexpected, repeated), or into XCom
    without ``output_uri`` (up to ``max_xcom_results``). The task fails, after the export, when a part ended
    failed, expired or cancelled, or when at least ``failed_share_threshold`` of the job's requests did not
    succeed; the manifest is then in XCom under the key ``manifest``.

    :param model: ``"provider/model"``, or the model name with ``provider`` set (templated).
    :param provider: the provider (templated); default: the model's prefix, else the connection's.
    :param endpoint: the endpoint every request calls (templated); required for OpenAI and Azure.
    :param input_uri: the requests' JSONL file(s): a file, a folder of ``*.jsonl`` files, or a glob (templated).
    :param input_conn_id: the storage connection of ``input_uri`` (templated).
    :param requests: inline requests, any number (templated; may be an XCom of an upstream task).
    :param output_uri: where to export (templated); None: the results come back through XCom.
    :param output_conn_id: the storage connection of ``output_uri`` (templated).
    :param max_active_batches: the most parts running at once (providers cap what may be queued).
    :param max_requests_per_batch: the most requests in a part; default: the provider's limit.
    :param max_bytes_per_batch: the largest part in JSONL bytes; default: the provider's limit.
    :param completion_window: how long the provider may take over each batch (templated).
    :param metadata: string tags of every batch (templated); ``airflow_`` keys are reserved.
    :param extra_body: extra top-level keys of every create body (templated), e.g. Bedrock's ``role_arn``.
    :param output_folder: where the provider writes results (templated): Azure blob, Vertex ``gs://`` prefix.
    :param display_name: the batches' display name (templated); Vertex's carries each part's tag.
    :param bifrost_conn_id: the Bifrost connection.
    :param poll_interval: seconds between rounds of status checks.
    :param timeout: seconds the whole job may take, from its first submission; default 7 days.
    :param cancel_on_timeout: cancel the running parts when the job times out.
    :param cancel_on_kill: cancel the running parts when the task is killed (deferred: Airflow 3.3+).
    :param failed_share_threshold: fail when at least this share of the job's requests did not succeed.
    :param results_per_file: items per exported file; None: one file.
    :param compression: ``"gzip"`` or None.
    :param include_errors: also export the requests in the batches' error files (OpenAI, Azure).
    :param max_xcom_results: the most items the XCom mode returns.
    :param progress_every: seconds between the job's progress lines in the triggerer's log.
    :param resubmit_failed: rounds of resubmission: when every part has ended, the requests that failed for a
        reason worth another try (expired, cancelled, rate limited, a server error, a timeout; never an
        invalid request) are sent again as new parts, up to this many times; the export keeps each request's
        latest attempt, and the manifest its ``rounds`` and what is ``still_failing``. Needs ``output_uri``
        (each round's requests are kept there for every try).
    :param count_usage: count the token usage per model over the whole job (the manifest's ``usage``).
    :param prices: per model, US dollars per million tokens, for the cost of that usage (templated); see
        :class:`~airflow_provider_bifrost.operators.results.BifrostBatchResultsOperator`.
    :param output_asset: announce the export as an Airflow Asset when the job succeeds: ``True`` (the Asset is
        ``output_uri``, which may then not be templated) or an ``Asset``; the event's extra holds the manifest's key
        figures, the parts' batches and, with resubmission, the rounds. Needs ``output_uri``.
    """

    template_fields: Sequence[str] = (
        "model",
        "provider",
        "endpoint",
        "input_uri",
        "input_conn_id",
        "requests",
        "output_uri",
        "output_conn_id",
        "completion_window",
        "metadata",
        "extra_body",
        "output_folder",
        "display_name",
        "prices",
    )
    template_fields_renderers = {"requests": "json", "metadata": "json", "extra_body": "json", "prices": "json"}
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        model: str,
        provider: str | None = None,
        endpoint: str | None = None,
        input_uri: str | None = None,
        input_conn_id: str | None = None,
        requests: Any = None,
        output_uri: str | None = None,
        output_conn_id: str | None = None,
        max_active_batches: int = 4,
        max_requests_per_batch: int | None = None,
        max_bytes_per_batch: int | None = None,
        completion_window: str = DEFAULT_COMPLETION_WINDOW,
        metadata: dict[str, str] | None = None,
        extra_body: dict[str, Any] | None = None,
        output_folder: str | None = None,
        display_name: str | None = None,
        bifrost_conn_id: str = DEFAULT_CONN_NAME,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        cancel_on_timeout: bool = True,
        cancel_on_kill: bool = True,
        failed_share_threshold: float | None = 1.0,
        results_per_file: int | None = None,
        compression: str | None = None,
        include_errors: bool = True,
        max_xcom_results: int = DEFAULT_MAX_XCOM_RESULTS,
        progress_every: float = DEFAULT_PROGRESS_EVERY,
        resubmit_failed: int = 0,
        count_usage: bool = True,
        prices: dict[str, dict[str, Any]] | str | None = None,
        output_asset: bool | Asset = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.provider = provider
        self.endpoint = endpoint
        self.input_uri = input_uri
        self.input_conn_id = input_conn_id
        self.requests = requests
        self.output_uri = output_uri
        self.output_conn_id = output_conn_id
        self.max_active_batches = max_active_batches
        self.max_requests_per_batch = max_requests_per_batch
        self.max_bytes_per_batch = max_bytes_per_batch
        self.completion_window = completion_window
        self.metadata = metadata
        self.extra_body = extra_body
        self.output_folder = output_folder
        self.display_name = display_name
        self.bifrost_conn_id = bifrost_conn_id
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.cancel_on_timeout = cancel_on_timeout
        self.cancel_on_kill = cancel_on_kill
        self.failed_share_threshold = failed_share_threshold
        self.results_per_file = results_per_file
        self.compression = compression
        self.include_errors = include_errors
        self.max_xcom_results = max_xcom_results
        self.progress_every = progress_every
        self.resubmit_failed = resubmit_failed
        self.count_usage = count_usage
        self.prices = prices
        self._state: JobState | None = None
        try:
            for name in ("poll_interval", "timeout", "progress_every"):
                check_positive_seconds(getattr(self, name), name)
            for name in ("max_active_batches", "max_requests_per_batch", "max_bytes_per_batch", "results_per_file"):
                value = getattr(self, name)
                if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                    raise BifrostConfigError(f"{name} must be a positive whole number, got {value!r}.")
            check_threshold(failed_share_threshold)
            check_compression(compression)
            check_usage_options(count_usage, prices)
            check_rounds(resubmit_failed)
            if resubmit_failed and output_uri is None:
                raise BifrostConfigError(
                    "resubmit_failed needs output_uri: each round's requests are kept under <output_uri>/<job id>/"
                    "_rounds/ for every try of the task, and the rounds are exported there as one."
                )
            self._check_arguments(rendered=False)
            self.output_asset = declare_output_asset(self, output_asset, output_uri)
        except BifrostConfigError as exc:
            raise BifrostConfigError(f"{self._who}: {exc}") from None

    @property
    def _who(self) -> str:
        return f"{type(self).__name__}(task_id={self.task_id!r})"

    def _check_arguments(self, *, rendered: bool) -> None:
        """The create checks every part will pass, the inputs and the export location; templates once rendered."""
        literal = always if rendered else untemplated
        requests = self.requests if isinstance(self.requests, list) else None
        check_create_arguments(
            model=self.model,
            provider=self.provider,
            endpoint=self.endpoint,
            inputs={"input_uri": self.input_uri, "requests": self.requests},
            requests=requests,
            metadata=self.metadata,
            completion_window=self.completion_window,
            extra_body=self.extra_body,
            output_folder=self.output_folder,
            display_name=self.display_name,
            literal=literal,
            reserved_metadata=True,
            reserved_body=RESERVED_BODY,
            any_input=True,
        )
        for name in ("input_uri", "output_uri"):
            value = getattr(self, name)
            if is_given(value) and literal(value):
                check_storage_uri(value, name)

    # -- running ----------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        """Plan the job (or take up an earlier try's), submit the first wave and defer; or export when done."""
        from airflow_provider_bifrost.jobs.ids import DigestRuns
        from airflow_provider_bifrost.jobs.split import make_plan
        from airflow_provider_bifrost.jobs.state import JOB_STATE_KEY, JobState, job_identity

        try:
            self._check_arguments(rendered=True)
        except BifrostConfigError as exc:
            raise BifrostConfigError(f"{self._who}: {exc}") from None
        custom = self.hook.settings.custom_providers
        provider = named_provider(self.model, self.provider or None, custom=custom) or self.hook.resolve_provider(None)
        profile = self.hook.profile(provider)
        job_key, _ = job_identity(context)
        limits = self._limits(profile)
        with DigestRuns() as ids:
            plan = make_plan(self._source(), ids=ids, **limits)
        state = JobState.new(job_key, provider, plan)
        store = context.get("task_state_store")
        saved = store.get(JOB_STATE_KEY) if store is not None else None
        if isinstance(saved, dict) and saved.get("plan") is not None:
            earlier = JobState.from_dict(saved)
            if earlier.plan.fingerprint != plan.fingerprint:
                raise AirflowFailException(
                    f"{self._who}: the job's input changed since an earlier try submitted parts of it "
                    f"({', '.join(p.batch_id for p in earlier.parts if p.batch_id)}). Cancel those batches and "
                    "clear the task, or trigger a new DAG run for the new input."
                )
            state = earlier
            self.log.info("Taking up the job of an earlier try: %s", state.progress_line())
            self._submitter(profile).resume(context, state)
        elif (context["ti"].try_number or 1) > 1:
            self._submitter(profile).recover(context, state)
        self.log.info(
            "Job %s: %s requests in %d part(s) of at most %s requests and %s bytes",
            state.job_id,
            f"{plan.requests:,}",
            len(plan.parts),
            f"{limits['max_requests']:,}",
            f"{limits['max_bytes']:,}",
        )
        return self._advance(context, state, profile)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """
        Take the job trigger's event: submit the next wave and defer again, or export when all parts are done.

        :param context: the task context.
        :param event: the trigger's event payload.
        """
        from airflow_provider_bifrost.jobs.state import JobState
        from airflow_provider_bifrost.triggers.job import JOB_EVENT_STATUSES

        if not isinstance(event, dict) or event.get("status") not in JOB_EVENT_STATUSES or "state" not in event:
            raise AirflowException(f"{self._who}: unexpected job trigger event {event!r}.")
        state = self._state = JobState.from_dict(event["state"])
        status, message = event["status"], event.get("message", "")
        self.log.info("Job %s: %s (%s); %s", state.job_id, status, message, state.progress_line())
        if status == "timeout":
            if self.cancel_on_timeout:
                self._cancel(state)
            raise AirflowFailException(
                f"Job {state.job_id} did not finish within timeout={self.timeout:g} s: {message}; "
                + ("its running parts were cancelled." if self.cancel_on_timeout else "its parts are left running.")
            )
        if status == "error":
            cls = AirflowFailException if event.get("permanent") else AirflowException
            raise cls(f"Waiting for job {state.job_id} failed: {message}")
        return self._advance(context, state, self.hook.profile(state.provider))

    def _advance(self, context: Context, state: JobState, profile: ProviderProfile) -> Any:
        """Submit parts while fewer than ``max_active_batches`` run; defer while any runs; export when all ran."""
        from airflow_provider_bifrost.triggers.job import BifrostJobTrigger

        self._state = state
        self._save(context, state)
        submitter = self._submitter(profile)
        while True:
            waiting = state.waiting()
            while waiting and len(state.active()) < self.max_active_batches:
                part = waiting.pop(0)
                # saved first: a try after a lost worker looks this part up, among batches made since now
                state.submitting, state.submitting_at = part.index, time.time()
                self._save(context, state)
                submitter.submit(context, state, part)
                state.submitting = state.submitting_at = None
                self._save(context, state)
            if state.active():
                break
            if state.round >= self.resubmit_failed or not self._next_round(context, state, submitter, profile):
                return self._finish(context, state, profile)
            self._save(context, state)
        deadline = state.started_at + self.timeout
        self.log.info("%s", state.progress_line())
        self.defer(
            trigger=BifrostJobTrigger(
                state=state.to_dict(),
                bifrost_conn_id=self.bifrost_conn_id,
                poll_interval=self.poll_interval,
                deadline=deadline,
                progress_every=self.progress_every,
                cancel_on_kill=self.cancel_on_kill,
                not_found_until=time.time() + NOT_FOUND_GRACE,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=max(deadline - time.time(), 1)) + DEFERRAL_GRACE,
        )

    def _limits(self, profile: ProviderProfile) -> dict[str, int]:
        """The most requests and bytes of a part: the task's, else the provider's."""
        return {
            "max_requests": self.max_requests_per_batch or profile.max_requests,
            "max_bytes": self.max_bytes_per_batch or profile.max_bytes,
        }

    def _next_round(
        self, context: Context, state: JobState, submitter: PartSubmitter, profile: ProviderProfile
    ) -> bool:
        """Start the next resubmission round (what failed for a reason worth another try); False: none."""
        from airflow_provider_bifrost.jobs.rounds import start_next_round
        from airflow_provider_bifrost.storage.paths import export_folder, storage_path

        assert isinstance(self.output_uri, str)
        folder = export_folder(storage_path(self.output_uri.rstrip("/"), self.output_conn_id or None), state.job_id)
        retried = (context["ti"].try_number or 1) > 1
        return start_next_round(context, state, submitter, folder, self._limits(profile), look_up=retried)

    def _submitter(self, profile: ProviderProfile) -> PartSubmitter:
        from airflow_provider_bifrost.jobs.submit import PartSubmitter

        create = {
            "model": self.model,
            "endpoint": self.endpoint or None,
            "completion_window": self.completion_window,
            "extra_body": self.extra_body or None,
            "output_folder": self.output_folder or None,
        }
        return PartSubmitter(
            self.hook,
            profile,
            self._source(),
            create,
            self.metadata,
            self.display_name or None,
            self.log,
            rounds_conn_id=self.output_conn_id or None,
        )

    def _finish(self, context: Context, state: JobState, profile: ProviderProfile) -> Any:
        """Export every part's results as one; fail after it if a part did not succeed or too many requests."""
        from airflow_provider_bifrost.jobs.export import JobExport

        prices = check_prices(self.prices, f" ({self.task_id})") if is_given(self.prices) else None
        export = JobExport(
            self.hook,
            state,
            profile,
            self._source(),
            include_errors=self.include_errors,
            log=self.log,
            count_usage=self.count_usage,
            prices=prices,
            rounds_conn_id=self.output_conn_id or None,
        )
        if self.output_uri is None:
            from airflow_provider_bifrost.results.records import item_succeeded

            result: Any = export.to_xcom(self.max_xcom_results)
            succeeded = sum(item_succeeded(item) for item in result)
        else:
            result = export.to_storage(
                self.output_uri,
                self.output_conn_id or None,
                results_per_file=self.results_per_file,
                compression=self.compression,  # type: ignore[arg-type]
            )
            succeeded = result["counts"]["succeeded"]
        problems = state.problems(succeeded, self.failed_share_threshold)
        if problems:
            if self.output_uri is not None:
                context["ti"].xcom_push(key="manifest", value=result)
            raise AirflowFailException(f"Job {state.job_id}: {'; '.join(problems)}. The export holds what it produced.")
        announce(context, self.output_asset, result, self.log)
        return result

    def _source(self) -> RequestSource:
        from airflow_provider_bifrost.jobs.source import RequestSource

        if is_given(self.input_uri):
            return RequestSource(input_uri=self.input_uri, conn_id=self.input_conn_id or None)
        return RequestSource(requests=list(self.requests or []))

    def _save(self, context: Context, state: JobState) -> None:
        """Keep the job's state in the task state store (Airflow 3.3+) for a try after a lost worker."""
        from airflow_provider_bifrost.jobs.state import JOB_STATE_KEY

        store = context.get("task_state_store")
        if store is not None:
            store.set(JOB_STATE_KEY, state.to_dict())

    def _cancel(self, state: JobState) -> None:
        for part in state.active():
            assert part.batch_id is not None
            batch = self.hook.cancel_batch(part.batch_id, state.provider)
            self.log.info(
                "Job %s %s: cancelled batch %s, now %s", state.job_id, state.part_name(part), batch.id, batch.status
            )

    def on_kill(self) -> None:
        """Cancel the running parts when the task is killed in a worker, if ``cancel_on_kill``."""
        if self.cancel_on_kill and self._state is not None:
            self._cancel(self._state)
