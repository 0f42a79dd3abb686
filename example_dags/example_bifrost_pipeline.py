"""
The whole pipeline: build requests, submit the batch, wait for it without a worker slot, export every
result to object storage, process each results file in a mapped task, and reduce to a summary.

Runs as is against the emulator (``bash scripts/demo.sh`` starts one). Against a real gateway, set the
``bifrost_default`` connection, and the ``bifrost_output_uri`` Variable (e.g. ``s3://bucket/bifrost``)
with ``bifrost_output_conn_id`` naming its storage connection (e.g. an AWS connection).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, Variable, task

from airflow_provider_bifrost.operators.bifrost import BifrostBatchResultsOperator, BifrostCreateBatchOperator
from airflow_provider_bifrost.sensors.bifrost import BifrostBatchSensor
from airflow_provider_bifrost.storage.manifest import iter_result_items
from airflow_provider_bifrost.storage.paths import storage_path

DEFAULT_OUTPUT_URI = "file:///tmp/bifrost-results"
OUTPUT_URI = "{{ var.value.get('bifrost_output_uri', '" + DEFAULT_OUTPUT_URI + "') }}"
OUTPUT_CONN_ID = "{{ var.value.get('bifrost_output_conn_id', '') }}"


def answer_of(item: dict[str, Any]) -> str | None:
    """The answer text of a chat-completion result item, or None if the request failed."""
    response = item.get("response") or {}
    if response.get("status_code") != 200:
        return None
    choices = (response.get("body") or {}).get("choices") or [{}]
    return str((choices[0].get("message") or {}).get("content") or "")


with DAG(
    dag_id="example_bifrost_pipeline",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"products": Param(120, type="integer", minimum=1, description="product descriptions to write")},
    tags=["bifrost", "example"],
):

    @task
    def build_requests(**context: Any) -> list[dict[str, Any]]:
        """One chat-completion request per product (in real life: read from a table)."""
        return [
            {
                "custom_id": f"describe-{i}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"Describe product {i}"}]},
            }
            for i in range(context["params"]["products"])
        ]

    # [START howto_operator_bifrost_create_batch]
    create = BifrostCreateBatchOperator(
        task_id="create",
        model="openai/gpt-4o-mini",
        endpoint="/v1/chat/completions",
        requests=build_requests(),
        metadata={"pipeline": "product-descriptions"},
        retries=2,
        retry_delay=timedelta(seconds=5),
    )
    # [END howto_operator_bifrost_create_batch]

    # [START howto_sensor_bifrost_batch]
    wait = BifrostBatchSensor(
        task_id="wait",
        batch_id=create.output,
        provider="openai",
        poke_interval=5,  # seconds; minutes suit a real gateway, where batches take hours
        timeout=24 * 3600,
    )
    # [END howto_sensor_bifrost_batch]

    # [START howto_operator_bifrost_results_to_storage]
    export = BifrostBatchResultsOperator(
        task_id="export",
        batch_id=create.output,
        provider="openai",
        output_uri=OUTPUT_URI,
        output_conn_id=OUTPUT_CONN_ID,
        results_per_file=50,
        retries=2,
    )
    # [END howto_operator_bifrost_results_to_storage]

    # [START howto_process_bifrost_results]
    @task
    def files_of(manifest: dict[str, Any]) -> list[str]:
        """The results files to process, one mapped task each."""
        return list(manifest["files"])

    @task
    def process(uri: str) -> dict[str, Any]:
        """Tally one results file, and keep its first answers as a sample."""
        tally: dict[str, Any] = {"items": 0, "answers": 0, "failed": 0, "sample": []}
        for item in iter_result_items(uri, conn_id=Variable.get("bifrost_output_conn_id", default=None) or None):
            tally["items"] += 1
            answer = answer_of(item)
            if answer is None:
                tally["failed"] += 1
                continue
            tally["answers"] += 1
            if len(tally["sample"]) < 3:
                tally["sample"].append({"custom_id": item["custom_id"], "answer": answer[:80]})
        return tally

    @task
    def summarize(tallies: list[dict[str, Any]], manifest: dict[str, Any]) -> dict[str, Any]:
        """Reduce the tallies, check nothing was lost, and write ``summary.json`` beside the results."""
        tallies = tallies[:]  # every mapped result in one read (iterating probes one past the end: a logged 404)
        totals = {key: sum(t[key] for t in tallies) for key in ("items", "answers", "failed")}
        if totals["items"] != manifest["counts"]["results"]:
            raise ValueError(f"processed {totals['items']} items but the export wrote {manifest['counts']['results']}")
        summary = {**totals, "files": len(tallies), "sample": [row for t in tallies for row in t["sample"]][:5]}
        folder = storage_path(manifest["output_uri"], manifest.get("output_conn_id"))
        (folder / "summary.json").write_text(json.dumps(summary, indent=2))
        return summary

    tallies = process.expand(uri=files_of(export.output))
    summarize(tallies, export.output)
    # [END howto_process_bifrost_results]

    create >> wait >> export
