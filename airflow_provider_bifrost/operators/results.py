"""
``BifrostBatchResultsOperator``: export every result of a finished batch, into XCom or object storage.

A thin task around :class:`~airflow_provider_bifrost.results.export.ResultsExport`, imported when the task
runs: DAG files import this module, so it imports only what building the task needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_bifrost.assets import announce, declare_output_asset
from airflow_provider_bifrost.constants import DEFAULT_CONN_NAME, DEFAULT_MAX_XCOM_RESULTS
from airflow_provider_bifrost.exceptions import BifrostConfigError
from airflow_provider_bifrost.mixins import BifrostHookMixin
from airflow_provider_bifrost.outcome.status import BatchState
from airflow_provider_bifrost.validation import (
    batch_ids_of,
    check_batch_provider,
    check_compression,
    check_prices,
    check_storage_uri,
    check_usage_options,
    is_given,
    untemplated,
)
from airflow_provider_bifrost.version_compat import AirflowException, AirflowFailException

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Asset, Context

    from airflow_provider_bifrost.hooks.models import Batch
    from airflow_provider_bifrost.providers import ProviderProfile


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
    XCom value is the manifest (:class:`~airflow_provider_bifrost.storage.manifest.Manifest`). A batch that
    ended with no results gives an empty manifest (no files) rather than an error.

    On the way, the token usage is summed per model from the result bodies of every provider's shape (input,
    cached input, cache writes, output): the manifest's ``usage``, and one line in the task log. With
    ``prices`` it also gives the cost.

    :param batch_id: the batch (templated); or a list of batches, a batch and its resubmission rounds oldest
        first (the create operator's XCom ``batch_ids``), exported as one: one line per ``custom_id``, the
        latest attempt's, the manifest with ``rounds`` and ``still_failing``.
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
    :param export_partial: a batch that failed, expired or was cancelled with some results (OpenAI and Azure
        expired or cancelled batches, Bedrock's partially completed jobs) exports what it produced instead of
        failing the task; the manifest says ``partial``.
    :param count_usage: count the token usage per model (the manifest's ``usage``; None when off).
    :param prices: per model, US dollars per million tokens: ``{"gpt-4o-mini": {"input": 0.15, "output": 0.6}}``,
        optionally ``cached_input`` and ``cache_write_input`` (each the input price when not given); a model is
        named as the results name it, or as ``<provider>/<model>`` (templated; a JSON object in a string is read).
    :param output_asset: announce the export as an Airflow Asset, for DAGs scheduled on new results: ``True`` (the
        Asset is ``output_uri``, which may then not be templated) or an ``Asset``; the event's extra holds the
        manifest's key figures (:func:`~airflow_provider_bifrost.assets.asset_extra`). Needs ``output_uri``.
    """

    template_fields: Sequence[str] = ("batch_id", "provider", "output_uri", "output_conn_id", "prices")
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        batch_id: str | list[str],
        provider: str | None = None,
        bifrost_conn_id: str = DEFAULT_CONN_NAME,
        output_uri: str | None = None,
        output_conn_id: str | None = None,
        results_per_file: int | None = None,
        compression: str | None = None,
        include_errors: bool = True,
        max_xcom_results: int = DEFAULT_MAX_XCOM_RESULTS,
        export_partial: bool = False,
        count_usage: bool = True,
        prices: dict[str, dict[str, Any]] | str | None = None,
        output_asset: bool | Asset = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_compression(compression, f" ({self.task_id})")
        check_batch_provider(provider, where=f" ({self.task_id})")
        if is_given(output_uri) and untemplated(output_uri):
            check_storage_uri(output_uri, "output_uri")
        if results_per_file is not None and (isinstance(results_per_file, bool) or results_per_file < 1):
            raise BifrostConfigError(f"results_per_file must be a positive number of items, got {results_per_file!r}")
        if isinstance(max_xcom_results, bool) or max_xcom_results < 0:
            raise BifrostConfigError(
                f"max_xcom_results must be zero or more, got {max_xcom_results!r} ({self.task_id})"
            )
        check_usage_options(count_usage, prices, f" ({self.task_id})")
        if isinstance(batch_id, (list, tuple)) and all(isinstance(i, str) and untemplated(i) for i in batch_id):
            batch_ids_of(list(batch_id))
        self.batch_id = batch_id
        self.provider = provider
        self.bifrost_conn_id = bifrost_conn_id
        self.output_uri = output_uri
        self.output_conn_id = output_conn_id
        self.results_per_file = results_per_file
        self.compression = compression
        self.include_errors = include_errors
        self.max_xcom_results = max_xcom_results
        self.export_partial = export_partial
        self.count_usage = count_usage
        self.prices = prices
        self.output_asset = declare_output_asset(self, output_asset, output_uri, f" ({self.task_id})")

    def execute(self, context: Context) -> Any:
        """Check the batch is finished, then export its results to XCom or storage."""
        from airflow_provider_bifrost.results.export import ResultsExport  # the export: at run time

        ids = batch_ids_of(self.batch_id)
        provider = self.hook.resolve_provider(self.provider)
        profile = self.hook.profile(provider)
        batches = [self._finished(batch_id, provider, profile, last=batch_id == ids[-1]) for batch_id in ids]
        prices = check_prices(self.prices, f" ({self.task_id})") if is_given(self.prices) else None
        export: Any
        if len(batches) > 1:
            from airflow_provider_bifrost.results.merge import MergedExport  # the rounds' export: at run time

            export = MergedExport(
                self.hook,
                batches,
                provider,
                profile,
                include_errors=self.include_errors,
                log=self.log,
                count_usage=self.count_usage,
                prices=prices,
            )
        else:
            export = ResultsExport(
                self.hook,
                batches[0],
                provider,
                profile,
                include_errors=self.include_errors,
                log=self.log,
                count_usage=self.count_usage,
                prices=prices,
            )
        if self.output_uri is None:
            return export.to_xcom(self.max_xcom_results)
        if not isinstance(self.output_uri, str) or not self.output_uri.strip():
            raise BifrostConfigError(
                f"output_uri rendered {self.output_uri!r}: give a storage URI (e.g. s3://bucket/prefix), or leave "
                "output_uri unset (None) to return the results through XCom."
            )
        manifest = export.to_storage(
            self.output_uri,
            self.output_conn_id or None,
            results_per_file=self.results_per_file,
            compression=self.compression,
        )
        announce(context, self.output_asset, manifest, self.log)
        return manifest

    def _finished(self, batch_id: str, provider: str, profile: ProviderProfile, *, last: bool) -> Batch:
        """
        The batch, refused unless it finished with results to export: succeeded, or with ``export_partial`` what
        an unsuccessful batch produced; a round before the last that expired or was cancelled is taken as it is
        (its requests went again in the next round).
        """
        batch = self.hook.get_batch(batch_id, provider)
        if batch.state is BatchState.RUNNING:
            raise AirflowException(
                f"Batch {batch_id} is still {batch.status}, so it has no results yet: wait for it first "
                "(BifrostBatchSensor)."
            )
        resubmitted = not last and batch.state in (BatchState.EXPIRED, BatchState.CANCELLED)
        if batch.state is not BatchState.SUCCEEDED and not resubmitted:
            partial = batch.status in profile.partial_statuses
            if not (partial and self.export_partial):
                errors = "; ".join(batch.error_messages()) or "no error details"
                hint = " Set export_partial=True to export what it did produce." if partial else ""
                raise AirflowFailException(
                    f"Batch {batch_id} ended {batch.status}: no results to export ({errors}).{hint}"
                )
            self.log.warning("Batch %s ended %s: exporting what it produced (export_partial)", batch_id, batch.status)
        return batch
