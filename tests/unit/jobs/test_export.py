"""
A job's export against the emulator: every part's results in one set of shards, the manifest's parts table, and
the exported ids checked against the input (missing, unexpected, repeated).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_bifrost.hooks.bifrost import BifrostHook
from airflow_provider_bifrost.jobs.export import JobExport
from airflow_provider_bifrost.jobs.ids import DigestRuns
from airflow_provider_bifrost.jobs.source import RequestSource
from airflow_provider_bifrost.jobs.split import make_plan
from airflow_provider_bifrost.jobs.state import JobState
from airflow_provider_bifrost.providers import PROFILES
from airflow_provider_bifrost.storage.manifest import iter_result_items, read_manifest
from airflow_provider_bifrost.version_compat import AirflowFailException

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from airflow_provider_bifrost.testing.emulator import EmulatorClient

log = logging.getLogger(__name__)
CONN_ID = "bifrost_jobs_export"
IDS = [f"r{i}" for i in range(10)]


@pytest.fixture
def gateway(bifrost_emulator_session: EmulatorClient, monkeypatch: pytest.MonkeyPatch) -> EmulatorClient:
    emulator = bifrost_emulator_session
    emulator.reset(config=True)
    conn = {"conn_type": "bifrost", "host": emulator.url, "extra": {"max_retries": 0}}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    return emulator


def export_of(
    gateway: EmulatorClient, batches: Sequence[Sequence[str] | dict[str, Any]], *, part_size: int = 5
) -> JobExport:
    """A finished job of ``IDS`` in parts of ``part_size``; part i's batch holds ``batches[i]`` (ids or options)."""
    source = RequestSource(requests=[{"custom_id": custom_id, "body": {}} for custom_id in IDS])
    with DigestRuns() as ids:
        plan = make_plan(source, max_requests=part_size, max_bytes=1 << 20, ids=ids)
    state = JobState.new("ab" * 16, "openai", plan)
    assert len(batches) == len(state.parts)
    for part, spec in zip(state.parts, batches, strict=True):
        options = spec if isinstance(spec, dict) else {"requests": list(spec)}
        part.batch_id = gateway.add_batch("openai", timeline=(0, 0, 0), **options)["id"]
    hook = BifrostHook(CONN_ID)
    return JobExport(hook, state, PROFILES["openai"], source, include_errors=True, log=log)


def exported_ids(manifest: dict[str, Any]) -> list[str]:
    return [item["custom_id"] for item in iter_result_items(manifest)]


def test_every_part_is_exported_into_one_set_of_shards(gateway: EmulatorClient, tmp_path: Path) -> None:
    export = export_of(gateway, [IDS[:5], IDS[5:]])
    manifest = export.to_storage(f"file://{tmp_path}/out/", None, results_per_file=3, compression=None)
    folder = f"file://{tmp_path}/out/{export.job.job_id}"
    assert manifest["output_uri"] == folder and manifest["job_id"] == "job-abababababababab"
    assert manifest["counts"] == {
        "results": 10,
        "succeeded": 10,
        "errored": 0,
        "from_error_file": 0,
        "parse_errors": 0,
        "expected": 10,
        "missing": 0,
        "unexpected": 0,
        "duplicated": 0,
    }
    shards = [f"{folder}/part-0000{i}.jsonl" for i in range(4)]
    assert manifest["files"] == shards and [s["items"] for s in manifest["shards"]] == [3, 3, 3, 1]
    assert [(p["part"], p["requests"], p["results"], p["files"]) for p in manifest["parts"]] == [
        (1, 5, 5, shards[:2]),
        (2, 5, 5, shards[1:]),  # shard 1 holds the end of part 1 and the start of part 2
    ]
    assert [p["status"] for p in manifest["parts"]] == ["completed", "completed"]
    assert [p["batch_id"] for p in manifest["parts"]] == [p.batch_id for p in export.job.parts]
    assert exported_ids(manifest) == IDS
    assert read_manifest(folder) == manifest


def test_a_part_that_fills_its_last_shard_exactly_does_not_claim_the_next(
    gateway: EmulatorClient, tmp_path: Path
) -> None:
    export = export_of(gateway, [IDS[:5], IDS[5:]])
    manifest = export.to_storage(f"file://{tmp_path}", None, results_per_file=5, compression="gzip")
    assert [len(p["files"]) for p in manifest["parts"]] == [1, 1]
    assert manifest["parts"][0]["files"] != manifest["parts"][1]["files"]
    assert all(uri.endswith(".jsonl.gz") for uri in manifest["files"])
    assert exported_ids(manifest) == IDS


def test_missing_unexpected_and_repeated_ids_are_counted(gateway: EmulatorClient, tmp_path: Path) -> None:
    export = export_of(gateway, [IDS[:5], ["r5", "r6", "stranger", "r4", "r0"]])  # part 0's r4 and r0 again
    manifest = export.to_storage(f"file://{tmp_path}", None, results_per_file=None, compression=None)
    counts = manifest["counts"]
    assert (counts["missing"], counts["unexpected"], counts["duplicated"]) == (3, 1, 2)  # r7-r9; stranger; r4, r0
    assert counts["results"] == 10 and counts["expected"] == 10
    assert len(manifest["files"]) == 1


def test_a_failed_part_has_no_results_and_its_ids_are_missing(
    gateway: EmulatorClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    export = export_of(gateway, [{"requests": IDS[:5], "outcome": "failed"}, IDS[5:]])
    with caplog.at_level(logging.WARNING, logger=__name__):
        manifest = export.to_storage(f"file://{tmp_path}", None, results_per_file=2, compression=None)
    first, second = manifest["parts"]
    assert (first["status"], first["results"], first["files"]) == ("failed", 0, [])
    assert (second["results"], len(second["files"])) == (5, 3)
    assert manifest["counts"]["missing"] == 5 and manifest["counts"]["results"] == 5
    assert export.job.parts[0].status == "failed"
    assert any(f"batch {export.job.parts[0].batch_id} ended failed" in r.getMessage() for r in caplog.records)
    assert any("5 input ids have no result" in r.getMessage() for r in caplog.records)


def test_error_file_lines_are_exported_and_counted(gateway: EmulatorClient, tmp_path: Path) -> None:
    export = export_of(gateway, [{"requests": IDS[:5], "failed": 2}, IDS[5:]])
    manifest = export.to_storage(f"file://{tmp_path}", None, results_per_file=None, compression=None)
    assert manifest["parts"][0]["succeeded"] == 3 and manifest["parts"][0]["from_error_file"] == 2
    counts = manifest["counts"]
    assert (counts["results"], counts["succeeded"], counts["errored"], counts["from_error_file"]) == (10, 8, 2, 2)
    assert counts["missing"] == 0
    assert sorted(exported_ids(manifest)) == sorted(IDS)


def test_to_xcom_returns_every_item_in_part_order(gateway: EmulatorClient) -> None:
    export = export_of(gateway, [IDS[:5], IDS[5:]])
    items = export.to_xcom(10)
    assert [item["custom_id"] for item in items] == IDS
    assert [part.status for part in export.job.parts] == ["completed", "completed"]


def test_to_xcom_refuses_more_than_max_results_and_says_what_to_do(gateway: EmulatorClient) -> None:
    export = export_of(gateway, [IDS[:5], IDS[5:]])
    with pytest.raises(AirflowFailException, match=r"more than max_xcom_results=9 results: set output_uri"):
        export.to_xcom(9)
