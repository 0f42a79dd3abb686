"""Fixtures of the emulator's tests: one emulator for each test module, reset before each test."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from airflow_provider_bifrost.testing.emulator import EmulatorClient, run_emulator

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[EmulatorClient]:
    with run_emulator() as emulator:
        yield emulator


@pytest.fixture
def emu(shared_emulator: EmulatorClient) -> EmulatorClient:
    shared_emulator.reset(config=True)
    return shared_emulator


@pytest.fixture
def http(emu: EmulatorClient) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.url, timeout=10) as client:
        yield client
