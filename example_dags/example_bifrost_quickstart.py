"""
Quickstart: submit a small batch through Bifrost, wait for it, write every result to storage.

Connection ``bifrost_default`` points at the gateway (the README's demo starts a local emulator);
Variable ``bifrost_output_uri`` says where results go (default: a local folder).
"""

from __future__ import annotations

import time
from datetime import datetime

from airflow.sdk import DAG, ObjectStoragePath, Variable, task

from airflow_provider_bifrost.hooks.bifrost import BifrostHook
from airflow_provider_bifrost.hooks.status import is_success, is_terminal

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

    @task
    def wait_for_batch(batch_id: str) -> str:
        """Poll until the batch is finished (the sensor issue replaces this with a deferrable sensor)."""
        hook = BifrostHook()
        while not is_terminal((batch := hook.get_batch(batch_id, "openai")).status):
            time.sleep(1)
        if not is_success(batch.status):
            raise RuntimeError(f"Batch {batch_id} ended {batch.status}: {batch.error_messages()}")
        return batch_id

    @task
    def export_results(batch_id: str) -> dict[str, object]:
        """Stream every result into one JSONL file; return where it is and how many lines it has."""
        import json

        output = ObjectStoragePath(Variable.get("bifrost_output_uri", default=DEFAULT_OUTPUT_URI))
        output.mkdir(parents=True, exist_ok=True)
        target = output / f"{batch_id}.jsonl"
        count = 0
        with target.open("w") as sink:
            for item in BifrostHook().iter_batch_result_dicts(batch_id, "openai"):
                sink.write(json.dumps(item) + "\n")
                count += 1
        print(f"Wrote {count} results to {target}")
        return {"uri": str(target), "results": count}

    export_results(wait_for_batch(create_batch()))
