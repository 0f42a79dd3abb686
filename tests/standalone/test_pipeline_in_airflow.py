"""The whole pipeline in a real Airflow, and the create task's promise there: never a duplicate batch,
whether its process is killed right after submitting or the gateway's answer to the create is lost."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_provider_bifrost.testing.emulator import EmulatorClient
    from tests.standalone.harness import AirflowStandalone

pytestmark = [pytest.mark.standalone, pytest.mark.timeout(600)]

PIPELINE = "example_bifrost_pipeline"
CREATE_DAG = "bifrost_create_standalone"
STEP_TIMEOUT = 180.0


def batches_of_run(emulator: EmulatorClient, run_id: str) -> list[dict[str, Any]]:
    """The batches whose metadata tag names this DAG run."""
    return [b for b in emulator.batches() if f"run_id={run_id}" in (b.get("metadata") or {}).get("airflow_ti", "")]


def test_pipeline_runs_green_with_the_sensor_deferred(
    airflow_standalone: AirflowStandalone, emulator: EmulatorClient, standalone_output: Path
) -> None:
    airflow = airflow_standalone
    emulator.configure(timeline=(2.0, 20.0, 2.0), failed_requests=3)  # long enough for the sensor to defer
    airflow.wait_for_dag(PIPELINE)
    run_id = airflow.trigger_dag(PIPELINE, {"products": 120})
    airflow.wait_for_task_state(PIPELINE, run_id, "wait", "deferred", timeout=STEP_TIMEOUT)
    airflow.wait_for_run_state(PIPELINE, run_id, "success", timeout=STEP_TIMEOUT)

    trigger_logs = [
        text for path, text in airflow.task_logs(PIPELINE, run_id, "wait").items() if ".trigger." in path.name
    ]
    (batch,) = batches_of_run(emulator, run_id)
    assert any(batch["id"] in text for text in trigger_logs), airflow.diagnostics(PIPELINE, run_id)
    summary = json.loads((standalone_output / batch["id"] / "summary.json").read_text())
    assert (summary["items"], summary["failed"], summary["files"]) == (120, 3, 3)


def test_create_killed_right_after_submitting_reattaches_on_retry(
    airflow_standalone: AirflowStandalone, emulator: EmulatorClient
) -> None:
    airflow = airflow_standalone
    emulator.configure(manual=True)  # the batch stays in_progress: the task is polling when killed
    airflow.wait_for_dag(CREATE_DAG)
    run_id = airflow.trigger_dag(CREATE_DAG)
    airflow.wait_for(
        lambda: batches_of_run(emulator, run_id), timeout=STEP_TIMEOUT, what="the create task to submit its batch"
    )
    airflow.kill_task_process(CREATE_DAG, run_id, "create")
    airflow.wait_for(
        lambda: (
            (airflow.task_instance(CREATE_DAG, run_id, "create") or {}).get("try_number", 0) >= 2
            and airflow.task_state(CREATE_DAG, run_id, "create") == "running"
        ),
        timeout=STEP_TIMEOUT,
        what="the create task to be retried",
        dag_id=CREATE_DAG,
        run_id=run_id,
    )
    (batch,) = batches_of_run(emulator, run_id)
    emulator.set_status(batch["id"], "completed")
    airflow.wait_for_run_state(CREATE_DAG, run_id, "success", timeout=STEP_TIMEOUT)
    assert [b["id"] for b in batches_of_run(emulator, run_id)] == [batch["id"]]
    ti = airflow.task_instance(CREATE_DAG, run_id, "create")
    assert ti is not None and ti["try_number"] == 2, ti


def test_a_lost_create_answer_leaves_exactly_one_batch(
    airflow_standalone: AirflowStandalone, emulator: EmulatorClient
) -> None:
    airflow = airflow_standalone
    emulator.configure(timeline=(0.5, 2.0, 0.5))
    emulator.add_fault("lose_response", method="POST", path=r"^/v1/batches$", times=1)
    airflow.wait_for_dag(CREATE_DAG)
    run_id = airflow.trigger_dag(CREATE_DAG)
    airflow.wait_for_run_state(CREATE_DAG, run_id, "success", timeout=STEP_TIMEOUT)
    (batch,) = batches_of_run(emulator, run_id)
    creates = emulator.requests(r"^/v1/batches$", method="POST")
    assert [r["fault"] for r in creates][-1] == "lose_response"
    assert batch["status"] == "completed"


def test_a_bedrock_job_id_is_waited_for_deferred_and_exported(
    airflow_standalone: AirflowStandalone, emulator: EmulatorClient, standalone_output: Path
) -> None:
    """A Bedrock job ARN (with '/') through the scheduler, the triggerer and the export, in a real Airflow."""
    from airflow_provider_bifrost.storage.paths import folder_name

    airflow = airflow_standalone
    batch = emulator.add_batch("bedrock", requests=9, failed=2, timeline=(2.0, 12.0, 2.0))
    assert batch["id"].startswith("arn:aws:bedrock:") and "/" in batch["id"]
    dag_id = "example_bifrost_existing_batch"
    airflow.wait_for_dag(dag_id)
    run_id = airflow.trigger_dag(dag_id, {"batch_id": batch["id"], "provider": "bedrock"})
    airflow.wait_for_task_state(dag_id, run_id, "wait", "deferred", timeout=STEP_TIMEOUT)
    airflow.wait_for_run_state(dag_id, run_id, "success", timeout=STEP_TIMEOUT)

    trigger_logs = [
        text for path, text in airflow.task_logs(dag_id, run_id, "wait").items() if ".trigger." in path.name
    ]
    assert any(f"Batch {batch['id']} completed" in text for text in trigger_logs), airflow.diagnostics(dag_id, run_id)
    manifest = json.loads((standalone_output / folder_name(batch["id"]) / "_manifest.json").read_text())
    assert (manifest["batch_id"], manifest["provider"]) == (batch["id"], "bedrock")
    assert (manifest["counts"]["results"], manifest["counts"]["errored"]) == (9, 2)
    polls = emulator.requests(r"^/v1/batches/arn:aws:bedrock", method="GET")
    assert polls and all(entry["status"] == 200 for entry in polls)
