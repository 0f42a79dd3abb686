"""
``@task.bifrost_batch``: what it refuses when the DAG is built, how the function's requests are kept in the job's
folder (a generator streamed to a file, complete or not there at all), and that every run of the job reads them.
"""

from __future__ import annotations

import json
from datetime import datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
from airflow.sdk import DAG
from airflow.sdk.definitions.xcom_arg import PlainXComArg

from airflow_provider_bifrost.decorators.bifrost_batch import REQUESTS_NAME, bifrost_batch_task
from airflow_provider_bifrost.exceptions import BifrostConfigError
from airflow_provider_bifrost.jobs.state import job_identity
from airflow_provider_bifrost.triggers.job import BifrostJobTrigger
from airflow_provider_bifrost.version_compat import TaskDeferred

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from airflow_provider_bifrost.testing.emulator import EmulatorClient

OPENAI = {"model": "openai/gpt-4o-mini", "endpoint": "/v1/chat/completions"}


def context() -> Any:
    ti = SimpleNamespace(dag_id="jobs", task_id="questions", run_id="manual__1", map_index=-1, try_number=1)
    return {"ti": ti}


def operator(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """The task ``@task.bifrost_batch(**kwargs)`` makes of ``function`` called with ``args``."""
    with DAG(dag_id="jobs", schedule=None, start_date=datetime(2026, 1, 1)):
        output = bifrost_batch_task(**{**OPENAI, **kwargs})(function)(*args)
    assert isinstance(output, PlainXComArg)
    return output.operator


def questions(count: int) -> Iterator[dict[str, Any]]:
    for i in range(count):
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"question {i}"}]}
        yield {"custom_id": f"q{i}", "method": "POST", "url": "/v1/chat/completions", "body": body}


def staged(tmp_path: Path) -> Path:
    return tmp_path / f"job-{job_identity(context())[0][:16]}" / REQUESTS_NAME


@pytest.mark.parametrize("taken", ["requests", "input_uri"])
def test_the_requests_come_from_the_function_only(tmp_path: Path, taken: str) -> None:
    value: Any = [{"custom_id": "a"}] if taken == "requests" else "file:///tmp/in.jsonl"
    with pytest.raises(BifrostConfigError, match=f"takes its requests from the function, not {taken}"):
        operator(questions, 3, output_uri=f"file://{tmp_path}", **{taken: value})


def test_output_uri_is_required_and_says_why() -> None:
    with pytest.raises(BifrostConfigError, match="needs output_uri: the function's requests are kept there"):
        operator(questions, 3)


@pytest.fixture
def gateway(bifrost_emulator_session: EmulatorClient, monkeypatch: pytest.MonkeyPatch) -> EmulatorClient:
    emulator = bifrost_emulator_session
    emulator.reset(config=True)
    emulator.configure(manual=True)
    monkeypatch.setenv("AIRFLOW_CONN_BIFROST_DEFAULT", json.dumps({"conn_type": "bifrost", "host": emulator.url}))
    return emulator


def test_a_generator_is_kept_as_jsonl_and_the_job_reads_it(gateway: EmulatorClient, tmp_path: Path) -> None:
    task = operator(questions, 25, output_uri=f"file://{tmp_path}", max_requests_per_batch=10)
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(context())
    path = staged(tmp_path)
    assert [json.loads(line) for line in path.read_text().splitlines()] == list(questions(25))
    assert sorted(p.name for p in path.parent.iterdir()) == [REQUESTS_NAME], "no temporary file left"
    trigger = deferred.value.trigger
    assert isinstance(trigger, BifrostJobTrigger)
    assert trigger.state["plan"]["sources"] == [f"file://{path}"]
    assert [part["requests"] for part in trigger.state["plan"]["parts"]] == [10, 10, 5]
    assert sorted(b["request_counts"]["total"] for b in gateway.batches()) == [5, 10, 10]


def test_a_resumed_task_reads_the_kept_requests(gateway: EmulatorClient, tmp_path: Path) -> None:
    """After a deferral the task is a new instance of the operator: it finds the file the first run kept."""
    first = operator(questions, 4, output_uri=f"file://{tmp_path}")
    with pytest.raises(TaskDeferred):
        first.execute(context())
    resumed = operator(questions, 4, output_uri=f"file://{tmp_path}")
    assert resumed.input_uri is None
    resumed._use_staged(context())
    assert (resumed.input_uri, resumed.requests) == (f"file://{staged(tmp_path)}", None)


def test_a_request_that_is_not_a_dict_is_named_and_nothing_is_kept(gateway: EmulatorClient, tmp_path: Path) -> None:
    def mixed() -> Iterator[Any]:
        yield from questions(2)
        yield "q2"

    with pytest.raises(BifrostConfigError, match=r"^request 2 from the function is a str, not a dict\.$"):
        operator(mixed, output_uri=f"file://{tmp_path}").execute(context())
    assert not staged(tmp_path).exists()
    assert gateway.batches() == []


def test_a_function_that_fails_half_way_keeps_nothing(gateway: EmulatorClient, tmp_path: Path) -> None:
    def broken() -> Iterator[dict[str, Any]]:
        yield from questions(3)
        raise RuntimeError("the source went away")

    with pytest.raises(RuntimeError, match="the source went away"):
        operator(broken, output_uri=f"file://{tmp_path}").execute(context())
    assert not staged(tmp_path).exists()
    assert [path.name for path in tmp_path.rglob("*") if path.is_file()] == []  # nor a temporary file
    assert gateway.batches() == []


@pytest.mark.parametrize(
    ("returned", "kind"),
    [({"custom_id": "a"}, "dict"), ("q0", "str"), (b"q0", "bytes"), (None, "NoneType"), (7, "int")],
)
def test_a_function_that_returns_no_requests_is_refused(
    gateway: EmulatorClient, tmp_path: Path, returned: Any, kind: str
) -> None:
    def wrong() -> Any:
        return returned

    with pytest.raises(BifrostConfigError, match=rf"wrong must return or yield requests .*not {kind}\.$"):
        operator(wrong, output_uri=f"file://{tmp_path}").execute(context())
    assert not staged(tmp_path).parent.exists()
    assert gateway.batches() == []


def test_a_function_that_gives_no_request_is_refused(gateway: EmulatorClient, tmp_path: Path) -> None:
    with pytest.raises(BifrostConfigError, match="the job has no requests"):
        operator(questions, 0, output_uri=f"file://{tmp_path}").execute(context())
    assert gateway.batches() == []


def test_a_list_is_taken_as_well_as_a_generator(gateway: EmulatorClient, tmp_path: Path) -> None:
    def listed() -> list[dict[str, Any]]:
        return list(questions(3))

    with pytest.raises(TaskDeferred):
        operator(listed, output_uri=f"file://{tmp_path}").execute(context())
    assert len(staged(tmp_path).read_text().splitlines()) == 3
