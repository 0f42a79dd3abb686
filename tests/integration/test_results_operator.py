"""BifrostBatchResultsOperator against the emulator: XCom, file://, memory://, gzip, shards, errors, retries."""

from __future__ import annotations

import gzip
import json
from typing import TYPE_CHECKING, Any

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_bifrost.exceptions import BifrostConfigError, BifrostTransportError
from airflow_provider_bifrost.operators.bifrost import BifrostBatchResultsOperator
from airflow_provider_bifrost.storage.manifest import iter_result_items, read_manifest

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_provider_bifrost.testing.emulator import EmulatorClient

CONTEXT: Any = {}


@pytest.fixture(autouse=True)
def bifrost_default(emulator: EmulatorClient, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "bifrost", "host": emulator.url, "extra": {"default_provider": "openai", "max_retries": 2}}
    monkeypatch.setenv("AIRFLOW_CONN_BIFROST_DEFAULT", json.dumps(conn))


def finished(emulator: EmulatorClient, provider: str = "openai", **kwargs: Any) -> str:
    batch = emulator.add_batch(provider, manual=True, **kwargs)
    emulator.set_status(batch["id"], "ended" if provider == "anthropic" else "completed")
    return str(batch["id"])


def export(batch_id: str, **kwargs: Any) -> Any:
    return BifrostBatchResultsOperator(task_id="export", batch_id=batch_id, **kwargs).execute(CONTEXT)


def custom_ids(items: Any) -> list[str]:
    return sorted(item["custom_id"] for item in items)


# -- XCom ---------------------------------------------------------------------------------------


def test_xcom_mode_returns_plain_dicts_including_the_error_file(emulator: EmulatorClient) -> None:
    batch_id = finished(emulator, requests=12, failed=2)
    items = export(batch_id)
    assert isinstance(items, list) and all(isinstance(item, dict) for item in items)
    assert custom_ids(items) == sorted(f"request-{i}" for i in range(12))
    assert sum(1 for item in items if item["response"]["status_code"] != 200) == 2


def test_xcom_mode_without_errors(emulator: EmulatorClient) -> None:
    batch_id = finished(emulator, requests=12, failed=2)
    assert len(export(batch_id, include_errors=False)) == 10


def test_xcom_cap_fails_before_pushing_anything(emulator: EmulatorClient) -> None:
    batch_id = finished(emulator, requests=30)
    with pytest.raises(AirflowFailException, match="more than max_xcom_results=29 results: set output_uri"):
        export(batch_id, max_xcom_results=29)
    assert len(export(batch_id, max_xcom_results=30)) == 30


# -- object storage -----------------------------------------------------------------------------


def test_file_export_one_file_and_manifest(emulator: EmulatorClient, tmp_path: Path) -> None:
    batch_id = finished(emulator, "anthropic", requests=50, failed=5, parse_errors=["line 7: bad"])
    manifest = export(batch_id, provider="anthropic", output_uri=f"file://{tmp_path}/out")
    folder = tmp_path / "out" / batch_id
    assert sorted(p.name for p in folder.iterdir()) == ["_manifest.json", "part-00000.jsonl"]
    assert manifest == read_manifest(f"file://{folder}")
    assert manifest["files"] == [f"file://{folder}/part-00000.jsonl"]
    counts = {"results": 50, "succeeded": 45, "errored": 5, "from_error_file": 0, "parse_errors": 1, "expected": 50}
    assert manifest["counts"] == counts
    assert (manifest["batch_id"], manifest["provider"], manifest["status"]) == (batch_id, "anthropic", "ended")
    lines = (folder / "part-00000.jsonl").read_bytes().splitlines()
    assert len(lines) == 50 and manifest["bytes"] == (folder / "part-00000.jsonl").stat().st_size
    assert custom_ids(json.loads(line) for line in lines) == sorted(f"request-{i}" for i in range(50))


def test_sharding_gzip_and_error_file_merge(emulator: EmulatorClient, tmp_path: Path) -> None:
    batch_id = finished(emulator, requests=1000, failed=37)
    manifest = export(batch_id, output_uri=f"file://{tmp_path}", results_per_file=300, compression="gzip")
    folder = tmp_path / batch_id
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["_manifest.json", *(f"part-0000{i}.jsonl.gz" for i in range(4))]
    assert [s["items"] for s in manifest["shards"]] == [300, 300, 300, 100]
    assert manifest["counts"] == {
        "results": 1000,
        "succeeded": 963,
        "errored": 37,
        "from_error_file": 37,
        "parse_errors": 0,
        "expected": 1000,
    }
    items: list[dict[str, Any]] = []
    for name in names[1:]:
        assert (folder / name).read_bytes()[10:27] == name.removesuffix(".gz").encode() + b"\0"  # gzip's FNAME
        with gzip.open(folder / name) as stream:
            items.extend(json.loads(line) for line in stream)
    assert custom_ids(items) == sorted(f"request-{i}" for i in range(1000))
    assert custom_ids(iter_result_items(manifest)) == custom_ids(items)
    assert custom_ids(iter_result_items(f"file://{folder}/_manifest.json")) == custom_ids(items)


