"""
The three waits on a batch cannot drift: the trigger, the sensor's poke and the create operator's wait in a
worker tolerate the same transient failures in a row and give up at the same count, because they share one
poll decision (``outcome/polling.py``).

Each wait runs against the emulator, whose status route answers 503 a given number of times in a row before
the batch (already completed) can be seen.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_bifrost.constants import DEFAULT_MAX_CONSECUTIVE_FAILURES
from airflow_provider_bifrost.operators.bifrost import BifrostCreateBatchOperator
from airflow_provider_bifrost.sensors.bifrost import BifrostBatchSensor
from airflow_provider_bifrost.triggers.bifrost import BifrostBatchTrigger
from airflow_provider_bifrost.version_compat import AirflowException
from tests.integration.test_create_operator import OPENAI, REQUESTS, context

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_bifrost.testing.emulator import EmulatorClient

POLL = 0.05


@pytest.fixture(autouse=True)
def bifrost_default(emulator: EmulatorClient, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "bifrost", "host": emulator.url, "extra": {"default_provider": "openai", "max_retries": 0}}
    monkeypatch.setenv("AIRFLOW_CONN_BIFROST_DEFAULT", json.dumps(conn))


def fail_status_checks(emulator: EmulatorClient, times: int) -> None:
    emulator.add_fault("status", method="GET", path=r"^/v1/batches/[^/]+$", status=503, times=times)


def trigger_wait(emulator: EmulatorClient, failures: int) -> str:
    batch = emulator.add_batch("openai", requests=3, timeline=(0, 0, 0))
    fail_status_checks(emulator, failures)

    async def run() -> dict[str, Any]:
        events = [e.payload async for e in BifrostBatchTrigger(batch["id"], "openai", poll_interval=POLL).run()]
        assert len(events) == 1
        return events[0]

    event = asyncio.run(run())
    if event["status"] != "success":
        raise AirflowException(event["message"])
    return str(event["batch_id"])


def sensor_wait(emulator: EmulatorClient, failures: int) -> str:
    batch = emulator.add_batch("openai", requests=3, timeline=(0, 0, 0))
    fail_status_checks(emulator, failures)
    sensor = BifrostBatchSensor(task_id="wait", batch_id=batch["id"], deferrable=False, poke_interval=POLL)
    return str(sensor.execute({})["batch_id"])


def create_wait(emulator: EmulatorClient, failures: int) -> str:
    emulator.configure(timeline=(0, 0, 0))
    fail_status_checks(emulator, failures)
    arguments: dict[str, Any] = {**OPENAI, "requests": REQUESTS}
    operator = BifrostCreateBatchOperator(
        task_id="create", wait_for_completion=True, deferrable=False, poll_interval=POLL, **arguments
    )
    return str(operator.execute(context()))


WAITS: dict[str, Callable[[EmulatorClient, int], str]] = {
    "trigger": trigger_wait,
    "sensor poke": sensor_wait,
    "create operator in a worker": create_wait,
}


@pytest.mark.parametrize("wait", WAITS)
def test_every_wait_rides_out_one_failure_less_than_the_budget(emulator: EmulatorClient, wait: str) -> None:
    batch_id = WAITS[wait](emulator, DEFAULT_MAX_CONSECUTIVE_FAILURES - 1)
    checks = emulator.requests(rf"^/v1/batches/{batch_id}$", method="GET")
    assert [entry["status"] for entry in checks] == [503] * (DEFAULT_MAX_CONSECUTIVE_FAILURES - 1) + [200]


@pytest.mark.parametrize("wait", WAITS)
def test_every_wait_gives_up_at_the_same_count(emulator: EmulatorClient, wait: str) -> None:
    with pytest.raises(AirflowException, match=f"gave up after {DEFAULT_MAX_CONSECUTIVE_FAILURES} consecutive"):
        WAITS[wait](emulator, DEFAULT_MAX_CONSECUTIVE_FAILURES)
    checks = emulator.requests(r"^/v1/batches/[^/]+$", method="GET")
    assert [entry["status"] for entry in checks] == [503] * DEFAULT_MAX_CONSECUTIVE_FAILURES
