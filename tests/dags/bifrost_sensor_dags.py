"""DAGs for the sensor tests: submit a batch through the hook, wait with the sensor in each mode."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_bifrost.hooks.bifrost import BifrostHook
from airflow_provider_bifrost.sensors.bifrost import BifrostBatchSensor

REQUESTS = [{"custom_id": f"r{i}", "params": {"max_tokens": 16, "messages": []}} for i in range(5)]

for deferrable, mode in [(True, "poke"), (False, "poke"), (False, "reschedule")]:
    with DAG(
        dag_id=f"bifrost_sensor_{'deferrable' if deferrable else mode}",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
    ):

        @task
        def submit() -> str:
            return BifrostHook().create_batch(model="anthropic/claude-3-5-haiku", requests=REQUESTS).id

        waiting = BifrostBatchSensor(
            task_id="wait",
            batch_id="{{ ti.xcom_pull(task_ids='submit') }}",  # a batch id pulled from XCom
            provider="{{ 'anthropic' }}",
            deferrable=deferrable,
            mode=mode,
            poke_interval=1,
        )

        @task
        def check(summary: dict[str, Any]) -> None:
            """Fail the run unless the sensor handed over the batch summary."""
            assert summary["status"] == "ended" and summary["provider"] == "anthropic", summary
            assert summary["request_counts"]["total"] == 5, summary

        submit() >> waiting
        check(waiting.output)
