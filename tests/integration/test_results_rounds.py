"""
The results operator over a batch and its resubmission rounds (issue 15): one line per custom_id, the latest
attempt's; the manifest's rounds and still_failing; the rounds as the create operator's XCom gives them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_bifrost.exceptions import BifrostConfigError
from airflow_provider_bifrost.operators.bifrost import BifrostBatchResultsOperator
from airflow_provider_bifrost.storage.manifest import iter_result_items, read_manifest
from airflow_provider_bifrost.validation import batch_ids_of
from tests.integration.test_create_operator import TaskInstance, context
from tests.integration.test_create_resubmission import create, requests, run_deferred

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_provider_bifrost.testing.emulator import EmulatorClient

#: A batch added finished at once.
DONE = (0.0, 0.0, 0.0)


@pytest.fixture(autouse=True)
def bifrost_default(emulator: EmulatorClient, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "bifrost", "host": emulator.url, "extra": {"max_retries": 1}}
    monkeypatch.setenv("AIRFLOW_CONN_BIFROST_DEFAULT", json.dumps(conn))
    emulator.configure(timeline=(0.02, 0.1, 0.02))


def export(batch_id: Any, **kwargs: Any) -> Any:
    return BifrostBatchResultsOperator(task_id="results", batch_id=batch_id, provider="openai", **kwargs).execute({})


def by_id(items: Any) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for item in items:
        assert item["custom_id"] not in found, f"{item['custom_id']} exported twice"
        found[item["custom_id"]] = item
    return found


def three_rounds(emulator: EmulatorClient) -> TaskInstance:
    """30 requests; round 0 fails 9 (429, 400, 500 in turn), round 1 (6) fails 3, round 2 (2) fails both."""
    emulator.configure(failed_requests=9, failure_codes=[429, 400, 500])
    ti = TaskInstance()

    def fewer_failures(deferrals: int) -> None:
        if deferrals == 1:
            emulator.configure(failed_requests=3)

    run_deferred(create(requests=requests(30), resubmit_failed=2), context(ti), fewer_failures)
    assert len(ti.xcom["batch_ids"]) == 3
    return ti


def test_the_rounds_merge_into_one_line_per_custom_id_the_latest_attempts(
    emulator: EmulatorClient, tmp_path: Path
) -> None:
    ti = three_rounds(emulator)
    ids = ti.xcom["batch_ids"]
    manifest = export(ids, output_uri=f"file://{tmp_path}/out", results_per_file=7)
    items = by_id(iter_result_items(manifest))
    assert sorted(items) == sorted(f"r{i}" for i in range(30))
    assert manifest["batch_id"] == ids[0] and manifest["batch_ids"] == ids
    assert manifest["counts"]["results"] == 30 and manifest["counts"]["succeeded"] == 24
    assert manifest["counts"]["expected"] == 30 and len(manifest["files"]) == 5
    rows = [(r["round"], r["requests"], r["batches"], r["resubmitted"]) for r in manifest["rounds"]]
    assert rows == [(0, 30, ids[:1], 6), (1, 6, ids[1:2], 2), (2, 2, ids[2:], 0)]
    assert manifest["rounds"][0]["reasons"] == {"rate_limited": 3, "invalid_request": 3, "server_error": 3}
    assert manifest["rounds"][2]["reasons"] == {"rate_limited": 1, "invalid_request": 1}
    still = manifest["still_failing"]
    assert still["requests"] == 6 and still["reasons"] == {"invalid_request": 5, "rate_limited": 1}
    assert sorted(still["first_ids"]) == sorted(
        i for i, item in items.items() if item["response"]["status_code"] >= 400
    )
    assert read_manifest(manifest["output_uri"]) == manifest
    # the latest attempt: what round 2 was sent is exported as round 2 answered it
    round2 = by_id(export(ids[2]))
    assert all(items[custom_id] == item for custom_id, item in round2.items())
    # the rounds as their own exports would have it: round 0's own line of a retried request is gone
    round0 = by_id(export(ids[0]))
    replaced = [i for i in round0 if round0[i] != items[i]]
    assert len(replaced) == 6 and all(round0[i]["response"]["status_code"] in (429, 500) for i in replaced)


def test_xcom_mode_and_a_rendered_list_merge_the_same(emulator: EmulatorClient) -> None:
    ti = three_rounds(emulator)
    ids = ti.xcom["batch_ids"]
    rendered = str(ids)  # what a Jinja template renders for an XCom list: a Python list in a string
    items = by_id(export(rendered))
    assert len(items) == 30 and sum(item["response"]["status_code"] == 200 for item in items.values()) == 24
    assert by_id(export(json.dumps(ids))) == items


def test_one_id_in_a_list_is_the_single_batch_export(emulator: EmulatorClient, tmp_path: Path) -> None:
    batch = emulator.add_batch("openai", requests=4, timeline=DONE)
    manifest = export([batch["id"]], output_uri=f"file://{tmp_path}")
    assert manifest["batch_ids"] == [batch["id"]] and manifest["rounds"] is None
    assert manifest["still_failing"] is None and manifest["counts"]["results"] == 4


def test_an_earlier_round_that_expired_is_merged_without_export_partial(
    emulator: EmulatorClient, tmp_path: Path
) -> None:
    """OpenAI keeps what an expired batch produced: its 6 answers, then round 1's answers to the other 4."""
    ids = [f"r{i}" for i in range(10)]
    expired = emulator.add_batch("openai", requests=ids, manual=True)
    emulator.set_status(expired["id"], "expired", processed=6)
    round1 = emulator.add_batch("openai", requests=ids[6:], timeline=DONE)
    manifest = export([expired["id"], round1["id"]], output_uri=f"file://{tmp_path}")
    items = by_id(iter_result_items(manifest))
    assert sorted(items) == sorted(ids) and manifest["counts"]["succeeded"] == 10
    assert manifest["still_failing"] == {"requests": 0, "reasons": {}, "first_ids": []}
    assert manifest["rounds"][0]["statuses"] == ["expired"] and manifest["partial"] is False


def test_the_last_round_must_have_succeeded(emulator: EmulatorClient) -> None:
    first = emulator.add_batch("openai", requests=4, timeline=DONE)
    failed = emulator.add_batch("openai", requests=2, outcome="failed", timeline=DONE)
    with pytest.raises(Exception, match=rf"Batch {failed['id']} ended failed"):
        export([first["id"], failed["id"]])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "empty list"),
        (["b1", "b1"], "lists a batch twice"),
        (["b1", ""], r"batch_id\[1\] is empty"),
        ("[b1", "looks like a list but is not one"),
    ],
)
def test_bad_lists_of_batch_ids(value: object, message: str) -> None:
    with pytest.raises(BifrostConfigError, match=message):
        batch_ids_of(value)
    if isinstance(value, list):
        with pytest.raises(BifrostConfigError, match=message):
            BifrostBatchResultsOperator(task_id="results", batch_id=value)


def test_ids_in_every_form() -> None:
    assert batch_ids_of("b1") == ["b1"]
    assert batch_ids_of(["b1", "b2"]) == batch_ids_of("['b1', 'b2']") == batch_ids_of('["b1", "b2"]') == ["b1", "b2"]
    assert BifrostBatchResultsOperator(task_id="r", batch_id=["{{ x }}", "b2"]).batch_id == ["{{ x }}", "b2"]
