"""
Quickstart: submit a small batch through Bifrost, wait for it in the triggerer, write every result to storage.

Connection ``bifrost_default`` points at the gateway (the README's demo starts a local emulator);
Variable ``bifrost_output_uri`` says where results go (default: a local folder).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, ObjectStoragePath, Variable, task

from airflow_provider_bifrost.hooks.bifrost import BifrostHook
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

    @task
    def export_results(summary: dict[str, object]) -> dict[str, object]:
        """Stream every result into one JSONL file; return where it is and how many lines it has."""
        import json

        output = ObjectStoragePath(Variable.get("bifrost_output_uri", default=DEFAULT_OUTPUT_URI))
        output.mkdir(parents=True, exist_ok=True)
        batch_id = str(summary["batch_id"])
        target = output / f"{batch_id}.jsonl"
        count = 0
        with target.open("w") as sink:
            for item in BifrostHook().iter_batch_result_dicts(batch_id, "openai"):
                sink.write(json.dumps(item) + "\n")
                count += 1
        print(f"Wrote {count} results to {target}")
        return {"uri": str(target), "results": count}

    batch_id = create_batch()
    # Deferrable: the wait runs in the triggerer, not in a worker slot.
    wait = BifrostBatchSensor(task_id="wait_for_batch", batch_id=batch_id, provider="openai", poke_interval=2)
    export_results(wait.output)
