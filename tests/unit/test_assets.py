"""The export as an Asset: its URI, the checks when the DAG is parsed, and the key figures of its event's extra."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import pytest
from airflow.sdk import DAG, Asset
from airflow.sdk.execution_time.context import OutletEventAccessors

from airflow_provider_bifrost.assets import EXTRA_BATCH_IDS, announce, asset_extra, asset_uri
from airflow_provider_bifrost.exceptions import BifrostConfigError
from airflow_provider_bifrost.operators.bifrost import BifrostBatchJobOperator, BifrostBatchResultsOperator
from airflow_provider_bifrost.storage.manifest import ExportCounts, JobCounts, JobManifest, Manifest, PartEntry
from airflow_provider_bifrost.storage.shards import Shard

JOB: dict[str, Any] = {
    "model": "openai/gpt-4o-mini",
    "endpoint": "/v1/chat/completions",
    "input_uri": "s3://bucket/in/*.jsonl",
}
USAGE = {
    "models": {"gpt-4o-mini": {"requests": 9, "input_tokens": 90, "output_tokens": 18, "cost_usd": None}},
    "total": {"requests": 9, "input_tokens": 90, "cached_input_tokens": 0, "output_tokens": 18, "cost_usd": 0.01},
    "without_usage": 1,
    "unpriced_models": [],
}


# -- the Asset's URI ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "uri"),
    [
        ("file:///data/out/", "file:///data/out"),
        ("file:/data/out", "file:///data/out"),
        ("local:///data/out", "file:///data/out"),
        ("/data/out//", "file:///data/out"),
        ("s3://bucket/results/", "s3://bucket/results"),
        ("s3://aws_prod@bucket/results", "s3://bucket/results"),  # an Airflow connection id: not part of the place
        ("s3://key:secret@bucket/results", "s3://bucket/results"),  # never a credential in the metadata database
        ("gs://bucket", "gs://bucket"),
        ("memory://bucket/out", "memory://bucket/out"),
    ],
)
def test_the_asset_uri_names_the_place_plainly(given: str, uri: str) -> None:
    assert asset_uri(given) == uri


def test_a_relative_local_path_becomes_absolute(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    expected = f"file://{tmp_path}/out/x"
    assert asset_uri("out/x") == asset_uri("file://out/x") == asset_uri(f"file://{tmp_path}/out/x/") == expected


# -- declaring it when the DAG is parsed ----------------------------------------------------------


def test_output_asset_true_declares_the_output_uri_as_an_outlet() -> None:
    with DAG("assets_true", schedule=None):
        task = BifrostBatchResultsOperator(
            task_id="export", batch_id="b", output_uri="s3://aws_prod@bucket/results/", output_asset=True
        )
    assert task.output_asset == Asset("s3://bucket/results")
    assert (task.output_asset.uri, task.output_asset.name) == ("s3://bucket/results", "s3://bucket/results")
    assert task.outlets == [task.output_asset]


def test_an_asset_given_is_declared_once_beside_other_outlets() -> None:
    results, other = Asset("nightly_reviews", uri="s3://bucket/reviews"), Asset("s3://bucket/other")
    with DAG("assets_given", schedule=None):
        task = BifrostBatchJobOperator(
            task_id="job",
            output_uri="s3://bucket/{{ ds }}",  # templated: fine with an Asset given
            output_asset=results,
            outlets=[other, results],
            **JOB,
        )
    assert task.output_asset is results
    assert task.outlets == [other, results]


def test_without_output_asset_there_is_no_outlet() -> None:
    with DAG("assets_none", schedule=None):
        task = BifrostBatchResultsOperator(task_id="export", batch_id="b", output_uri="file:///tmp/out")
    assert task.output_asset is None and task.outlets == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"output_asset": "s3://bucket/x", "output_uri": "s3://bucket/x"}, "must be True, False or an airflow.sdk"),
        ({"output_asset": True}, "output_uri is not set"),
        ({"output_asset": Asset("s3://bucket/x")}, "output_uri is not set"),
        ({"output_asset": True, "output_uri": "s3://bucket/{{ ds }}"}, "pass the Asset yourself"),
        ({"output_asset": True, "output_uri": "s3:///no-bucket"}, "makes no valid Asset URI"),
    ],
)
def test_output_asset_is_checked_when_the_dag_is_parsed(arguments: dict[str, Any], message: str) -> None:
    with DAG("assets_bad", schedule=None), pytest.raises(BifrostConfigError, match=message) as results:
        BifrostBatchResultsOperator(task_id="export", batch_id="b", **arguments)
    assert "(export)" in str(results.value)
    with DAG("assets_bad_job", schedule=None), pytest.raises(BifrostConfigError, match=message) as job:
        BifrostBatchJobOperator(task_id="job", **{**JOB, **arguments})
    assert "task_id='job'" in str(job.value)


# -- the event's extra --------------------------------------------------------------------------


def batch_manifest(**changes: Any) -> dict[str, Any]:
    folder = "s3://bucket/results/batch_1"
    manifest = Manifest(
        batch_id="batch_1",
        provider="openai",
        status="completed",
        output_uri=folder,
        output_conn_id="aws_prod",
        shards=[Shard(f"{folder}/part-00000.jsonl", 6, 600), Shard(f"{folder}/part-00001.jsonl", 4, 400)],
        counts=ExportCounts(results=10, succeeded=8, from_error_file=1, parse_errors=0, expected=10),
        compression=None,
        results_per_file=6,
        **{"usage": USAGE, **changes},
    )
    return manifest.to_dict()


def job_manifest(parts: int, **changes: Any) -> dict[str, Any]:
    folder = "file:///data/out/job-0123456789abcdef"
    shard = f"{folder}/part-00000.jsonl"
    entries = [PartEntry(i + 1, f"batch_{i}", "completed", 10, 10, 9, 0, [shard]) for i in range(parts)]
    manifest = JobManifest(
        job_id="job-0123456789abcdef",
        provider="openai",
        output_uri=folder,
        output_conn_id=None,
        shards=[Shard(f"{folder}/part-00000.jsonl", 10 * parts, 1000 * parts)],
        counts=JobCounts(10 * parts, 9 * parts, 0, 0, 10 * parts, missing=0, unexpected=0, duplicated=0),
        parts=entries,
        compression=None,
        results_per_file=None,
        **changes,
    )
    return manifest.to_dict()


def test_a_batch_exports_key_figures() -> None:
    manifest = batch_manifest()
    extra = asset_extra(manifest)
    assert extra == {
        "manifest_uri": "s3://bucket/results/batch_1/_manifest.json",
        "output_uri": "s3://bucket/results/batch_1",
        "output_conn_id": "aws_prod",
        "provider": "openai",
        "batch_id": "batch_1",
        "status": "completed",
        "partial": False,
        "counts": manifest["counts"],
        "files": 2,
        "bytes": 1000,
        "usage": USAGE["total"],
        "exported_at": manifest["exported_at"],
    }
    assert extra["counts"]["errored"] == 2
    assert json.loads(json.dumps(extra)) == extra  # JSON for the metadata database


def test_a_batch_without_usage_counted() -> None:
    assert asset_extra(batch_manifest(usage=None, partial=True))["usage"] is None
    assert asset_extra(batch_manifest(usage=None, partial=True))["partial"] is True


def test_a_job_exports_its_batches_bounded() -> None:
    extra = asset_extra(job_manifest(EXTRA_BATCH_IDS + 5))
    assert (extra["job_id"], extra["batches"]) == ("job-0123456789abcdef", EXTRA_BATCH_IDS + 5)
    assert extra["batch_ids"] == [f"batch_{i}" for i in range(EXTRA_BATCH_IDS)]
    assert extra["counts"]["missing"] == 0 and extra["counts"]["results"] == 10 * (EXTRA_BATCH_IDS + 5)
    assert extra["manifest_uri"] == "file:///data/out/job-0123456789abcdef/_manifest.json"
    assert "batch_id" not in extra and "rounds" not in extra and "still_failing" not in extra


def test_a_job_with_resubmission_counts_its_rounds_and_what_still_fails() -> None:
    rounds = [{"round": 0, "requests": 30, "resubmitted": 4}, {"round": 1, "requests": 4, "resubmitted": 0}]
    still = {"requests": 2, "reasons": {"server_error": 2}, "first_ids": ["a", "b"]}
    extra = asset_extra(job_manifest(3, rounds=rounds, still_failing=still))
    assert (extra["rounds"], extra["still_failing"]) == (1, 2)
    assert asset_extra(job_manifest(1, rounds=[], still_failing=None))["rounds"] == 0


def test_the_extra_holds_no_secret_of_the_storage() -> None:
    """The connection's id names it; its credentials stay in the connection."""
    text = json.dumps(asset_extra(batch_manifest()))
    assert "aws_prod" in text and "password" not in text and "secret" not in text


def test_announce_sets_the_outlet_event_extra(caplog: pytest.LogCaptureFixture) -> None:
    asset = Asset("s3://bucket/results")
    events = OutletEventAccessors()
    log = logging.getLogger("test_assets")
    with caplog.at_level(logging.INFO, logger="test_assets"):
        announce({"outlet_events": events}, asset, batch_manifest(), log)
    assert events[Asset("s3://bucket/results")].extra["batch_id"] == "batch_1"
    assert "Asset s3://bucket/results: an event with" in caplog.text
    quiet = OutletEventAccessors()
    announce({"outlet_events": quiet}, None, batch_manifest(), log)
    assert quiet[asset].extra == {}


def test_no_machine_path_in_the_uri_of_a_relative_path() -> None:
    """Control of the relative case: the directory it is made absolute against is the current one."""
    assert asset_uri("out") == f"file://{os.getcwd()}/out"
