"""Running the emulator: in a thread, in a child process."""

from __future__ import annotations

import httpx
import pytest

from airflow_provider_bifrost.testing.emulator import EmulatorConfig, run_emulator
from tests.unit.testing.emulator.helpers import INSTANT, get_batch, results


def test_subprocess_mode() -> None:
    with run_emulator(EmulatorConfig(virtual_keys={"sk-bf-a": "ok"}), subprocess=True) as emu:
        batch = emu.add_batch("openai", 5, timeline=INSTANT)
        emu.add_fault("drop", times=1)
        with httpx.Client(base_url=emu.url, headers={"x-bf-vk": "sk-bf-a"}) as http:
            with pytest.raises(httpx.RemoteProtocolError):
                get_batch(http, batch["id"])
            assert len(results(http, batch["id"])["results"]) == 5


def test_subprocess_ids_differ_between_runs_unless_seeded() -> None:
    def first_id(config: EmulatorConfig | None) -> str:
        with run_emulator(config, subprocess=True) as emu:
            return str(emu.add_batch("bedrock", 1)["id"])

    assert first_id(None) != first_id(None)
    assert first_id(EmulatorConfig(seed=5)) == first_id(EmulatorConfig(seed=5))
