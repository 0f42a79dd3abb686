"""A DAG of the standalone tests: submit a batch and wait for it in the worker (so the task process is
there to kill), with a retry; then check the batch id it returned."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, task

from airflow_provider_bifrost.operators.bifrost import BifrostCreateBatchOperator

DAG_ID = "bifrost_create_standalone"

with DAG(DAG_ID, schedule=None, catchup=False, tags=["bifrost", "test"]):
    create = BifrostCreateBatchOperator(
        task_id="create",
        model="openai/gpt-4o-mini",
        endpoint="/v1/chat/completions",
        requests=[
            {"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini"}}
            for i in range(5)
        ],
        wait_for_completion=True,
        deferrable=False,
        poll_interval=1,
        retries=1,
        retry_delay=timedelta(seconds=1),
    )

    @task
    def check(batch_id: str) -> str:
        """Fail unless the create task returned a batch id."""
        assert batch_id.startswith("batch_"), batch_id
        return batch_id

    check(create.output)
