"""Exports announced as Assets (``output_asset=True``): a batch's results, a job that fails, a TaskFlow job."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import DAG, task

from airflow_provider_bifrost.operators.bifrost import BifrostBatchJobOperator, BifrostBatchResultsOperator

if TYPE_CHECKING:
    from collections.abc import Iterator

#: Not templated, so that ``output_asset=True`` makes it the Asset; in memory, the dag.test() process's own.
RESULTS_URI = "memory://bifrost-asset-tests/results/"
JOBS_URI = "memory://bifrost-asset-tests/jobs"


def request(i: int) -> dict[str, Any]:
    return {"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini"}}


with DAG(dag_id="bifrost_asset_results", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    BifrostBatchResultsOperator(
        task_id="export",
        batch_id="{{ dag_run.conf['batch_id'] }}",
        provider="openai",
        output_uri=RESULTS_URI,
        output_asset=True,
    )

with DAG(dag_id="bifrost_asset_job_fails", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    BifrostBatchJobOperator(
        task_id="job",
        model="openai/gpt-4o-mini",
        endpoint="/v1/chat/completions",
        requests=[request(i) for i in range(20)],
        output_uri=JOBS_URI,
        output_asset=True,
        failed_share_threshold=0.1,
        poll_interval=0.2,
    )

with DAG(dag_id="bifrost_asset_decorator", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):

    @task.bifrost_batch(
        model="openai/gpt-4o-mini",
        endpoint="/v1/chat/completions",
        output_uri=JOBS_URI,
        output_asset=True,
        max_requests_per_batch=10,
        poll_interval=0.2,
    )
    def questions(count: int) -> Iterator[dict[str, Any]]:
        yield from (request(i) for i in range(count))

    questions(25)
