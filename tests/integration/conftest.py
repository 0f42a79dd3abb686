from __future__ import annotations

import json
import random
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_bifrost.hooks.bifrost import BifrostHook
from airflow_provider_bifrost.hooks.retry import RetryPolicy
from airflow_provider_bifrost.testing.emulator import EmulatorClient, run_emulator

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorClient]:
    with run_emulator() as emulator:
        yield emulator


@pytest.fixture
def emulator(emulator_server: EmulatorClient) -> Iterator[EmulatorClient]:
    """The shared emulator, reset to its defaults (fast timeline) for each test."""
    emulator_server.reset(config=True)
    emulator_server.configure(timeline=(0.0, 0.2, 0.0))
    yield emulator_server
    emulator_server.reset(config=True)


class RecordedSleeps(list[float]):
    """An injected clock: records each backoff wait instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)

    async def asleep(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> RecordedSleeps:
    return RecordedSleeps()


@pytest.fixture
def make_hook(
    emulator: EmulatorClient, monkeypatch: pytest.MonkeyPatch, sleeps: RecordedSleeps
) -> Callable[..., BifrostHook]:
    """A hook on a fresh connection to the emulator; keyword arguments become connection fields."""
    counter = iter(range(10_000))

    def make(max_retries: int = 3, **fields: Any) -> BifrostHook:
        conn_id = f"bifrost_it_{next(counter)}"
        conn: dict[str, Any] = {"conn_type": "bifrost", "host": emulator.url}
        conn.update(fields)
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        policy = RetryPolicy(max_retries=max_retries, sleep=sleeps, asleep=sleeps.asleep, rng=random.Random(3))
        return BifrostHook(conn_id, retry_policy=policy)

    return make
