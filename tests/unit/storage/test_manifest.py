"""The typed manifest: the fields a real export writes, derived ones computed, and reading it back."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from airflow_provider_bifrost.storage.manifest import ExportCounts, Manifest, read_manifest, write_manifest
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
