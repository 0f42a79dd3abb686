"""BifrostBatchResultsOperator exporting to s3:// (moto in server mode on loopback): shards, gzip, retries, errors."""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
import httpx
import pytest
import s3fs
from airflow.sdk.io.store import _STORE_CACHE

from airflow_provider_bifrost.exceptions import BifrostConfigError, BifrostTransportError
from airflow_provider_bifrost.hooks.bifrost import BifrostHook
from airflow_provider_bifrost.operators.bifrost import BifrostBatchResultsOperator
from airflow_provider_bifrost.storage.manifest import iter_result_items, read_manifest
from airflow_provider_bifrost.storage.paths import storage_path

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from airflow_provider_bifrost.testing.emulator import EmulatorClient

    from .conftest import RecordedSleeps

AWS_CONN_ID = "aws_moto"
REGION = "us-east-1"
CONTEXT: Any = {}
SHARD = re.compile(r"^part-\d{5}\.jsonl$")


@dataclass(frozen=True)
class Bucket:
    """The test's bucket on the moto server, inspected through boto3 (not through the code under test)."""

    client: Any
    name: str
    endpoint: str

    def keys(self, prefix: str = "") -> list[str]:
        """Every object key under ``prefix``, sorted."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def body(self, key: str) -> bytes:
        """An object's content."""
        data: bytes = self.client.get_object(Bucket=self.name, Key=key)["Body"].read()
        return data

    def put(self, key: str, body: bytes) -> None:
        """Write an object directly (what an earlier attempt or someone else left)."""
        self.client.put_object(Bucket=self.name, Key=key, Body=body)

    def buckets(self) -> list[str]:
        """Every bucket on the server, sorted."""
        return sorted(bucket["Name"] for bucket in self.client.list_buckets()["Buckets"])


def _forget_cached_filesystems() -> None:
    """Drop the ObjectStoragePath store and s3fs instances cached for the moto connection."""
    _STORE_CACHE.pop(f"s3-{AWS_CONN_ID}", None)
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Bucket]:
    """A fresh bucket on a reset moto server, and the Airflow connection ``aws_moto`` pointing at it only."""
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    # No shared config, credentials file or instance metadata of the machine: the connection is all there is.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    conn = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": moto_endpoint, "region_name": REGION},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{AWS_CONN_ID.upper()}", json.dumps(conn))
    httpx.post(f"{moto_endpoint}/moto-api/reset").raise_for_status()
    _forget_cached_filesystems()
    client = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name=REGION,
    )
    name = f"bifrost-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    fs = storage_path(f"s3://{name}", AWS_CONN_ID).fs
    assert fs.endpoint_url == moto_endpoint, "the aws_moto connection must lead to moto, never to AWS"
    yield Bucket(client=client, name=name, endpoint=moto_endpoint)
    _forget_cached_filesystems()


