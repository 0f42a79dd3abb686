"""The DAG of the standalone tests: wait for the batch in ``conf["batch_id"]`` in the triggerer,
then check the sensor's XCom summary."""

from __future__ import annotations

from typing import Any, cast

from airflow.sdk import DAG, task

from airflow_provider_bifrost.sensors.bifrost import BifrostBatchSensor

DAG_ID = "bifrost_sensor_standalone"

with DAG(DAG_ID, schedule=None, catchup=False, tags=["bifrost", "test"]):
    wait = BifrostBatchSensor(
        task_id="wait",
        batch_id="{{ dag_run.conf['batch_id'] }}",
        provider="openai",
        bifrost_conn_id="bifrost_default",
        deferrable=True,
        poke_interval=2,
        timeout=600,
    )

    @task
    def check(summary: dict[str, Any], batch_id: str) -> dict[str, Any]:
        """Fail unless the sensor's summary is the completed batch's."""
        assert summary["batch_id"] == batch_id, summary
        assert summary["status"] == "completed", summary
        return summary

    # The sensor's return value, pulled from XCom at run time.
    summary = cast("dict[str, Any]", wait.output)
    check(summary, "{{ dag_run.conf['batch_id'] }}")
