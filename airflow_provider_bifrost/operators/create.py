"""
``BifrostCreateBatchOperator``: submit a batch, never twice for one task instance, and optionally wait for it.

DAG files import this module: at module level it imports only what building and checking the task needs;
the hook, the storage and the trigger are imported when the task runs (``tests/unit/test_import_cost.py``).

Why one long module: it is one operator class whose methods are the steps of ``ResumableJobMixin`` (submit,
status, wait, result) around one never-twice rule, and, with ``resubmit_failed``, the loop of rounds; the
rule's lookups live in ``idempotency.py``, the wait's decisions in ``outcome/``, the rounds' work in
``resubmission.py``, so what is left here is the order in which they run.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_bifrost.constants import (
    DEFAULT_COMPLETION_WINDOW,
    DEFAULT_CONN_NAME,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_WAIT_TIMEOUT,
    NOT_FOUND_GRACE,
)
from airflow_provider_bifrost.creation import check_create_arguments
from airflow_provider_bifrost.exceptions import BifrostConfigError, BifrostNotFoundError, BifrostTransportError
from airflow_provider_bifrost.idempotency import (
    GONE,
    JOB_NAME_FIELD,
    find_earlier_batch,
    reusable,
    tagged,
    task_instance_tag,
)
from airflow_provider_bifrost.mixins import BifrostHookMixin
from airflow_provider_bifrost.outcome.events import closing_line, settle_event, terminal_event
from airflow_provider_bifrost.outcome.progress import DEFAULT_PROGRESS_EVERY
from airflow_provider_bifrost.outcome.status import BatchState, batch_state
from airflow_provider_bifrost.providers import TAG_IN_JOB_NAME
from airflow_provider_bifrost.validation import (
    always,
    check_positive_seconds,
    check_rounds,
    check_storage_uri,
    check_threshold,
    is_given,
    named_provider,
    untemplated,
)
from airflow_provider_bifrost.version_compat import AirflowFailException, ResumableJobMixin

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

    from airflow_provider_bifrost.providers import ProviderProfile
    from airflow_provider_bifrost.resubmission import BatchRounds

#: The task state store key (Airflow 3.3+) under which the create operator saves its batch id.
BATCH_STATE_KEY = "bifrost_batch_id"
#: ``extra_body`` keys the operator sets itself: Bedrock's job name carries the task instance's tag.
RESERVED_BODY = frozenset({TAG_IN_JOB_NAME})


class BifrostCreateBatchOperator(BifrostHookMixin, ResumableJobMixin, BaseOperator):
    """
    Submit a Bifrost batch; optionally wait for it, deferred to the triggerer. Returns the batch id.

    The input is exactly one of ``input_file_id`` (a file already uploaded to the gateway), ``input_uri``
    (a JSONL file on any ``ObjectStoragePath``, streamed to the gateway's files API) or ``requests``
    (inline ``{custom_id, method, url, body}`` dicts, or ``{custom_id, params}`` for Anthropic).
    Invalid combinations are rejected when the DAG is parsed.

    **Never a duplicate batch.** Every batch is tagged in its ``metadata`` with the task instance
    (``airflow_ti_key``, a hash of dag, task, run and map index; ``airflow_ti``, readable). Its id is
    saved in the task state store right after submission (Airflow 3.3+). A later try of the same task
    instance, deferred or not, reattaches to that batch while it is running or completed, and
    submits anew only when it failed, expired, was cancelled or is gone. When no id was saved (the
    worker died first, Airflow before 3.3, or the gateway created the batch but its answer never
    arrived), the newest batch carrying the tag is found by listing the provider's batches and used the
    same way; a create request whose answer is lost is looked up at once, in the same try.

    With ``wait_for_completion`` the task ends the way :class:`~airflow_provider_bifrost.sensors.bifrost.
    BifrostBatchSensor` does (same event policy and ``failed_share_threshold``), and also pushes the
    batch summary to XCom under the key ``batch``.

    :param model: ``"provider/model"``, or the model name with ``provider`` set (templated).
    :param provider: the provider (templated); default: the model's prefix, else the connection's
        ``default_provider``.
    :param endpoint: the endpoint every request calls (templated); required for OpenAI and Azure.
    :param input_file_id: an uploaded JSONL file (templated).
    :param input_uri: a JSONL file to upload first, e.g. ``s3://bucket/requests.jsonl`` (templated).
    :param input_conn_id: the storage connection of ``input_uri`` (templated).
    :param requests: inline requests (templated; may be an XCom of an upstream task).
    :param completion_window: how long the provider may take (templated).
    :param metadata: string tags stored with the batch (templated); keys starting with ``airflow_`` are
        reserved. Only OpenAI and Azure keep metadata.
    :param extra_body: extra top-level keys of the create body, passed by the gateway to the provider
        (templated), e.g. Bedrock's ``{"role_arn": ..., "output_s3_uri": ...}`` or Vertex options.
    :param output_folder: where the provider writes results (templated): an Azure blob or Vertex ``gs://``
        prefix.
    :param display_name: the batch's display name (templated); Vertex lists it back.
    :param bifrost_conn_id: the Bifrost connection.
    :param wait_for_completion: wait until the batch is finished.
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param poll_interval: seconds between status checks while waiting.
    :param timeout: seconds to wait in all; default 7 days.
    :param cancel_on_timeout: cancel the batch when the wait times out.
    :param cancel_on_kill: cancel the batch when the task is killed while waiting (running or, on
        Airflow 3.3+, deferred).
    :param failed_share_threshold: fail when at least this share of the requests did not succeed.
    :param progress_every: seconds between progress lines in the task log while waiting (counts, %, rate, time
        left); None: only the closing line.
    :param resubmit_failed: rounds of resubmission, with ``wait_for_completion``: when the batch has ended, the
        requests that failed for a reason worth another try (expired, cancelled, rate limited, a server error,
        a timeout; never an invalid request) are taken from the input by ``custom_id`` and submitted as a new
        batch (tagged with the round, so never twice), waited on the same way, up to this many times. The
        task still returns the first batch's id; XCom ``batch_ids`` lists every round's batch, oldest first
        (what :class:`~airflow_provider_bifrost.operators.results.BifrostBatchResultsOperator` merges),
        ``rounds`` what each left, and ``batch`` is the last round's summary. ``timeout`` applies to each
        round's wait, and ``failed_share_threshold`` to the requests that never succeeded, of the first
        batch's.
    """

    template_fields: Sequence[str] = (
        "model",
        "provider",
        "endpoint",
        "input_file_id",
        "input_uri",
        "input_conn_id",
        "requests",
        "completion_window",
        "metadata",
        "extra_body",
        "output_folder",
        "display_name",
    )
    template_fields_renderers = {"requests": "json", "metadata": "json", "extra_body": "json"}
    ui_color = "#e8f4fd"
    external_id_key = BATCH_STATE_KEY

    def __init__(
        self,
        *,
        model: str,
        provider: str | None = None,
        endpoint: str | None = None,
        input_file_id: str | None = None,
        input_uri: str | None = None,
        input_conn_id: str | None = None,
        requests: list[dict[str, Any]] | None = None,
        completion_window: str = DEFAULT_COMPLETION_WINDOW,
        metadata: dict[str, str] | None = None,
        extra_body: dict[str, Any] | None = None,
        output_folder: str | None = None,
        display_name: str | None = None,
        bifrost_conn_id: str = DEFAULT_CONN_NAME,
        wait_for_completion: bool = False,
        deferrable: bool = True,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        cancel_on_timeout: bool = True,
        cancel_on_kill: bool = True,
        failed_share_threshold: float | None = 1.0,
        progress_every: float | None = DEFAULT_PROGRESS_EVERY,
        resubmit_failed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.provider = provider
        self.endpoint = endpoint
        self.input_file_id = input_file_id
        self.input_uri = input_uri
        self.input_conn_id = input_conn_id
        self.requests = requests
        self.completion_window = completion_window
        self.metadata = metadata
        self.extra_body = extra_body
        self.output_folder = output_folder
        self.display_name = display_name
        self.bifrost_conn_id = bifrost_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.cancel_on_timeout = cancel_on_timeout
        self.cancel_on_kill = cancel_on_kill
        self.failed_share_threshold = failed_share_threshold
        self.progress_every = progress_every
        self.resubmit_failed = resubmit_failed
        self._batch_id: str | None = None
        self._event: dict[str, Any] | None = None
        self._result: str | None = None
        try:
            check_positive_seconds(poll_interval, "poll_interval")
            check_positive_seconds(timeout, "timeout")
            if progress_every is not None:
                check_positive_seconds(progress_every, "progress_every")
            check_rounds(resubmit_failed, waits=wait_for_completion)
        except BifrostConfigError as exc:
            raise BifrostConfigError(f"{self._who}: {exc}") from None
        check_threshold(failed_share_threshold, f" ({self.task_id})")
        self._check_arguments(rendered=False)

    @property
    def _who(self) -> str:
        return f"{type(self).__name__}(task_id={self.task_id!r})"

    def _check_arguments(self, *, rendered: bool) -> None:
        """
        Reject invalid arguments, naming the parameter; before rendering, templated values are skipped.

        :param rendered: the templates have been rendered (at run time), so every value is checked.
        """
        literal = always if rendered else untemplated
        try:
            check_create_arguments(
                model=self.model,
                provider=self.provider,
                endpoint=self.endpoint,
                inputs={"input_file_id": self.input_file_id, "input_uri": self.input_uri, "requests": self.requests},
                requests=self.requests,
                metadata=self.metadata,
                completion_window=self.completion_window,
                extra_body=self.extra_body,
                output_folder=self.output_folder,
                display_name=self.display_name,
                literal=literal,
                reserved_metadata=True,
                reserved_body=RESERVED_BODY,
            )
            if is_given(self.input_uri) and literal(self.input_uri):
                check_storage_uri(self.input_uri, "input_uri")
        except BifrostConfigError as exc:
            raise BifrostConfigError(f"{self._who}: {exc}") from None

    # -- ResumableJobMixin --------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        """Check the rendered arguments, then submit (or reattach to an earlier try's batch) and maybe wait."""
        self._check_arguments(rendered=True)
        self.provider = self._resolve_provider()
        if self.resubmit_failed:
            self._batch_rounds().check_input()
        return self.execute_resumable(context)

    def _resolve_provider(self) -> str:
        """The provider: ``provider``, else the model's prefix, else the connection's ``default_provider``."""
        custom = self.hook.settings.custom_providers
        return named_provider(self.model, self.provider or None, custom=custom) or self.hook.resolve_provider(None)

    def submit_job(self, context: Context) -> str:
        """Reattach to this task instance's batch from an earlier try if it is usable, else create one."""
        key, name = task_instance_tag(context)
        assert self.provider is not None
        profile = self.hook.profile(self.provider)
        if profile.tag_field == TAG_IN_JOB_NAME and JOB_NAME_FIELD in (self.metadata or {}):
            raise BifrostConfigError(
                f"{self._who}: metadata {JOB_NAME_FIELD!r} names the Bedrock job, and the operator names it after "
                "the task instance to find the batch again if its answer is lost: leave it out."
            )
        ti = context.get("ti")
        retried = ti is not None and (ti.try_number or 1) > 1
        if retried and (earlier := self._find_earlier(profile, key, context)) is not None:
            return earlier
        input_file_id = self.input_file_id or None
        if self.input_uri:
            from airflow_provider_bifrost.storage.inputs import upload_input  # storage: at run time

            upload = upload_input(self.hook, self.input_uri, self.input_conn_id or None, self.provider)
            self.log.info("Uploaded %s as file %s (%s bytes)", self.input_uri, upload.id, upload.bytes)
            input_file_id = upload.id
        metadata, display_name = tagged(profile, key, name, self.metadata, self.display_name or None)
        submitted_at = time.time()
        try:
            batch = self.hook.create_batch(
                model=self.model,
                provider=self.provider,
                endpoint=self.endpoint or None,
                input_file_id=input_file_id,
                requests=self.requests or None,
                completion_window=self.completion_window,
                metadata=metadata,
                extra_body=self.extra_body or None,
                output_folder=self.output_folder or None,
                display_name=display_name,
            )
        except BifrostTransportError:
            # The request may have reached the gateway and created the batch, its answer lost on the way back.
            self.log.warning("The create request's answer was lost; looking for the batch it may have created")
            if (earlier := self._find_earlier(profile, key, context, submitted_at=submitted_at)) is not None:
                return earlier
            raise
        self.log.info("Submitted batch %s (%s): %s", batch.id, self.provider, batch.progress_line())
        self._batch_id = batch.id
        return batch.id

    def _find_earlier(
        self, profile: ProviderProfile, key: str, context: Context, *, submitted_at: float | None = None
    ) -> str | None:
        """This task instance's batch of an earlier try (or of a lost answer), if it is running or completed."""
        assert self.provider is not None
        requests = None
        if profile.tag_field is None:  # found by its fingerprint, which counts the requests
            from airflow_provider_bifrost.storage.inputs import count_requests  # storage: at run time

            if self.requests:
                requests = len(self.requests)
            elif self.input_uri:
                requests = count_requests(self.input_uri, self.input_conn_id or None)
        found = find_earlier_batch(
            self.hook, self.provider, profile, key, context, self.log, requests=requests, submitted_at=submitted_at
        )
        if found is not None:
            self._batch_id = found
        return found

    def get_job_status(self, external_id: Any, context: Context) -> str:
        """The saved batch's status; ``gone`` when the gateway no longer knows it."""
        try:
            batch = self.hook.get_batch(str(external_id), self.provider)
        except BifrostNotFoundError:
            return GONE
        self._batch_id = batch.id
        return batch.status or ""

    def is_job_active(self, status: str) -> bool:
        """Running, and not being cancelled: reattach and wait."""
        return reusable(status) is BatchState.RUNNING

    def is_job_succeeded(self, status: str) -> bool:
        """Completed (with ``resubmit_failed``, also expired or cancelled: the rounds go on): reattach, no wait."""
        if (
            self.resubmit_failed
            and status != GONE
            and batch_state(status) in (BatchState.EXPIRED, BatchState.CANCELLED)
        ):
            return True
        return reusable(status) is BatchState.SUCCEEDED

    def poll_until_complete(self, external_id: Any, context: Context) -> Any:
        """
        Wait for the batch when asked to (deferred to the triggerer, or polling here); return the result.

        The mixin returns this method's value when it reattaches to a running batch.
        """
        batch_id = self._batch_id = str(external_id)
        if self.wait_for_completion:
            self._event = self._wait(batch_id)
        return self.get_job_result(batch_id, context)

    def _wait(self, batch_id: str, resume_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
        """
        The event a wait for the batch ends with: deferred to the triggerer while it runs (``execute_complete``
        then resumes with ``resume_kwargs``), or polled here.
        """
        not_found_until = time.time() + NOT_FOUND_GRACE
        if self.deferrable:
            try:
                batch = self.hook.get_batch(batch_id, self.provider)
            except BifrostNotFoundError:  # just created, maybe not known yet: the trigger waits the grace out
                batch = None
            if batch is None or batch.state is BatchState.RUNNING:
                self.defer_until_finished(
                    batch_id=batch_id,
                    provider=self.provider,
                    poll_interval=self.poll_interval,
                    timeout=self.timeout,
                    cancel_on_kill=self.cancel_on_kill,
                    failed_share_threshold=self.failed_share_threshold,
                    not_found_until=not_found_until,
                    progress_every=self.progress_every,
                    resume_kwargs=resume_kwargs,
                )
            return terminal_event(batch, self.provider)
        poll = self.hook.batch_poll(
            batch_id,
            self.provider,
            poll_interval=self.poll_interval,
            deadline=time.time() + self.timeout,
            log=self.log,
            failed_share_threshold=self.failed_share_threshold,
            not_found_until=not_found_until,
            progress_every=self.progress_every,
        )
        while (step := self.check_batch(poll)).event is None:
            time.sleep(step.wait)
        return step.event

    def get_job_result(self, external_id: Any, context: Context) -> str:
        """The batch id; when waiting, after settling the batch's outcome (once)."""
        batch_id = self._batch_id = str(external_id)
        if self._result is None:
            if not self.wait_for_completion:
                self._result = batch_id
            else:
                event = self._event or terminal_event(self.hook.get_batch(batch_id, self.provider), self.provider)
                self._result = self.execute_complete(context, event)
        return self._result

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, rounds: list[dict[str, Any]] | None = None
    ) -> str:
        """
        Settle the outcome of the wait (same policy as the sensor), after the resubmission rounds; return the
        (first) batch id.

        :param context: the task context.
        :param event: the trigger's event payload.
        :param rounds: the rounds' table, when the wait was a resubmission round's.
        """
        batch_id = event.get("batch_id") if isinstance(event, dict) else None
        if isinstance(event, dict):  # after a deferral the task starts afresh: take the provider the trigger used
            self.provider = event.get("provider") or self._resolve_provider()
            if self.resubmit_failed:
                return self._rounds(context, event, rounds)
            self.log.info("Finished waiting: %s", closing_line(event, self.failed_share_threshold))
        summary = settle_event(
            event,
            batch_id=None,
            failed_share_threshold=self.failed_share_threshold,
            on_timeout=lambda message: self._timed_out(str(batch_id), message),
        )
        context["ti"].xcom_push(key="batch", value=summary)
        context["ti"].xcom_push(key="batch_ids", value=[str(batch_id)])
        return str(batch_id)

    def _rounds(self, context: Context, event: dict[str, Any], rounds: list[dict[str, Any]] | None) -> str:
        """
        Resubmit what failed for a reason worth another try, round after round, each waited on like the first
        (a deferral resumes here with the table); then settle the last round's event and the share of requests
        that never succeeded.
        """
        from airflow_provider_bifrost.resubmission import rounds_verdict

        helper = self._batch_rounds()
        table = helper.table(context, event, rounds)
        while (batch_id := helper.advance(context, table, event, self.resubmit_failed)) is not None:
            self._batch_id = batch_id
            event = self._wait(batch_id, resume_kwargs={"rounds": table})
        ti = context["ti"]
        ti.xcom_push(key="batch_ids", value=[row["batch_id"] for row in table])
        ti.xcom_push(key="rounds", value=table)
        last = str(table[-1]["batch_id"])
        summary = settle_event(
            event,
            batch_id=None,
            failed_share_threshold=self.failed_share_threshold if len(table) == 1 else None,
            on_timeout=lambda message: self._timed_out(last, message),
        )
        ti.xcom_push(key="batch", value=summary)
        if len(table) > 1 and (verdict := rounds_verdict(table, summary, self.failed_share_threshold)) is not None:
            raise AirflowFailException(f"Bifrost batch {table[0]['batch_id']}: {verdict}.")
        return str(table[0]["batch_id"])

    def _batch_rounds(self) -> BatchRounds:
        """What writes and submits the next round, with this task's create arguments and input."""
        from airflow_provider_bifrost.resubmission import BatchRounds  # the rounds: at run time

        assert self.provider is not None
        create = {
            "model": self.model,
            "endpoint": self.endpoint or None,
            "completion_window": self.completion_window,
            "extra_body": self.extra_body or None,
            "output_folder": self.output_folder or None,
        }
        inputs = {
            "requests": self.requests or None,
            "input_uri": self.input_uri or None,
            "input_conn_id": self.input_conn_id or None,
            "input_file_id": self.input_file_id or None,
        }
        profile = self.hook.profile(self.provider)
        return BatchRounds(
            self.hook, self.provider, profile, create, self.metadata, self.display_name or None, inputs, self.log
        )

    def _timed_out(self, batch_id: str, message: str) -> BaseException:
        if self.cancel_on_timeout:
            batch = self.hook.cancel_batch(batch_id, self.provider)
            message += f"; cancelled it (now {batch.status})"
        return AirflowFailException(
            f"Bifrost batch {batch_id} did not finish within timeout={self.timeout:g} s: {message}"
        )

    def on_kill(self) -> None:
        """Cancel the batch when the task is killed while waiting in a worker, if ``cancel_on_kill``."""
        if self.cancel_on_kill and self._batch_id and self.wait_for_completion:
            batch = self.hook.cancel_batch(self._batch_id, self.provider)
            self.log.info("Cancelled batch %s on kill: now %s", self._batch_id, batch.status)
