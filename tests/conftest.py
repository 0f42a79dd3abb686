from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _local_bundle(name: str, folder: str) -> dict[str, object]:
    path = os.path.join(ROOT, folder)
    return {"name": name, "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle", "kwargs": {"path": path}}


# An isolated Airflow home for the whole test session, set before anything imports airflow; dag.test()
# finds DAGs in these bundles: the test DAGs and the example DAGs.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bifrost-tests-airflow-"))
os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(
    [_local_bundle("test-dags", "tests/dags"), _local_bundle("example-dags", "example_dags")]
)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """An initialised metadata database (sqlite in the session's AIRFLOW_HOME), for dag.test()."""
    airflow = [sys.executable, "-m", "airflow", "db", "migrate"]
    subprocess.run(airflow, check=True, capture_output=True, env=os.environ.copy())


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server (the S3 protocol, on loopback) in a thread; its URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
