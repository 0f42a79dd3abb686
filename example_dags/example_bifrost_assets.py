"""
New results as an Airflow Asset: the first DAG runs a job and announces its export (``output_asset``); the second
is scheduled on that Asset and reads the export its newest event points to.

Runs as is against the emulator (``bash scripts/demo.sh`` starts one). Against a real gateway, set the
``bifrost_default`` connection, and the ``bifrost_output_uri`` Variable (e.g. ``s3://bucket/bifrost``) with
``bifrost_output_conn_id`` naming its storage connection. With an ``output_uri`` that is not templated,
``output_asset=True`` makes that location the Asset; here it is a template (a Variable), so the Asset is named.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Asset, task

from airflow_provider_bifrost.operators.bifrost import BifrostBatchJobOperator
from airflow_provider_bifrost.results.records import item_succeeded
from airflow_provider_bifrost.storage.manifest import iter_result_items, read_manifest

OUTPUT_URI = "{{ var.value.get('bifrost_output_uri', 'file:///tmp/bifrost-results') }}"
OUTPUT_CONN_ID = "{{ var.value.get('bifrost_output_conn_id', '') }}"

# [START howto_bifrost_results_asset]
REVIEW_RESULTS = Asset(name="bifrost_review_results")  # each event's extra says where its export is
# [END howto_bifrost_results_asset]

with DAG(
    dag_id="example_bifrost_assets_producer",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["bifrost", "example", "asset"],
):
    # [START howto_operator_bifrost_output_asset]
    BifrostBatchJobOperator(
        task_id="classify",
        model="openai/gpt-4o-mini",
        endpoint="/v1/chat/completions",
        requests=[
            {
                "custom_id": f"review-{i}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {
                    "model": "gpt-4o-mini",
                    "max_tokens": 4,
                    "messages": [{"role": "user", "content": f"positive, negative or neutral? Review {i}"}],
                },
            }
            for i in range(40)
        ],
        output_uri=OUTPUT_URI,
        output_conn_id=OUTPUT_CONN_ID,
        output_asset=REVIEW_RESULTS,  # an event when the export is complete, its key figures as extra
        poll_interval=5,
    )
    # [END howto_operator_bifrost_output_asset]


with DAG(
    dag_id="example_bifrost_assets_consumer",
    schedule=[REVIEW_RESULTS],  # a run for each new export
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["bifrost", "example", "asset"],
):
    # [START howto_bifrost_asset_consumer]
    @task(inlets=[REVIEW_RESULTS])
    def summarize(triggering_asset_events: Any = None, inlet_events: Any = None) -> dict[str, Any]:
        """The export of the event that started this run (the newest one in a manual run), counted."""
        started_by = triggering_asset_events.get(REVIEW_RESULTS) if triggering_asset_events else None
        event = started_by[-1] if started_by else inlet_events[REVIEW_RESULTS][-1]
        extra = event.extra  # the manifest's key figures: counts, usage, batches, manifest_uri...
        manifest = read_manifest(extra["manifest_uri"], extra["output_conn_id"])
        answered = sum(item_succeeded(item) for item in iter_result_items(manifest))
        which = "the event that started this run" if started_by else "the newest event"
        print(f"{extra['job_id']} ({which}): {extra['counts']['results']} results, {answered} answered")
        print(f"usage: {extra['usage']}")
        return {"job_id": extra["job_id"], "results": extra["counts"]["results"], "answered": answered}

    summarize()
    # [END howto_bifrost_asset_consumer]
