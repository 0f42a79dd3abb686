"""
``@task.bifrost_batch``: a TaskFlow function that returns (or yields) requests, run as a Bifrost job.

The function's requests are written, as they come, to ``<output_uri>/<job_id>/_requests.jsonl`` (a temporary
name until complete), so a generator of any size never sits in memory, and every deferral and retry of the
job reads the same requests back; then the task runs as :class:`~airflow_provider_bifrost.operators.job.
BifrostBatchJobOperator` with that file as its input. Registered in the provider's info as a task decorator.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec
from airflow.sdk.bases.decorator import DecoratedOperator, determine_kwargs, task_decorator_factory
from airflow.sdk.definitions._internal.types import SET_DURING_EXECUTION
from airflow.sdk.definitions.context import context_merge

from airflow_provider_bifrost.exceptions import BifrostConfigError
from airflow_provider_bifrost.operators.job import BifrostBatchJobOperator

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.bases.decorator import TaskDecorator

#: The file, in the job's export folder, holding the requests the function gave.
REQUESTS_NAME = "_requests.jsonl"


class _BifrostBatchDecoratedOperator(DecoratedOperator, BifrostBatchJobOperator):
    """
    Runs a TaskFlow function for its requests, then runs them as a Bifrost job.

    :param python_callable: the function; it returns a list of requests or yields them.
    :param op_args: positional arguments of the function (templated).
    :param op_kwargs: keyword arguments of the function (templated).
    """

    template_fields: Sequence[str] = (*DecoratedOperator.template_fields, *BifrostBatchJobOperator.template_fields)
    template_fields_renderers: ClassVar[dict[str, str]] = {
        **DecoratedOperator.template_fields_renderers,
        **BifrostBatchJobOperator.template_fields_renderers,
    }
    custom_operator_name: str = "@task.bifrost_batch"

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        for taken in ("requests", "input_uri"):
            if kwargs.get(taken) is not None:
                raise BifrostConfigError(f"@task.bifrost_batch takes its requests from the function, not {taken}.")
        if not kwargs.get("output_uri"):
            raise BifrostConfigError(
                "@task.bifrost_batch needs output_uri: the function's requests are kept there for every try of "
                "the job, and its results are exported there."
            )
        super().__init__(
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            requests=SET_DURING_EXECUTION,
            **kwargs,
        )

    def execute(self, context: Context) -> Any:
        """Run the function, keep its requests in the job's folder, then run the job on them."""
        context_merge(context, self.op_kwargs)
        kwargs = determine_kwargs(self.python_callable, self.op_args, context)
        requests = self.python_callable(*self.op_args, **kwargs)
        if isinstance(requests, (str, bytes, Mapping)) or not isinstance(requests, Iterable):
            raise BifrostConfigError(
                f"@task.bifrost_batch: {self.python_callable.__name__} must return or yield requests (dicts with a "
                f"custom_id), not {type(requests).__name__}."
            )
        self._stage(context, requests)
        return super().execute(context)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume the job (its requests are the file the first run kept)."""
        self._use_staged(context)
        return super().execute_complete(context, event)

    def _requests_path(self, context: Context) -> Any:
        from airflow_provider_bifrost.jobs.state import job_identity
        from airflow_provider_bifrost.storage.paths import export_folder, storage_path

        assert isinstance(self.output_uri, str)
        root = storage_path(self.output_uri.rstrip("/"), self.output_conn_id or None)
        return export_folder(root, f"job-{job_identity(context)[0][:16]}") / REQUESTS_NAME

    def _stage(self, context: Context, requests: Iterable[Any]) -> None:
        """Write the function's requests as JSONL, under a temporary name until the last one is written."""
        from airflow_provider_bifrost.storage.paths import plain_uri, prepare_folder

        final = self._requests_path(context)
        prepare_folder(final.parent)
        temp = final.parent / f".{REQUESTS_NAME}.tmp"
        encode = msgspec.json.Encoder().encode
        count = 0
        try:
            with temp.open("wb") as sink:
                for index, request in enumerate(requests):
                    if not isinstance(request, dict):
                        raise BifrostConfigError(
                            f"request {index} from the function is a {type(request).__name__}, not a dict."
                        )
                    sink.write(encode(request))
                    sink.write(b"\n")
                    count += 1
        except BaseException:
            temp.unlink(missing_ok=True)  # a half-written file is no use to any later try
            raise
        temp.rename(final)
        self.log.info("The function gave %s requests, kept at %s", f"{count:,}", plain_uri(final))
        self._use_staged(context)

    def _use_staged(self, context: Context) -> None:
        from airflow_provider_bifrost.storage.paths import plain_uri

        self.input_uri = plain_uri(self._requests_path(context))
        self.input_conn_id = self.output_conn_id
        self.requests = None


def bifrost_batch_task(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> TaskDecorator:
    """
    Run a function's requests as a Bifrost job: ``@task.bifrost_batch(model=..., output_uri=...)``.

    Takes the :class:`~airflow_provider_bifrost.operators.job.BifrostBatchJobOperator` arguments but
    ``requests`` and ``input_uri``; the function returns a list of requests or yields them.

    :param python_callable: the function.
    """
    return task_decorator_factory(
        python_callable=python_callable,
        decorated_operator_class=_BifrostBatchDecoratedOperator,
        **kwargs,
    )
