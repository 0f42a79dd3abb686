"""
The manifest of an export (``_manifest.json``, written last) and reading results back as items.

Manifest fields: ``batch_id``, ``provider``, ``status``, ``output_uri`` (the export's folder),
``output_conn_id`` (the storage connection, or null), ``files`` (plain URIs of the JSONL shards, in
order), ``shards`` (``uri``, ``items``, ``bytes`` each),
``counts`` (``results``, ``succeeded``, ``errored``, ``from_error_file``, ``parse_errors``, and
``expected``: the requests the batch reported; a task-log warning says when it differs from ``results``),
``bytes``, ``compression``, ``results_per_file``, ``exported_at``.
"""

from __future__ import annotations

import contextlib
import gzip
import json
from collections.abc import Iterator, Mapping
from typing import Any

from airflow_provider_bifrost.storage.paths import plain_uri, storage_path

MANIFEST_NAME = "_manifest.json"


def write_manifest(folder: Any, manifest: Mapping[str, Any]) -> str:
    """
    Write ``_manifest.json`` into ``folder`` atomically (temporary name, then rename); return its plain URI.

    :param folder: an ``ObjectStoragePath``.
    :param manifest: the manifest.
    """
    temp = folder / f".{MANIFEST_NAME}.tmp"
    final = folder / MANIFEST_NAME
    try:
        temp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
        temp.rename(final)
    except BaseException:
        with contextlib.suppress(Exception):
            temp.unlink()
        raise
    return plain_uri(final)


def read_manifest(uri: str, conn_id: str | None = None) -> dict[str, Any]:
    """
    Read an export's manifest.

    :param uri: the manifest's URI, or the export folder's.
    :param conn_id: the storage connection.
    """
    path = storage_path(uri, conn_id)
    if path.name != MANIFEST_NAME:
        path = path / MANIFEST_NAME
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest


def iter_result_items(source: str | Mapping[str, Any], conn_id: str | None = None) -> Iterator[dict[str, Any]]:
    """
    Read exported results back, one item (dict, API shape) at a time, in bounded memory.

    :param source: a shard's URI (``.jsonl`` or ``.jsonl.gz``), a manifest's URI, or a manifest dict
        (e.g. the export task's XCom value): then every shard it lists, in order.
    :param conn_id: the storage connection (default for a manifest: the one it was written with).
    """
    if isinstance(source, Mapping):
        for uri in source["files"]:
            yield from iter_result_items(uri, conn_id or source.get("output_conn_id"))
        return
    if source.endswith(MANIFEST_NAME):
        yield from iter_result_items(read_manifest(source, conn_id), conn_id)
        return
    path = storage_path(source, conn_id)
    with path.open("rb") as raw:
        stream: Any = gzip.GzipFile(fileobj=raw, mode="rb") if source.endswith(".gz") else raw
        for line in stream:
            if line.strip():
                yield json.loads(line)
