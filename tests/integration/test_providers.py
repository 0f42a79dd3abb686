"""
Every batch provider end to end, against the emulator shaped like the gateway for each one: the pipeline
under dag.test(), ids with '/', the results rules, the create refusals, a lost create answer.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
from airflow.dag_processing.dagbag import DagBag

from airflow_provider_bifrost.exceptions import (
    BifrostConfigError,
    BifrostOperationError,
    BifrostResultsNotReadyError,
)
from airflow_provider_bifrost.idempotency import BifrostDuplicateCandidatesError
from airflow_provider_bifrost.operators.bifrost import BifrostBatchResultsOperator, BifrostCreateBatchOperator
from airflow_provider_bifrost.providers import PROFILES
from airflow_provider_bifrost.storage.manifest import iter_result_items
from airflow_provider_bifrost.storage.paths import folder_name
from airflow_provider_bifrost.version_compat import AirflowFailException
from tests.dags.bifrost_provider_dags import COUNT, PROVIDERS

if TYPE_CHECKING:
    from airflow_provider_bifrost.testing.emulator import EmulatorClient

DAGS = Path(__file__).parents[1] / "dags" / "bifrost_provider_dags.py"
ID_SHAPES = {
    "openai": r"batch_\w+",
    "azure": r"batch_\w+",
    "anthropic": r"msgbatch_\w+",
    "bedrock": r"arn:aws:bedrock:[\w-]+:\d+:model-invocation-job/\w+",
    "gemini": r"batches/\w+",
    "vertex": r"projects/[\w-]+/locations/[\w-]+/batchPredictionJobs/\d+",
}


@pytest.fixture
def gateway(emulator: EmulatorClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> EmulatorClient:
    monkeypatch.setenv("AIRFLOW_CONN_BIFROST_DEFAULT", json.dumps({"conn_type": "bifrost", "host": emulator.url}))
    monkeypatch.setenv("AIRFLOW_VAR_BIFROST_OUTPUT_URI", f"file://{tmp_path}/out")
    emulator.configure(timeline=(0.1, 0.6, 0.1))
    return emulator


@pytest.fixture(scope="module")
def provider_dags() -> DagBag:
    bag = DagBag(dag_folder=str(DAGS))
    assert not bag.import_errors, bag.import_errors
    return bag


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_the_whole_pipeline_on_every_provider(
    provider: str, provider_dags: DagBag, gateway: EmulatorClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.perf_counter()
    run = provider_dags.get_dag(f"bifrost_provider_{provider}").test()
    wall = time.perf_counter() - started
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    (batch,) = gateway.batches()
    assert re.fullmatch(ID_SHAPES[provider], batch["id"]), batch["id"]
    seen = run.get_task_instance("read_back").xcom_pull(task_ids="read_back")
    assert seen["batch_id"] == batch["id"]
    assert seen["custom_ids"] == sorted(f"q{i}" for i in range(COUNT))
    assert seen["counts"]["results"] == seen["counts"]["succeeded"] == COUNT
    assert seen["output_uri"] == f"file://{tmp_path}/out/{folder_name(batch['id'])}"
    requests = gateway.requests()
    with capsys.disabled():  # the figures the issue asks for: wall time and requests sent, per provider
        routes: dict[str, int] = {}
        for entry in requests:
            route = re.sub(r"/v1/(batches|files)/.+?(/results|/cancel|/content)?$", r"/v1/\1/{id}\2", entry["path"])
            routes[f"{entry['method']} {route}"] = routes.get(f"{entry['method']} {route}", 0) + 1
        print(f"\n[provider pipeline] {provider}: dag.test() {wall:.1f} s, {len(requests)} requests {routes}")


def context(try_number: int = 1) -> Any:
    ti = SimpleNamespace(
        dag_id="providers",
        task_id="create",
        run_id="manual__1",
        map_index=-1,
        try_number=try_number,
        stats_tags={},
        xcom_push=lambda key, value: None,
    )
    return {
        "ti": ti,
        "task_state_store": SimpleNamespace(get=lambda key, default=None: default, set=lambda *a, **k: None),
    }


def create(shape: str, **changes: Any) -> BifrostCreateBatchOperator:
    """A create task with what provider ``shape``'s batches need, changed by ``changes``."""
    return BifrostCreateBatchOperator(task_id="create", **{**PROVIDERS[shape], **changes})


