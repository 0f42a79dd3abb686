"""The typed manifest: the fields a real export writes, derived ones computed, and reading it back."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from airflow_provider_bifrost.storage.manifest import (
    ExportCounts,
    JobCounts,
    JobManifest,
    Manifest,
    PartEntry,
    iter_result_items,
    read_manifest,
    write_manifest,
)
from airflow_provider_bifrost.storage.paths import storage_path
from airflow_provider_bifrost.storage.shards import Shard

if TYPE_CHECKING:
    from pathlib import Path


def manifest(**changes: object) -> Manifest:
    fields: dict[str, object] = {
        "batch_id": "batch_1",
        "provider": "openai",
        "status": "completed",
        "output_uri": "file:///out/batch_1",
        "output_conn_id": None,
        "shards": [
            Shard("file:///out/batch_1/part-00000.jsonl", 2, 30),
            Shard("file:///out/batch_1/part-00001.jsonl", 1, 12),
        ],
        "counts": ExportCounts(results=3, succeeded=2, from_error_file=1, parse_errors=0, expected=3),
        "compression": None,
        "results_per_file": 2,
        "exported_at": "2026-11-30T00:00:00+00:00",
    }
    fields.update(changes)
    return Manifest(**fields)  # type: ignore[arg-type]


def test_to_dict_has_every_documented_field() -> None:
    data = manifest().to_dict()
    assert data == {
        "batch_id": "batch_1",
        "batch_ids": ["batch_1"],
        "provider": "openai",
        "status": "completed",
        "output_uri": "file:///out/batch_1",
        "output_conn_id": None,
        "files": ["file:///out/batch_1/part-00000.jsonl", "file:///out/batch_1/part-00001.jsonl"],
        "shards": [
            {"uri": "file:///out/batch_1/part-00000.jsonl", "items": 2, "bytes": 30},
            {"uri": "file:///out/batch_1/part-00001.jsonl", "items": 1, "bytes": 12},
        ],
        "counts": {"results": 3, "succeeded": 2, "errored": 1, "from_error_file": 1, "parse_errors": 0, "expected": 3},
        "bytes": 42,
        "compression": None,
        "results_per_file": 2,
        "partial": False,
        "usage": None,
        "rounds": None,
        "still_failing": None,
        "exported_at": "2026-11-30T00:00:00+00:00",
    }
    assert json.loads(json.dumps(data)) == data


def test_usage_is_written_as_given() -> None:
    usage = {"models": {}, "total": {"requests": 0}, "without_usage": 0, "unpriced_models": []}
    assert manifest(usage=usage).to_dict()["usage"] == usage


def test_written_last_and_read_back(tmp_path: Path) -> None:
    folder = storage_path(f"file://{tmp_path}")
    uri = write_manifest(folder, manifest().to_dict())
    assert uri == f"file://{tmp_path}/_manifest.json"
    assert read_manifest(f"file://{tmp_path}") == manifest().to_dict()
    assert [p.name for p in tmp_path.iterdir()] == ["_manifest.json"]


def job_manifest() -> JobManifest:
    shards = [
        Shard("file:///out/job-1/part-00000.jsonl", 3, 40),
        Shard("file:///out/job-1/part-00001.jsonl", 2, 25),
    ]
    return JobManifest(
        job_id="job-1",
        provider="openai",
        output_uri="file:///out/job-1",
        output_conn_id=None,
        shards=shards,
        counts=JobCounts(
            results=5,
            succeeded=4,
            from_error_file=1,
            parse_errors=0,
            expected=6,
            missing=1,
            unexpected=0,
            duplicated=0,
        ),
        parts=[
            PartEntry(0, "batch_a", "completed", 3, 3, 3, 0, [shards[0].uri]),
            PartEntry(1, "batch_b", "failed", 3, 2, 1, 1, [shards[0].uri, shards[1].uri]),
        ],
        compression=None,
        results_per_file=3,
        exported_at="2026-11-30T00:00:00+00:00",
    )


def test_a_job_manifest_has_the_parts_and_the_id_check() -> None:
    data = job_manifest().to_dict()
    assert data == {
        "job_id": "job-1",
        "provider": "openai",
        "output_uri": "file:///out/job-1",
        "output_conn_id": None,
        "files": ["file:///out/job-1/part-00000.jsonl", "file:///out/job-1/part-00001.jsonl"],
        "shards": [
            {"uri": "file:///out/job-1/part-00000.jsonl", "items": 3, "bytes": 40},
            {"uri": "file:///out/job-1/part-00001.jsonl", "items": 2, "bytes": 25},
        ],
        "counts": {
            "results": 5,
            "succeeded": 4,
            "errored": 1,
            "from_error_file": 1,
            "parse_errors": 0,
            "expected": 6,
            "missing": 1,
            "unexpected": 0,
            "duplicated": 0,
        },
        "parts": [
            {
                "part": 0,
                "batch_id": "batch_a",
                "status": "completed",
                "requests": 3,
                "results": 3,
                "succeeded": 3,
                "from_error_file": 0,
                "files": ["file:///out/job-1/part-00000.jsonl"],
                "round": 0,
            },
            {
                "part": 1,
                "batch_id": "batch_b",
                "status": "failed",
                "requests": 3,
                "results": 2,
                "succeeded": 1,
                "from_error_file": 1,
                "files": ["file:///out/job-1/part-00000.jsonl", "file:///out/job-1/part-00001.jsonl"],
                "round": 0,
            },
        ],
        "bytes": 65,
        "compression": None,
        "results_per_file": 3,
        "usage": None,
        "rounds": None,
        "still_failing": None,
        "exported_at": "2026-11-30T00:00:00+00:00",
    }
    assert json.loads(json.dumps(data)) == data


def test_job_counts_default_to_a_clean_id_check() -> None:
    counts = JobCounts(results=2, succeeded=1, from_error_file=0, parse_errors=0, expected=2)
    assert (counts.missing, counts.unexpected, counts.duplicated, counts.errored) == (0, 0, 0, 1)


def test_a_job_manifest_is_written_and_its_items_read_back(tmp_path: Path) -> None:
    folder = tmp_path / "job-1"
    folder.mkdir()
    (folder / "part-00000.jsonl").write_text('{"custom_id": "a"}\n{"custom_id": "b"}\n')
    (folder / "part-00001.jsonl").write_text('{"custom_id": "c"}\n')
    uris = [f"file://{folder}/part-0000{i}.jsonl" for i in range(2)]
    data = job_manifest().to_dict() | {"files": uris}
    uri = write_manifest(storage_path(f"file://{folder}"), data)
    assert read_manifest(uri) == data
    assert [item["custom_id"] for item in iter_result_items(uri)] == ["a", "b", "c"]
    assert [item["custom_id"] for item in iter_result_items(data)] == ["a", "b", "c"]
