"""BifrostBatchSensor against the emulator: deferral, every event, poke/reschedule modes, soft_fail."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)

from airflow_provider_bifrost.exceptions import BifrostConfigError
from airflow_provider_bifrost.mixins import DEFERRAL_GRACE
from airflow_provider_bifrost.sensors.bifrost import BifrostBatchSensor
from airflow_provider_bifrost.triggers.bifrost import BifrostBatchTrigger
from airflow_provider_bifrost.version_compat import AIRFLOW_V_3_3_PLUS

if TYPE_CHECKING:
    from airflow_provider_bifrost.testing.emulator import EmulatorClient

CONTEXT: Any = {}


@pytest.fixture(autouse=True)
def bifrost_default(emulator: EmulatorClient, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "bifrost", "host": emulator.url, "extra": {"default_provider": "openai"}}
    monkeypatch.setenv("AIRFLOW_CONN_BIFROST_DEFAULT", json.dumps(conn))


def sensor(batch_id: str, **kwargs: Any) -> BifrostBatchSensor:
    return BifrostBatchSensor(task_id="wait", batch_id=batch_id, **kwargs)


def event(status: str, batch_id: str = "batch_1", **fields: Any) -> dict[str, Any]:
    counts = fields.pop("counts", {"total": 10, "completed": 10, "failed": 0})
    summary = {
        "batch_id": batch_id,
        "provider": "openai",
        "status": fields.get("batch_status"),
        "request_counts": counts,
    }
    return {"status": status, "batch_id": batch_id, "provider": "openai", "message": "m", "batch": summary, **fields}


# -- deferral -----------------------------------------------------------------------------------


def test_defers_a_running_batch_with_the_sensor_timeout(emulator: EmulatorClient) -> None:
    batch = emulator.add_batch("openai", requests=3, manual=True)
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        sensor(batch["id"], poke_interval=15, timeout=3600, cancel_on_kill=True).execute(CONTEXT)
    trigger = deferred.value.trigger
    assert isinstance(trigger, BifrostBatchTrigger)
    _, kwargs = trigger.serialize()
    assert (kwargs["batch_id"], kwargs["provider"], kwargs["poll_interval"], kwargs["cancel_on_kill"]) == (
        batch["id"],
        "openai",
        15.0,
        True,
    )
    assert before + 3600 <= kwargs["deadline"] <= time.time() + 3600
    assert deferred.value.timeout == timedelta(seconds=3600) + DEFERRAL_GRACE
    assert deferred.value.method_name == "execute_complete"
    assert len(emulator.requests(f"/v1/batches/{batch['id']}$")) == 1  # checked once before deferring


def test_a_finished_batch_never_defers(emulator: EmulatorClient) -> None:
    batch = emulator.add_batch("openai", requests=4, failed=1, manual=True)
    emulator.set_status(batch["id"], "completed")
    summary = sensor(batch["id"]).execute(CONTEXT)
    assert (summary["batch_id"], summary["provider"], summary["status"]) == (batch["id"], "openai", "completed")
    assert summary["request_counts"]["total"] == 4
    assert summary["output_file_id"] and summary["error_file_id"] and summary["completed_at"]
    assert "results" not in summary


def test_a_batch_that_failed_before_deferring_fails_the_task(emulator: EmulatorClient) -> None:
    batch = emulator.add_batch("openai", requests=3, outcome="failed", timeline=(0, 0, 0))
    with pytest.raises(AirflowFailException, match="ended failed"):
        sensor(batch["id"]).execute(CONTEXT)


@pytest.mark.parametrize("bad", ["", "  ", "..", " batch_1"])
def test_bad_rendered_batch_id(emulator: EmulatorClient, bad: str) -> None:
    with pytest.raises(BifrostConfigError, match="batch_id"):
        sensor(bad).execute(CONTEXT)
    assert emulator.requests() == []


def test_bad_threshold_is_refused_at_parse_time() -> None:
    with pytest.raises(ValueError, match="failed_share_threshold"):
        sensor("b", failed_share_threshold=0)


# -- execute_complete ---------------------------------------------------------------------------


def test_completed_event_returns_the_summary() -> None:
    summary = sensor("batch_1").execute_complete(CONTEXT, event("success", batch_status="completed"))
    assert summary["batch_id"] == "batch_1" and summary["request_counts"]["total"] == 10


def test_ended_event_succeeds_below_the_threshold() -> None:
    counts = {"total": 10, "completed": 7, "failed": 2, "expired": 1}
    summary = sensor("batch_1", failed_share_threshold=0.5).execute_complete(
        CONTEXT, event("success", batch_status="ended", counts=counts)
    )
    assert summary["request_counts"] == counts


@pytest.mark.parametrize("final", ["ended", "completed"])
def test_success_event_fails_at_the_threshold(final: str) -> None:
    counts = {"total": 10, "completed": 5, "failed": 4, "canceled": 1}
    with pytest.raises(AirflowFailException, match=r"5 of 10 requests did not succeed \(50%\)"):
        sensor("batch_1", failed_share_threshold=0.5).execute_complete(
            CONTEXT, event("success", batch_status=final, counts=counts)
        )


def test_all_requests_failed_fails_by_default_and_none_disables_the_check() -> None:
    counts = {"total": 3, "completed": 0, "failed": 3}
    with pytest.raises(AirflowFailException):
        sensor("batch_1").execute_complete(CONTEXT, event("success", batch_status="ended", counts=counts))
    done = sensor("batch_1", failed_share_threshold=None).execute_complete(
        CONTEXT, event("success", batch_status="ended", counts=counts)
    )
    assert done["request_counts"] == counts


@pytest.mark.parametrize(
    ("status", "batch_status"), [("failed", "failed"), ("expired", "expired"), ("cancelled", "canceled")]
)
def test_failure_events_fail_with_the_batch_errors(status: str, batch_status: str) -> None:
    payload = event(status, batch_status=batch_status)
    payload["message"] = "batch_1 failed: 0/10 done; errors: invalid_json (line 3): bad line"
    with pytest.raises(AirflowFailException, match=rf"ended {batch_status}: .*invalid_json \(line 3\): bad line"):
        sensor("batch_1").execute_complete(CONTEXT, payload)


def test_timeout_event_is_a_sensor_timeout() -> None:
    with pytest.raises(AirflowSensorTimeout, match="deadline"):
        sensor("batch_1").execute_complete(
            CONTEXT, {**event("timeout"), "message": "did not finish before the deadline"}
        )


def test_error_event_fails_retryably() -> None:
    with pytest.raises(AirflowException, match="HTTP 401") as info:
        sensor("batch_1").execute_complete(CONTEXT, {**event("error"), "message": "HTTP 401"})
    assert not isinstance(info.value, AirflowFailException)


@pytest.mark.parametrize(
    "bad_event",
    [None, {}, {"status": "completed", "batch_id": "batch_1"}, {"status": "success"}, "success", {"status": None}],
)
def test_unknown_or_missing_events_fail(bad_event: Any) -> None:
    with pytest.raises(AirflowException, match=r"Unexpected trigger event|not 'batch_1'"):
        sensor("batch_1").execute_complete(CONTEXT, bad_event)


def test_event_for_another_batch_fails() -> None:
    with pytest.raises(AirflowException, match="is for batch 'batch_2'"):
        sensor("batch_1").execute_complete(CONTEXT, event("success", batch_id="batch_2"))


# -- soft_fail ----------------------------------------------------------------------------------


def test_soft_fail_skips_on_a_timeout_event() -> None:
    with pytest.raises(AirflowSkipException):
        sensor("batch_1", soft_fail=True).resume_execution("execute_complete", {"event": event("timeout")}, CONTEXT)


def test_soft_fail_skips_when_the_deferral_itself_times_out() -> None:
    """Airflow's own deferral timeout (e.g. no triggerer running) is a sensor timeout too."""
    from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason

    timed_out = {"error": TriggerFailureReason.TRIGGER_TIMEOUT}
    with pytest.raises(AirflowSkipException):
        sensor("batch_1", soft_fail=True).resume_execution(TRIGGER_FAIL_REPR, timed_out, CONTEXT)
    with pytest.raises(AirflowSensorTimeout):
        sensor("batch_1").resume_execution(TRIGGER_FAIL_REPR, timed_out, CONTEXT)


