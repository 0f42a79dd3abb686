"""Resolve an output URI to an ``ObjectStoragePath`` whose filesystem is usable, or say why not."""

from __future__ import annotations

import fsspec
from airflow.sdk import ObjectStoragePath
from airflow.sdk.io.fs import get_fs
from airflow.sdk.io.store import attach

from airflow_provider_bifrost.hooks.errors import BifrostConfigError


def storage_path(uri: str, conn_id: str | None = None) -> ObjectStoragePath:
    """
    An ``ObjectStoragePath`` for ``uri`` whose filesystem is reachable.

    Schemes Airflow's providers register (``file``, ``s3``, ``gs``...) are used as they are; others
    that fsspec itself implements (``memory``...) are attached from fsspec.

    :param uri: e.g. ``s3://bucket/prefix``, ``file:///data/out``, ``memory://bucket/out``.
    :param conn_id: the Airflow connection of the storage (e.g. an AWS connection for ``s3://``).
    """
    if not isinstance(uri, str) or "://" not in uri:
        raise BifrostConfigError(
            f"output_uri {uri!r} is not a storage URI; write it with its scheme, e.g. s3://bucket/prefix or "
            "file:///absolute/path."
        )
    scheme = uri.split("://", 1)[0].lower()
    try:
        get_fs(scheme, conn_id)  # Airflow's own registry (providers); builds no cached store
    except ValueError:
        if scheme not in fsspec.available_protocols():
            raise BifrostConfigError(
                f"output_uri {uri!r}: no filesystem is installed for scheme {scheme!r}. Install the Airflow "
                "provider that brings it (s3: apache-airflow-providers-amazon[s3fs], gs: "
                "apache-airflow-providers-google) or use file://."
            ) from None
        attach(scheme, conn_id=conn_id, fs=fsspec.filesystem(scheme))
    return ObjectStoragePath(uri, conn_id=conn_id)
