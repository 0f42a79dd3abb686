"""
The export's output as an Airflow Asset: the Asset a task announces (``output_asset``), and the event it emits
with the manifest's key figures as its extra, so that a DAG scheduled on the Asset runs on new results.

Light on purpose: the operator modules import it when a DAG file builds a task (``tests/unit/test_layout.py``).
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset

from airflow_provider_bifrost.exceptions import BifrostConfigError
from airflow_provider_bifrost.validation import check_storage_uri, is_given, untemplated

if TYPE_CHECKING:
    import logging

    from airflow.sdk import Context

#: Schemes of the local disk: their Asset URI is ``file://`` and an absolute path.
LOCAL_SCHEMES = frozenset({"file", "local"})
#: The most batch ids of a job an event's extra lists (``batches`` counts them all).
EXTRA_BATCH_IDS = 20


def check_output_asset(output_asset: object, output_uri: object, where: str = "") -> None:
    """
    Check ``output_asset`` when the DAG is parsed: ``False``, ``True`` (announce ``output_uri``, which must then be
    given and not templated), or an Airflow ``Asset``; either needs ``output_uri`` (the export the event announces).

    :param output_asset: the value given.
    :param output_uri: the task's ``output_uri``.
    :param where: appended to the message, e.g. ``" (task_id)"``.
    """
    if output_asset is False or output_asset is None:
        return
    if output_asset is not True and not isinstance(output_asset, Asset):
        raise BifrostConfigError(
            f"output_asset must be True, False or an airflow.sdk.Asset, got {type(output_asset).__name__} "
            f"{output_asset!r}; e.g. output_asset=True (the Asset is output_uri) or "
            f"output_asset=Asset('s3://bucket/results'){where}"
        )
    if not is_given(output_uri):
        raise BifrostConfigError(
            "output_asset announces the export on object storage, and output_uri is not set: set output_uri "
            f"(the results then go there, with a manifest the asset event points to), or drop output_asset{where}"
        )
    if output_asset is True and not untemplated(output_uri):
        raise BifrostConfigError(
            f"output_asset=True makes output_uri the Asset when the DAG is parsed, but output_uri {output_uri!r} is "
            "a template, rendered only when the task runs: pass the Asset yourself, e.g. "
            "output_asset=Asset('s3://bucket/results') (each event's extra names the rendered location, "
            f"manifest_uri){where}"
        )
    if output_asset is True:
        check_storage_uri(output_uri, "output_uri")


def asset_uri(uri: str) -> str:
    """
    The URI of the Asset that names an output location: plain, absolute, with no trailing ``/``.

    A local path (``/data/out``, ``file:///data/out``, ``local:///data/out``) becomes ``file:///data/out``, a
    relative one absolute against the current directory, as the export reads it; the user part of a URI (an
    Airflow connection id, ``s3://aws_prod@bucket/out``, or credentials) is dropped, so the URI names the
    place only and no secret reaches the metadata database.

    :param uri: the output location, as ``output_uri`` takes it.
    """
    if "://" not in uri and not uri.startswith("file:"):
        return "file://" + os.path.abspath(os.path.expanduser(uri)).rstrip("/")
    parts = urllib.parse.urlsplit(uri)
    scheme = parts.scheme.lower()
    netloc = parts.netloc.rpartition("@")[2]
    if scheme in LOCAL_SCHEMES:
        # As ObjectStoragePath reads it: file://a/b is the relative path a/b.
        path = os.path.abspath(netloc + parts.path) if netloc or parts.path else os.getcwd()
        return "file://" + (path.rstrip("/") or "/")
    return urllib.parse.urlunsplit((scheme, netloc, parts.path.rstrip("/"), parts.query, ""))


def declare_output_asset(task: Any, value: object, output_uri: object, where: str = "") -> Asset | None:
    """
    The Asset a task announces, checked when the DAG is parsed and added to the task's ``outlets``: None
    (``False``), the output location's (``True``: ``output_uri`` given and not templated), or the ``Asset``
    given.

    :param task: the operator, whose ``outlets`` get the Asset.
    :param value: the task's ``output_asset``.
    :param output_uri: the task's ``output_uri``.
    :param where: appended to errors, e.g. ``" (task_id)"``.
    """
    check_output_asset(value, output_uri, where)
    if value is False or value is None:
        return None
    if isinstance(value, Asset):
        asset = value
    else:
        assert isinstance(output_uri, str)
        uri = asset_uri(output_uri)
        try:
            asset = Asset(uri=uri, name=uri)
        except (ValueError, TypeError) as exc:
            raise BifrostConfigError(
                f"output_asset=True: output_uri {output_uri!r} makes no valid Asset URI ({exc}); pass the Asset "
                f"yourself, e.g. output_asset=Asset('my_results', uri='s3://bucket/results'){where}"
            ) from None
    if asset not in task.outlets:
        task.add_outlets([asset])
    return asset


def asset_extra(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """
    The key figures of an export's manifest, as the extra of its asset event: where the manifest is (and the
    storage connection's id, never a secret), what was exported, the counts, the usage totals; for a job also
    its parts' batches and, with resubmission, its rounds and what still fails.

    :param manifest: the manifest dict (a batch's or a job's), as the export returns it.
    """
    from airflow_provider_bifrost.storage.manifest import MANIFEST_NAME  # the export's modules: at run time

    folder = str(manifest["output_uri"]).rstrip("/")
    extra: dict[str, Any] = {
        "manifest_uri": f"{folder}/{MANIFEST_NAME}",
        "output_uri": folder,
        "output_conn_id": manifest.get("output_conn_id"),
        "provider": manifest.get("provider"),
    }
    if "job_id" in manifest:
        parts = manifest.get("parts") or []
        ids = [part["batch_id"] for part in parts]
        extra.update(job_id=manifest["job_id"], batches=len(ids), batch_ids=ids[:EXTRA_BATCH_IDS])
    else:
        extra.update(
            batch_id=manifest.get("batch_id"), status=manifest.get("status"), partial=bool(manifest.get("partial"))
        )
    usage = manifest.get("usage")
    extra.update(
        counts=dict(manifest.get("counts") or {}),
        files=len(manifest.get("files") or []),
        bytes=manifest.get("bytes"),
        usage=dict(usage["total"]) if isinstance(usage, Mapping) and "total" in usage else None,
        exported_at=manifest.get("exported_at"),
    )
    if manifest.get("rounds") is not None:  # a job with resubmission: the rounds after the first, what still fails
        still = manifest.get("still_failing") or {}
        extra.update(
            rounds=max((row["round"] for row in manifest["rounds"]), default=0),
            still_failing=still.get("requests", 0),
        )
    return extra


def announce(context: Context, asset: Asset | None, manifest: Mapping[str, Any], log: logging.Logger) -> None:
    """
    Give the task's asset event the manifest's key figures (:func:`asset_extra`); Airflow records the event when
    the task succeeds. Nothing without an Asset.

    :param context: the task's context.
    :param asset: the task's ``output_asset``, or None.
    :param manifest: the export's manifest.
    :param log: the task's logger.
    """
    if asset is None:
        return
    extra = asset_extra(manifest)
    context["outlet_events"][asset].extra.update(extra)
    log.info("Asset %s: an event with %s", asset.uri, extra["counts"])
