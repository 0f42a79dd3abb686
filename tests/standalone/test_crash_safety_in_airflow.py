"""Crash safety in real Airflow processes: a worker killed mid-export, then retried, leaves exactly the
batch's results (each once, nothing partial, no temporaries). The triggerer's crash is covered by
test_sensor_in_airflow.py."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_provider_bifrost.testing.emulator import EmulatorClient
    from tests.standalone.harness import AirflowStandalone

pytestmark = [pytest.mark.standalone, pytest.mark.timeout(600)]

DAG_ID = "bifrost_export_standalone"
REQUESTS = 5000
STEP_TIMEOUT = 180.0


def test_worker_killed_mid_export_then_retried_leaves_exact_output(
    airflow_standalone: AirflowStandalone, emulator: EmulatorClient, tmp_path: Path
) -> None:
    airflow = airflow_standalone
    batch = emulator.add_batch("openai", requests=REQUESTS, failed=40, item_bytes=1000, manual=True)
    emulator.set_status(batch["id"], "completed")
    emulator.configure(stream_chunk_delay=0.05)  # ~5 MB at a slow pace: the kill lands mid-download
    folder = tmp_path / batch["id"]
    airflow.wait_for_dag(DAG_ID)
    run_id = airflow.trigger_dag(DAG_ID, {"batch_id": batch["id"], "output_uri": f"file://{tmp_path}"})

    airflow.wait_for(
        lambda: any(folder.glob(".part-00001.jsonl.*.tmp")),
        timeout=STEP_TIMEOUT,
        what="the export to start its second shard",
        dag_id=DAG_ID,
        run_id=run_id,
    )
    airflow.kill_task_process(DAG_ID, run_id, "export")
    assert not (folder / "_manifest.json").exists(), "the kill came too late: the export had finished"
    # Killed mid-export: shards keep their temporary names until the whole export is written.
    assert not list(folder.glob("part-*")), sorted(path.name for path in folder.iterdir())
    emulator.configure(stream_chunk_delay=0.0)

    airflow.wait_for_run_state(DAG_ID, run_id, "success", timeout=STEP_TIMEOUT)
    ti = airflow.task_instance(DAG_ID, run_id, "export")
    assert ti is not None and ti["try_number"] == 2, ti
    names = sorted(path.name for path in folder.iterdir())
    assert names == ["_manifest.json", *(f"part-{i:05d}.jsonl" for i in range(REQUESTS // 500))], names
    custom_ids = [
        json.loads(line)["custom_id"] for name in names[1:] for line in (folder / name).read_text().splitlines()
    ]
    assert sorted(custom_ids) == sorted(f"request-{i}" for i in range(REQUESTS))
    manifest = json.loads((folder / "_manifest.json").read_text())
    assert manifest["counts"]["results"] == REQUESTS and manifest["counts"]["from_error_file"] == 40
