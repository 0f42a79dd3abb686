"""BifrostCreateBatchOperator against the emulator: validation, inputs, waiting, and never a duplicate batch."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_bifrost.exceptions import BifrostConfigError
from airflow_provider_bifrost.idempotency import TI_KEY_FIELD, TI_NAME_FIELD, task_instance_tag
from airflow_provider_bifrost.operators.bifrost import BifrostCreateBatchOperator
from airflow_provider_bifrost.operators.create import BATCH_STATE_KEY
from airflow_provider_bifrost.outcome.events import make_event
from airflow_provider_bifrost.triggers.bifrost import BifrostBatchTrigger
from airflow_provider_bifrost.version_compat import AIRFLOW_V_3_3_PLUS, AirflowFailException, TaskDeferred

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_provider_bifrost.testing.emulator import EmulatorClient

REQUESTS = [
    {"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini"}}
    for i in range(5)
]
OPENAI = {"model": "openai/gpt-4o-mini", "endpoint": "/v1/chat/completions"}
#: ResumableJobMixin saves the batch id in the task state store only on Airflow 3.3+.
needs_task_state_store = pytest.mark.skipif(
    not AIRFLOW_V_3_3_PLUS, reason="ResumableJobMixin's task_state_store needs Airflow 3.3+"
)


class StateStore(dict[str, Any]):
    """The task state store's interface (Airflow 3.3), kept in a dict."""

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        self[key] = value


@dataclass
class TaskInstance:
    dag_id: str = "pipeline"
    task_id: str = "create"
    run_id: str = "manual__1"
    map_index: int = -1
    try_number: int = 1
    stats_tags: dict[str, str] = field(default_factory=dict)
    xcom: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def context(ti: TaskInstance | None = None, store: StateStore | None = None) -> Any:
    started = datetime.now(timezone.utc).replace(year=2020)
    return {
        "ti": ti or TaskInstance(),
        "task_state_store": store if store is not None else StateStore(),
        "dag_run": SimpleNamespace(queued_at=started, start_date=started),
    }


@pytest.fixture(autouse=True)
def bifrost_default(emulator: EmulatorClient, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "bifrost", "host": emulator.url, "extra": {"max_retries": 1}}
    monkeypatch.setenv("AIRFLOW_CONN_BIFROST_DEFAULT", json.dumps(conn))


def create(**kwargs: Any) -> BifrostCreateBatchOperator:
    arguments: dict[str, Any] = {"task_id": "create", **OPENAI, "requests": REQUESTS, "poll_interval": 0.05}
    arguments.update(kwargs)
    return BifrostCreateBatchOperator(**arguments)


