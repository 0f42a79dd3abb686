"""``BifrostBatchSensor`` in a real Airflow: it defers, the triggerer polls the batch, and a
triggerer crash loses nothing (another triggerer adopts the trigger)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest

from tests.standalone.harness import AirflowStandalone, tail

if TYPE_CHECKING:
    from airflow_provider_bifrost.testing.emulator import EmulatorClient

# Longer than pyproject's 300 s: the harness's own waits time out first, with diagnostics.
pytestmark = [pytest.mark.standalone, pytest.mark.timeout(600)]

DAG_ID = "bifrost_sensor_standalone"
SENSOR = "wait"
CHECK = "check"
POKE_INTERVAL = 2.0
TRIGGER_CLASSPATH = "airflow_provider_bifrost.triggers.bifrost.BifrostBatchTrigger"
STEP_TIMEOUT = 150.0
"""Seconds for one step (a task to start and defer, a trigger to fire and the run to finish)."""


def status_polls(emulator: EmulatorClient, batch_id: str) -> list[dict[str, Any]]:
    """The emulator's log of ``GET`` requests for the batch's status."""
    return emulator.requests(path_regex=rf"/batches/{re.escape(batch_id)}$", method="GET")


def start_deferred_run(airflow: AirflowStandalone, emulator: EmulatorClient) -> tuple[str, str, dict[str, Any]]:
    """Seed a batch that stays ``in_progress``, trigger the DAG for it, and wait until the sensor
    is deferred on a ``BifrostBatchTrigger`` that a triggerer runs and that polls the batch.
    Returns the batch id, the run id and the trigger row."""
    airflow.wait_for_dag(DAG_ID)
    batch_id: str = emulator.add_batch(provider="openai", requests=10, manual=True)["id"]
    run_id = airflow.trigger_dag(DAG_ID, {"batch_id": batch_id})
    airflow.wait_for_task_state(DAG_ID, run_id, SENSOR, "deferred", timeout=STEP_TIMEOUT)

    def running_trigger() -> dict[str, Any] | None:
        trigger = airflow.trigger_of(DAG_ID, run_id, SENSOR)
        return trigger if trigger is not None and trigger["triggerer_id"] is not None else None

    trigger = airflow.wait_for(
        running_trigger, timeout=60, what="a triggerer to take the sensor's trigger", dag_id=DAG_ID, run_id=run_id
    )
    assert trigger["classpath"] == TRIGGER_CLASSPATH, trigger

    # The sensor checked once before deferring; from now on only the triggerer polls.
    seen = len(status_polls(emulator, batch_id))
    airflow.wait_for(
        lambda: len(status_polls(emulator, batch_id)) >= seen + 2,
        timeout=60,
        what=f"the triggerer to poll batch {batch_id} (seen {seen} polls so far)",
        dag_id=DAG_ID,
        run_id=run_id,
    )
    assert airflow.task_state(DAG_ID, run_id, SENSOR) == "deferred", airflow.diagnostics(DAG_ID, run_id)
    return batch_id, run_id, trigger


def assert_run_succeeded(airflow: AirflowStandalone, run_id: str) -> None:
    """Wait for the run to succeed; both tasks must have succeeded."""
    airflow.wait_for_run_state(DAG_ID, run_id, "success", timeout=STEP_TIMEOUT)
    states = airflow.task_states(DAG_ID, run_id)
    assert states == {SENSOR: "success", CHECK: "success"}, airflow.diagnostics(DAG_ID, run_id)


def test_sensor_defers_and_succeeds_when_the_batch_completes(
    airflow_standalone: AirflowStandalone, standalone_emulator: EmulatorClient
) -> None:
    airflow = airflow_standalone
    batch_id, run_id, _ = start_deferred_run(airflow, standalone_emulator)

    standalone_emulator.set_status(batch_id, "completed")

    assert_run_succeeded(airflow, run_id)
    trigger_logs = [
        text for path, text in airflow.task_logs(DAG_ID, run_id, SENSOR).items() if ".trigger." in path.name
    ]
    assert any(batch_id in text for text in trigger_logs), (
        f"no trigger log mentions {batch_id}\n{airflow.diagnostics(DAG_ID, run_id)}"
    )


def test_deferred_sensor_survives_a_triggerer_crash(
    airflow_standalone: AirflowStandalone, standalone_emulator: EmulatorClient
) -> None:
    airflow = airflow_standalone
    batch_id, run_id, trigger = start_deferred_run(airflow, standalone_emulator)

    killed = airflow.kill_triggerer()
    assert killed, "no triggerer process was killed"
    assert not airflow.find_processes("airflow triggerer"), airflow.diagnostics(DAG_ID, run_id)
    standalone_emulator.set_status(batch_id, "completed")
    polls_after_kill = len(status_polls(standalone_emulator, batch_id))

    # With no triggerer, nothing notices: the task stays deferred and nobody polls the batch.
    def unnoticed() -> bool:
        return (
            airflow.task_state(DAG_ID, run_id, SENSOR) == "deferred"
            and len(status_polls(standalone_emulator, batch_id)) == polls_after_kill
        )

    airflow.assert_stays(
        unnoticed,
        duration=3 * POKE_INTERVAL + 2,
        what="the sensor to stay deferred, unpolled, while no triggerer runs",
        dag_id=DAG_ID,
        run_id=run_id,
    )

    new_job_id = airflow.start_triggerer()
    assert new_job_id != trigger["triggerer_id"]
    assert_run_succeeded(airflow, run_id)
    assert len(status_polls(standalone_emulator, batch_id)) > polls_after_kill
    # The replacement triggerer ran the trigger: it wrote the trigger log under its own job id.
    trigger_logs = [path.name for path in airflow.task_logs(DAG_ID, run_id, SENSOR) if ".trigger." in path.name]
    assert any(name.endswith(f".trigger.{new_job_id}.log") for name in trigger_logs), (
        f"no trigger log of triggerer job {new_job_id}: {trigger_logs}\n{tail(airflow.triggerer_log())}"
    )