# -- never a duplicate ----------------------------------------------------------------------------


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_a_lost_create_answer_leaves_exactly_one_batch(gateway: EmulatorClient, provider: str) -> None:
    gateway.add_fault("lose_response", method="POST", path=r"^/v1/batches$", times=1)
    batch_id = create(provider).execute(context())
    (batch,) = gateway.batches()
    assert batch_id == batch["id"]
    lookups = gateway.requests(r"^/v1/batches$", method="GET")
    assert 1 <= len(lookups) <= (1 if not PROFILES[provider].list_pagination else 50)


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_a_retry_reattaches_to_the_batch_of_the_first_try(gateway: EmulatorClient, provider: str) -> None:
    first = create(provider).execute(context())
    again = create(provider).execute(context(try_number=2))
    assert again == first
    assert [batch["id"] for batch in gateway.batches()] == [first]


@pytest.mark.parametrize("provider", sorted(name for name, profile in PROFILES.items() if profile.tag_field is None))
def test_several_fingerprint_matches_stop_the_task_naming_them(gateway: EmulatorClient, provider: str) -> None:
    """Where nothing survives, a look-alike batch of the same size makes the lookup ambiguous: no second batch."""
    other = gateway.add_batch(provider, requests=COUNT, manual=True)
    gateway.add_fault("lose_response", method="POST", path=r"^/v1/batches$", times=1)
    with pytest.raises(BifrostDuplicateCandidatesError, match=re.escape(other["id"])) as raised:
        create(provider).execute(context())
    assert isinstance(raised.value, AirflowFailException)
    assert "Cancel the ones that are not this task's" in str(raised.value)
    assert len(gateway.batches()) == 2
    gateway.set_status(other["id"], "cancelled")  # the advice, followed: the look-alike is no candidate any more
    mine = next(batch["id"] for batch in gateway.batches() if batch["id"] != other["id"])
    assert create(provider).execute(context(try_number=2)) == mine
    assert len(gateway.batches()) == 2


def test_the_bedrock_job_and_the_vertex_display_name_carry_the_tag(gateway: EmulatorClient) -> None:
    create("bedrock").execute(context())
    create("vertex", display_name="nightly eval").execute(context())
    bedrock, vertex = gateway.batches()
    assert bedrock["metadata"]["job_name"].startswith("airflow-")
    assert vertex["display_name"].startswith("nightly eval airflow-")


def test_a_listing_that_ignores_its_cursor_is_read_once(gateway: EmulatorClient) -> None:
    for _ in range(3):
        gateway.add_batch("anthropic", requests=2, manual=True)
    from airflow_provider_bifrost.hooks.bifrost import BifrostHook

    listed = list(BifrostHook().iter_batches("anthropic", page_size=2))
    assert len(listed) == 2 and len({batch.id for batch in listed}) == 2
    assert len(gateway.requests(r"^/v1/batches$")) == 2, "the repeated page ends the listing"


