"""`airflow connections test` in a real CLI process: the hook's message, error code included, reaches the user."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow_provider_bifrost.testing.emulator import EmulatorClient


def airflow_connections_test(emulator: EmulatorClient, key: str) -> str:
    conn = {"conn_type": "bifrost", "host": emulator.url, "password": key, "extra": {"default_provider": "openai"}}
    env = {
        **os.environ,
        "AIRFLOW_CONN_BIFROST_CLI": json.dumps(conn),
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
    }
    airflow = Path(sys.executable).with_name("airflow")
    done = subprocess.run(
        [str(airflow), "connections", "test", "bifrost_cli"], capture_output=True, text=True, env=env, timeout=120
    )
    return done.stdout + done.stderr


@pytest.mark.usefixtures("airflow_db")
def test_the_cli_prints_the_error_code_the_docs_tell_users_to_read(emulator: EmulatorClient) -> None:
    emulator.configure(virtual_keys={"sk-bf-right": "ok"})
    assert "Connection success!" in airflow_connections_test(emulator, "sk-bf-right")
    printed = airflow_connections_test(emulator, "sk-bf-wrong")
    assert "HTTP 401 (virtual_key_not_found): virtual key not found" in printed, printed
    assert "sk-bf-wrong" not in printed
