"""The job operator's promise in real Airflow processes: a worker killed between two submissions of a wave, after
the gateway made the batch but before the task recorded it, then retried, leaves exactly one batch per part and
one export with every result once."""

from __future__ import annotations

import json
import re
import signal
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_bifrost.storage.manifest import iter_result_items
from airflow_provider_bifrost.version_compat import AIRFLOW_V_3_3_PLUS

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_provider_bifrost.testing.emulator import EmulatorClient
    from tests.standalone.harness import AirflowStandalone

pytestmark = [pytest.mark.standalone, pytest.mark.timeout(600)]

DAG_ID = "bifrost_job_standalone"
TASK_ID = "job"
REQUESTS, PARTS, WAVE = 60, 6, 2  # the DAG's parts hold 10 requests; two run at once
CREATES = r"^/v1/batches$"
HOLD = 10.0
"""Seconds the emulator holds the second wave's second create before carrying it out: time to freeze the worker."""
STEP_TIMEOUT = 180.0


def write_requests(path: Path, count: int) -> Path:
    """``count`` chat requests as JSONL, custom ids ``r0``..."""
    with path.open("w") as sink:
        for i in range(count):
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"Say {i}"}]}
            sink.write(
                json.dumps({"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions", "body": body})
            )
            sink.write("\n")
    return path


def parts_of_run(emulator: EmulatorClient, run_id: str) -> dict[str, int]:
    """Batch id -> the part number its tag names (``... part 3/6``), for the batches of this DAG run."""
    found: dict[str, int] = {}
    for batch in emulator.batches():
        name = (batch.get("metadata") or {}).get("airflow_ti", "")
        if f"run_id={run_id}" in name and (part := re.search(rf" part (\d+)/{PARTS}$", name)):
            found[batch["id"]] = int(part.group(1))
    return found


def wait_deferred_and_settled(airflow: AirflowStandalone, run_id: str, deferrals: int) -> None:
    """
    Wait until the task is deferred and the scheduler has taken in its ``deferrals``-th worker exit on a deferral.

    A wave released sooner can trip Airflow 3.3's race of a resumed task with the stale "success" of the worker
    run that deferred (apache/airflow#66374, #67287, #72716): the scheduler fails the resumed run as changed
    externally, and a retry starts beside it (as test_secrets_in_airflow.py also guards against).
    """
    finished = f"TaskInstance Finished: dag_id={DAG_ID}, task_id={TASK_ID}, run_id={run_id}, "

    def settled() -> bool:
        lines = airflow.component("scheduler").log().splitlines()
        seen = sum(1 for line in lines if finished in line and "state=deferred" in line)
        return airflow.task_state(DAG_ID, run_id, TASK_ID) == "deferred" and seen >= deferrals

    airflow.wait_for(
        settled, timeout=STEP_TIMEOUT, what=f"deferral {deferrals} to settle", dag_id=DAG_ID, run_id=run_id
    )


def test_worker_killed_between_waves_leaves_one_batch_per_part(
    airflow_standalone: AirflowStandalone, emulator: EmulatorClient, tmp_path: Path
) -> None:
    airflow = airflow_standalone
    source = write_requests(tmp_path / "requests.jsonl", REQUESTS)
    output = tmp_path / "out"
    emulator.configure(manual=True)  # every batch stays in_progress until the test finishes it
    airflow.wait_for_dag(DAG_ID)
    run_id = airflow.trigger_dag(DAG_ID, {"input_uri": f"file://{source}", "output_uri": f"file://{output}"})

    # The first wave: two parts, then the task defers on them.
    wait_deferred_and_settled(airflow, run_id, 1)
    first_wave = parts_of_run(emulator, run_id)
    assert sorted(first_wave.values()) == [1, 2], first_wave
    # The second wave's first create goes through; its second is held before the gateway carries it out.
    rules: list[dict[str, Any]] = [
        {"action": "delay", "method": "POST", "path": CREATES, "seconds": 0.0, "times": 1},
        {"action": "delay", "method": "POST", "path": CREATES, "seconds": HOLD, "times": 1},
    ]
    emulator.set_faults(rules)
    emulator.set_status_many("completed", list(first_wave))
    held = airflow.wait_for(
        lambda: (
            len(creates := emulator.requests(CREATES, method="POST")) == WAVE + 2 and creates[-1]["fault"] and creates
        ),
        timeout=STEP_TIMEOUT,
        what="the second wave's second create to be held",
        dag_id=DAG_ID,
        run_id=run_id,
    )[-1]

    # Freeze the worker while its create is held; let the gateway make the batch and answer into the frozen
    # process; then kill it. The batch exists, and the task never read its id.
    airflow.signal_task_process(DAG_ID, run_id, TASK_ID, signal.SIGSTOP)
    creates = emulator.requests(CREATES, method="POST")
    assert (creates[-1]["time"], creates[-1]["status"]) == (held["time"], None), f"frozen too late: {creates[-1]}"
    airflow.wait_for(
        lambda: emulator.requests(CREATES, method="POST")[-1]["status"] == 200,
        timeout=HOLD + 60,
        what="the held create to be carried out",
        dag_id=DAG_ID,
        run_id=run_id,
    )
    airflow.kill_task_process(DAG_ID, run_id, TASK_ID)
    # Between the second wave's submissions: 4 of the 6 parts created, the 4th unknown to the task's saved state.
    killed_at = parts_of_run(emulator, run_id)
    assert sorted(killed_at.values()) == [1, 2, 3, 4] and len(creates) == 4 < PARTS, killed_at

    # The retry takes the job up (or finds its parts by their tags) and defers on parts 3 and 4, submitting none.
    wait_deferred_and_settled(airflow, run_id, 2)
    assert parts_of_run(emulator, run_id) == killed_at
    emulator.set_status_many("completed")
    wait_deferred_and_settled(airflow, run_id, 3)  # parts 5 and 6
    emulator.set_status_many("completed")
    airflow.wait_for_run_state(DAG_ID, run_id, "success", timeout=STEP_TIMEOUT)

    ti = airflow.task_instance(DAG_ID, run_id, TASK_ID)
    assert ti is not None and (ti["state"], ti["try_number"]) == ("success", 2), ti
    parts = parts_of_run(emulator, run_id)
    assert sorted(parts.values()) == list(range(1, PARTS + 1)), parts
    creates = emulator.requests(CREATES, method="POST")
    assert [entry["status"] for entry in creates] == [200] * PARTS, creates

    (manifest_file,) = output.glob("job-*/_manifest.json")
    manifest = json.loads(manifest_file.read_text())
    counts = manifest["counts"]
    assert counts["results"] == counts["expected"] == REQUESTS, counts
    assert (counts["missing"], counts["unexpected"], counts["duplicated"]) == (0, 0, 0), counts
    assert sorted(part["batch_id"] for part in manifest["parts"]) == sorted(parts)
    exported = sorted(str(item["custom_id"]) for item in iter_result_items(manifest))
    assert exported == sorted(f"r{i}" for i in range(REQUESTS))

    logs = airflow.task_logs(DAG_ID, run_id, TASK_ID)
    (second_try,) = (text for path, text in logs.items() if path.name == "attempt=2.log")
    if AIRFLOW_V_3_3_PLUS:  # the task state store: the saved job, and its part in flight found by its tag
        expected = ["Taking up the job of an earlier try", "part 4/6: its create was in flight when the earlier try"]
    else:
        expected = ["reattached to 4 part(s)"]
    assert all(line in second_try for line in expected), second_try
