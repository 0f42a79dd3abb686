"""
Submitting a job's parts against the emulator (over loopback): one tagged batch per part, its requests as a file
or inline, a lost create answer found again and never taken for another part's batch, an earlier try's parts.
"""

from __future__ import annotations

import json
import logging
import time
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_bifrost.exceptions import BifrostTransportError
from airflow_provider_bifrost.hooks.bifrost import BifrostHook
from airflow_provider_bifrost.hooks.retry import RetryPolicy
from airflow_provider_bifrost.idempotency import TI_KEY_FIELD, TI_NAME_FIELD, BifrostDuplicateCandidatesError
from airflow_provider_bifrost.jobs.ids import DigestRuns
from airflow_provider_bifrost.jobs.source import RequestSource
from airflow_provider_bifrost.jobs.split import make_plan
from airflow_provider_bifrost.jobs.state import JobState, job_identity, part_tag
from airflow_provider_bifrost.jobs.submit import PartSubmitter
from airflow_provider_bifrost.providers import PROFILES

if TYPE_CHECKING:
    from airflow_provider_bifrost.testing.emulator import EmulatorClient

log = logging.getLogger(__name__)
CONN_ID = "bifrost_jobs_submit"
CREATE = {
    "openai": {"model": "openai/gpt-4o-mini", "endpoint": "/v1/chat/completions", "completion_window": "24h"},
    "anthropic": {"model": "anthropic/claude-3-5-haiku", "completion_window": "24h"},
}


@pytest.fixture
def gateway(bifrost_emulator_session: EmulatorClient, monkeypatch: pytest.MonkeyPatch) -> EmulatorClient:
    emulator = bifrost_emulator_session
    emulator.reset(config=True)
    emulator.configure(manual=True)
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({"conn_type": "bifrost", "host": emulator.url}))
    return emulator


def context(try_number: int = 1) -> Any:
    ti = SimpleNamespace(dag_id="jobs", task_id="job", run_id="manual__1", map_index=-1, try_number=try_number)
    return {"ti": ti}


