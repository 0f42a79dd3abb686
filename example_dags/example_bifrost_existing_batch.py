"""
Wait for a batch submitted elsewhere (its id is a run parameter), then export its results.

Trigger it with ``{"batch_id": "batch_...", "provider": "openai"}``. The results go to the
``bifrost_output_uri`` Variable's location (default: a local folder).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param

from airflow_provider_bifrost.operators.bifrost import BifrostBatchResultsOperator
from airflow_provider_bifrost.providers import BATCH_PROVIDERS
from airflow_provider_bifrost.sensors.bifrost import BifrostBatchSensor

with DAG(
    dag_id="example_bifrost_existing_batch",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={
        "batch_id": Param("", type="string", description="the batch to wait for"),
        "provider": Param("openai", enum=sorted(BATCH_PROVIDERS)),
    },
    tags=["bifrost", "example"],
):
    # [START howto_sensor_bifrost_existing_batch]
    wait = BifrostBatchSensor(
        task_id="wait",
        batch_id="{{ params.batch_id }}",
        provider="{{ params.provider }}",
        poke_interval=5,  # seconds; minutes suit a real gateway
        failed_share_threshold=0.5,  # fail if half or more of the requests did not succeed
    )
    # [END howto_sensor_bifrost_existing_batch]

    # [START howto_operator_bifrost_results_gzip]
    export = BifrostBatchResultsOperator(
        task_id="export",
        batch_id="{{ params.batch_id }}",
        provider="{{ params.provider }}",
        output_uri="{{ var.value.get('bifrost_output_uri', 'file:///tmp/bifrost-results') }}",
        output_conn_id="{{ var.value.get('bifrost_output_conn_id', '') }}",
        compression="gzip",
    )
    # [END howto_operator_bifrost_results_gzip]

    wait >> export