# -- validation when the DAG is parsed ------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"requests": None}, r"give exactly one of input_file_id, input_uri or requests \(got none\)"),
        ({"input_file_id": "file-1"}, r"give exactly one of .* \(got input_file_id and requests\)"),
        ({"input_uri": "s3://b/in.jsonl"}, r"\(got input_uri and requests\)"),
        ({"model": ""}, r"model is required"),
        ({"model": "cohere/command-r"}, r"provider 'cohere' has no batch API in Bifrost"),
        ({"model": "openai/gpt-4o", "provider": "anthropic"}, r"names provider 'openai' but provider is 'anthropic'"),
        ({"endpoint": None}, r"endpoint is required for provider 'openai'"),
        ({"model": "gpt-4o", "provider": "openai", "endpoint": None}, r"endpoint is required for provider 'openai'"),
        ({"endpoint": "/v1/chat"}, r"endpoint '/v1/chat' is not one of"),
        ({"requests": []}, r"requests must be a non-empty list"),
        ({"requests": [{"method": "POST", "body": {}}]}, r"requests\[0\] has no custom_id"),
        ({"requests": [REQUESTS[0], REQUESTS[0]]}, r"requests\[1\] repeats custom_id 'r0'"),
        ({"requests": [{"custom_id": "x"}]}, r"requests\[0\] \('x'\) has no body"),
        ({"requests": ["r0"]}, r"requests\[0\] is a str, not a dict"),
        ({"metadata": {"team": 1}}, r"metadata must be a dict of strings to strings"),
        ({"metadata": {"airflow_ti": "mine"}}, r"metadata keys starting with 'airflow_' are reserved"),
        ({"completion_window": ""}, r"completion_window must be a duration"),
        ({"poll_interval": 0}, r"poll_interval must be a positive number of seconds, got 0"),
        ({"timeout": -5}, r"timeout must be a positive number of seconds, got -5"),
        ({"input_file_id": "None", "requests": None}, r"input_file_id is the text 'None'"),
        ({"model": "anthropic/claude", "endpoint": None, "requests": None, "input_file_id": "f"}, r"takes requests"),
        ({"model": "bedrock/m", "endpoint": None}, r"'bedrock' needs output_s3_uri"),
        ({"extra_body": {"endpoint": "/v1/embeddings"}}, r"extra_body sets \['endpoint'\]: pass them as"),
        ({"extra_body": ["role_arn"]}, r"extra_body must be a dict"),
        ({"output_folder": ""}, r"output_folder must be a non-empty string"),
    ],
)
def test_invalid_arguments_are_rejected_at_parse_time_naming_the_parameter(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(BifrostConfigError, match=message) as raised:
        create(**kwargs)
    assert "BifrostCreateBatchOperator(task_id='create')" in str(raised.value)


def test_an_unknown_provider_is_refused_before_anything_is_sent(emulator: EmulatorClient) -> None:
    """When the DAG is parsed it may be a custom provider of the gateway: the connection says when the task runs."""
    operator = create(model="gpt-4o-mini", provider="opneai")
    with pytest.raises(BifrostConfigError, match=r"provider 'opneai' is not a Bifrost provider.*Did you mean 'openai'"):
        operator.execute(context())
    assert emulator.requests() == []


def test_templated_values_are_checked_once_rendered(emulator: EmulatorClient) -> None:
    operator = create(requests=None, input_file_id="{{ params.file_id }}")  # fine at parse time
    operator.input_file_id = "  "  # what the template rendered
    with pytest.raises(BifrostConfigError, match=r"give exactly one of .* \(got none\)"):
        operator.execute(context())
    assert emulator.batches() == []


def test_the_anthropic_style_needs_no_endpoint(emulator: EmulatorClient) -> None:
    requests = [{"custom_id": "a", "params": {"model": "claude", "max_tokens": 5, "messages": []}}]
    batch_id = create(model="anthropic/claude-3-5-haiku", endpoint=None, requests=requests).execute(context())
    assert [b["id"] for b in emulator.batches()] == [batch_id]


# -- inputs -------------------------------------------------------------------------------------


@needs_task_state_store
def test_inline_requests_create_one_tagged_batch_and_save_its_id(emulator: EmulatorClient) -> None:
    store = StateStore()
    ctx = context(store=store)
    batch_id = create(metadata={"team": "search"}).execute(ctx)
    (batch,) = emulator.batches()
    assert batch["id"] == batch_id and store[BATCH_STATE_KEY] == batch_id
    key, name = task_instance_tag(ctx)
    assert batch["metadata"] == {"team": "search", TI_KEY_FIELD: key, TI_NAME_FIELD: name}
    assert name == "pipeline.create run_id=manual__1"


def test_input_uri_is_uploaded_then_used(emulator: EmulatorClient, tmp_path: Path) -> None:
    source = tmp_path / "requests.jsonl"
    source.write_text("".join(json.dumps(request) + "\n" for request in REQUESTS))
    batch_id = create(requests=None, input_uri=f"file://{source}").execute(context())
    uploads = emulator.requests(r"^/v1/files$", method="POST")
    assert len(uploads) == 1 and uploads[0]["status"] == 200
    (batch,) = emulator.batches()
    assert batch["id"] == batch_id and batch["input_file_id"] and batch["request_counts"]["total"] == 5


def test_input_file_id_is_passed_through(emulator: EmulatorClient, tmp_path: Path) -> None:
    source = tmp_path / "requests.jsonl"
    source.write_text("".join(json.dumps(request) + "\n" for request in REQUESTS))
    file_id = create().hook.upload_file(source, "openai").id
    create(requests=None, input_file_id=file_id).execute(context())
    (batch,) = emulator.batches()
    assert batch["input_file_id"] == file_id


def test_a_missing_input_uri_fails_before_creating_anything(emulator: EmulatorClient, tmp_path: Path) -> None:
    with pytest.raises(BifrostConfigError, match="is not a file"):
        create(requests=None, input_uri=f"file://{tmp_path}/missing.jsonl").execute(context())
    assert emulator.batches() == []


# -- waiting ------------------------------------------------------------------------------------


def test_wait_in_the_worker_returns_the_id_and_pushes_the_summary(emulator: EmulatorClient) -> None:
    ti = TaskInstance()
    batch_id = create(wait_for_completion=True, deferrable=False).execute(context(ti))
    assert ti.xcom["batch"]["batch_id"] == batch_id and ti.xcom["batch"]["status"] == "completed"


def test_wait_deferred_hands_the_batch_to_the_trigger(emulator: EmulatorClient) -> None:
    emulator.configure(manual=True)
    operator = create(wait_for_completion=True, timeout=600, cancel_on_kill=True)
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, BifrostBatchTrigger)
    (batch,) = emulator.batches()
    _, kwargs = trigger.serialize()
    assert kwargs["batch_id"] == batch["id"] and kwargs["cancel_on_kill"] is True
    assert kwargs["bifrost_conn_id"] == "bifrost_default" and kwargs["provider"] == "openai"
    assert deferred.value.method_name == "execute_complete"


def test_a_failed_batch_fails_the_task_without_retries(emulator: EmulatorClient) -> None:
    emulator.configure(outcome="failed")
    with pytest.raises(AirflowFailException, match="ended failed"):
        create(wait_for_completion=True, deferrable=False).execute(context())


