"""Fixtures of the standalone tests: one Bifrost emulator and one real Airflow for the session.

Every test in this directory is marked ``standalone``: skip them with ``-m "not standalone"``.
Set ``BIFROST_STANDALONE_KEEP_HOME=1`` to keep the Airflow home (database, component and task
logs) after the session; its path is in the failure messages.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from airflow_provider_bifrost.testing.emulator import EmulatorClient, run_emulator
from tests.standalone.harness import AirflowStandalone

if TYPE_CHECKING:
    from collections.abc import Iterator

HERE = Path(__file__).resolve().parent
DAGS_FOLDER = HERE / "dags"
EXAMPLE_DAGS = HERE.parents[1] / "example_dags"
LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"

# The ``bifrost_secret`` connection of the secrets test (test_secrets_in_airflow.py): recognisable
# credentials, searched for in everything Airflow writes.
SECRET_CONN_ID = "bifrost_secret"
SECRET_LOGIN = "gw-user"
SECRET_PASSWORD = "gw-pass-LEAKCHECK-7f3a"
SECRET_VIRTUAL_KEY = "sk-bf-LEAKCHECK-91c2"


@pytest.hookimpl(tryfirst=True)  # before the ``-m`` deselection reads the markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test of this directory ``standalone``."""
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.standalone)


@pytest.fixture(scope="session")
def standalone_emulator() -> Iterator[EmulatorClient]:
    """A Bifrost emulator in a child process (the Airflow components reach it over loopback)."""
    with run_emulator(subprocess=True) as emulator:
        yield emulator


@pytest.fixture
def emulator(standalone_emulator: EmulatorClient) -> Iterator[EmulatorClient]:
    """The session's emulator, back to its defaults (no faults, no batches) after the test."""
    yield standalone_emulator
    standalone_emulator.reset(config=True)


@pytest.fixture(scope="session")
def standalone_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the example DAGs write results (their ``bifrost_output_uri`` Variable)."""
    return tmp_path_factory.mktemp("bifrost-output")


@pytest.fixture(scope="session")
def airflow_standalone(standalone_emulator: EmulatorClient, standalone_output: Path) -> Iterator[AirflowStandalone]:
    """A running Airflow (scheduler, dag-processor, api-server, triggerer; LocalExecutor, sqlite)
    with the test DAGs and the example DAGs, whose ``bifrost_default`` connection points at the emulator."""
    connection = {"conn_type": "bifrost", "host": standalone_emulator.url, "extra": {"default_provider": "openai"}}
    bundles = [
        {"name": "standalone-test-dags", "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(DAGS_FOLDER)}},
        {"name": "example-dags", "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(EXAMPLE_DAGS)}},
    ]
    secret_connection = {
        "conn_type": "bifrost",
        "host": standalone_emulator.url,
        "login": SECRET_LOGIN,
        "password": SECRET_PASSWORD,
        "extra": {"virtual_key": SECRET_VIRTUAL_KEY, "default_provider": "openai", "max_retries": 1},
    }
    env = {
        "AIRFLOW_CONN_BIFROST_DEFAULT": json.dumps(connection),
        f"AIRFLOW_CONN_{SECRET_CONN_ID.upper()}": json.dumps(secret_connection),
        "AIRFLOW_VAR_BIFROST_OUTPUT_URI": f"file://{standalone_output}",
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
    }
    keep_home = os.environ.get("BIFROST_STANDALONE_KEEP_HOME", "") not in ("", "0")
    with AirflowStandalone(DAGS_FOLDER, env=env, keep_home=keep_home) as airflow:
        yield airflow
