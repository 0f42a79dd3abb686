"""What the job operator's integration tests share: the emulator as the default connection, request files,
a task context (with a task state store), and running a job as Airflow would, deferral by deferral."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_bifrost.operators.bifrost import BifrostBatchJobOperator
from airflow_provider_bifrost.triggers.job import BifrostJobTrigger
from airflow_provider_bifrost.version_compat import TaskDeferred

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from airflow_provider_bifrost.testing.emulator import EmulatorClient

OPENAI = {"model": "openai/gpt-4o-mini", "endpoint": "/v1/chat/completions"}


@pytest.fixture
def gateway(emulator: EmulatorClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> EmulatorClient:
    monkeypatch.setenv("AIRFLOW_CONN_BIFROST_DEFAULT", json.dumps({"conn_type": "bifrost", "host": emulator.url}))
    monkeypatch.setenv("AIRFLOW_VAR_BIFROST_OUTPUT_URI", f"file://{tmp_path}/out")
    emulator.configure(timeline=(0.1, 0.4, 0.1))
    return emulator


def write_requests(path: Path, count: int, *, start: int = 0, pad: int = 0) -> Path:
    with path.open("w") as sink:
        for i in range(start, start + count):
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * pad + str(i)}]}
            sink.write(
                json.dumps({"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions", "body": body})
            )
            sink.write("\n")
    return path


def write_anthropic_requests(path: Path, count: int) -> Path:
    with path.open("w") as sink:
        for i in range(count):
            params = {"model": "claude-3-5-haiku", "max_tokens": 8, "messages": [{"role": "user", "content": str(i)}]}
            sink.write(json.dumps({"custom_id": f"a{i}", "params": params}) + "\n")
    return path


class DyingStore:
    """A task state store whose worker dies right after a part's create answer, before the state is saved."""

    def __init__(self, die_after_creates: int) -> None:
        self.data: dict[str, Any] = {}
        self.creates = 0
        self.die_after_creates = die_after_creates

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any, **_: Any) -> None:
        recorded = sum(part["batch_id"] is not None for part in value["parts"])
        if value["submitting"] is None and recorded > self.creates:
            self.creates = recorded
            if recorded == self.die_after_creates:
                raise SystemExit("the worker died")
        self.data[key] = json.loads(json.dumps(value))


def context(try_number: int = 1, store: Any = None) -> Any:
    pushed: dict[str, Any] = {}
    ti = SimpleNamespace(
        dag_id="jobs",
        task_id="job",
        run_id="manual__1",
        map_index=-1,
        try_number=try_number,
        xcom_push=lambda key, value: pushed.__setitem__(key, value),
        pushed=pushed,
    )
    ctx: dict[str, Any] = {"ti": ti}
    if isinstance(store, DyingStore):
        ctx["task_state_store"] = store
    elif store is not None:
        ctx["task_state_store"] = SimpleNamespace(
            get=lambda key, default=None: store.get(key, default),
            set=lambda key, value, **_: store.__setitem__(key, value),
        )
    return ctx


def event_of(trigger: BifrostJobTrigger) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            payload: dict[str, Any] = event.payload
            return payload
        raise AssertionError("no event")

    return asyncio.run(first())


def run_job(
    operator: BifrostBatchJobOperator, ctx: Any, between: Callable[[dict[str, Any]], None] | None = None
) -> tuple[Any, list[dict[str, Any]]]:
    """Run a job as Airflow would: execute, then each deferral's trigger and execute_complete, to the end."""
    events: list[dict[str, Any]] = []
    try:
        return operator.execute(ctx), events
    except TaskDeferred as deferred:
        pending = deferred
    while True:
        assert isinstance(pending.trigger, BifrostJobTrigger)
        if between is not None:
            between(pending.trigger.state)
        event = event_of(pending.trigger)
        events.append(event)
        try:
            return operator.execute_complete(ctx, event), events
        except TaskDeferred as deferred:
            pending = deferred


def job(tmp_path: Path, **kwargs: Any) -> BifrostBatchJobOperator:
    kwargs.setdefault("output_uri", f"file://{tmp_path}/out")
    return BifrostBatchJobOperator(task_id="job", poll_interval=0.1, **{**OPENAI, **kwargs})
