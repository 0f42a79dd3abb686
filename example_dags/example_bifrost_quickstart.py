"""
Quickstart: submit a small batch through Bifrost, wait for it in the triggerer, write every result to storage.

Connection ``bifrost_default`` points at the gateway (the README's demo starts a local emulator);
Variable ``bifrost_output_uri`` says where results go (default: a local folder).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

from airflow_provider_bifrost.hooks.bifrost import BifrostHook
from airflow_provider_bifrost.operators.bifrost import BifrostBatchResultsOperator
from airflow_provider_bifrost.sensors.bifrost import BifrostBatchSensor

DEFAULT_OUTPUT_URI = "file:///tmp/bifrost-quickstart"
QUESTIONS = ["What is Airflow?", "What is a batch API?", "Why stream large results?", "What is XCom?"]

with DAG(
    dag_id="example_bifrost_quickstart",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["bifrost", "example"],
):

    @task
    def create_batch() -> str:
        """Submit one chat request per question; return the batch id."""
        requests = [
            {
                "custom_id": f"question-{i}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": q}]},
            }
            for i, q in enumerate(QUESTIONS)
        ]
        batch = BifrostHook().create_batch(
            model="openai/gpt-4o-mini", endpoint="/v1/chat/completions", requests=requests
        )
        return batch.id

    batch_id = create_batch()
    # Deferrable: the wait runs in the triggerer, not in a worker slot.
    wait = BifrostBatchSensor(task_id="wait_for_batch", batch_id=batch_id, provider="openai", poke_interval=2)
    export = BifrostBatchResultsOperator(
        task_id="export_results",
        batch_id=batch_id,
        provider="openai",
        output_uri="{{ var.value.get('bifrost_output_uri', '" + DEFAULT_OUTPUT_URI + "') }}",
    )
    wait >> export
