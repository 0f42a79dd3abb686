"""Exports announced as Assets under dag.test() against the emulator: the event and its extra, in the database."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from airflow.dag_processing.dagbag import DagBag

from airflow_provider_bifrost.storage.manifest import read_manifest
from tests.integration.job_helpers import gateway

if TYPE_CHECKING:
    from airflow_provider_bifrost.testing.emulator import EmulatorClient

DAGS = Path(__file__).parents[1] / "dags" / "bifrost_asset_dags.py"
__all__ = ["gateway"]  # the shared fixture, used by name


@pytest.fixture(scope="module")
def dags() -> DagBag:
    return DagBag(dag_folder=str(DAGS))


def events_of(uri: str, run_id: str) -> list[dict[str, Any]]:
    """The asset events a DAG run recorded for the Asset of ``uri``: their task and extra."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.uri == uri, AssetEvent.source_run_id == run_id)
        ).all()
        return [{"task_id": row.source_task_id, "extra": dict(row.extra)} for row in rows]


def states_of(run: Any) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


@pytest.mark.usefixtures("airflow_db")
def test_a_batch_export_announces_its_results(dags: DagBag, gateway: EmulatorClient) -> None:
    batch = gateway.add_batch("openai", requests=12, failed=3, manual=True)
    gateway.set_status(batch["id"], "completed")
    dag = dags.get_dag("bifrost_asset_results")
    (asset,) = dag.get_task("export").outlets
    assert asset.uri == "memory://bifrost-asset-tests/results"  # the output_uri, plain

    run = dag.test(run_conf={"batch_id": batch["id"]})
    assert run.state == "success", states_of(run)
    (event,) = events_of(asset.uri, run.run_id)
    extra = event["extra"]
    manifest = read_manifest(extra["manifest_uri"])  # where the consumer finds the export
    assert event["task_id"] == "export" and manifest["batch_id"] == batch["id"]
    assert extra["manifest_uri"].endswith(f"/bifrost-asset-tests/results/{batch['id']}/_manifest.json")
    assert (extra["batch_id"], extra["provider"], extra["status"], extra["partial"]) == (
        batch["id"],
        "openai",
        "completed",
        False,
    )
    assert extra["counts"] == manifest["counts"] and (extra["counts"]["results"], extra["counts"]["succeeded"]) == (
        12,
        9,
    )
    assert extra["files"] == 1 and extra["bytes"] == manifest["bytes"] > 0
    assert extra["usage"] == manifest["usage"]["total"] and extra["usage"]["requests"] == 9


@pytest.mark.usefixtures("airflow_db")
def test_a_job_that_fails_announces_nothing(dags: DagBag, gateway: EmulatorClient) -> None:
    gateway.configure(failed_requests=5)
    dag = dags.get_dag("bifrost_asset_job_fails")
    (asset,) = dag.get_task("job").outlets
    run = dag.test()
    assert states_of(run) == {"job": "failed"}
    assert events_of(asset.uri, run.run_id) == []


@pytest.mark.usefixtures("airflow_db")
def test_a_taskflow_job_announces_its_parts(dags: DagBag, gateway: EmulatorClient) -> None:
    dag = dags.get_dag("bifrost_asset_decorator")
    (asset,) = dag.get_task("questions").outlets
    assert asset.uri == "memory://bifrost-asset-tests/jobs"
    run = dag.test()
    assert run.state == "success", states_of(run)
    (event,) = events_of(asset.uri, run.run_id)
    extra = event["extra"]
    assert extra["batches"] == 3 and sorted(extra["batch_ids"]) == sorted(b["id"] for b in gateway.batches())
    assert extra["counts"]["results"] == extra["counts"]["expected"] == 25 and extra["counts"]["missing"] == 0
    assert read_manifest(extra["manifest_uri"])["job_id"] == extra["job_id"]