@pytest.fixture(autouse=True)
def bifrost_default(emulator: EmulatorClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Bifrost connection: the emulator, one retry for a broken results stream."""
    conn = {"conn_type": "bifrost", "host": emulator.url, "extra": {"default_provider": "openai", "max_retries": 1}}
    monkeypatch.setenv("AIRFLOW_CONN_BIFROST_DEFAULT", json.dumps(conn))


def finished(emulator: EmulatorClient, **kwargs: Any) -> str:
    """A completed OpenAI batch on the emulator; its id."""
    batch = emulator.add_batch("openai", manual=True, **kwargs)
    emulator.set_status(batch["id"], "completed")
    return str(batch["id"])


def export(batch_id: str, sleeps: RecordedSleeps | None = None, **kwargs: Any) -> Any:
    """
    Run the operator with the moto connection as ``output_conn_id``.

    :param sleeps: if given, backoff waits are recorded there instead of slept (the retry budget is
        still the connection's).
    """
    operator = BifrostBatchResultsOperator(task_id="export", batch_id=batch_id, output_conn_id=AWS_CONN_ID, **kwargs)
    if sleeps is not None:
        policy = dataclasses.replace(BifrostHook().retry_policy, sleep=sleeps)
        operator.hook = BifrostHook(retry_policy=policy)
    return operator.execute(CONTEXT)


def key_of(uri: str, bucket: Bucket) -> str:
    """The object key a manifest URI names (``s3://[conn_id@]bucket/key``), checking the bucket."""
    parts = urlsplit(uri)
    assert (parts.scheme, parts.hostname) == ("s3", bucket.name), uri
    return parts.path.lstrip("/")


def expected_ids(count: int) -> list[str]:
    """The custom ids of a batch of ``count`` requests, sorted."""
    return sorted(f"request-{i}" for i in range(count))


def test_sharded_export_to_s3(emulator: EmulatorClient, bucket: Bucket) -> None:
    batch_id = finished(emulator, requests=1000, failed=30)
    manifest = export(batch_id, output_uri=f"s3://{bucket.name}/exports/run-1", results_per_file=400)
    folder = f"exports/run-1/{batch_id}"
    shards = [f"{folder}/part-0000{i}.jsonl" for i in range(3)]
    assert bucket.keys() == [f"{folder}/_manifest.json", *shards]
    assert manifest["counts"] == {
        "results": 1000,
        "succeeded": 970,
        "errored": 30,
        "from_error_file": 30,
        "parse_errors": 0,
        "expected": 1000,
    }
    assert [key_of(uri, bucket) for uri in manifest["files"]] == shards
    assert [s["items"] for s in manifest["shards"]] == [400, 400, 200]
    for shard, key in zip(manifest["shards"], shards, strict=True):
        body = bucket.body(key)
        assert (shard["bytes"], len(body.splitlines())) == (len(body), shard["items"])
    assert manifest["bytes"] == sum(len(bucket.body(key)) for key in shards)
    assert json.loads(bucket.body(f"{folder}/_manifest.json")) == manifest
    assert read_manifest(f"s3://{bucket.name}/{folder}", AWS_CONN_ID) == manifest
    ids = [item["custom_id"] for item in iter_result_items(manifest, conn_id=AWS_CONN_ID)]
    assert len(ids) == 1000 and sorted(ids) == expected_ids(1000)


def test_gzip_export_to_s3(emulator: EmulatorClient, bucket: Bucket) -> None:
    batch_id = finished(emulator, requests=700, failed=7)
    manifest = export(batch_id, output_uri=f"s3://{bucket.name}/gz/", results_per_file=300, compression="gzip")
    folder = f"gz/{batch_id}"
    shards = [f"{folder}/part-0000{i}.jsonl.gz" for i in range(3)]
    assert bucket.keys() == [f"{folder}/_manifest.json", *shards]
    assert manifest["compression"] == "gzip"
    items: list[dict[str, Any]] = []
    for shard, key in zip(manifest["shards"], shards, strict=True):
        body = bucket.body(key)
        assert body[:2] == b"\x1f\x8b" and shard["bytes"] == len(body)
        lines = gzip.decompress(body).splitlines()
        assert len(lines) == shard["items"]
        items.extend(json.loads(line) for line in lines)
    assert [s["items"] for s in manifest["shards"]] == [300, 300, 100]
    assert sorted(item["custom_id"] for item in items) == expected_ids(700)
    assert sum(item["response"]["status_code"] != 200 for item in items) == 7
    back = iter_result_items(f"s3://{bucket.name}/{folder}/_manifest.json", conn_id=AWS_CONN_ID)
    assert [item["custom_id"] for item in back] == [item["custom_id"] for item in items]


def test_broken_stream_leaves_nothing_then_the_retry_is_exact(
    emulator: EmulatorClient, bucket: Bucket, sleeps: RecordedSleeps
) -> None:
    batch_id = finished(emulator, requests=1000, failed=30)
    uri = f"s3://{bucket.name}/retry"
    folder = f"retry/{batch_id}"
    # Both attempts the connection allows (max_retries 1) break mid-stream. The client reads the body in
    # 256 KiB blocks: cut at 300 kB (of ~375 kB), the first ~670 items arrive, so shard 0 was complete.
    emulator.add_fault("truncate", path="/results$", bytes=300_000, times=2)
    with pytest.raises(BifrostTransportError):
        export(batch_id, sleeps=sleeps, output_uri=uri, results_per_file=400)
    assert len(sleeps) == 1
    assert bucket.keys(f"{folder}/") == []  # a failed export leaves no shard, complete or not
    emulator.clear_faults()
    manifest = export(batch_id, output_uri=uri, results_per_file=400)
    assert manifest["counts"]["results"] == 1000 and manifest["counts"]["from_error_file"] == 30
    assert bucket.keys() == [f"{folder}/_manifest.json", *(f"{folder}/part-0000{i}.jsonl" for i in range(3))]
    ids = [item["custom_id"] for item in iter_result_items(manifest, conn_id=AWS_CONN_ID)]
    assert len(ids) == 1000 and sorted(ids) == expected_ids(1000)


def test_missing_bucket_is_a_clear_error_and_creates_nothing(emulator: EmulatorClient, bucket: Bucket) -> None:
    batch_id = finished(emulator, requests=10)
    missing = f"bifrost-missing-{uuid.uuid4().hex[:8]}"
    before = bucket.buckets()
    with pytest.raises(BifrostConfigError, match=rf"bucket '{missing}' does not exist.*never creates buckets"):
        export(batch_id, output_uri=f"s3://{missing}/exports")
    assert bucket.buckets() == before
    assert bucket.keys() == []


def test_empty_batch_to_s3_gives_an_empty_manifest(emulator: EmulatorClient, bucket: Bucket) -> None:
    batch_id = finished(emulator, requests=0)
    manifest = export(batch_id, output_uri=f"s3://{bucket.name}/empty")
    assert manifest["files"] == [] and manifest["counts"]["results"] == 0
    assert bucket.keys() == [f"empty/{batch_id}/_manifest.json"]


def test_export_into_a_used_prefix_replaces_what_an_earlier_attempt_left(
    emulator: EmulatorClient, bucket: Bucket
) -> None:
    batch_id = finished(emulator, requests=100)
    folder = f"used/{batch_id}"
    bucket.put(f"{folder}/part-00007.jsonl", b"{}\n")  # from an earlier attempt with other settings
    bucket.put(f"{folder}/.part-00000.jsonl.0123456789ab.tmp", b"half")  # from a killed worker
    bucket.put(f"{folder}/notes.txt", b"not ours")
    manifest = export(batch_id, output_uri=f"s3://{bucket.name}/used", results_per_file=60)
    assert bucket.keys() == [
        f"{folder}/{name}" for name in ("_manifest.json", "notes.txt", "part-00000.jsonl", "part-00001.jsonl")
    ]
    assert [s["items"] for s in manifest["shards"]] == [60, 40]
    assert bucket.body(f"{folder}/notes.txt") == b"not ours"
    ids = [item["custom_id"] for item in iter_result_items(manifest, conn_id=AWS_CONN_ID)]
    assert sorted(ids) == expected_ids(100)
