"""Output paths built from a batch id can never escape output_uri (custom_ids never name files), whatever the id."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from airflow_provider_bifrost.exceptions import BifrostConfigError
from airflow_provider_bifrost.storage.paths import export_folder, folder_name, open_to_write, storage_path
from airflow_provider_bifrost.storage.shards import SHARD_PATTERN, shard_name
from airflow_provider_bifrost.validation import validate_id

if TYPE_CHECKING:
    from pathlib import Path

MALFORMED = ["..", ".", " x", "x\n", "", "   ", "\x00x", "x\x7f", "None", "null"]
ODD_BUT_VALID = ["batch_1", "b%2e%2e%2f", "~", "$HOME", ".hidden", "b:c", "b?x=1", "b#frag", "ü-batch"]
#: Ids with path separators: real ones (Bedrock, Gemini, Vertex) and hostile ones.
WITH_SEPARATORS = [
    "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abc123",
    "batches/abc123",
    "projects/p/locations/us-central1/batchPredictionJobs/42",
    "../etc",
    "a/../../b",
    "/abs",
    "a\\..\\b",
    "..\\x",
    "a/b",
    "../..",
    "/",
]


@pytest.mark.parametrize("batch_id", MALFORMED)
def test_malformed_batch_ids_are_refused_before_any_path_is_built(batch_id: str) -> None:
    with pytest.raises(BifrostConfigError, match="batch_id"):
        validate_id(batch_id)


@pytest.mark.parametrize("root_uri", ["file:///tmp/bifrost-out", "memory://bucket/prefix/deeper"])
@pytest.mark.parametrize("batch_id", ODD_BUT_VALID)
def test_every_valid_batch_id_makes_a_folder_of_its_own_inside_the_root(root_uri: str, batch_id: str) -> None:
    root = storage_path(root_uri)
    folder = export_folder(root, validate_id(batch_id))
    assert folder.parent.path == root.path
    assert folder.path.startswith(root.path.rstrip("/") + "/")
    assert folder.name == batch_id


@pytest.mark.parametrize("root_uri", ["file:///tmp/bifrost-out", "memory://bucket/prefix/deeper"])
@pytest.mark.parametrize("batch_id", WITH_SEPARATORS)
def test_ids_with_separators_make_a_safe_folder_of_their_own(root_uri: str, batch_id: str) -> None:
    root = storage_path(root_uri)
    folder = export_folder(root, validate_id(batch_id))
    assert folder.parent.path == root.path
    assert "/" not in folder.name and "\\" not in folder.name and folder.name not in (".", "..")
    assert folder_name(batch_id) == folder.name


def test_folder_names_are_readable_and_never_shared() -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abc123"
    assert folder_name(arn).startswith("arn:aws:bedrock:us-east-1:123456789012:model-invocation-job_abc123-")
    assert folder_name("batches/abc") != folder_name("batches\\abc") != folder_name("batches_abc")
    assert len({folder_name(batch_id) for batch_id in WITH_SEPARATORS + ODD_BUT_VALID}) == len(
        WITH_SEPARATORS + ODD_BUT_VALID
    )


def test_shard_names_come_from_the_index_only() -> None:
    names = [shard_name(i, compression) for i in (0, 7, 99_999) for compression in (None, "gzip")]
    assert names == [
        "part-00000.jsonl",
        "part-00000.jsonl.gz",
        "part-00007.jsonl",
        "part-00007.jsonl.gz",
        "part-99999.jsonl",
        "part-99999.jsonl.gz",
    ]
    assert all(SHARD_PATTERN.match(name) for name in names)


def test_a_written_file_reports_its_lineage_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ObjectStoragePath.open reports lineage on every write call; the export's files report it once."""
    import airflow.sdk.lineage as lineage

    collector = lineage.HookLineageCollector()
    monkeypatch.setattr(lineage, "get_hook_lineage_collector", lambda: collector)
    path = storage_path(f"file://{tmp_path}/part-00000.jsonl")
    with open_to_write(path) as sink:
        for line in (b'{"custom_id":"a"}\n', b'{"custom_id":"b"}\n', b'{"custom_id":"c"}\n'):
            sink.write(line)
    assert (tmp_path / "part-00000.jsonl").read_bytes().count(b"\n") == 3
    (output,) = collector.collected_assets.outputs
    assert output.asset.uri.endswith("/part-00000.jsonl")
    assert output.count == 1
