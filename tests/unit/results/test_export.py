from __future__ import annotations

from typing import Any

from airflow_provider_bifrost.results.export import ExportProgress


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str, *args: Any) -> None:
        self.lines.append(message % args)


def test_progress_reports_items_rate_and_bytes_at_a_steady_cadence() -> None:
    log = Log()
    progress = ExportProgress(log, "batch_1", every=0.0)  # every check is due: one line per block
    for _ in range(2):
        progress.add(1024, 1024 * 1000)
    progress.add(952, 952 * 1000)
    progress.report("exported")
    assert len(log.lines) == 4
    assert log.lines[0].startswith("Batch batch_1 exporting: 1,024 items (")
    assert "items/s), 1.0 MB (" in log.lines[0] and log.lines[0].endswith("MB/s)")
    assert log.lines[-1].startswith("Batch batch_1 exported: 3,000 items (") and "3.0 MB" in log.lines[-1]


def test_progress_is_quiet_between_intervals() -> None:
    log = Log()
    progress = ExportProgress(log, "batch_1", every=3600.0)
    for _ in range(10_000):
        progress.add(1, 10)
    assert log.lines == []
