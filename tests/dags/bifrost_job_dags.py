"""Jobs of many batches: one from a JSONL input on storage, one from a TaskFlow function (@task.bifrost_batch)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import DAG, task

from airflow_provider_bifrost.operators.bifrost import BifrostBatchJobOperator

if TYPE_CHECKING:
    from collections.abc import Iterator

with DAG(dag_id="bifrost_job_from_files", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    BifrostBatchJobOperator(
        task_id="job",
        model="openai/gpt-4o-mini",
        endpoint="/v1/chat/completions",
        input_uri="{{ var.value.bifrost_job_input }}",
        output_uri="{{ var.value.bifrost_output_uri }}",
        results_per_file=50_000,
        poll_interval=0.2,
    )

with DAG(dag_id="bifrost_job_decorator", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):

    @task.bifrost_batch(
        model="anthropic/claude-3-5-haiku",
        output_uri="{{ var.value.bifrost_output_uri }}",
        max_requests_per_batch=40,
        max_active_batches=2,
        poll_interval=0.2,
    )
    def questions(count: int) -> Iterator[dict[str, Any]]:
        for i in range(count):
            yield {
                "custom_id": f"q{i}",
                "params": {"max_tokens": 16, "messages": [{"role": "user", "content": str(i)}]},
            }

    @task
    def check(manifest: dict[str, Any]) -> dict[str, int]:
        return {key: manifest["counts"][key] for key in ("results", "expected", "missing")} | {
            "parts": len(manifest["parts"])
        }

    check(questions(100))
