"""The example Asset pair in a real Airflow: the producer's export, announced as an asset event, starts a run of
the consumer, which reads the export that event points to (``triggering_asset_events``: the branch ``dag.test()``
cannot take, as it starts no run from an event)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_bifrost.storage.manifest import read_manifest

if TYPE_CHECKING:
    from airflow_provider_bifrost.testing.emulator import EmulatorClient
    from tests.standalone.harness import AirflowStandalone

pytestmark = [pytest.mark.standalone, pytest.mark.timeout(600)]

PRODUCER = "example_bifrost_assets_producer"
CONSUMER = "example_bifrost_assets_consumer"
STEP_TIMEOUT = 180.0


def consumer_runs(airflow: AirflowStandalone) -> list[dict[str, Any]]:
    """The consumer's runs, each with the asset events it consumed (their producing run and extra)."""
    runs = airflow.query("SELECT id, run_id, run_type, state FROM dag_run WHERE dag_id = ?", (CONSUMER,))
    for run in runs:
        run["events"] = airflow.query(
            "SELECT e.source_dag_id, e.source_run_id, e.extra FROM asset_event e "
            "JOIN dagrun_asset_event de ON de.event_id = e.id WHERE de.dag_run_id = ?",
            (run["id"],),
        )
    return runs


def test_an_export_event_starts_the_consumer_on_that_export(
    airflow_standalone: AirflowStandalone, emulator: EmulatorClient
) -> None:
    airflow = airflow_standalone
    emulator.configure(failed_requests=4)
    airflow.wait_for_dag(CONSUMER)  # unpaused: the scheduler starts it on each new event
    airflow.wait_for_dag(PRODUCER)
    before = {run["run_id"] for run in consumer_runs(airflow)}
    run_id = airflow.trigger_dag(PRODUCER)
    airflow.wait_for_run_state(PRODUCER, run_id, "success", timeout=STEP_TIMEOUT)

    def new_runs() -> list[dict[str, Any]]:
        return [run for run in consumer_runs(airflow) if run["run_id"] not in before]

    airflow.wait_for(
        lambda: [run for run in new_runs() if run["state"] == "success"],
        timeout=STEP_TIMEOUT,
        what="the consumer's run on the new export to succeed",
    )
    (run,) = new_runs()
    assert run["run_type"] == "asset_triggered"
    (event,) = run["events"]
    assert (event["source_dag_id"], event["source_run_id"]) == (PRODUCER, run_id)
    extra = json.loads(event["extra"])
    manifest = read_manifest(extra["manifest_uri"])  # the producer's export
    assert manifest["job_id"] == extra["job_id"] and manifest["counts"]["results"] == 40

    log = "\n".join(airflow.task_logs(CONSUMER, run["run_id"], "summarize").values())
    assert f"{manifest['job_id']} (the event that started this run): 40 results, 36 answered" in log, log
    (value,) = airflow.query(
        "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = 'summarize' AND key = 'return_value'",
        (CONSUMER, run["run_id"]),
    )
    assert json.loads(value["value"]) == {"job_id": manifest["job_id"], "results": 40, "answered": 36}
