"""The example DAGs parse, and run green under dag.test() against the emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from airflow.dag_processing.dagbag import DagBag

if TYPE_CHECKING:
    from airflow_provider_bifrost.testing.emulator import EmulatorClient

EXAMPLES = Path(__file__).parents[2] / "example_dags"


@pytest.fixture(scope="module")
def examples() -> DagBag:
    return DagBag(dag_folder=str(EXAMPLES))


def test_examples_parse_without_import_errors(examples: DagBag) -> None:
    assert examples.import_errors == {}
    assert "example_bifrost_quickstart" in examples.dag_ids


@pytest.mark.usefixtures("airflow_db")
def test_quickstart_runs_green(
    examples: DagBag, emulator: EmulatorClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    conn = {"conn_type": "bifrost", "host": emulator.url, "extra": {"default_provider": "openai"}}
    monkeypatch.setenv("AIRFLOW_CONN_BIFROST_DEFAULT", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW_VAR_BIFROST_OUTPUT_URI", f"file://{tmp_path}/out")
    emulator.configure(timeline=(0.2, 1.0, 0.2))
    run = examples.get_dag("example_bifrost_quickstart").test()
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    (written,) = (tmp_path / "out").glob("*/part-00000.jsonl")
    lines = [json.loads(line) for line in written.read_text().splitlines()]
    assert sorted(item["custom_id"] for item in lines) == [f"question-{i}" for i in range(4)]
    assert (written.parent / "_manifest.json").exists()


@pytest.mark.usefixtures("airflow_db")
def test_process_results_maps_over_the_files_and_reduces(
    examples: DagBag, emulator: EmulatorClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    conn = {"conn_type": "bifrost", "host": emulator.url, "extra": {"default_provider": "openai"}}
    monkeypatch.setenv("AIRFLOW_CONN_BIFROST_DEFAULT", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW_VAR_BIFROST_OUTPUT_URI", f"file://{tmp_path}")
    emulator.configure(timeline=(0.2, 1.0, 0.2), failed_requests=7)
    run = examples.get_dag("example_bifrost_process_results").test()
    states = [(ti.task_id, ti.map_index, ti.state) for ti in run.get_task_instances()]
    assert run.state == "success", states
    assert sorted(index for task_id, index, _ in states if task_id == "process") == [0, 1, 2]
    summary = run.get_task_instance("summarize").xcom_pull(task_ids="summarize")
    assert summary["items"] == 120 and summary["failed"] == 7 and summary["answers"] == 113
