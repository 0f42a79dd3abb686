"""The provider in a production topology: PostgreSQL, Redis, CeleryExecutor, two workers, two triggerers.

One topology for the module (``airflow_topology``); each scenario checks exact outcomes and prints what the
issue asks to measure (timings are printed, never asserted):

a. the example pipeline at scale: 40 runs whose 40 batch waits are deferred at once and spread over both
   triggerers, then exported, with the mapped processing tasks spread over both workers;
b. triggerer failover: the triggerer holding the most waits killed with ``kill -9``; the other adopts them,
   every wait ends exactly once, no batch is polled after its event;
c. a worker killed mid-export: the retry runs on the other worker and the output is exact;
d. the create operator's "never a duplicate": the worker killed right after submitting; the retry, on the
   other worker, reattaches to the one batch.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest

from tests.standalone.topology.harness import TASK_INSTANCE_HEARTBEAT_TIMEOUT

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from airflow_provider_bifrost.testing.emulator import EmulatorClient
    from tests.standalone.topology.harness import AirflowTopology

pytestmark = [pytest.mark.topology, pytest.mark.standalone, pytest.mark.timeout(900)]

PIPELINE = "example_bifrost_pipeline"
SENSOR_DAG = "bifrost_sensor_standalone"
EXPORT_DAG = "bifrost_export_standalone"
CREATE_DAG = "bifrost_create_standalone"
TRIGGER_CLASSPATH = "airflow_provider_bifrost.triggers.bifrost.BifrostBatchTrigger"
WORKERS = {"worker-1", "worker-2"}
TRIGGERERS = {"triggerer-1", "triggerer-2"}

SCALE_RUNS = 40
SCALE_PRODUCTS = 60  # results_per_file=50 in the example: two files, so two mapped `process` tasks per run
SCALE_FAILED = 2
FAILOVER_WAITS = 20
STEP_TIMEOUT = 480.0
KILL_TIMEOUT = 180.0  # the task-instance heartbeat timeout (30 s), the retry delay, a new try starting


def report(line: str) -> None:
    """A measurement, printed (``pytest -s`` shows it; the CI log too)."""
    print(f"[topology] {line}", flush=True)


def batch_of_runs(emulator: EmulatorClient, run_ids: Iterable[str]) -> dict[str, list[str]]:
    """``{run_id: [batch ids tagged with that DAG run]}``."""
    found: dict[str, list[str]] = {run_id: [] for run_id in run_ids}
    for batch in emulator.batches():
        tag = (batch.get("metadata") or {}).get("airflow_ti", "")
        for run_id, ids in found.items():
            if f"run_id={run_id}" in tag:
                ids.append(batch["id"])
    return found


def status_polls(emulator: EmulatorClient, batch_id: str) -> list[float]:
    """Times of the ``GET`` requests for the batch's status, oldest first."""
    return [r["time"] for r in emulator.requests(rf"/batches/{re.escape(batch_id)}$", method="GET")]


def deferred_waits(airflow: AirflowTopology, dag_id: str, task_id: str, run_ids: Iterable[str]) -> list[dict[str, Any]]:
    """The task's instances in ``run_ids``, each with its state, trigger and the role of the triggerer holding it."""
    rows = airflow.query(
        "SELECT ti.run_id, ti.state, ti.try_number, t.id AS trigger_id, j.hostname AS triggerer "
        "FROM task_instance ti LEFT JOIN trigger t ON t.id = ti.trigger_id LEFT JOIN job j ON j.id = t.triggerer_id "
        "WHERE ti.dag_id = ? AND ti.task_id = ? AND ti.map_index = -1",
        (dag_id, task_id),
    )
    wanted = set(run_ids)
    return [row for row in rows if row["run_id"] in wanted]


def held_waits(airflow: AirflowTopology, dag_id: str, run_ids: list[str]) -> list[dict[str, Any]] | None:
    """The ``wait`` task instances of the runs once every one is deferred on a trigger that a triggerer holds."""
    rows = deferred_waits(airflow, dag_id, "wait", run_ids)
    if len(rows) == len(run_ids) and all(r["state"] == "deferred" and r["triggerer"] is not None for r in rows):
        return rows
    return None