# -- poke mode ----------------------------------------------------------------------------------


def test_poke_mode_waits_and_logs_progress(emulator: EmulatorClient, capsys: pytest.CaptureFixture[str]) -> None:
    batch = emulator.add_batch("openai", requests=10, timeline=(0, 1.0, 0))
    summary = sensor(batch["id"], deferrable=False, poke_interval=0.2).execute(CONTEXT)
    assert summary["status"] == "completed"
    assert len(emulator.requests(f"/v1/batches/{batch['id']}$")) >= 3
    logged = capsys.readouterr().out  # Airflow's task logging writes through structlog to stdout here
    assert f"{batch['id']} in_progress: " in logged
    assert f"{batch['id']} completed: 10/10 done (100%), 0 failed" in logged


def test_poke_mode_times_out_and_soft_fail_skips(emulator: EmulatorClient) -> None:
    batch = emulator.add_batch("openai", requests=10, manual=True)
    with pytest.raises(AirflowSensorTimeout):
        sensor(batch["id"], deferrable=False, poke_interval=0.1, timeout=0.3).execute(CONTEXT)
    with pytest.raises(AirflowSkipException):
        sensor(batch["id"], deferrable=False, poke_interval=0.1, timeout=0.3, soft_fail=True).execute(CONTEXT)


