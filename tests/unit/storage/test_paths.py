"""Output paths built from a batch id can never escape output_uri (custom_ids never name files)."""

from __future__ import annotations

import pytest

from airflow_provider_bifrost.exceptions import BifrostConfigError
from airflow_provider_bifrost.storage.paths import export_folder, storage_path
from airflow_provider_bifrost.storage.shards import SHARD_PATTERN, shard_name
from airflow_provider_bifrost.validation import validate_id

HOSTILE = ["..", ".", "../etc", "a/../../b", "/abs", "a\\..\\b", "..\\x", " x", "x\n", "a/b", "", "   ", "\x00x"]
ODD_BUT_VALID = ["batch_1", "b%2e%2e%2f", "~", "$HOME", ".hidden", "b:c", "b?x=1", "b#frag", "ü-batch"]


@pytest.mark.parametrize("batch_id", HOSTILE)
def test_hostile_batch_ids_are_refused_before_any_path_is_built(batch_id: str) -> None:
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