def test_memory_scheme(emulator: EmulatorClient) -> None:
    batch_id = finished(emulator, requests=40)
    manifest = export(batch_id, output_uri="memory://exports/run1", results_per_file=15)
    assert [s["items"] for s in manifest["shards"]] == [15, 15, 10]
    assert len(list(iter_result_items(manifest))) == 40


def test_empty_batch_gives_an_empty_manifest(emulator: EmulatorClient, tmp_path: Path) -> None:
    batch_id = finished(emulator, requests=0)
    manifest = export(batch_id, output_uri=f"file://{tmp_path}")
    assert manifest["files"] == [] and manifest["counts"]["results"] == 0
    assert sorted(p.name for p in (tmp_path / batch_id).iterdir()) == ["_manifest.json"]


def test_a_batch_still_running_is_a_clear_error(emulator: EmulatorClient, tmp_path: Path) -> None:
    batch = emulator.add_batch("openai", requests=3, manual=True)
    with pytest.raises(AirflowException, match="is still in_progress, so it has no results yet"):
        export(batch["id"], output_uri=f"file://{tmp_path}")
    assert not (tmp_path / batch["id"]).exists()


@pytest.mark.parametrize("final", ["failed", "expired", "cancelled"])
def test_an_unsuccessful_batch_is_not_exported(emulator: EmulatorClient, final: str) -> None:
    batch = emulator.add_batch("openai", requests=3, manual=True)
    emulator.set_status(batch["id"], final)
    with pytest.raises(AirflowFailException, match=f"ended {final}: no results to export"):
        export(batch["id"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"compression": "zip"}, "compression must be None or one of"),
        ({"results_per_file": 0}, "results_per_file must be a positive"),
        ({"max_xcom_results": -1}, "max_xcom_results must be zero or more"),
    ],
)
def test_bad_parameters_fail_at_parse_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BifrostBatchResultsOperator(task_id="export", batch_id="b", **kwargs)


def test_unknown_output_scheme(emulator: EmulatorClient) -> None:
    batch_id = finished(emulator, requests=3)
    with pytest.raises(BifrostConfigError, match="no filesystem is installed for scheme 'nosuch'"):
        export(batch_id, output_uri="nosuch://bucket/x")
    with pytest.raises(BifrostConfigError, match="not a storage URI"):
        export(batch_id, output_uri="/tmp/no-scheme")


# -- failure and retry --------------------------------------------------------------------------


def test_dropped_stream_fails_leaving_no_file_then_the_retry_is_exact(emulator: EmulatorClient, tmp_path: Path) -> None:
    batch_id = finished(emulator, requests=3000, failed=10)
    uri = f"file://{tmp_path}"
    # Every attempt of the first try breaks mid-stream: more faults than the retry budget.
    emulator.add_fault("truncate", path="/results$", bytes=400_000, times=3)
    with pytest.raises(BifrostTransportError):
        export(batch_id, output_uri=uri, results_per_file=1000)
    folder = tmp_path / batch_id
    assert list(folder.iterdir()) == []  # no shard of a failed export, complete or not, and no temporary
    manifest = export(batch_id, output_uri=uri, results_per_file=1000)
    ids = custom_ids(iter_result_items(manifest))
    assert ids == sorted(f"request-{i}" for i in range(3000))
    assert manifest["counts"]["results"] == 3000 and manifest["counts"]["from_error_file"] == 10
    assert sorted(p.name for p in folder.iterdir()) == [
        "_manifest.json",
        "part-00000.jsonl",
        "part-00001.jsonl",
        "part-00002.jsonl",
    ]


def test_retry_removes_what_an_earlier_attempt_left(emulator: EmulatorClient, tmp_path: Path) -> None:
    batch_id = finished(emulator, requests=100)
    folder = tmp_path / batch_id
    folder.mkdir()
    (folder / "part-00007.jsonl").write_text("{}\n")  # from an earlier attempt with other settings
    (folder / ".part-00000.jsonl.0123456789ab.tmp").write_text("half")  # from a killed worker
    (folder / "notes.txt").write_text("not ours")
    export(batch_id, output_uri=f"file://{tmp_path}", results_per_file=60)
    assert sorted(p.name for p in folder.iterdir()) == [
        "_manifest.json",
        "notes.txt",
        "part-00000.jsonl",
        "part-00001.jsonl",
    ]
