"""
DAG files stay cheap to parse: importing the operator and sensor modules, and building their tasks,
imports none of the heavy parts (the hook's HTTP client and models, the results parsers, ijson, the
storage writers, the trigger, the emulator). Those are imported when a task runs.

A behavioural check in a fresh interpreter, not a timing: ``benchmarks/import_cost.py`` measures the time.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Our modules a DAG file must not import: the task runs them.
OURS_AT_RUN_TIME = (
    "airflow_provider_bifrost.decorators.bifrost_batch",
    "airflow_provider_bifrost.hooks.api",
    "airflow_provider_bifrost.hooks.bifrost",
    "airflow_provider_bifrost.hooks.connection",
    "airflow_provider_bifrost.hooks.http",
    "airflow_provider_bifrost.hooks.models",
    "airflow_provider_bifrost.hooks.retry",
    "airflow_provider_bifrost.jobs.export",
    "airflow_provider_bifrost.jobs.ids",
    "airflow_provider_bifrost.jobs.plan",
    "airflow_provider_bifrost.jobs.state",
    "airflow_provider_bifrost.jobs.submit",
    "airflow_provider_bifrost.results.compact",
    "airflow_provider_bifrost.results.document",
    "airflow_provider_bifrost.results.export",
    "airflow_provider_bifrost.results.ijson_parser",
    "airflow_provider_bifrost.results.pages",
    "airflow_provider_bifrost.results.records",
    "airflow_provider_bifrost.storage.errors",
    "airflow_provider_bifrost.storage.inputs",
    "airflow_provider_bifrost.storage.manifest",
    "airflow_provider_bifrost.storage.paths",
    "airflow_provider_bifrost.storage.shards",
    "airflow_provider_bifrost.triggers.bifrost",
    "airflow_provider_bifrost.triggers.job",
    "airflow_provider_bifrost.testing",
    "airflow_provider_bifrost.testing.emulator",
)
#: Other libraries our DAG-file imports must not add (some may come with ``airflow.sdk`` itself).
THIRD_PARTY = ("ijson", "fastapi", "uvicorn", "starlette", "airflow.triggers.base")

CHILD = """
import json, sys
import airflow.sdk
from airflow.sdk import DAG
baseline = set(sys.modules)

from airflow_provider_bifrost.operators.bifrost import (
    BifrostBatchJobOperator, BifrostBatchResultsOperator, BifrostCreateBatchOperator
)
from airflow_provider_bifrost.sensors.bifrost import BifrostBatchSensor

with DAG("import_cost", schedule=None):
    create = BifrostCreateBatchOperator(
        task_id="create",
        model="openai/gpt-4o-mini",
        endpoint="/v1/chat/completions",
        requests=[{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {}}],
        metadata={"team": "ml"},
    )
    from_file = BifrostCreateBatchOperator(
        task_id="from_file", model="openai/gpt-4o-mini", endpoint="/v1/chat/completions", input_file_id="file-1"
    )
    wait = BifrostBatchSensor(task_id="wait", batch_id="{{ ti.xcom_pull('create') }}", provider="openai")
    export = BifrostBatchResultsOperator(
        task_id="export", batch_id="batch-1", output_uri="file:///tmp/out", compression="gzip", results_per_file=10,
        output_asset=True,
    )
    create >> wait >> export
    BifrostBatchJobOperator(
        task_id="job", model="anthropic/claude-3-5-haiku", input_uri="s3://bucket/requests/*.jsonl",
        output_uri="s3://bucket/out", max_active_batches=8, output_asset=True,
    )
try:
    BifrostCreateBatchOperator(task_id="bad", model="openai/gpt-4o-mini", endpoint="/v1/chat/completions",
                               input_file_id="None")
except ValueError as exc:
    rejected = str(exc)
else:
    rejected = None
print(json.dumps({"loaded": sorted(sys.modules), "added": sorted(set(sys.modules) - baseline), "rejected": rejected}))
"""


@pytest.fixture(scope="module")
def dag_file_imports() -> dict[str, object]:
    """What a fresh interpreter has imported after a DAG file builds every task of this provider."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, cwd=ROOT, env=os.environ.copy()
    ).stdout
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def test_dag_file_imports_none_of_ours_that_run_time_needs(dag_file_imports: dict[str, object]) -> None:
    loaded = set(dag_file_imports["loaded"])  # type: ignore[call-overload]
    assert "airflow_provider_bifrost.operators.bifrost" in loaded
    assert sorted(loaded & set(OURS_AT_RUN_TIME)) == []


def test_dag_file_adds_no_heavy_library(dag_file_imports: dict[str, object]) -> None:
    added = set(dag_file_imports["added"])  # type: ignore[call-overload]
    assert sorted(added & set(THIRD_PARTY)) == []


def test_parameters_are_still_checked_at_parse_time(dag_file_imports: dict[str, object]) -> None:
    assert "input_file_id is the text 'None'" in str(dag_file_imports["rejected"])


@pytest.mark.parametrize("module", [*OURS_AT_RUN_TIME, "ijson"])
def test_the_watched_modules_exist(module: str) -> None:
    """A renamed module would make the checks above pass for nothing."""
    assert importlib.util.find_spec(module) is not None