def task_rows(airflow: AirflowTopology, dag_id: str, run_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Every task instance of the runs (mapped ones included)."""
    rows = airflow.query(
        "SELECT run_id, task_id, map_index, state, try_number, hostname, start_date, end_date "
        "FROM task_instance WHERE dag_id = ?",
        (dag_id,),
    )
    wanted = set(run_ids)
    return [row for row in rows if row["run_id"] in wanted]


def wait_for_runs(airflow: AirflowTopology, dag_id: str, run_ids: list[str], timeout: float) -> None:
    """Wait until every run succeeded; fail at once if one failed."""

    def done() -> bool:
        rows = airflow.query("SELECT run_id, state FROM dag_run WHERE dag_id = ?", (dag_id,))
        states = {row["run_id"]: row["state"] for row in rows if row["run_id"] in set(run_ids)}
        if failed := [run_id for run_id, state in states.items() if state == "failed"]:
            raise AssertionError(f"run {failed[0]} failed\n{airflow.diagnostics(dag_id, failed[0])}")
        return len(states) == len(run_ids) and all(state == "success" for state in states.values())

    airflow.wait_for(done, timeout=timeout, what=f"{len(run_ids)} runs of {dag_id} to succeed", interval=1.0)


def log_lines(texts: Iterable[str], needle: str) -> int:
    """How many lines of the texts contain ``needle``."""
    return sum(needle in line for text in texts for line in text.splitlines())


def history(airflow: AirflowTopology, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
    """The earlier tries of a task instance (``task_instance_history``), oldest first."""
    return airflow.query(
        "SELECT try_number, state, hostname FROM task_instance_history "
        "WHERE dag_id = ? AND run_id = ? AND task_id = ? AND map_index = -1 ORDER BY try_number",
        (dag_id, run_id, task_id),
    )


def check_export_folder(folder: Path, custom_ids: list[str], shards: int) -> dict[str, Any]:
    """The export is exact: the manifest, ``shards`` results files holding every custom id once, nothing else
    (no temporaries); returns the manifest."""
    names = sorted(path.name for path in folder.iterdir() if path.name != "summary.json")
    assert names == ["_manifest.json", *(f"part-{i:05d}.jsonl" for i in range(shards))], names
    found = [json.loads(line)["custom_id"] for name in names[1:] for line in (folder / name).read_text().splitlines()]
    assert sorted(found) == sorted(custom_ids), f"{folder.name}: {len(found)} results, {len(set(found))} distinct"
    manifest: dict[str, Any] = json.loads((folder / "_manifest.json").read_text())
    assert manifest["counts"]["results"] == len(custom_ids), manifest["counts"]
    return manifest


# -- a. the example pipeline at scale ---------------------------------------------------------------


def test_pipeline_at_scale_spreads_waits_over_triggerers_and_tasks_over_workers(
    topology: AirflowTopology, emulator: EmulatorClient, topology_output: Path
) -> None:
    airflow = topology
    emulator.configure(manual=True, failed_requests=SCALE_FAILED)  # every batch runs until the test flips it
    airflow.wait_for_dag(PIPELINE)
    started = time.monotonic()
    run_ids = [airflow.trigger_dag(PIPELINE, {"products": SCALE_PRODUCTS}) for _ in range(SCALE_RUNS)]

    held = airflow.wait_for(
        lambda: held_waits(airflow, PIPELINE, run_ids),
        timeout=STEP_TIMEOUT,
        what=f"all {SCALE_RUNS} sensors to be deferred, each on a trigger a triggerer holds",
        interval=1.0,
    )
    all_deferred = time.monotonic()
    spread = Counter(row["triggerer"] for row in held)
    report(f"(a) {SCALE_RUNS} waits deferred at once, {all_deferred - started:.1f} s after triggering: {dict(spread)}")
    assert set(spread) == TRIGGERERS, spread
    assert max(spread.values()) <= airflow.triggerer_capacity, spread

    batches = batch_of_runs(emulator, run_ids)
    assert all(len(ids) == 1 for ids in batches.values()), {k: v for k, v in batches.items() if len(v) != 1}
    batch_ids = [ids[0] for ids in batches.values()]
    assert {b["id"]: b["status"] for b in emulator.batches()} == dict.fromkeys(batch_ids, "in_progress")
    assert emulator.set_status_many("completed", batch_ids) == SCALE_RUNS  # every batch flips at one instant
    flipped_at = time.time()

    wait_for_runs(airflow, PIPELINE, run_ids, STEP_TIMEOUT)
    rows = task_rows(airflow, PIPELINE, run_ids)
    last_export = max(r["end_date"].timestamp() for r in rows if r["task_id"] == "export")
    report(f"(a) last batch flip -> last export finished: {last_export - flipped_at:.1f} s")
    report(f"(a) last batch flip -> last run finished: {time.time() - flipped_at:.1f} s")
    report(f"(a) the {SCALE_RUNS} runs, from triggering to the last success: {time.monotonic() - started:.1f} s")
    by_task: dict[str, Counter[str]] = {}
    for row in rows:
        by_task.setdefault(row["task_id"], Counter())[row["hostname"]] += 1
    for task_id, hosts in sorted(by_task.items()):
        report(f"(a) {task_id:15} ran on {dict(sorted(hosts.items()))}")

    assert all(r["state"] == "success" for r in rows), [r for r in rows if r["state"] != "success"]
    assert {r["hostname"] for r in rows} <= WORKERS, Counter(r["hostname"] for r in rows)
    process = by_task["process"]
    assert sum(process.values()) == 2 * SCALE_RUNS and set(process) == WORKERS, process
    waits = [r for r in rows if r["task_id"] == "wait"]
    assert all(r["try_number"] == 1 for r in waits), [r for r in waits if r["try_number"] != 1]

    custom_ids = [f"describe-{i}" for i in range(SCALE_PRODUCTS)]
    for batch_id in batch_ids:
        check_export_folder(topology_output / batch_id, custom_ids, shards=2)
        summary = json.loads((topology_output / batch_id / "summary.json").read_text())
        assert (summary["items"], summary["failed"], summary["files"]) == (SCALE_PRODUCTS, SCALE_FAILED, 2), summary
    assert not airflow.triggers(TRIGGER_CLASSPATH), airflow.triggers(TRIGGER_CLASSPATH)


# -- b. triggerer failover ---------------------------------------------------------------------------


def test_killed_triggerer_waits_are_adopted_and_each_ends_exactly_once(
    topology: AirflowTopology, emulator: EmulatorClient
) -> None:
    airflow = topology
    airflow.wait_for_dag(SENSOR_DAG)
    batch_ids = [emulator.add_batch("openai", requests=10, manual=True)["id"] for _ in range(FAILOVER_WAITS)]
    runs = {batch_id: airflow.trigger_dag(SENSOR_DAG, {"batch_id": batch_id}) for batch_id in batch_ids}
    run_ids = list(runs.values())
    batch_of = {run_id: batch_id for batch_id, run_id in runs.items()}

    # Every wait deferred, held, and polled by its triggerer (the sensor's own check comes first: two polls).
    def held_and_polled() -> list[dict[str, Any]] | None:
        rows = held_waits(airflow, SENSOR_DAG, run_ids)
        return rows if rows and all(len(status_polls(emulator, b)) >= 2 for b in batch_ids) else None

    held = airflow.wait_for(
        held_and_polled,
        timeout=STEP_TIMEOUT,
        what=f"all {FAILOVER_WAITS} sensors to be deferred and polled by a triggerer",
        interval=1.0,
    )
    holder = {batch_of[row["run_id"]]: row["triggerer"] for row in held}
    spread = Counter(holder.values())
    victim = max(sorted(TRIGGERERS), key=lambda role: spread[role])
    (survivor,) = TRIGGERERS - {victim}
    orphans = [batch_id for batch_id in batch_ids if holder[batch_id] == victim]
    report(f"(b) {FAILOVER_WAITS} waits held: {dict(spread)}; killing {victim} with its {len(orphans)} waits")
    assert orphans

    killed_at = time.time()
    airflow.kill_role(victim)
    # Half of every triggerer's batches finish now, the orphans' while nobody polls them; the rest once adopted.
    early = orphans[::2] + [b for b in batch_ids if holder[b] == survivor][::2]
    late = [b for b in batch_ids if b not in early]
    flip_started = {b: time.time() for b in early}
    emulator.set_status_many("completed", early)
    flipped = {b: time.time() for b in early}

    def adopted() -> bool:
        rows = deferred_waits(airflow, SENSOR_DAG, "wait", [runs[b] for b in late])
        return all(r["state"] == "deferred" and r["triggerer"] == survivor for r in rows)

    airflow.wait_for(adopted, timeout=STEP_TIMEOUT, what=f"{survivor} to adopt the waits of {victim}", interval=0.5)
    adopted_at = time.time()
    # Each late wait polled by the survivor since the kill: it runs, and sees the batch still running.
    airflow.wait_for(
        lambda: all(any(t > killed_at for t in status_polls(emulator, b)) for b in late),
        timeout=60,
        what="the survivor to poll every remaining batch",
    )
    flip_started.update({b: time.time() for b in late})
    emulator.set_status_many("completed", late)
    flipped.update({b: time.time() for b in late})
    wait_for_runs(airflow, SENSOR_DAG, run_ids, STEP_TIMEOUT)

    survivor_job = max(job["id"] for job in airflow.triggerer_jobs() if job["hostname"] == survivor)
    unpolled = []
    for batch_id in batch_ids:
        run_id = runs[batch_id]
        polls = status_polls(emulator, batch_id)
        # No batch polled after its event: any poll once the flip was done sees the batch finished and fires
        # the event, so there is at most one; at least one poll saw it finished.
        assert len([t for t in polls if t > flipped[batch_id]]) <= 1, (batch_id, polls, flipped[batch_id])
        assert any(t >= flip_started[batch_id] for t in polls), (batch_id, polls)
        # Every wait ended exactly once: one event, one execute_complete, one try, both tasks succeeded once.
        logs = airflow.task_logs(SENSOR_DAG, run_id, "wait")
        trigger_logs = {path.name: text for path, text in logs.items() if ".trigger." in path.name}
        task_logs = [text for path, text in logs.items() if ".trigger." not in path.name]
        assert log_lines(trigger_logs.values(), f"Batch {batch_id} completed:") == 1, (batch_id, list(trigger_logs))
        assert log_lines(task_logs, f"Finished waiting: Batch {batch_id} completed:") == 1, batch_id
        ti = airflow.task_instance(SENSOR_DAG, run_id, "wait")
        assert ti is not None and (ti["state"], ti["try_number"]) == ("success", 1), ti
        assert airflow.task_states(SENSOR_DAG, run_id) == {"wait": "success", "check": "success"}
        assert not history(airflow, SENSOR_DAG, run_id, "wait")
        if batch_id in orphans:
            # The survivor sent the event: it is in the trigger log under the survivor's job id.
            (event_log,) = [name for name, text in trigger_logs.items() if f"Batch {batch_id} completed:" in text]
            assert event_log.endswith(f".trigger.{survivor_job}.log"), (event_log, survivor_job)
            before = max(t for t in polls if t < killed_at)
            after = min(t for t in polls if t > killed_at)
            unpolled.append(after - before)
    assert not airflow.triggers(TRIGGER_CLASSPATH), airflow.triggers(TRIGGER_CLASSPATH)
    report(f"(b) {victim} killed -> {survivor} held its waits after {adopted_at - killed_at:.1f} s")
    report(
        f"(b) the {len(orphans)} orphaned waits went unpolled for {min(unpolled):.1f}-{max(unpolled):.1f} s "
        f"(mean {sum(unpolled) / len(unpolled):.1f} s; poll interval 2 s, health-check threshold 10 s)"
    )


# -- c. a worker killed mid-export -------------------------------------------------------------------


def test_worker_killed_mid_export_retry_on_the_other_worker_leaves_exact_output(
    topology: AirflowTopology, emulator: EmulatorClient, tmp_path: Path
) -> None:
    airflow = topology
    requests = 5000
    batch = emulator.add_batch("openai", requests=requests, failed=40, item_bytes=1000, manual=True)
    emulator.set_status(batch["id"], "completed")
    emulator.configure(stream_chunk_delay=0.05)  # ~5 MB at a slow pace: the kill lands mid-download
    folder = tmp_path / batch["id"]
    airflow.wait_for_dag(EXPORT_DAG)
    run_id = airflow.trigger_dag(EXPORT_DAG, {"batch_id": batch["id"], "output_uri": f"file://{tmp_path}"})

    airflow.wait_for(
        lambda: any(folder.glob(".part-00001.jsonl.*.tmp")),
        timeout=STEP_TIMEOUT,
        what="the export to start its second shard",
        dag_id=EXPORT_DAG,
        run_id=run_id,
    )
    ti = airflow.task_instance(EXPORT_DAG, run_id, "export")
    assert ti is not None and ti["hostname"] in WORKERS, ti
    first_worker = ti["hostname"]
    killed_at = time.monotonic()
    airflow.kill_role(first_worker)
    assert not (folder / "_manifest.json").exists(), "the kill came too late: the export had finished"
    assert not list(folder.glob("part-*")), sorted(path.name for path in folder.iterdir())
    emulator.configure(stream_chunk_delay=0.0)

    airflow.wait_for_run_state(EXPORT_DAG, run_id, "success", timeout=KILL_TIMEOUT)
    report(
        f"(c) {first_worker} killed mid-export -> export done on the other worker {time.monotonic() - killed_at:.1f} s "
        f"later (task-instance heartbeat timeout {TASK_INSTANCE_HEARTBEAT_TIMEOUT} s)"
    )
    ti = airflow.task_instance(EXPORT_DAG, run_id, "export")
    assert ti is not None and ti["try_number"] == 2, ti
    assert ti["hostname"] in WORKERS - {first_worker}, ti
    assert [(h["try_number"], h["hostname"]) for h in history(airflow, EXPORT_DAG, run_id, "export")] == [
        (1, first_worker)
    ]
    custom_ids = [f"request-{i}" for i in range(requests)]
    manifest = check_export_folder(folder, custom_ids, shards=requests // 500)
    assert manifest["counts"]["from_error_file"] == 40, manifest["counts"]


# -- d. never a duplicate batch ----------------------------------------------------------------------


def test_worker_killed_right_after_submitting_leaves_one_batch(
    topology: AirflowTopology, emulator: EmulatorClient
) -> None:
    airflow = topology
    emulator.configure(manual=True)  # the batch stays in_progress: the task waits for it in the worker
    airflow.wait_for_dag(CREATE_DAG)
    run_id = airflow.trigger_dag(CREATE_DAG)
    airflow.wait_for(
        lambda: batch_of_runs(emulator, [run_id])[run_id],
        timeout=STEP_TIMEOUT,
        what="the create task to submit its batch",
        interval=0.05,
        dag_id=CREATE_DAG,
        run_id=run_id,
    )
    ti = airflow.task_instance(CREATE_DAG, run_id, "create")
    assert ti is not None and ti["hostname"] in WORKERS, ti
    first_worker = ti["hostname"]
    airflow.kill_role(first_worker)
    killed_at = time.monotonic()

    airflow.wait_for(
        lambda: (
            (row := airflow.task_instance(CREATE_DAG, run_id, "create"))
            and row["try_number"] >= 2
            and row["state"] == "running"
        ),
        timeout=KILL_TIMEOUT,
        what="the create task to be retried on the other worker",
        dag_id=CREATE_DAG,
        run_id=run_id,
    )
    report(f"(d) {first_worker} killed after the create -> retry running {time.monotonic() - killed_at:.1f} s later")
    (batch_id,) = batch_of_runs(emulator, [run_id])[run_id]
    emulator.set_status(batch_id, "completed")
    airflow.wait_for_run_state(CREATE_DAG, run_id, "success", timeout=STEP_TIMEOUT)

    assert batch_of_runs(emulator, [run_id])[run_id] == [batch_id]
    assert len(emulator.requests(r"^/v1/batches$", method="POST")) == 1
    ti = airflow.task_instance(CREATE_DAG, run_id, "create")
    assert ti is not None and ti["try_number"] == 2 and ti["hostname"] in WORKERS - {first_worker}, ti
    assert [(h["try_number"], h["hostname"]) for h in history(airflow, CREATE_DAG, run_id, "create")] == [
        (1, first_worker)
    ]
    assert airflow.task_states(CREATE_DAG, run_id) == {"create": "success", "check": "success"}
