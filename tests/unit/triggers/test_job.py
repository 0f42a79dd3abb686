"""
BifrostJobTrigger against the emulator (over loopback): its arguments, its one event (wave, done, timeout,
error), the list call that tells many batches' statuses at once, and its progress lines.
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
import json
import logging
import time
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_bifrost.exceptions import BifrostConfigError
from airflow_provider_bifrost.jobs.plan import PartPlan, Plan
from airflow_provider_bifrost.jobs.state import JobState
from airflow_provider_bifrost.triggers.job import JOB_EVENT_STATUSES, BifrostJobTrigger

if TYPE_CHECKING:
    from airflow_provider_bifrost.testing.emulator import EmulatorClient

SECRET = "sk-bf-job-trigger-secret"
CONN_ID = "bifrost_job_trigger"
TRIGGER_LOGGER = "airflow_provider_bifrost.triggers.job"
LIST = r"^/v1/batches$"


@pytest.fixture
def gateway(bifrost_emulator_session: EmulatorClient, monkeypatch: pytest.MonkeyPatch) -> EmulatorClient:
    emulator = bifrost_emulator_session
    emulator.reset(config=True)
    emulator.configure(virtual_keys={SECRET: "ok"})
    conn = {"conn_type": "bifrost", "host": emulator.url, "password": SECRET}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    return emulator


def job(gateway: EmulatorClient, provider: str = "openai", *, running: int, waiting: int = 0, **batch: Any) -> JobState:
    """A job of ``running`` submitted parts (2 requests each, manual batches unless told) and ``waiting`` others."""
    count = running + waiting
    plan = Plan(sources=[], parts=[PartPlan(i, 2, 20, 2 * i) for i in range(count)], requests=2 * count)
    state = JobState.new("cd" * 16, provider, plan)
    batch.setdefault("manual", True)
    for part in state.parts[:running]:
        created = gateway.add_batch(provider, requests=2, **batch)
        part.batch_id, part.status = created["id"], created["status"]
    return state


def trigger(state: JobState, **kwargs: Any) -> BifrostJobTrigger:
    kwargs.setdefault("poll_interval", 0.02)
    return BifrostJobTrigger(state=state.to_dict(), bifrost_conn_id=CONN_ID, **kwargs)


async def events_of(trig: BifrostJobTrigger) -> list[dict[str, Any]]:
    """Every event the trigger sends (it sends one), each checked to be one the operator takes."""
    events = [event.payload async for event in trig.run()]
    assert all(event["status"] in JOB_EVENT_STATUSES and "state" in event for event in events), events
    return events


async def later(seconds: float, action: Any, *args: Any) -> None:
    await asyncio.sleep(seconds)
    await asyncio.to_thread(action, *args)


def ids(state: JobState) -> list[str]:
    return [str(part.batch_id) for part in state.parts if part.batch_id]


# -- arguments ------------------------------------------------------------------------------------


def test_serialize_round_trips_and_holds_no_secret(gateway: EmulatorClient) -> None:
    state = job(gateway, running=2, waiting=1)
    original = trigger(state, deadline=1_900_000_000.0, progress_every=30.0, cancel_on_kill=True)
    path, kwargs = original.serialize()
    module, _, name = path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    assert cls is BifrostJobTrigger
    assert cls(**kwargs).serialize() == (path, kwargs)
    text = json.dumps(kwargs)
    assert SECRET not in text and gateway.url not in text
    assert kwargs["bifrost_conn_id"] == CONN_ID
    assert JobState.from_dict(json.loads(text)["state"]) == state


@pytest.mark.parametrize("poll_interval", [0, -1.0])
def test_a_poll_interval_that_is_not_positive_is_refused(gateway: EmulatorClient, poll_interval: float) -> None:
    with pytest.raises(BifrostConfigError, match="poll_interval must be a positive number"):
        trigger(job(gateway, running=1), poll_interval=poll_interval)


# -- events ---------------------------------------------------------------------------------------


async def test_done_when_every_batch_finished_and_no_part_waits(gateway: EmulatorClient) -> None:
    state = job(gateway, running=2)
    finisher = asyncio.create_task(later(0.2, gateway.set_status_many, "completed", ids(state)))
    events = await events_of(trigger(state))
    await finisher
    (event,) = events
    assert event["status"] == "done"
    assert event["job_id"] == state.job_id
    seen = JobState.from_dict(event["state"])
    assert [part.status for part in seen.parts] == ["completed", "completed"]
    assert all(part.request_counts["total"] == 2 for part in seen.parts) and seen.done()


async def test_a_wave_as_soon_as_one_batch_finishes_and_parts_wait(gateway: EmulatorClient) -> None:
    state = job(gateway, running=2, waiting=1)
    first, second = ids(state)
    finisher = asyncio.create_task(later(0.2, gateway.set_status, first, "failed"))
    (event,) = await events_of(trigger(state))
    await finisher
    assert event["status"] == "wave" and "the next parts can be submitted" in event["message"]
    seen = JobState.from_dict(event["state"])
    assert [part.status for part in seen.parts] == ["failed", "in_progress", None]
    assert [part.index for part in seen.active()] == [1] and [part.index for part in seen.waiting()] == [2]
    assert seen.parts[1].batch_id == second


async def test_a_wave_when_every_running_batch_finished_at_once_and_parts_wait(gateway: EmulatorClient) -> None:
    state = job(gateway, running=2, waiting=2, manual=False, timeline=(0, 0, 0))
    (event,) = await events_of(trigger(state))
    assert event["status"] == "wave"
    assert len(JobState.from_dict(event["state"]).waiting()) == 2


async def test_a_timeout_at_the_deadline(gateway: EmulatorClient) -> None:
    state = job(gateway, running=2)
    (event,) = await events_of(trigger(state, deadline=time.time() + 0.2))
    assert event["status"] == "timeout" and "did not finish before the deadline" in event["message"]
    assert "permanent" not in event
    assert [part.status for part in JobState.from_dict(event["state"]).parts] == ["in_progress", "in_progress"]


async def test_an_error_when_a_batch_cannot_be_waited_on(gateway: EmulatorClient) -> None:
    state = job(gateway, running=1)
    state.parts[0].batch_id = "batch_gone"
    (event,) = await events_of(trigger(state))
    assert (event["status"], event["permanent"]) == ("error", True)
    assert "404" in event["message"]


async def test_an_unknown_batch_is_waited_for_during_the_grace_after_creation(gateway: EmulatorClient) -> None:
    state = job(gateway, running=1)
    state.parts[0].batch_id = "batch_gone"
    (event,) = await events_of(trigger(state, not_found_until=time.time() + 0.2))
    assert event["status"] == "error" and event["permanent"] is True
    assert len(gateway.requests(r"^/v1/batches/batch_gone$")) >= 2, "checked again within the grace"


async def test_an_error_when_the_connection_is_refused_names_no_secret(
    gateway: EmulatorClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = job(gateway, running=2)
    gateway.configure(virtual_keys={"sk-bf-another": "ok"})
    (event,) = await events_of(trigger(state))
    assert (event["status"], event["permanent"]) == ("error", True)
    assert "401" in event["message"] and SECRET not in json.dumps(event)


async def test_transient_failures_are_tolerated_as_for_one_batch(gateway: EmulatorClient) -> None:
    state = job(gateway, "anthropic", running=2, manual=False, timeline=(0, 0.3, 0))
    gateway.add_fault("status", path=r"^/v1/batches/", status=503, times=3)
    (event,) = await events_of(trigger(state))
    assert event["status"] == "done"
    assert sum(rule["applied"] for rule in gateway.faults()) == 3


# -- the list call --------------------------------------------------------------------------------


async def test_one_list_call_tells_the_statuses_and_the_rest_are_asked_one_by_one(gateway: EmulatorClient) -> None:
    """The list's page holds the newest 100 batches: the job's older batch is not on it, the newer one is."""
    older = gateway.add_batch("openai", requests=2, timeline=(0, 0.6, 0))["id"]
    for _ in range(99):
        gateway.add_batch("openai", requests=1, manual=True)
    newer = gateway.add_batch("openai", requests=2, timeline=(0, 0.3, 0))["id"]
    state = job(gateway, running=0, waiting=2)
    for part, batch_id in zip(state.parts, (older, newer), strict=True):
        part.batch_id, part.status = batch_id, "validating"
    gateway.clear_requests()
    (event,) = await events_of(trigger(state))
    assert event["status"] == "done"
    lists = gateway.requests(LIST, method="GET")
    assert len(lists) >= 2 and all(entry["query"]["limit"] == "100" for entry in lists)
    assert gateway.requests(f"^/v1/batches/{newer}$") == [], "the list told its status every time, its end too"
    older_checks = gateway.requests(f"^/v1/batches/{older}$")
    assert len(older_checks) > len(lists), "each round's list missed it, and it was checked by itself"
    # once the newer one finished, the older one runs alone: checked by itself, no list call
    assert older_checks[-1]["time"] > lists[-1]["time"]
    assert [part.status for part in JobState.from_dict(event["state"]).parts] == ["completed", "completed"]


async def test_a_failed_list_call_falls_back_to_one_check_per_batch(gateway: EmulatorClient) -> None:
    state = job(gateway, running=2)
    gateway.add_fault("status", method="GET", path=LIST, status=500)
    # Both finish at one instant: every round has both running, so none goes without its (failed) list call.
    finisher = asyncio.create_task(later(0.2, gateway.set_status_many, "completed", ids(state)))
    (event,) = await events_of(trigger(state))
    await finisher
    assert event["status"] == "done"
    lists = len(gateway.requests(LIST, method="GET"))
    assert lists > 1, "several rounds, each listing first"
    for batch_id in ids(state):
        assert len(gateway.requests(f"^/v1/batches/{batch_id}$")) == lists


@pytest.mark.parametrize(("provider", "running"), [("anthropic", 2), ("openai", 1)], ids=["no-paging", "one-batch"])
async def test_no_list_call_where_it_cannot_help(gateway: EmulatorClient, provider: str, running: int) -> None:
    state = job(gateway, provider, running=running, manual=False, timeline=(0, 0.2, 0))
    (event,) = await events_of(trigger(state))
    assert event["status"] == "done"
    assert gateway.requests(LIST, method="GET") == []
    assert all(len(gateway.requests(f"^/v1/batches/{batch_id}$")) >= 2 for batch_id in ids(state))


# -- progress -------------------------------------------------------------------------------------


async def test_progress_lines_come_at_a_steady_cadence_not_one_per_check(
    gateway: EmulatorClient, caplog: pytest.LogCaptureFixture
) -> None:
    state = job(gateway, "anthropic", running=2, manual=False, timeline=(0, 1.2, 0))
    every = 0.3
    with caplog.at_level(logging.INFO, logger=TRIGGER_LOGGER):
        (event,) = await events_of(trigger(state, poll_interval=0.02, progress_every=every))
    assert event["status"] == "done"
    lines = [
        r for r in caplog.records if r.name == TRIGGER_LOGGER and r.getMessage().startswith(f"Job {state.job_id} (")
    ]
    checks = len(gateway.requests(r"^/v1/batches/")) // 2  # a round checks both batches
    assert all(r.levelno == logging.INFO for r in lines)
    assert lines[0].getMessage().startswith(f"Job {state.job_id} (anthropic): parts 0/2 done, 2 running")
    assert lines[-1].getMessage().startswith(f"Job {state.job_id} (anthropic): parts 2/2 done, 0 running")
    assert "requests 4/4 done (100%)" in lines[-1].getMessage()
    assert 3 <= len(lines) < checks / 3, (len(lines), checks)
    gaps = [b.created - a.created for a, b in itertools.pairwise(lines[:-1])]  # the last one comes when done
    assert gaps and all(gap >= every * 0.75 for gap in gaps), gaps  # never one per check (every 0.02 s)


# -- on kill --------------------------------------------------------------------------------------


async def test_on_kill_cancels_every_running_batch_when_asked(gateway: EmulatorClient) -> None:
    state = job(gateway, running=2, waiting=1)
    finished = gateway.add_batch("openai", requests=2, timeline=(0, 0, 0))["id"]
    state.parts[2].batch_id, state.parts[2].status = finished, "completed"
    await trigger(state, cancel_on_kill=True).on_kill()
    statuses = {batch["id"]: batch["status"] for batch in gateway.batches()}
    assert [statuses[batch_id] for batch_id in ids(state)[:2]] == ["cancelled", "cancelled"]
    assert statuses[finished] == "completed"
    assert len(gateway.requests(r"/cancel$", method="POST")) == 2


async def test_on_kill_leaves_the_batches_running_unless_asked(gateway: EmulatorClient) -> None:
    state = job(gateway, running=2)
    await trigger(state, cancel_on_kill=False).on_kill()
    assert [batch["status"] for batch in gateway.batches()] == ["in_progress", "in_progress"]
    assert gateway.requests(r"/cancel$") == []
