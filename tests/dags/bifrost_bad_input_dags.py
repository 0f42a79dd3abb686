"""DAGs for the bad-input catalogue (tests/catalogue): one sensor task each, run through dag.test()."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_bifrost.sensors.bifrost import BifrostBatchSensor

#: The connection the catalogue's tests point wherever a case needs (set through the environment).
CONN_ID = "bifrost_bad_input"

# One retry with no delay: an ordinary failure shows as a second try (up_for_retry first), a
# fail-fast one as a single try.
with DAG(
    dag_id="bifrost_bad_input_sensor",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"batch_id": "batch_bad_input"},
    default_args={"retries": 1, "retry_delay": timedelta(0)},
):
    BifrostBatchSensor(
        task_id="wait",
        batch_id="{{ params.batch_id }}",
        provider="openai",
        bifrost_conn_id=CONN_ID,
        poke_interval=1,
    )

with DAG(
    dag_id="bifrost_bad_input_missing_param",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(0)},
):
    BifrostBatchSensor(
        task_id="wait",
        batch_id="{{ params.missing_or_empty }}",
        provider="openai",
        bifrost_conn_id=CONN_ID,
        poke_interval=1,
    )