def requests(provider: str, count: int, start: int = 0) -> list[dict[str, Any]]:
    if provider == "anthropic":
        params = {"max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
        return [{"custom_id": f"r{i}", "params": params} for i in range(start, start + count)]
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    return [
        {"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions", "body": body}
        for i in range(start, start + count)
    ]


def job(provider: str, items: list[dict[str, Any]], max_requests: int) -> tuple[RequestSource, JobState]:
    source = RequestSource(requests=items)
    with DigestRuns() as ids:
        plan = make_plan(source, max_requests=max_requests, max_bytes=1 << 20, ids=ids)
    return source, JobState.new(job_identity(context())[0], provider, plan)


def submitter(provider: str, source: RequestSource, **kwargs: Any) -> PartSubmitter:
    hook = BifrostHook(CONN_ID, retry_policy=RetryPolicy(max_retries=0))
    arguments: dict[str, Any] = {"metadata": None, "display_name": None, **kwargs}
    return PartSubmitter(hook, PROFILES[provider], source, dict(CREATE[provider]), log=log, **arguments)


def test_an_openai_part_is_uploaded_as_a_file_and_tagged(gateway: EmulatorClient) -> None:
    source, state = job("openai", requests("openai", 5), max_requests=3)
    parts = submitter("openai", source, metadata={"team": "data"})
    parts.submit(context(), state, state.parts[1])
    (batch,) = gateway.batches()
    part = state.parts[1]
    assert (part.batch_id, part.status) == (batch["id"], batch["status"])
    assert part.request_counts["total"] == 2 and batch["request_counts"]["total"] == 2
    key, name = part_tag(*job_identity(context()), 1, "part 2/2")
    assert batch["metadata"] == {"team": "data", TI_KEY_FIELD: key, TI_NAME_FIELD: name}
    assert name.endswith(" part 2/2")
    (upload,) = gateway.requests(r"^/v1/files$", method="POST")
    assert upload["status"] == 200
    uploaded = b"".join(parts.hook.iter_file_content(batch["input_file_id"], "openai")).splitlines()
    assert [json.loads(line)["custom_id"] for line in uploaded] == ["r3", "r4"]
    assert state.parts[0].batch_id is None, "only the part asked for"


def test_an_anthropic_part_is_sent_inline(gateway: EmulatorClient) -> None:
    source, state = job("anthropic", requests("anthropic", 5), max_requests=3)
    submitter("anthropic", source).submit(context(), state, state.parts[0])
    (batch,) = gateway.batches()
    assert state.parts[0].batch_id == batch["id"] and batch["request_counts"]["total"] == 3
    assert gateway.requests(r"^/v1/files") == []
    (create,) = gateway.requests(r"^/v1/batches$", method="POST")
    assert create["status"] == 200


def test_a_lost_create_answer_is_found_by_its_tag(gateway: EmulatorClient) -> None:
    source, state = job("openai", requests("openai", 4), max_requests=2)
    parts = submitter("openai", source)
    parts.submit(context(), state, state.parts[0])
    gateway.add_fault("lose_response", method="POST", path=r"^/v1/batches$", times=1)
    parts.submit(context(), state, state.parts[1])
    assert len(gateway.batches()) == 2
    assert {part.batch_id for part in state.parts} == {batch["id"] for batch in gateway.batches()}


def test_a_lost_create_answer_of_an_untagged_provider_is_its_own_batch_not_a_look_alike(
    gateway: EmulatorClient,
) -> None:
    """Anthropic keeps no tag: the part's fingerprint (its size, just now) also fits the job's other parts."""
    source, state = job("anthropic", requests("anthropic", 4), max_requests=2)
    parts = submitter("anthropic", source)
    parts.submit(context(), state, state.parts[0])
    gateway.add_fault("lose_response", method="POST", path=r"^/v1/batches$", times=1)
    parts.submit(context(), state, state.parts[1])
    first, second = (batch["id"] for batch in gateway.batches())
    assert (state.parts[0].batch_id, state.parts[1].batch_id) == (first, second)


def test_a_create_that_never_arrived_is_not_taken_for_another_parts_batch(gateway: EmulatorClient) -> None:
    source, state = job("anthropic", requests("anthropic", 4), max_requests=2)
    parts = submitter("anthropic", source)
    parts.submit(context(), state, state.parts[0])
    gateway.add_fault("drop", method="POST", path=r"^/v1/batches$", times=1)
    with pytest.raises(BifrostTransportError):
        parts.submit(context(), state, state.parts[1])
    assert len(gateway.batches()) == 1
    assert state.parts[1].batch_id is None


def test_a_retry_finds_the_tagged_parts_an_earlier_try_submitted(gateway: EmulatorClient) -> None:
    source, state = job("openai", requests("openai", 6), max_requests=2)
    earlier = submitter("openai", source)
    earlier.submit(context(), state, state.parts[0])
    earlier.submit(context(), state, state.parts[1])
    submitted = [part.batch_id for part in state.parts[:2]]
    gateway.set_status(str(submitted[0]), "completed")
    _, retry = job("openai", requests("openai", 6), max_requests=2)
    submitter("openai", source).recover(context(try_number=2), retry)
    assert [part.batch_id for part in retry.parts] == [*submitted, None]


def test_a_retry_does_not_reattach_to_a_failed_part(gateway: EmulatorClient) -> None:
    source, state = job("openai", requests("openai", 4), max_requests=2)
    earlier = submitter("openai", source)
    for part in state.parts:
        earlier.submit(context(), state, part)
    gateway.set_status(str(state.parts[1].batch_id), "failed")
    _, retry = job("openai", requests("openai", 4), max_requests=2)
    submitter("openai", source).recover(context(try_number=2), retry)
    assert [part.batch_id for part in retry.parts] == [state.parts[0].batch_id, None]


def test_a_retry_finds_untagged_parts_by_their_sizes(gateway: EmulatorClient) -> None:
    source, state = job("anthropic", requests("anthropic", 5), max_requests=3)  # parts of 3 and 2
    earlier = submitter("anthropic", source)
    for part in state.parts:
        earlier.submit(context(), state, part)
    _, retry = job("anthropic", requests("anthropic", 5), max_requests=3)
    submitter("anthropic", source).recover(context(try_number=2), retry)
    assert [part.batch_id for part in retry.parts] == [part.batch_id for part in state.parts]


def test_a_retry_never_gives_one_batch_to_two_untagged_parts(gateway: EmulatorClient) -> None:
    """
    Two parts of the same size, only the first submitted: its batch fits both fingerprints. Parts are
    submitted in order, so it is the first part's; the second part's lookup leaves it out.
    """
    source, state = job("anthropic", requests("anthropic", 4), max_requests=2)
    submitter("anthropic", source).submit(context(), state, state.parts[0])
    _, retry = job("anthropic", requests("anthropic", 4), max_requests=2)
    submitter("anthropic", source).recover(context(try_number=2), retry)
    assert [part.batch_id for part in retry.parts] == [state.parts[0].batch_id, None]
    assert len(gateway.batches()) == 1


def test_a_retry_stops_when_two_untagged_parts_of_one_size_were_submitted(gateway: EmulatorClient) -> None:
    """Both parts submitted, the same size: which batch holds which part cannot be told, so the task stops."""
    source, state = job("anthropic", requests("anthropic", 4), max_requests=2)
    for part in state.parts:
        submitter("anthropic", source).submit(context(), state, part)
    _, retry = job("anthropic", requests("anthropic", 4), max_requests=2)
    with pytest.raises(BifrostDuplicateCandidatesError) as raised:
        submitter("anthropic", source).recover(context(try_number=2), retry)
    assert all(str(part.batch_id) in str(raised.value) for part in state.parts)
    assert "trigger a new DAG run" in str(raised.value)
    assert [part.batch_id for part in retry.parts] == [None, None]
    assert len(gateway.batches()) == 2


@pytest.mark.parametrize("made", [True, False], ids=["made", "never-made"])
def test_a_part_in_flight_when_the_worker_was_lost_is_looked_for_only_among_batches_made_since(
    gateway: EmulatorClient, made: bool
) -> None:
    """
    Anthropic keeps no tag: a batch of the same size made earlier in the run (another task's) also fits the
    part's fingerprint. It predates the part's submission, so it is never taken for the part's batch.
    """
    look_alike = gateway.add_batch("anthropic", 2, manual=True, age=600)["id"]
    source, state = job("anthropic", requests("anthropic", 4), max_requests=2)
    parts = submitter("anthropic", source)
    parts.submit(context(), state, state.parts[0])
    state.submitting, state.submitting_at = 1, time.time()
    saved = JobState.from_dict(json.loads(json.dumps(state.to_dict())))  # what the worker saved, then was lost
    if made:  # the gateway made the part's batch; its answer died with the worker
        parts.submit(context(), state, state.parts[1])
    submitter("anthropic", source).resume(context(try_number=2), saved)
    assert saved.parts[1].batch_id == (state.parts[1].batch_id if made else None) != look_alike
    assert (saved.submitting, saved.submitting_at) == (None, None)
    assert len(gateway.batches()) == (3 if made else 2)