def test_poke_mode_failed_batch_honours_soft_fail(emulator: EmulatorClient) -> None:
    batch = emulator.add_batch("openai", requests=2, outcome="expired", timeline=(0, 0, 0))
    with pytest.raises(AirflowFailException, match="ended expired"):
        sensor(batch["id"], deferrable=False, poke_interval=0.1).execute(CONTEXT)
    with pytest.raises(AirflowSkipException):
        sensor(batch["id"], deferrable=False, poke_interval=0.1, soft_fail=True).execute(CONTEXT)


def test_a_batch_already_failed_before_deferring_honours_soft_fail_too(emulator: EmulatorClient) -> None:
    batch = emulator.add_batch("openai", requests=2, outcome="failed", timeline=(0, 0, 0))
    with pytest.raises(AirflowFailException, match="ended failed"):
        sensor(batch["id"]).execute(CONTEXT)
    with pytest.raises(AirflowSkipException, match="ended failed"):
        sensor(batch["id"], soft_fail=True).execute(CONTEXT)


def test_on_kill_cancels_a_poking_sensor(emulator: EmulatorClient) -> None:
    batch = emulator.add_batch("openai", requests=2, manual=True)
    waiting = sensor(batch["id"], deferrable=False, cancel_on_kill=True)
    waiting.provider = "openai"
    waiting.on_kill()
    assert emulator.batches()[0]["status"] in ("cancelling", "cancelled")


# -- real DAG runs (dag.test runs triggers inline) ----------------------------------------------


def dag_from_file(dag_id: str) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(Path(__file__).parents[1] / "dags"))
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag(dag_id)


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("dag_id", ["bifrost_sensor_deferrable", "bifrost_sensor_poke", "bifrost_sensor_reschedule"])
def test_dag_with_the_sensor_against_the_emulator(emulator: EmulatorClient, dag_id: str) -> None:
    """dag.test() of a real DAG file: submit, wait (deferred: the trigger runs inline), check the summary."""
    # Before Airflow 3.3, dag.test() takes ~5 s to start each task: keep the batch running past that.
    emulator.configure(timeline=(0.2, 1.5, 0.2) if AIRFLOW_V_3_3_PLUS else (0.2, 8.0, 0.2))
    run = dag_from_file(dag_id).test()
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    assert states == {"submit": "success", "wait": "success", "check": "success"}
    polls = emulator.requests(r"^/v1/batches/[^/]+$", method="GET")
    assert len(polls) >= 2
