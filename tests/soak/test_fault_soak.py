"""
The fault soak's CI variant: a few runs of ``benchmarks/soak.py`` (the full pipeline DAG under ``dag.test()``
against the emulator, random faults in every gateway request), each of which must export exactly; and a run
whose faults exceed every retry budget, which must fail loudly and leave nothing incomplete under a final name.

Marked ``soak`` (about a minute): skip with ``-m "not soak"``; the full soak is ``python benchmarks/soak.py``.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import pytest

from airflow_provider_bifrost.testing.emulator import run_emulator
from benchmarks.soak import (
    RUN_HEADER,
    RunReport,
    SoakSettings,
    captured_output,
    connection_json,
    load_pipeline,
    run_line,
    soak,
    summary_table,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from airflow_provider_bifrost.testing.emulator import EmulatorClient

pytestmark = [pytest.mark.soak, pytest.mark.usefixtures("airflow_db")]


@pytest.fixture(scope="module")
def soak_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorClient]:
    """The emulator in a child process, its log (disconnected clients' tracebacks) kept out of the test output."""
    with contextlib.ExitStack() as stack:
        with captured_output(tmp_path_factory.mktemp("soak-emulator") / "emulator.log"):
            emulator = stack.enter_context(run_emulator(subprocess=True))
        yield emulator


def run_soak(
    settings: SoakSettings, emulator: EmulatorClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> list[RunReport]:
    monkeypatch.setenv("AIRFLOW_CONN_BIFROST_DEFAULT", connection_json(emulator.url, settings))
    monkeypatch.setenv("AIRFLOW_VAR_BIFROST_OUTPUT_URI", "unset")  # each run sets its own; restored afterwards
    with captured_output(tmp_path / "load.log"):
        dag = load_pipeline(settings)
    return soak(dag, emulator, settings, tmp_path)


def test_every_run_under_random_faults_exports_exactly(
    soak_emulator: EmulatorClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = SoakSettings(runs=3, seed=7, fault_rate=0.2, poke_interval=1.0, run_timeout=None)
    reports = run_soak(settings, soak_emulator, tmp_path, monkeypatch)
    wall = sum(report.seconds for report in reports)
    table = "\n".join([RUN_HEADER, *map(run_line, reports), "", summary_table(reports, settings, wall)])
    print(table)
    assert all(report.exact and not report.problems for report in reports), table
    assert all(report.batches == 1 for report in reports), table
    assert sum(sum(report.faults.values()) for report in reports) > 0, table
    assert sum(report.http_retries for report in reports) > 0, table


def test_faults_beyond_every_retry_budget_fail_loudly_leaving_nothing_incomplete(
    soak_emulator: EmulatorClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every read of the error file (exported after the results) breaks mid-body, in each of the export's tries.
    settings = SoakSettings(
        runs=1, fault_rate=1.0, kinds=("truncate",), fault_path=r"^/v1/files/.+/content$", task_retry_delay=1.0
    )
    (report,) = run_soak(settings, soak_emulator, tmp_path, monkeypatch)
    assert report.state == "failed", report
    assert report.failure is not None and report.failure.startswith("export: BifrostTransportError"), report
    # No temporary file, no malformed shard, no manifest. The shards completed before the failure stay under
    # their final names (report.orphan_shards): complete files, but not the whole export.
    assert report.problems == [], report
    assert report.task_retries == 2 and report.batches == 1, report
