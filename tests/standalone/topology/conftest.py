"""Fixtures of the topology tests: a distributed Airflow (PostgreSQL, Redis, CeleryExecutor, two workers,
two triggerers) started once per module, with the standalone tests' DAGs and the example DAGs, and the
``bifrost_default`` connection on the session's emulator.

Every test here is marked ``topology`` (and ``standalone``, like the rest of this directory): select them
with ``-m topology``, leave them out with ``-m "not topology"``. They need Debian's ``postgresql`` and
``redis-server``, which ``scripts/test.sh`` installs when it runs as root; without them the tests skip (not
root) or fail (root: they could have been installed). ``BIFROST_STANDALONE_KEEP_HOME=1`` keeps the
Airflow home (component and task logs).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.standalone.topology.servers import missing_servers

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_bifrost.testing.emulator import EmulatorClient
    from tests.standalone.topology.harness import AirflowTopology

HERE = Path(__file__).resolve().parent
STANDALONE_DAGS = HERE.parent / "dags"
EXAMPLE_DAGS = HERE.parents[2] / "example_dags"
LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"

TRIGGERER_CAPACITY = 25
"""``[triggerer] capacity`` of each triggerer (default 1000): fewer than the 40 waits of the scale test, so
they cannot all land on one triggerer; enough for one triggerer to hold all 20 waits of the failover test."""
WORKER_CONCURRENCY = 3
"""Task slots of each Celery worker: 6 tasks at once on this 2-core machine."""


@pytest.hookimpl(tryfirst=True)  # before the ``-m`` deselection reads the markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test of this directory ``topology``."""
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.topology)


def require_servers() -> None:
    """Skip (not root) or fail (root) when PostgreSQL or Redis is not installed."""
    missing = missing_servers()
    if not missing:
        return
    packages = " ".join(missing)
    if os.geteuid() != 0:
        pytest.skip(
            f"the topology tests need Debian's {packages}, which is not installed, and installing it needs root: "
            f"`sudo apt-get install {packages}`, or run scripts/test.sh as root"
        )
    pytest.fail(f"Debian's {packages} is not installed: scripts/test.sh installs it (apt-get install {packages})")


@pytest.fixture
def emulator(standalone_emulator: EmulatorClient) -> Iterator[EmulatorClient]:
    """The session's emulator with no batch, fault or logged request from earlier tests, and its defaults back
    after the test (the standalone tests' ``emulator`` only resets after)."""
    standalone_emulator.reset(config=True)
    yield standalone_emulator
    standalone_emulator.reset(config=True)


@pytest.fixture(scope="module")
def topology_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the example pipeline writes results (its ``bifrost_output_uri`` Variable)."""
    return tmp_path_factory.mktemp("bifrost-topology-output")


@pytest.fixture(scope="module")
def airflow_topology(standalone_emulator: EmulatorClient, topology_output: Path) -> Iterator[AirflowTopology]:
    """The running topology, its start-up time printed; the same for every test of the module."""
    require_servers()
    from tests.standalone.topology.harness import AirflowTopology

    connection = {"conn_type": "bifrost", "host": standalone_emulator.url, "extra": {"default_provider": "openai"}}
    bundles = [
        {"name": "standalone-test-dags", "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(STANDALONE_DAGS)}},
        {"name": "example-dags", "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(EXAMPLE_DAGS)}},
    ]
    env = {
        "AIRFLOW_CONN_BIFROST_DEFAULT": json.dumps(connection),
        "AIRFLOW_VAR_BIFROST_OUTPUT_URI": f"file://{topology_output}",
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
    }
    keep_home = os.environ.get("BIFROST_STANDALONE_KEEP_HOME", "") not in ("", "0")
    with AirflowTopology(
        STANDALONE_DAGS,
        env=env,
        keep_home=keep_home,
        worker_concurrency=WORKER_CONCURRENCY,
        triggerer_capacity=TRIGGERER_CAPACITY,
    ) as airflow:
        print(f"\n[topology] started in {airflow.startup_seconds:.1f} s (home {airflow.home})")
        yield airflow


@pytest.fixture
def topology(airflow_topology: AirflowTopology) -> Iterator[AirflowTopology]:
    """The module's topology; any worker or triggerer a test killed is started again after it."""
    yield airflow_topology
    if restored := airflow_topology.restore():
        print(f"[topology] restarted {', '.join(restored)}")
