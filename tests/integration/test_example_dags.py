"""The example DAGs parse, and run green under dag.test() against the emulator."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from airflow.dag_processing.dagbag import DagBag

if TYPE_CHECKING:
    from airflow_provider_bifrost.testing.emulator import EmulatorClient

EXAMPLES = Path(__file__).parents[2] / "example_dags"


@pytest.fixture(scope="module")
def examples() -> DagBag:
    return DagBag(dag_folder=str(EXAMPLES))


EXAMPLE_DAG_IDS = {
    "example_bifrost_pipeline",
    "example_bifrost_existing_batch",
    "example_bifrost_anthropic_inline",
    "example_bifrost_bedrock",
    "example_bifrost_vertex",
    "example_bifrost_job",
    "example_bifrost_job_taskflow",
    "example_bifrost_assets_producer",
    "example_bifrost_assets_consumer",
}


def test_examples_parse_without_import_errors(examples: DagBag) -> None:
    assert examples.import_errors == {}
    assert set(examples.dag_ids) == EXAMPLE_DAG_IDS


@pytest.fixture
def gateway(emulator: EmulatorClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> EmulatorClient:
    """The examples' connection and output Variable pointed at the emulator and a temporary folder."""
    monkeypatch.setenv("AIRFLOW_CONN_BIFROST_DEFAULT", json.dumps({"conn_type": "bifrost", "host": emulator.url}))
    monkeypatch.setenv("AIRFLOW_VAR_BIFROST_OUTPUT_URI", f"file://{tmp_path}/out")
    emulator.configure(timeline=(0.2, 1.0, 0.2))
    return emulator


def states_of(run: Any) -> list[tuple[str, int, str]]:
    return [(ti.task_id, ti.map_index, ti.state) for ti in run.get_task_instances()]


