"""
Chain processing on a batch's results: export them to object storage, process each results file in
a mapped task, reduce to a summary.

Runs as is against the emulator (the README's demo starts one); against a real gateway, set the
``bifrost_default`` connection and the ``bifrost_output_uri`` Variable (e.g. ``s3://bucket/bifrost``
with ``bifrost_output_conn_id`` naming the AWS connection).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Variable, task

from airflow_provider_bifrost.hooks.bifrost import BifrostHook
from airflow_provider_bifrost.operators.bifrost import BifrostBatchResultsOperator
from airflow_provider_bifrost.sensors.bifrost import BifrostBatchSensor
from airflow_provider_bifrost.storage.manifest import iter_result_items

DEFAULT_OUTPUT_URI = "file:///tmp/bifrost-results"
PRODUCTS = [f"product {i}" for i in range(120)]

with DAG(
    dag_id="example_bifrost_process_results",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["bifrost", "example"],
):

    @task
    def submit() -> str:
        """One request per product description to write (stands in for a batch created elsewhere)."""
        requests = [
            {
                "custom_id": f"describe-{i}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"Describe {name}"}]},
            }
            for i, name in enumerate(PRODUCTS)
        ]
        return (
            BifrostHook()
            .create_batch(model="openai/gpt-4o-mini", endpoint="/v1/chat/completions", requests=requests)
            .id
        )

    batch_id = submit()
    wait = BifrostBatchSensor(task_id="wait", batch_id=batch_id, provider="openai", poke_interval=2)
    export = BifrostBatchResultsOperator(
        task_id="export",
        batch_id=batch_id,
        provider="openai",
        output_uri="{{ var.value.get('bifrost_output_uri', '" + DEFAULT_OUTPUT_URI + "') }}",
        output_conn_id="{{ var.value.get('bifrost_output_conn_id', '') }}",
        results_per_file=50,
    )

    @task
    def files_of(manifest: dict[str, Any]) -> list[str]:
        """The results files to process, one mapped task each."""
        return list(manifest["files"])

    @task
    def process(uri: str) -> dict[str, int]:
        """Tally one results file: answers, failures, tokens."""
        tally = {"items": 0, "answers": 0, "failed": 0, "tokens": 0}
        for item in iter_result_items(uri, conn_id=Variable.get("bifrost_output_conn_id", default=None) or None):
            tally["items"] += 1
            response = item.get("response") or {}
            if response.get("status_code") == 200:
                tally["answers"] += 1
                tally["tokens"] += response["body"].get("usage", {}).get("total_tokens", 0)
            else:
                tally["failed"] += 1
        return tally

    @task
    def summarize(tallies: list[dict[str, int]], manifest: dict[str, Any]) -> dict[str, int]:
        """Reduce the per-file tallies; check nothing was lost on the way."""
        total = {key: sum(t[key] for t in tallies) for key in ("items", "answers", "failed", "tokens")}
        if total["items"] != manifest["counts"]["results"]:
            raise ValueError(f"processed {total['items']} items but the export wrote {manifest['counts']['results']}")
        print(f"Processed {total['items']} results in {len(tallies)} files: {total}")
        return total

    batch_id >> wait >> export
    tallies = process.expand(uri=files_of(export.output))
    summarize(tallies, export.output)
