"""Many triggers polling a slow gateway never block the shared event loop, and share one client."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_bifrost.hooks.bifrost import BifrostHook
from airflow_provider_bifrost.hooks.http import SHARED_ASYNC_CLIENTS
from airflow_provider_bifrost.testing.emulator import EmulatorClient, run_emulator
from airflow_provider_bifrost.triggers.bifrost import BifrostBatchTrigger

if TYPE_CHECKING:
    from collections.abc import Iterator

TRIGGERS = 100
LATENCY = 0.5  # seconds the gateway takes to answer: a call that blocked the loop would stall it this long
SLOW_CALLBACK = 0.4  # seconds: asyncio debug mode reports any callback that runs longer (far above the
# machine's own noise, a collection included, and still below what one blocking gateway call costs)


@pytest.fixture(scope="module")
def slow_gateway() -> Iterator[EmulatorClient]:
    """An emulator in its own process (not sharing our GIL) adding :data:`LATENCY` to every gateway call."""
    with run_emulator(subprocess=True) as emulator:
        emulator.configure(latency=LATENCY)
        yield emulator


def slow_callbacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "asyncio" and "took" in r.getMessage()]


async def run_fleet(emulator: EmulatorClient, batch_ids: list[str]) -> tuple[list[dict[str, Any]], int]:
    """Run one trigger per batch on this loop; flip every batch to completed after a few poll rounds."""
    asyncio.get_running_loop().slow_callback_duration = SLOW_CALLBACK
    peak_clients = 0

    async def watch_clients() -> None:
        nonlocal peak_clients
        while True:
            peak_clients = max(peak_clients, len(SHARED_ASYNC_CLIENTS))
            await asyncio.sleep(0.05)

    async def one(batch_id: str) -> dict[str, Any]:
        trigger = BifrostBatchTrigger(
            batch_id=batch_id, provider="openai", bifrost_conn_id="bifrost_fleet", poll_interval=0.5
        )
        (payload,) = [event.payload async for event in trigger.run()]
        return payload

    async def flip_all_later() -> None:
        await asyncio.sleep(3.0)  # a few poll rounds
        for batch_id in batch_ids:
            await asyncio.to_thread(emulator.set_status, batch_id, "completed")

    watcher = asyncio.create_task(watch_clients())
    flipper = asyncio.create_task(flip_all_later())
    events = await asyncio.gather(*(one(batch_id) for batch_id in batch_ids))
    await flipper
    watcher.cancel()
    return events, peak_clients


def test_fleet_of_triggers_does_not_block_the_loop(
    slow_gateway: EmulatorClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_BIFROST_FLEET", json.dumps({"conn_type": "bifrost", "host": slow_gateway.url}))
    slow_gateway.reset()
    batch_ids = [slow_gateway.add_batch("openai", requests=3, manual=True)["id"] for _ in range(TRIGGERS)]
    # Not measured, as a running triggerer has long paid them: Airflow's first connection lookup in a
    # process (it initialises the secrets backends, ~0.2 s) and full garbage collections of the ~160k
    # objects Airflow's import leaves (~0.1-0.2 s, whichever callback they land in). Freezing that
    # heap keeps collections to what the triggers themselves allocate.
    asyncio.run(BifrostHook.for_polling("bifrost_fleet").aget_settings())
    gc.collect()
    gc.freeze()
    caplog.set_level(logging.WARNING, logger="asyncio")
    try:
        events, peak_clients = asyncio.run(run_fleet(slow_gateway, batch_ids), debug=True)
    finally:
        gc.unfreeze()
    assert [e["status"] for e in events] == ["success"] * TRIGGERS
    assert peak_clients == 1, "triggers of one gateway must share one client"
    assert len(SHARED_ASYNC_CLIENTS) == 0, "the shared client is closed after the last trigger"
    assert len(slow_gateway.requests(r"/v1/batches/batch_")) >= 3 * TRIGGERS
    assert slow_callbacks(caplog) == []


def test_the_check_catches_a_blocking_callback(caplog: pytest.LogCaptureFixture) -> None:
    """Control: the same detector does report a coroutine that blocks the loop."""

    async def blocking() -> None:
        asyncio.get_running_loop().slow_callback_duration = SLOW_CALLBACK
        time.sleep(SLOW_CALLBACK + 0.1)  # noqa: ASYNC251 - the point of this control test

    caplog.set_level(logging.WARNING, logger="asyncio")
    asyncio.run(blocking(), debug=True)
    assert slow_callbacks(caplog)
