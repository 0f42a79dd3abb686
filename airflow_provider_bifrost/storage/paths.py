"""Output locations: resolve a URI to a usable ``ObjectStoragePath``; treat folders the object-store way."""

from __future__ import annotations

import hashlib
import re
from typing import IO

import fsspec
from airflow.sdk import ObjectStoragePath
from airflow.sdk.io.fs import get_fs
from airflow.sdk.io.store import attach

from airflow_provider_bifrost.exceptions import BifrostConfigError
from airflow_provider_bifrost.storage.errors import is_anonymous, missing_bucket, storage_errors
from airflow_provider_bifrost.validation import check_storage_uri


def storage_path(uri: str, conn_id: str | None = None, *, name: str = "output_uri") -> ObjectStoragePath:
    """
    An ``ObjectStoragePath`` for ``uri`` whose filesystem is reachable.

    Schemes Airflow's providers register (``file``, ``s3``, ``gs``...) are used as they are; others
    that fsspec itself implements (``memory``...) are attached from fsspec.

    :param uri: e.g. ``s3://bucket/prefix``, ``file:///data/out``, ``memory://bucket/out``.
    :param conn_id: the Airflow connection of the storage (e.g. an AWS connection for ``s3://``).
    :param name: the parameter the URI came from, named in errors (``output_uri``, ``input_uri``).
    """
    check_storage_uri(uri, name)
    scheme = uri.split("://", 1)[0].lower()
    try:
        get_fs(scheme, conn_id)  # Airflow's own registry (providers); builds no cached store
    except ValueError:
        if scheme not in fsspec.available_protocols() and scheme not in fsspec.registry:
            raise BifrostConfigError(
                f"{name} {uri!r}: no filesystem is installed for scheme {scheme!r}. Install the Airflow "
                "provider that brings it (s3: apache-airflow-providers-amazon[s3fs], gs: "
                "apache-airflow-providers-google) or use file://."
            ) from None
        attach(scheme, conn_id=conn_id, fs=fsspec.filesystem(scheme))
    return ObjectStoragePath(uri, conn_id=conn_id)


#: Schemes whose first path segment is a bucket/container that must already exist.
BUCKET_SCHEMES = frozenset({"s3", "s3a", "gs", "gcs", "abfs", "abfss", "az", "adl", "oss"})
LOCAL_SCHEMES = frozenset({"file", "local", ""})
#: The longest readable part of a folder name made from an id with ``/`` in it.
FOLDER_NAME_MAX = 160


def prepare_folder(folder: ObjectStoragePath) -> None:
    """
    Make ``folder`` ready to receive files: create it on a local disk; on an object store, where
    folders are only key prefixes, check that the bucket exists (an export never creates buckets). A
    refusal, missing credentials or an unreachable endpoint is named as such (:mod:`.errors`).

    :param folder: the export's folder.
    """
    if folder.protocol in LOCAL_SCHEMES:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BifrostConfigError(
                f"output_uri: cannot create the folder {plain_uri(folder)} ({exc.strerror or exc}); choose a "
                "location the task can write to."
            ) from None
        return
    bucket = folder.path.lstrip("/").split("/", 1)[0]
    if folder.protocol in BUCKET_SCHEMES:
        with storage_errors("output_uri", plain_uri(folder), "output_conn_id", folder.fs):
            try:
                folder.fs.info(bucket)  # unlike exists(), it says why it cannot see the bucket
            except FileNotFoundError:
                if is_anonymous(folder.fs):
                    raise  # anonymous access sees no bucket: storage_errors names the missing credentials
                raise missing_bucket("output_uri", bucket) from None


def folder_name(batch_id: str) -> str:
    """
    The name of a batch's export folder: the id itself when it is one safe path segment, else the id with
    ``/`` and ``\\`` made ``_`` and a short hash of the exact id added, so two ids never share a folder
    (a Bedrock ARN, Gemini's ``batches/<id>``, a Vertex resource name). The manifest keeps the exact id.

    :param batch_id: the batch, already checked by ``validate_id``.
    """
    if "/" not in batch_id and "\\" not in batch_id and batch_id not in (".", ".."):
        return batch_id
    readable = re.sub(r"[/\\]+", "_", batch_id).strip("._") or "batch"
    return f"{readable[:FOLDER_NAME_MAX]}-{hashlib.sha256(batch_id.encode()).hexdigest()[:10]}"


def export_folder(root: ObjectStoragePath, batch_id: str) -> ObjectStoragePath:
    """
    The folder of a batch's export, ``<root>/<folder_name(batch_id)>``: always strictly inside ``root``.

    :param root: the export's ``output_uri``.
    :param batch_id: the batch, already checked by ``validate_id``.
    """
    folder = root / folder_name(batch_id)
    base = root.path.rstrip("/")
    if (
        folder.path.rstrip("/") in ("", base)
        or not folder.path.startswith(base + "/")
        or folder.parent.path != root.path
    ):
        raise BifrostConfigError(f"batch_id {batch_id!r} would not make a folder of its own under output_uri.")
    return folder


def list_folder(folder: ObjectStoragePath) -> list[ObjectStoragePath]:
    """
    The entries directly in ``folder``; none when it does not exist yet (an unused key prefix).

    :param folder: a folder or key prefix.
    """
    try:
        return list(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def open_to_write(path: ObjectStoragePath) -> IO[bytes]:
    """
    ``path`` opened for writing bytes on its filesystem, its lineage reported once as it is opened.
    ``ObjectStoragePath.open`` reports it on every ``write`` call instead (``str(path)`` each time: a
    twentieth of a big export's CPU).

    :param path: the file to write.
    """
    from airflow.sdk.lineage import get_hook_lineage_collector

    get_hook_lineage_collector().add_output_asset(context=path, uri=str(path))
    return path.fs.open(path.path, mode="wb")


def plain_uri(path: ObjectStoragePath) -> str:
    """``path`` as a URI other tools understand: no Airflow connection id in it (``s3://bucket/key``)."""
    return f"{path.protocol}://{path.path}"
