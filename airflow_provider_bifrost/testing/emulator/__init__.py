"""A local emulator of the Bifrost gateway's batch API, for tests, demos and benchmarks.

It serves the gateway's batch and file routes (``/v1/batches...``, ``/v1/files...`` and the
OpenAI-SDK aliases under ``/openai/v1``) from memory: a batch's status follows a short timeline
(``validating`` -> ``in_progress`` -> ``finalizing`` -> outcome), results are generated on the
fly, auth and faults (HTTP errors, proxy pages, delays, dropped or truncated connections) are
configurable. Everything is driven through :class:`EmulatorClient`, the same way whether the
emulator runs in a thread, a subprocess or from the command line.

In pytest (the plugin ships with this package)::

    def test_export(bifrost_emulator):
        batch = bifrost_emulator.add_batch("openai", requests=100, failed=3)
        ...  # point the Bifrost connection at bifrost_emulator.url and run the code under test
        assert len(bifrost_emulator.batches()) == 1

In any Python code::

    from airflow_provider_bifrost.testing.emulator import EmulatorConfig, run_emulator

    with run_emulator(EmulatorConfig(timeline=(0, 1, 0))) as emu:
        emu.add_fault("status", path="/results", status=503, retry_after="1", times=2)
        batch = emu.add_batch("anthropic", requests=10, manual=True)
        emu.set_status(batch["id"], "ended")
        print(emu.url, emu.requests(path_regex="/results"))

From the command line (prints the URL when ready)::

    python -m airflow_provider_bifrost.testing.emulator --port 8080 --virtual-key sk-bf-test

    EmulatorClient("http://127.0.0.1:8080").add_batch("openai", requests=5)
"""

from __future__ import annotations

from airflow_provider_bifrost.testing.emulator.app import create_app
from airflow_provider_bifrost.testing.emulator.control import EmulatorClient, EmulatorError
from airflow_provider_bifrost.testing.emulator.faults import FaultRule
from airflow_provider_bifrost.testing.emulator.server import run_emulator
from airflow_provider_bifrost.testing.emulator.state import EmulatorConfig, EmulatorState

__all__ = [
    "EmulatorClient",
    "EmulatorConfig",
    "EmulatorError",
    "EmulatorState",
    "FaultRule",
    "create_app",
    "run_emulator",
]