@pytest.mark.usefixtures("airflow_db")
def test_pipeline_creates_waits_exports_maps_and_reduces(
    examples: DagBag, gateway: EmulatorClient, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    gateway.configure(failed_requests=7)
    run = examples.get_dag("example_bifrost_pipeline").test()
    output = capfd.readouterr()
    logged = output.out + output.err
    assert "XCom not found" not in logged, "a green run logs no error a newcomer takes for a failure"
    errors = [line for line in logged.splitlines() if re.search(r"\[(error|critical)\s*\]| ERROR | CRITICAL ", line)]
    assert errors == [], "a green run logs no error line"
    states = states_of(run)
    assert run.state == "success", states
    assert sorted(index for task_id, index, _ in states if task_id == "process") == [0, 1, 2]
    (batch,) = gateway.batches()
    assert batch["metadata"]["pipeline"] == "product-descriptions" and batch["metadata"]["airflow_ti_key"]
    summary = json.loads(next((tmp_path / "out").glob("*/summary.json")).read_text())
    assert (summary["items"], summary["failed"], summary["answers"], summary["files"]) == (120, 7, 113, 3)
    assert len(summary["sample"]) == 5 and all(row["custom_id"].startswith("describe-") for row in summary["sample"])


@pytest.mark.usefixtures("airflow_db")
def test_existing_batch_is_waited_for_and_exported(examples: DagBag, gateway: EmulatorClient, tmp_path: Path) -> None:
    batch = gateway.add_batch("openai", requests=30, timeline=(0.2, 1.0, 0.2))
    run = examples.get_dag("example_bifrost_existing_batch").test(run_conf={"batch_id": batch["id"]})
    assert run.state == "success", states_of(run)
    (written,) = (tmp_path / "out" / batch["id"]).glob("part-*.jsonl.gz")
    assert written.name == "part-00000.jsonl.gz"


@pytest.mark.usefixtures("airflow_db")
def test_existing_batch_without_an_id_fails_clearly(examples: DagBag, gateway: EmulatorClient) -> None:
    run = examples.get_dag("example_bifrost_existing_batch").test()
    assert run.state == "failed"
    assert dict((task_id, state) for task_id, _, state in states_of(run))["wait"] == "failed"


@pytest.mark.usefixtures("airflow_db")
def test_anthropic_inline_returns_results_through_xcom(examples: DagBag, gateway: EmulatorClient) -> None:
    run = examples.get_dag("example_bifrost_anthropic_inline").test()
    assert run.state == "success", states_of(run)
    counts = run.get_task_instance("report").xcom_pull(task_ids="report")
    assert counts == {"succeeded": 3}
    (batch,) = gateway.batches()
    assert batch["id"] == run.get_task_instance("ask").xcom_pull(task_ids="ask")


@pytest.mark.usefixtures("airflow_db")
def test_bedrock_from_s3_with_extra_body(examples: DagBag, gateway: EmulatorClient, tmp_path: Path) -> None:
    gateway.add_blob("s3://my-bucket/batch-input/requests.jsonl", requests=12)
    run = examples.get_dag("example_bifrost_bedrock").test()
    assert run.state == "success", states_of(run)
    (batch,) = gateway.batches()
    assert batch["id"].startswith("arn:aws:bedrock:") and "/" in batch["id"]
    assert batch["input_file_id"] == "s3://my-bucket/batch-input/requests.jsonl"
    assert run.get_task_instance("summarize").xcom_pull(task_ids="summarize") == {"answered": 12, "errored": 0}
    (manifest,) = (tmp_path / "out").glob("*/_manifest.json")
    assert json.loads(manifest.read_text())["batch_id"] == batch["id"]


@pytest.mark.usefixtures("airflow_db")
def test_vertex_inline_with_output_folder(examples: DagBag, gateway: EmulatorClient, tmp_path: Path) -> None:
    run = examples.get_dag("example_bifrost_vertex").test()
    assert run.state == "success", states_of(run)
    (batch,) = gateway.batches()
    assert batch["id"].startswith("projects/") and batch["display_name"].startswith("product taglines airflow-")
    (shard,) = (tmp_path / "out").glob("*/part-00000.jsonl.gz")
    assert shard.parent.name != batch["id"]


@pytest.mark.usefixtures("airflow_db")
def test_job_from_files_runs_in_waves_and_exports_as_one(
    examples: DagBag, gateway: EmulatorClient, tmp_path: Path
) -> None:
    gateway.configure(failed_requests=20, failure_codes=[429, 400])  # half of each batch's failures go again
    run = examples.get_dag("example_bifrost_job").test()
    assert run.state == "success", states_of(run)
    batches = gateway.batches()
    assert sorted(b["request_counts"]["total"] for b in batches) == [10, 30, 500, 1000, 1000]
    (manifest_file,) = (tmp_path / "out").glob("job-*/_manifest.json")
    manifest = json.loads(manifest_file.read_text())
    assert manifest["counts"]["results"] == 2_500 and manifest["counts"]["missing"] == 0
    assert [part["requests"] for part in manifest["parts"]][:3] == [1000, 1000, 500]
    assert [r["resubmitted"] for r in manifest["rounds"]] == [30, 10, 0]
    assert manifest["still_failing"]["reasons"] == {"invalid_request": 45, "rate_limited": 5}
    assert manifest["counts"]["succeeded"] == 2_450
    answers = run.get_task_instance("tally").xcom_pull(task_ids="tally")
    assert sum(answers.values()) == 2_500


@pytest.mark.usefixtures("airflow_db")
def test_job_taskflow_decorator_runs_the_function_as_a_job(
    examples: DagBag, gateway: EmulatorClient, tmp_path: Path
) -> None:
    run = examples.get_dag("example_bifrost_job_taskflow").test()
    assert run.state == "success", states_of(run)
    assert len(gateway.batches()) == 3 and all(b["id"].startswith("msgbatch_") for b in gateway.batches())
    report = run.get_task_instance("report").xcom_pull(task_ids="report")
    assert report == {"results": 1_200, "succeeded": 1_200, "missing": 0, "unexpected": 0}
    (staged,) = (tmp_path / "out").glob("job-*/_requests.jsonl")
    assert sum(1 for _ in staged.open()) == 1_200


@pytest.mark.usefixtures("airflow_db")
def test_assets_producer_announces_its_export_and_the_consumer_reads_it(
    examples: DagBag, gateway: EmulatorClient, tmp_path: Path
) -> None:
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    producer = examples.get_dag("example_bifrost_assets_producer")
    consumer = examples.get_dag("example_bifrost_assets_consumer")
    (asset,) = producer.get_task("classify").outlets
    assert list(consumer.timetable.asset_condition.objects) == [asset]
    gateway.configure(failed_requests=4)

    run = producer.test()
    assert run.state == "success", states_of(run)
    (manifest_file,) = (tmp_path / "out").glob("job-*/_manifest.json")
    manifest = json.loads(manifest_file.read_text())
    with create_session() as session:
        asset_id = session.scalar(select(AssetModel.id).where(AssetModel.name == asset.name))
        events = session.scalars(
            select(AssetEvent).where(AssetEvent.asset_id == asset_id, AssetEvent.source_run_id == run.run_id)
        ).all()
        queued = session.scalars(select(AssetDagRunQueue.target_dag_id).where(AssetDagRunQueue.asset_id == asset_id))
        assert consumer.dag_id in set(queued)  # the consumer is due a run on the new results
    (event,) = events
    assert event.source_task_id == "classify"
    assert event.extra["manifest_uri"] == f"file://{manifest_file}"
    assert event.extra["job_id"] == manifest["job_id"] and event.extra["batch_ids"] == [gateway.batches()[0]["id"]]
    assert event.extra["counts"] == manifest["counts"] and event.extra["counts"]["succeeded"] == 36

    run = consumer.test()
    assert run.state == "success", states_of(run)
    summary = run.get_task_instance("summarize").xcom_pull(task_ids="summarize")
    assert summary == {"job_id": manifest["job_id"], "results": 40, "answered": 36}
