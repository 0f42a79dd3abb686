"""
Operators for Bifrost batches: submit a batch (and wait for it), export every result of a finished one.

DAG files import this module: at module level it imports only what building and checking the tasks needs;
the hook, the results parsers, the storage writers and the trigger are imported when a task runs
(``tests/unit/test_import_cost.py``).
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime, timezone
from itertools import islice, repeat
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_bifrost.hooks.errors import BifrostConfigError, BifrostNotFoundError, BifrostTransportError
from airflow_provider_bifrost.hooks.mixin import DEFAULT_CONN_NAME, BifrostHookMixin
from airflow_provider_bifrost.hooks.providers import BATCH_PROVIDERS, validate_provider
from airflow_provider_bifrost.hooks.status import BatchState, batch_state
from airflow_provider_bifrost.hooks.validation import (
    COMPRESSIONS,
    check_endpoint,
    check_metadata,
    check_requests,
    model_provider,
    require_endpoint,
    validate_id,
)
from airflow_provider_bifrost.sensors.bifrost import SEVEN_DAYS
from airflow_provider_bifrost.triggers.outcome import check_threshold, defer_until_finished, settle_event
from airflow_provider_bifrost.version_compat import AirflowException, AirflowFailException, ResumableJobMixin

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from airflow.sdk import Context

    from airflow_provider_bifrost.hooks.models import Batch
    from airflow_provider_bifrost.hooks.records import RecordBlock
    from airflow_provider_bifrost.hooks.results import BatchResults

#: Seconds between progress lines in the task log.
PROGRESS_EVERY = 10.0
#: Error-file items handled per block.
ERROR_FILE_BLOCK = 256
#: The task state store key (Airflow 3.3+) under which the create operator saves its batch id.
BATCH_STATE_KEY = "bifrost_batch_id"
#: Metadata tags of every batch the create operator submits: a hash of the task instance, and its name.
TI_KEY_FIELD = "airflow_ti_key"
TI_NAME_FIELD = "airflow_ti"
#: The longest metadata value providers accept (OpenAI: 512 characters).
METADATA_VALUE_MAX = 512
#: The status the create operator gives a saved batch the gateway no longer knows (404).
GONE = "gone"
#: Looking for an earlier try's batch: at most this many of the provider's newest batches are read,
#: and none created before the DAG run was queued (less this margin for clock skew).
LOOKUP_LIMIT = 5000
LOOKUP_MARGIN = 3600.0


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


class BifrostBatchResultsOperator(BifrostHookMixin, BaseOperator):
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
        bifrost_conn_id: str = DEFAULT_CONN_NAME,
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
        if self.output_uri is None:
            return self._to_xcom(batch, provider)
        if not isinstance(self.output_uri, str) or not self.output_uri.strip():
            raise BifrostConfigError(
                f"output_uri rendered {self.output_uri!r}: give a storage URI (e.g. s3://bucket/prefix), or leave "
                "output_uri unset (None) to return the results through XCom."
            )
        return self._to_storage(batch, provider)

    def _blocks(self, batch: Batch, provider: str, results: BatchResults) -> Iterator[tuple[RecordBlock, bool]]:
        """Every record in blocks, the results then the error file's lines; each block says if it is the latter."""
        import msgspec

        from airflow_provider_bifrost.hooks.records import RecordBlock, ResultRecord

        encode = msgspec.json.Encoder().encode
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
            while block := [ResultRecord(encode(item), item) for item in islice(items, ERROR_FILE_BLOCK)]:
                yield RecordBlock(block), True

    def _check_count(self, batch: Batch, exported: int) -> None:
        """Warn when the export holds fewer or more items than the batch says it had requests."""
        total = batch.request_counts.total
        if total and exported != total:
            self.log.warning(
                "Batch %s reports %s requests but %s results were exported%s: check the gateway's results.",
                self.batch_id,
                f"{total:,}",
                f"{exported:,}",
                "" if self.include_errors else " (include_errors=False leaves out the error file's requests)",
            )

    def _to_xcom(self, batch: Batch, provider: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        results = self.hook.iter_batch_result_dicts(self.batch_id, provider)
        for block, _ in self._blocks(batch, provider, results):
            if len(items) + len(block) > self.max_xcom_results:
                raise AirflowFailException(
                    f"Batch {self.batch_id} has more than max_xcom_results={self.max_xcom_results} results: set "
                    "output_uri (e.g. s3://bucket/prefix or file:///path) to export them to object storage."
                )
            items.extend(record.item for record in block.records)
        self._check_count(batch, len(items))
        self.log.info("Batch %s: returning %d results through XCom", self.batch_id, len(items))
        return items

    def _to_storage(self, batch: Batch, provider: str) -> dict[str, Any]:
        from airflow_provider_bifrost.storage.manifest import write_manifest
        from airflow_provider_bifrost.storage.paths import export_folder, plain_uri, storage_path
        from airflow_provider_bifrost.storage.shards import ShardWriter

        assert self.output_uri is not None
        root = storage_path(self.output_uri.rstrip("/"), self.output_conn_id or None)
        folder = export_folder(root, self.batch_id)
        writer = ShardWriter(folder, items_per_file=self.results_per_file, compression=self.compression)  # type: ignore[arg-type]
        results = self.hook.iter_batch_result_lines(self.batch_id, provider)
        progress = _Progress(self.log, self.batch_id)
        succeeded = from_error_file = 0
        try:
            for block, from_errors in self._blocks(batch, provider, results):
                writer.write_block(block)
                progress.add(len(block), len(block.jsonl) + 1)
                succeeded += block.succeeded()
                from_error_file += len(block) if from_errors else 0
            shards = writer.finish()
        except BaseException:
            writer.abort()
            raise
        progress.report("exported")
        self._check_count(batch, progress.items)
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
                "expected": batch.request_counts.total,
            },
            "bytes": sum(shard.bytes for shard in shards),
            "compression": self.compression,
            "results_per_file": self.results_per_file,
            "exported_at": datetime.now(timezone.utc).isoformat(),
        }
        self.log.info("Batch %s: manifest at %s", self.batch_id, write_manifest(folder, manifest))
        return manifest


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
        reserved.
    :param bifrost_conn_id: the Bifrost connection.
    :param wait_for_completion: wait until the batch is finished.
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param poll_interval: seconds between status checks while waiting.
    :param timeout: seconds to wait in all; default 7 days.
    :param cancel_on_timeout: cancel the batch when the wait times out.
    :param cancel_on_kill: cancel the batch when the task is killed while waiting (running or, on
        Airflow 3.3+, deferred).
    :param failed_share_threshold: fail when at least this share of the requests did not succeed.
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
    )
    template_fields_renderers = {"requests": "json", "metadata": "json"}
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
        completion_window: str = "24h",
        metadata: dict[str, str] | None = None,
        bifrost_conn_id: str = DEFAULT_CONN_NAME,
        wait_for_completion: bool = False,
        deferrable: bool = True,
        poll_interval: float = 60.0,
        timeout: float = SEVEN_DAYS,
        cancel_on_timeout: bool = True,
        cancel_on_kill: bool = True,
        failed_share_threshold: float | None = 1.0,
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
        self.bifrost_conn_id = bifrost_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.cancel_on_timeout = cancel_on_timeout
        self.cancel_on_kill = cancel_on_kill
        self.failed_share_threshold = failed_share_threshold
        self._batch_id: str | None = None
        self._event: dict[str, Any] | None = None
        self._result: str | None = None
        for name, value in (("poll_interval", poll_interval), ("timeout", timeout)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise BifrostConfigError(f"{self._who}: {name} must be a positive number of seconds, got {value!r}.")
        check_threshold(failed_share_threshold, self.task_id)
        self._check_arguments(rendered=False)

    @property
    def _who(self) -> str:
        return f"{type(self).__name__}(task_id={self.task_id!r})"

    def _check_arguments(self, *, rendered: bool) -> None:
        """
        Reject invalid arguments, naming the parameter; before rendering, templated values are skipped.

        :param rendered: the templates have been rendered (at run time), so every value is checked.
        """

        def given(value: Any) -> bool:
            return value is not None and not (rendered and isinstance(value, str) and not value.strip())

        def literal(value: Any) -> bool:
            if rendered:
                return True
            if isinstance(value, str):
                return "{{" not in value and "{%" not in value
            return isinstance(value, (list, dict, tuple))

        try:
            inputs = [
                name
                for name, value in (
                    ("input_file_id", self.input_file_id),
                    ("input_uri", self.input_uri),
                    ("requests", self.requests),
                )
                if given(value)
            ]
            if len(inputs) != 1:
                got = " and ".join(inputs) if inputs else "none"
                raise BifrostConfigError(f"give exactly one of input_file_id, input_uri or requests (got {got}).")
            if not isinstance(self.model, str) or not self.model.strip():
                raise BifrostConfigError("model is required, e.g. model='openai/gpt-4o-mini'.")
            provider = _named_provider(self.model, self.provider if given(self.provider) else None, literal)
            if provider is not None and provider not in BATCH_PROVIDERS:
                choices = ", ".join(sorted(BATCH_PROVIDERS))
                raise BifrostConfigError(f"provider {provider!r} has no batch API in Bifrost; use one of {choices}.")
            if given(self.endpoint) and literal(self.endpoint):
                check_endpoint(self.endpoint)
            require_endpoint(provider, self.endpoint if given(self.endpoint) else None)
            if given(self.requests) and literal(self.requests):
                check_requests(self.requests)
            if given(self.input_file_id) and literal(self.input_file_id):
                validate_id(self.input_file_id, "input_file_id")
            if not isinstance(self.completion_window, str) or not self.completion_window.strip():
                raise BifrostConfigError(
                    f"completion_window must be a duration such as '24h', got {self.completion_window!r}."
                )
            if self.metadata is not None and literal(self.metadata):
                _check_metadata(self.metadata)
        except BifrostConfigError as exc:
            raise BifrostConfigError(f"{self._who}: {exc}") from None

    # -- ResumableJobMixin --------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        """Check the rendered arguments, then submit (or reattach to an earlier try's batch) and maybe wait."""
        self._check_arguments(rendered=True)
        self.provider = self._resolve_provider()
        return self.execute_resumable(context)

    def _resolve_provider(self) -> str:
        """The provider: ``provider``, else the model's prefix, else the connection's ``default_provider``."""
        named = _named_provider(self.model, self.provider or None, lambda _: True)
        return named or self.hook.resolve_provider(None)

    def submit_job(self, context: Context) -> str:
        """Reattach to this task instance's batch from an earlier try if it is usable, else create one."""
        key, name = task_instance_tag(context)
        ti = context.get("ti")
        if ti is not None and (ti.try_number or 1) > 1 and (earlier := self._find_tagged(key, context)) is not None:
            return earlier
        input_file_id = self.input_file_id or None
        if self.input_uri:
            from airflow_provider_bifrost.storage.paths import storage_path

            upload = self.hook.upload_file(storage_path(self.input_uri, self.input_conn_id or None), self.provider)
            self.log.info("Uploaded %s as file %s (%s bytes)", self.input_uri, upload.id, upload.bytes)
            input_file_id = upload.id
        metadata = {**(self.metadata or {}), TI_KEY_FIELD: key, TI_NAME_FIELD: name}
        try:
            batch = self.hook.create_batch(
                model=self.model,
                provider=self.provider,
                endpoint=self.endpoint or None,
                input_file_id=input_file_id,
                requests=self.requests or None,
                completion_window=self.completion_window,
                metadata=metadata,
            )
        except BifrostTransportError:
            # The request may have reached the gateway and created the batch, its answer lost on the way back.
            self.log.warning("The create request's answer was lost; looking for the batch it may have created")
            if (earlier := self._find_tagged(key, context)) is not None:
                return earlier
            raise
        self.log.info("Submitted batch %s (%s): %s", batch.id, self.provider, batch.progress_line())
        self._batch_id = batch.id
        return batch.id

    def _find_tagged(self, key: str, context: Context) -> str | None:
        """The newest batch tagged with this task instance, if it is running or completed."""
        since = _run_started(context) - LOOKUP_MARGIN
        for seen, batch in enumerate(self.hook.iter_batches(self.provider, page_size=100), start=1):
            if (batch.metadata or {}).get(TI_KEY_FIELD) == key:
                if _reusable(batch.status) is not None:
                    self.log.info("Reattaching to batch %s of an earlier try (%s)", batch.id, batch.status)
                    self._batch_id = batch.id
                    return batch.id
                self.log.warning("Batch %s of an earlier try ended %s: submitting a new one", batch.id, batch.status)
                return None
            if seen >= LOOKUP_LIMIT or (batch.created_at is not None and batch.created_at < since):
                break
        return None

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
        return _reusable(status) is BatchState.RUNNING

    def is_job_succeeded(self, status: str) -> bool:
        """Completed: reattach without waiting."""
        return _reusable(status) is BatchState.SUCCEEDED

    def poll_until_complete(self, external_id: Any, context: Context) -> Any:
        """
        Wait for the batch when asked to (deferred to the triggerer, or polling here); return the result.

        The mixin returns this method's value when it reattaches to a running batch.
        """
        from airflow_provider_bifrost.triggers.bifrost import make_event, terminal_event

        batch_id = self._batch_id = str(external_id)
        if not self.wait_for_completion:
            return self.get_job_result(batch_id, context)
        batch = self.hook.get_batch(batch_id, self.provider)
        if self.deferrable and batch.state is BatchState.RUNNING:
            defer_until_finished(
                self,
                batch_id=batch_id,
                provider=self.provider,
                bifrost_conn_id=self.bifrost_conn_id,
                poll_interval=self.poll_interval,
                timeout=self.timeout,
                cancel_on_kill=self.cancel_on_kill,
            )
        deadline = time.monotonic() + self.timeout
        while batch.state is BatchState.RUNNING and time.monotonic() < deadline:
            self.log.info("%s", batch.progress_line())
            time.sleep(min(self.poll_interval, max(deadline - time.monotonic(), 0)))
            batch = self.hook.get_batch(batch_id, self.provider)
        if batch.state is BatchState.RUNNING:
            self._event = make_event(
                "timeout", batch_id, self.provider, batch, message=f"still {batch.status} after {self.timeout:g} s"
            )
        else:
            self._event = terminal_event(batch, self.provider)
        return self.get_job_result(batch_id, context)

    def get_job_result(self, external_id: Any, context: Context) -> str:
        """The batch id; when waiting, after settling the batch's outcome (once)."""
        batch_id = self._batch_id = str(external_id)
        if self._result is None:
            if not self.wait_for_completion:
                self._result = batch_id
            else:
                from airflow_provider_bifrost.triggers.bifrost import terminal_event

                event = self._event or terminal_event(self.hook.get_batch(batch_id, self.provider), self.provider)
                self._result = self.execute_complete(context, event)
        return self._result

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str:
        """
        Settle the outcome of the wait (same policy as the sensor); return the batch id.

        :param context: the task context.
        :param event: the trigger's event payload.
        """
        batch_id = event.get("batch_id") if isinstance(event, dict) else None
        if isinstance(event, dict):  # after a deferral the task starts afresh: take the provider the trigger used
            self.provider = event.get("provider") or self._resolve_provider()
            self.log.info("Batch %s finished waiting: %s (%s)", batch_id, event.get("status"), event.get("message"))
        summary = settle_event(
            event,
            batch_id=None,
            failed_share_threshold=self.failed_share_threshold,
            on_timeout=lambda message: self._timed_out(str(batch_id), message),
        )
        context["ti"].xcom_push(key="batch", value=summary)
        return str(batch_id)

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


def task_instance_tag(context: Context) -> tuple[str, str]:
    """
    The metadata tag of the task instance running: a stable hash key and a readable name.

    :param context: the task context.
    """
    ti = context["ti"]
    map_index = ti.map_index if ti.map_index is not None else -1
    identity = json.dumps([ti.dag_id, ti.task_id, ti.run_id, map_index])
    name = f"{ti.dag_id}.{ti.task_id} run_id={ti.run_id}" + (f" map_index={map_index}" if map_index >= 0 else "")
    return hashlib.sha256(identity.encode()).hexdigest()[:32], name[:METADATA_VALUE_MAX]


def _reusable(status: str | None) -> BatchState | None:
    """What an earlier try's batch in ``status`` is good for: RUNNING (wait for it), SUCCEEDED, or None."""
    if status in (GONE, "cancelling"):  # a batch being cancelled will end cancelled
        return None
    state = batch_state(status)
    return state if state in (BatchState.RUNNING, BatchState.SUCCEEDED) else None


def _run_started(context: Context) -> float:
    """When the DAG run was queued or started (unix seconds); batches older than that are not its own."""
    dag_run = context.get("dag_run")
    moments = [getattr(dag_run, name, None) for name in ("queued_at", "start_date")]
    stamps = [moment.timestamp() for moment in moments if isinstance(moment, datetime)]
    return min(stamps) if stamps else 0.0


def _named_provider(model: Any, provider: Any, literal: Any) -> str | None:
    """The provider named by ``provider`` or by the model's prefix (validated, consistent), if known yet."""
    provider = validate_provider(provider) if provider is not None and literal(provider) else None
    prefix = model_provider(model, provider) if isinstance(model, str) and literal(model) else None
    return prefix or provider


def _check_metadata(metadata: Any) -> None:
    check_metadata(metadata)
    if reserved := sorted(key for key in metadata if key.startswith("airflow_")):
        raise BifrostConfigError(f"metadata keys starting with 'airflow_' are reserved for the operator: {reserved}.")
