"""
A Vertex AI batch prediction job from inline requests: the gateway writes the job's output under
``output_folder`` (a ``gs://`` prefix). The create task waits for it deferred; the results are exported to
storage, gzip-compressed.

Vertex batch ids are resource names (``projects/<p>/locations/<l>/batchPredictionJobs/<n>``); the job's
display name carries the task instance's tag, which is how a retried task finds its job again instead of
submitting a second one.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_bifrost.operators.bifrost import BifrostBatchResultsOperator, BifrostCreateBatchOperator

PRODUCTS = ["walnut desk", "linen shirt", "ceramic mug", "trail shoes"]

with DAG(
    dag_id="example_bifrost_vertex",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["bifrost", "example", "vertex"],
):
    # [START howto_operator_bifrost_vertex]
    predict = BifrostCreateBatchOperator(
        task_id="predict",
        model="vertex/gemini-2.0-flash",
        requests=[
            {
                "custom_id": f"tagline-{i}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"messages": [{"role": "user", "content": f"A six-word tagline for a {product}."}]},
            }
            for i, product in enumerate(PRODUCTS)
        ],
        output_folder="{{ var.value.get('bifrost_vertex_output', 'gs://my-bucket/vertex-batch-output/') }}",
        display_name="product taglines",  # the operator appends the task instance's tag
        wait_for_completion=True,
        poll_interval=5,
    )
    # [END howto_operator_bifrost_vertex]

    BifrostBatchResultsOperator(
        task_id="export",
        batch_id=predict.output,
        provider="vertex",
        output_uri="{{ var.value.get('bifrost_output_uri', 'file:///tmp/bifrost-results') }}",
        compression="gzip",
    )