def test_timeout_in_the_worker_cancels_the_batch(emulator: EmulatorClient) -> None:
    emulator.configure(manual=True)
    with pytest.raises(AirflowFailException, match=r"did not finish within timeout=0.3 s: .*; cancelled it"):
        create(wait_for_completion=True, deferrable=False, timeout=0.3).execute(context())
    (batch,) = emulator.batches()
    assert batch["status"] in ("cancelling", "cancelled")


def test_timeout_event_cancels_the_batch_unless_told_not_to(emulator: EmulatorClient) -> None:
    emulator.configure(manual=True)
    for cancel in (False, True):
        hook = create(task_id=f"keep_{cancel}").hook
        batch_id = hook.create_batch(model=OPENAI["model"], endpoint=OPENAI["endpoint"], requests=REQUESTS).id
        event = make_event("timeout", batch_id, "openai", message="still in_progress at the deadline")
        with pytest.raises(AirflowFailException, match="did not finish within timeout"):
            create(cancel_on_timeout=cancel).execute_complete(context(), event)
        status = next(b["status"] for b in emulator.batches() if b["id"] == batch_id)
        assert (status in ("cancelling", "cancelled")) is cancel


def test_on_kill_cancels_the_batch_being_waited_for(emulator: EmulatorClient) -> None:
    emulator.configure(manual=True)
    for cancel in (False, True):
        emulator.reset()
        operator = create(
            wait_for_completion=True, deferrable=False, cancel_on_kill=cancel, cancel_on_timeout=False, timeout=1.5
        )
        outcome: list[BaseException] = []
        worker = threading.Thread(target=_run, args=(operator, outcome))
        worker.start()
        # Kill once the task polls its batch: by then it knows the id (the batch can exist a moment earlier).
        while not emulator.requests(r"^/v1/batches/[^/]+$", method="GET"):
            time.sleep(0.02)
        operator.on_kill()
        worker.join()
        (batch,) = emulator.batches()
        assert (batch["status"] in ("cancelling", "cancelled")) is cancel
        assert isinstance(outcome[0], AirflowFailException)


def _run(operator: BifrostCreateBatchOperator, outcome: list[BaseException]) -> None:
    try:
        operator.execute(context())
    except BaseException as exc:
        outcome.append(exc)


# -- retries: never a duplicate batch -----------------------------------------------------------


@needs_task_state_store
@pytest.mark.parametrize(
    ("status", "reattached"),
    [
        ("in_progress", True),
        ("validating", True),
        ("completed", True),
        ("failed", False),
        ("expired", False),
        ("cancelled", False),
        ("cancelling", False),
    ],
)
def test_a_retry_reattaches_to_a_running_or_completed_batch_else_submits_anew(
    emulator: EmulatorClient, status: str, reattached: bool
) -> None:
    emulator.configure(manual=True)
    store = StateStore()
    first = create().execute(context(store=store))
    emulator.set_status(first, status)
    retry = create().execute(context(TaskInstance(try_number=2), store))
    assert (retry == first) is reattached
    assert len(emulator.batches()) == (1 if reattached else 2)
    assert store[BATCH_STATE_KEY] == retry


def test_a_retry_submits_anew_when_the_saved_batch_is_gone(emulator: EmulatorClient) -> None:
    store = StateStore({BATCH_STATE_KEY: "batch_that_the_gateway_forgot"})
    batch_id = create().execute(context(TaskInstance(try_number=2), store))
    assert [b["id"] for b in emulator.batches()] == [batch_id]


def test_a_retry_finds_the_batch_by_its_tag_when_no_id_was_saved(emulator: EmulatorClient) -> None:
    emulator.configure(manual=True)
    first = create().execute(context(store=StateStore()))  # the id was never saved: the worker died first
    other_run = create().execute(context(TaskInstance(run_id="manual__2"), StateStore()))
    retry = create().execute(context(TaskInstance(try_number=2), StateStore()))
    assert retry == first != other_run
    assert len(emulator.batches()) == 2


@needs_task_state_store
def test_a_lost_create_answer_is_found_by_its_tag_in_the_same_try(emulator: EmulatorClient) -> None:
    emulator.add_fault("lose_response", method="POST", path=r"^/v1/batches$", times=1)
    store = StateStore()
    batch_id = create().execute(context(store=store))
    assert [b["id"] for b in emulator.batches()] == [batch_id] and store[BATCH_STATE_KEY] == batch_id
    assert [r["fault"] for r in emulator.requests(r"^/v1/batches$", method="POST")] == ["lose_response"]


def test_mapped_task_instances_are_told_apart() -> None:
    first = task_instance_tag(context(TaskInstance(map_index=0)))
    second = task_instance_tag(context(TaskInstance(map_index=1)))
    assert first[0] != second[0] and first[1].endswith("map_index=0")
