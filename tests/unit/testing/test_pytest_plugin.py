"""The pytest plugin's fixtures (entry point ``pytest11``)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_bifrost.testing.emulator import EmulatorClient


def test_pytest_fixture(bifrost_emulator: EmulatorClient) -> None:
    assert bifrost_emulator.health()["batches"] == 0
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", bifrost_emulator.url)


def test_session_fixture(bifrost_emulator_session: EmulatorClient) -> None:
    bifrost_emulator_session.reset()
    batch = bifrost_emulator_session.add_batch("gemini", 1)
    assert batch["id"].startswith("batches/")