# -- create refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "changes", "message"),
    [
        ("anthropic", {"requests": None, "input_file_id": "file-1"}, "takes requests as its batch input"),
        ("openai", {"endpoint": None}, "endpoint is required for provider 'openai'"),
        ("bedrock", {"extra_body": {"role_arn": "arn:aws:iam::1:role/r"}}, "needs output_s3_uri"),
        ("vertex", {"output_folder": None}, "needs output_folder"),
        ("bedrock", {"metadata": {"job_name": "mine"}}, "metadata 'job_name' names the Bedrock job"),
    ],
)
def test_what_the_gateway_would_refuse_is_refused_before_sending(
    gateway: EmulatorClient, provider: str, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(BifrostConfigError, match=re.escape(message)):
        create(provider, **changes).execute(context())
    assert gateway.requests() == []


def test_a_missing_bedrock_role_is_the_gateways_verdict_explained(gateway: EmulatorClient) -> None:
    operator = create("bedrock", extra_body={"output_s3_uri": "s3://bifrost-batch-output/results/"})
    with pytest.raises(BifrostOperationError, match="role_arn") as raised:
        operator.execute(context())
    assert "set it on its Bedrock key" in str(raised.value) or "on its Bedrock key" in str(raised.value)
    assert len(gateway.requests(r"^/v1/batches$", method="POST")) == 1, "the gateway's verdict is not retried"
    gateway.configure(bedrock_role_arn="arn:aws:iam::123456789012:role/HeldByTheGateway")
    assert create("bedrock", extra_body={"output_s3_uri": "s3://b/out/"}).execute(context())


def test_a_custom_provider_declared_in_the_connection_works(
    gateway: EmulatorClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway.configure(custom_providers={"corp-openai": "openai"})
    conn = {"conn_type": "bifrost", "host": gateway.url, "extra": {"providers": {"corp-openai": "openai"}}}
    monkeypatch.setenv("AIRFLOW_CONN_BIFROST_DEFAULT", json.dumps(conn))
    batch_id = create(
        "openai", model="corp-openai/gpt-4o-mini", wait_for_completion=True, deferrable=False, poll_interval=0.1
    ).execute(context())
    assert [batch["id"] for batch in gateway.batches()] == [batch_id]
    monkeypatch.setenv("AIRFLOW_CONN_BIFROST_DEFAULT", json.dumps({"conn_type": "bifrost", "host": gateway.url}))
    with pytest.raises(BifrostConfigError, match=r"'corp-openai' is not a Bifrost provider.*extra `providers`"):
        create("openai", model="gpt-4o-mini", provider="corp-openai").execute(context())


# -- results rules --------------------------------------------------------------------------------


def export(batch_id: str, provider: str, tmp_path: Path, **kwargs: Any) -> dict[str, Any]:
    operator = BifrostBatchResultsOperator(
        task_id="export", batch_id=batch_id, provider=provider, output_uri=f"file://{tmp_path}", **kwargs
    )
    manifest: dict[str, Any] = operator.execute({})
    return manifest


def test_an_all_failed_openai_batch_exports_its_error_file(gateway: EmulatorClient, tmp_path: Path) -> None:
    batch = gateway.add_batch("openai", requests=4, failed=4, manual=True)
    gateway.set_status(batch["id"], "completed")
    manifest = export(batch["id"], "openai", tmp_path)
    assert manifest["counts"] == {
        "results": 4,
        "succeeded": 0,
        "errored": 4,
        "from_error_file": 4,
        "parse_errors": 0,
        "expected": 4,
    }
    assert gateway.requests("/results$") == [], "no output file: the results route is not asked"
    assert sorted(item["custom_id"] for item in iter_result_items(manifest)) == [f"request-{i}" for i in range(4)]


def test_geminis_info_placeholder_is_no_results(gateway: EmulatorClient, tmp_path: Path) -> None:
    gateway.configure(gemini_info_placeholder=True)
    batch = gateway.add_batch("gemini", requests=3, manual=True, processed=0)
    gateway.set_status(batch["id"], "completed")
    manifest = export(batch["id"], "gemini", tmp_path)
    assert manifest["counts"]["results"] == 0 and manifest["files"] == []


def test_an_empty_bedrock_answer_is_not_ready_never_an_empty_success(gateway: EmulatorClient, tmp_path: Path) -> None:
    batch = gateway.add_batch("bedrock", requests=3, manual=True)
    gateway.set_status(batch["id"], "completed")
    empty = json.dumps({"batch_id": batch["id"], "results": [], "extra_fields": {"provider": "bedrock"}})
    gateway.add_fault("body", path="/results$", status=200, body=empty, times=1)
    with pytest.raises(BifrostResultsNotReadyError, match="writes them after the job ends"):
        export(batch["id"], "bedrock", tmp_path)
    assert not list(tmp_path.rglob("part-*")), "nothing under a final name"
    assert export(batch["id"], "bedrock", tmp_path)["counts"]["results"] == 3, "a retry exports them"


@pytest.mark.parametrize(("provider", "status", "processed"), [("openai", "expired", 5), ("openai", "cancelled", 4)])
def test_export_partial_exports_what_an_unfinished_batch_produced(
    gateway: EmulatorClient, tmp_path: Path, provider: str, status: str, processed: int
) -> None:
    batch = gateway.add_batch(provider, requests=8, failed=1, timeline=(0, 0, 0), outcome=status, processed=processed)
    with pytest.raises(AirflowFailException, match="Set export_partial=True to export what it did produce"):
        export(batch["id"], provider, tmp_path)
    manifest = export(batch["id"], provider, tmp_path, export_partial=True)
    assert manifest["partial"] is True and manifest["status"] == status
    assert manifest["counts"]["results"] == processed and manifest["counts"]["from_error_file"] == 1


def test_export_partial_on_a_partially_completed_bedrock_job(gateway: EmulatorClient, tmp_path: Path) -> None:
    batch = gateway.add_batch("bedrock", requests=6, failed=2, manual=True, outcome="failed")
    gateway.set_status(batch["id"], "failed")
    manifest = export(batch["id"], "bedrock", tmp_path, export_partial=True)
    assert manifest["partial"] is True and manifest["status"] == "failed"
    assert manifest["counts"]["results"] == 6 and manifest["counts"]["errored"] == 2
