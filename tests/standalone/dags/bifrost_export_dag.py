"""A DAG of the standalone tests: export the results of ``conf["batch_id"]`` to ``conf["output_uri"]`` in
small shards, with a retry (the test kills the first try mid-export)."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from airflow_provider_bifrost.operators.bifrost import BifrostBatchResultsOperator

DAG_ID = "bifrost_export_standalone"

with DAG(DAG_ID, schedule=None, catchup=False, tags=["bifrost", "test"]):
    BifrostBatchResultsOperator(
        task_id="export",
        batch_id="{{ dag_run.conf['batch_id'] }}",
        provider="openai",
        output_uri="{{ dag_run.conf['output_uri'] }}",
        results_per_file=500,
        retries=1,
        retry_delay=timedelta(seconds=1),
    )
