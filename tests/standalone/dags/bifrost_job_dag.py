"""A DAG of the standalone tests: a job of ``conf["input_uri"]`` (a JSONL file) in parts of 10 requests, at most
two running at once, exported to ``conf["output_uri"]``, with a retry (the test kills a try between waves)."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from airflow_provider_bifrost.operators.bifrost import BifrostBatchJobOperator

DAG_ID = "bifrost_job_standalone"

with DAG(DAG_ID, schedule=None, catchup=False, tags=["bifrost", "test"]):
    BifrostBatchJobOperator(
        task_id="job",
        model="openai/gpt-4o-mini",
        endpoint="/v1/chat/completions",
        input_uri="{{ dag_run.conf['input_uri'] }}",
        output_uri="{{ dag_run.conf['output_uri'] }}",
        max_requests_per_batch=10,
        max_active_batches=2,
        results_per_file=25,
        poll_interval=0.5,
        progress_every=5,
        retries=1,
        retry_delay=timedelta(seconds=1),
    )
