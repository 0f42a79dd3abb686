"""pytest plugin (entry point ``pytest11``): fixtures running the Bifrost emulator.

Loaded in every pytest session where this package is installed, so it imports nothing heavy:
the emulator (FastAPI, uvicorn) is imported when a fixture is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_bifrost.testing.emulator import EmulatorClient


@pytest.fixture
def bifrost_emulator() -> Iterator[EmulatorClient]:
    """A fresh emulator for one test, in a background thread; yields its client (``.url``)."""
    from airflow_provider_bifrost.testing.emulator import run_emulator

    with run_emulator() as emulator:
        yield emulator


@pytest.fixture(scope="session")
def bifrost_emulator_session() -> Iterator[EmulatorClient]:
    """One emulator shared by the whole session; call ``.reset()`` between uses."""
    from airflow_provider_bifrost.testing.emulator import run_emulator

    with run_emulator() as emulator:
        yield emulator
