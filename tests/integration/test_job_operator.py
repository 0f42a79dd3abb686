"""
Jobs larger than one batch against the emulator: split by count and by bytes, waves, the merged export and
its id check, retries and lost answers, a part that fails, the TaskFlow decorator.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from airflow.dag_processing.dagbag import DagBag

from airflow_provider_bifrost.exceptions import BifrostConfigError
from airflow_provider_bifrost.storage.manifest import iter_result_items
from airflow_provider_bifrost.version_compat import AirflowFailException, TaskDeferred
from tests.integration.job_helpers import (
    DyingStore,
    context,
    gateway,
    job,
    run_job,
    write_anthropic_requests,
    write_requests,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_bifrost.testing.emulator import EmulatorClient

DAGS = Path(__file__).parents[1] / "dags" / "bifrost_job_dags.py"
__all__ = ["gateway"]  # the shared fixture, used by name


@pytest.mark.usefixtures("airflow_db")
def test_a_120000_request_job_is_split_by_count_and_exported_as_one(
    gateway: EmulatorClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_requests(tmp_path / "requests.jsonl", 120_000)
    monkeypatch.setenv("AIRFLOW_VAR_BIFROST_JOB_INPUT", f"file://{source}")
    run = DagBag(dag_folder=str(DAGS)).get_dag("bifrost_job_from_files").test()
    assert run.state == "success", [(ti.task_id, ti.state) for ti in run.get_task_instances()]
    batches = gateway.batches()
    assert sorted(b["request_counts"]["total"] for b in batches) == [20_000, 50_000, 50_000]
    (manifest_file,) = (tmp_path / "out").glob("job-*/_manifest.json")
    manifest = json.loads(manifest_file.read_text())
    assert manifest["counts"]["results"] == manifest["counts"]["expected"] == 120_000
    assert (manifest["counts"]["missing"], manifest["counts"]["unexpected"], manifest["counts"]["duplicated"]) == (
        0,
        0,
        0,
    )
    assert [part["requests"] for part in manifest["parts"]] == [50_000, 50_000, 20_000]
    assert len(manifest["files"]) == 3 and all(part["files"] for part in manifest["parts"])
    assert {part["batch_id"] for part in manifest["parts"]} == {b["id"] for b in batches}


def test_a_job_is_split_by_bytes_too(gateway: EmulatorClient, tmp_path: Path) -> None:
    source = write_requests(tmp_path / "requests.jsonl", 60, pad=900)  # about 1 KB a line
    result, _ = run_job(job(tmp_path, input_uri=f"file://{source}", max_bytes_per_batch=10_000), context())
    sizes = [part["requests"] for part in result["parts"]]
    assert sum(sizes) == 60 and len(sizes) == 7 and max(sizes) == 9
    assert result["counts"]["missing"] == 0 and len(gateway.batches()) == 7


def test_waves_never_run_more_than_max_active_batches(gateway: EmulatorClient, tmp_path: Path) -> None:
    gateway.configure(timeline=(0.1, 0.8, 0.1))
    requests = [{"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions", "body": {}} for i in range(50)]
    operator = job(tmp_path, requests=requests, max_requests_per_batch=10, max_active_batches=2, output_uri=None)
    result, events = run_job(operator, context())
    assert sorted(str(item["custom_id"]) for item in result) == sorted(str(r["custom_id"]) for r in requests)
    assert [event["status"] for event in events][-1] == "done" and len(events) >= 3  # a deferral per wave
    created = [entry["time"] for entry in gateway.requests(r"^/v1/batches$", method="POST")]
    assert len(created) == 5
    finished = {b["id"]: b["created_at"] + 1.0 for b in gateway.batches()}  # validating + running + finalizing
    for moment in created:
        running = sum(1 for other, start in zip(finished, created, strict=True) if start <= moment < finished[other])
        assert running <= 2


def test_a_repeated_custom_id_is_named_before_anything_is_sent(gateway: EmulatorClient, tmp_path: Path) -> None:
    source = write_requests(tmp_path / "a.jsonl", 30)
    write_requests(tmp_path / "b.jsonl", 10, start=25)  # r25 .. r34: r25 to r29 repeat
    operator = job(tmp_path, input_uri=f"file://{tmp_path}/*.jsonl")
    with pytest.raises(BifrostConfigError, match=re.escape("custom_id 'r25' is repeated")) as raised:
        operator.execute(context())
    assert f"{source} line 26" in str(raised.value) and "b.jsonl line 1" in str(raised.value)
    assert "(4 other id(s) repeat too)" in str(raised.value)
    assert gateway.requests() == []


def test_a_part_that_fails_fails_the_job_after_exporting_the_others(gateway: EmulatorClient, tmp_path: Path) -> None:
    gateway.configure(manual=True)
    source = write_requests(tmp_path / "requests.jsonl", 30)
    ctx = context()
    operator = job(tmp_path, input_uri=f"file://{source}", max_requests_per_batch=10)

    def finish(state: dict[str, Any]) -> None:
        ids = [part["batch_id"] for part in state["parts"]]
        gateway.set_status(ids[1], "failed")
        gateway.set_status_many("completed", [ids[0], ids[2]])

    with pytest.raises(AirflowFailException, match=r"part 2/3 \(batch \S+\) ended failed"):
        run_job(operator, ctx, between=finish)
    manifest = ctx["ti"].pushed["manifest"]
    assert [part["status"] for part in manifest["parts"]] == ["completed", "failed", "completed"]
    assert [part["part"] for part in manifest["parts"]] == [1, 2, 3]
    assert manifest["counts"]["results"] == 20 and manifest["counts"]["missing"] == 10
    assert sorted(item["custom_id"] for item in iter_result_items(manifest)) == sorted(
        f"r{i}" for i in [*range(10), *range(20, 30)]
    )


def test_a_retry_reattaches_to_its_parts_and_submits_only_the_missing_ones(
    gateway: EmulatorClient, tmp_path: Path
) -> None:
    gateway.configure(manual=True)
    source = write_requests(tmp_path / "requests.jsonl", 40)
    operator = job(tmp_path, input_uri=f"file://{source}", max_requests_per_batch=10, max_active_batches=2)
    with pytest.raises(TaskDeferred):
        operator.execute(context())  # the first try submitted two parts, then its worker died
    assert len(gateway.batches()) == 2
    gateway.configure(manual=False, timeline=(0.1, 0.3, 0.1))
    gateway.set_status_many("completed")
    retried = job(tmp_path, input_uri=f"file://{source}", max_requests_per_batch=10, max_active_batches=2)
    result, _ = run_job(retried, context(try_number=2))
    assert len(gateway.batches()) == 4, "one batch per part"
    assert result["counts"]["results"] == 40 and result["counts"]["missing"] == 0


def test_the_task_state_store_takes_the_job_up_exactly(gateway: EmulatorClient, tmp_path: Path) -> None:
    gateway.configure(manual=True)
    store: dict[str, Any] = {}
    source = write_requests(tmp_path / "requests.jsonl", 30)
    with pytest.raises(TaskDeferred):
        job(tmp_path, input_uri=f"file://{source}", max_requests_per_batch=10, max_active_batches=1).execute(
            context(store=store)
        )
    (saved,) = store.values()
    assert [part["batch_id"] is not None for part in saved["parts"]] == [True, False, False]
    gateway.configure(manual=False, timeline=(0.1, 0.3, 0.1))
    gateway.set_status_many("completed")
    operator = job(tmp_path, input_uri=f"file://{source}", max_requests_per_batch=10, max_active_batches=1)
    result, _ = run_job(operator, context(try_number=2, store=store))
    assert len(gateway.batches()) == 3 and result["counts"]["results"] == 30


def test_a_lost_create_answer_of_a_part_is_found_not_repeated(gateway: EmulatorClient, tmp_path: Path) -> None:
    gateway.add_fault("lose_response", method="POST", path=r"^/v1/batches$", times=1)
    source = write_requests(tmp_path / "requests.jsonl", 20)
    result, _ = run_job(job(tmp_path, input_uri=f"file://{source}", max_requests_per_batch=10), context())
    assert len(gateway.batches()) == 2 and result["counts"]["results"] == 20


def test_a_changed_input_is_refused_on_retry(gateway: EmulatorClient, tmp_path: Path) -> None:
    gateway.configure(manual=True)
    store: dict[str, Any] = {}
    source = write_requests(tmp_path / "requests.jsonl", 20)
    with pytest.raises(TaskDeferred):
        job(tmp_path, input_uri=f"file://{source}", max_requests_per_batch=10).execute(context(store=store))
    write_requests(source, 25)
    with pytest.raises(AirflowFailException, match="the job's input changed"):
        job(tmp_path, input_uri=f"file://{source}", max_requests_per_batch=10).execute(context(2, store))
    assert len(gateway.batches()) == 2


def test_one_list_call_tells_many_batches_statuses(gateway: EmulatorClient, tmp_path: Path) -> None:
    gateway.configure(timeline=(0.1, 1.5, 0.1))
    requests = [{"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions", "body": {}} for i in range(100)]
    operator = job(tmp_path, requests=requests, max_requests_per_batch=1, max_active_batches=100, output_uri=None)
    gateway.clear_requests()
    result, _ = run_job(operator, context())
    assert len(result) == 100
    lists = len(gateway.requests(r"^/v1/batches$", method="GET"))
    gets = len(gateway.requests(r"^/v1/batches/[^/]+$", method="GET"))
    assert lists >= 2 and gets < 100 + 2 * lists, (lists, gets)  # the export reads each batch once


@pytest.mark.usefixtures("airflow_db")
def test_the_taskflow_decorator_runs_a_generator_as_a_job(gateway: EmulatorClient, tmp_path: Path) -> None:
    run = DagBag(dag_folder=str(DAGS)).get_dag("bifrost_job_decorator").test()
    assert run.state == "success", [(ti.task_id, ti.state) for ti in run.get_task_instances()]
    checked = run.get_task_instance("check").xcom_pull(task_ids="check")
    assert checked == {"results": 100, "expected": 100, "missing": 0, "parts": 3}
    assert len(gateway.batches()) == 3
    (kept,) = (tmp_path / "out").glob("job-*/_requests.jsonl")
    assert sum(1 for _ in kept.open()) == 100


@pytest.mark.parametrize(
    ("model", "writer"),
    [("openai/gpt-4o-mini", write_requests), ("anthropic/claude-3-5-haiku", write_anthropic_requests)],
    ids=["tagged", "fingerprint"],
)
def test_a_worker_lost_while_a_create_was_in_flight_never_submits_that_part_twice(
    gateway: EmulatorClient, tmp_path: Path, model: str, writer: Callable[[Path, int], Path]
) -> None:
    gateway.configure(manual=True)
    source = writer(tmp_path / "requests.jsonl", 30)
    store = DyingStore(die_after_creates=2)  # part 1's batch is created; the worker dies before it is saved
    arguments = {"input_uri": f"file://{source}", "max_requests_per_batch": 10, "max_active_batches": 3}
    with pytest.raises(SystemExit):
        job(tmp_path, model=model, **arguments).execute(context(store=store))
    saved = store.data["bifrost_job"]
    assert saved["submitting"] == 1 and [p["batch_id"] is not None for p in saved["parts"]] == [True, False, False]
    assert len(gateway.batches()) == 2
    gateway.configure(manual=False, timeline=(0.1, 0.3, 0.1))
    gateway.set_status_many("completed")
    store.die_after_creates = 0
    result, _ = run_job(job(tmp_path, model=model, **arguments), context(try_number=2, store=store))
    assert len(gateway.batches()) == 3, "one batch per part"
    assert result["counts"]["results"] == 30 and result["counts"]["missing"] == 0


def test_a_lost_create_answer_on_a_fingerprint_provider_skips_the_jobs_other_parts(
    gateway: EmulatorClient, tmp_path: Path
) -> None:
    """Parts of equal size look alike; the lookup of a lost answer leaves out the parts the job already holds."""
    source = write_anthropic_requests(tmp_path / "requests.jsonl", 30)
    operator = job(
        tmp_path,
        model="anthropic/claude-3-5-haiku",
        input_uri=f"file://{source}",
        max_requests_per_batch=10,
        max_active_batches=1,
    )

    def lose_the_next_answer(state: dict[str, Any]) -> None:
        if sum(part["batch_id"] is not None for part in state["parts"]) == 2:
            gateway.add_fault("lose_response", method="POST", path=r"^/v1/batches$", times=1)

    result, _ = run_job(operator, context(), between=lose_the_next_answer)
    assert len(gateway.batches()) == 3 and result["counts"]["results"] == 30
    assert len(gateway.requests(r"^/v1/batches$", method="POST")) == 3
