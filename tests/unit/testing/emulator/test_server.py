"""Running the emulator: in a thread, in a child process."""

from __future__ import annotations

import tempfile
from typing import TYPE_CHECKING

import httpx
import pytest

from airflow_provider_bifrost.testing.emulator import EmulatorConfig, run_emulator
from tests.unit.testing.emulator.helpers import INSTANT, get_batch, results

if TYPE_CHECKING:
    from pathlib import Path


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


@pytest.mark.parametrize("subprocess", [True, False], ids=["subprocess", "thread"])
def test_a_stopped_emulator_leaves_no_files_behind(
    subprocess: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped by SIGTERM, uvicorn ends the child process as soon as it has shut down: the emulator's folder
    of uploaded files must be gone by then."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the child's temporary folders
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # this process's
    with run_emulator(subprocess=subprocess) as emu:
        emu.add_batch("openai", 3)
        assert len(list(tmp_path.glob("bifrost-emulator-*"))) == 1
    assert list(tmp_path.glob("bifrost-emulator-*")) == []
