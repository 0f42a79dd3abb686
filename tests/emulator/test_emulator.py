"""The Bifrost emulator, exercised over loopback HTTP with plain httpx."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import httpx
import ijson
import pytest

from airflow_provider_bifrost.testing.emulator import (
    EmulatorClient,
    EmulatorConfig,
    EmulatorError,
    FaultRule,
    run_emulator,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

CHAT = "/v1/chat/completions"
INSTANT = (0.0, 0.0, 0.0)


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[EmulatorClient]:
    with run_emulator() as emulator:
        yield emulator


@pytest.fixture
def emu(shared_emulator: EmulatorClient) -> EmulatorClient:
    shared_emulator.reset(config=True)
    return shared_emulator


@pytest.fixture
def http(emu: EmulatorClient) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.url, timeout=10) as client:
        yield client


def inline_requests(count: int, prefix: str = "req") -> list[dict[str, Any]]:
    return [
        {"custom_id": f"{prefix}-{i}", "method": "POST", "url": CHAT, "body": {"model": "gpt-4o-mini"}}
        for i in range(count)
    ]


def create_openai_batch(http: httpx.Client, count: int = 3, **extra: Any) -> dict[str, Any]:
    body = {"model": "openai/gpt-4o-mini", "endpoint": CHAT, "requests": inline_requests(count), **extra}
    response = http.post("/v1/batches", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def get_batch(http: httpx.Client, batch_id: str, provider: str = "openai") -> dict[str, Any]:
    response = http.get(f"/v1/batches/{batch_id}", params={"provider": provider})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def results(http: httpx.Client, batch_id: str, provider: str = "openai", **params: str) -> dict[str, Any]:
    response = http.get(f"/v1/batches/{batch_id}/results", params={"provider": provider, **params})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def assert_bifrost_error(response: httpx.Response, status: int, message: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["is_bifrost_error"] is True
    assert body["status_code"] == status
    assert message in body["error"]["message"]
    return body


# --- batches: create, read, list, timeline --------------------------------------------------------


def test_create_inline_batch_walks_the_timeline(emu: EmulatorClient, http: httpx.Client) -> None:
    emu.configure(timeline=(0.15, 0.3, 0.15))
    batch = create_openai_batch(http, 4, metadata={"dag_run": "r1"})
    assert batch["status"] == "validating"
    assert batch["object"] == "batch"
    assert batch["metadata"] == {"dag_run": "r1"}
    assert batch["request_counts"] == {"total": 4, "completed": 0, "failed": 0}
    assert batch["input_file_id"].startswith("file-")
    seen: list[str] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        current = get_batch(http, batch["id"])
        if not seen or seen[-1] != current["status"]:
            seen.append(current["status"])
        if current["status"] == "completed":
            break
        time.sleep(0.02)
    assert seen == ["validating", "in_progress", "finalizing", "completed"]
    assert current["request_counts"] == {"total": 4, "completed": 4, "failed": 0}
    stamps = [current[key] for key in ("created_at", "in_progress_at", "finalizing_at", "completed_at")]
    assert stamps == sorted(stamps)
    assert current["expires_at"] == current["created_at"] + 24 * 3600
    assert current["output_file_id"].startswith("file-")
    assert "error_file_id" not in current


def test_progress_is_interpolated(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = emu.add_batch("openai", 1000, timeline=(0, 3, 10))
    time.sleep(0.3)
    first = get_batch(http, batch["id"])["request_counts"]["completed"]
    time.sleep(0.3)
    second = get_batch(http, batch["id"])["request_counts"]["completed"]
    assert 0 < first < second < 1000


@pytest.mark.parametrize(
    ("provider", "outcome", "stamp"),
    [
        ("openai", "completed", "completed_at"),
        ("anthropic", "ended", "completed_at"),
        ("bedrock", "failed", "failed_at"),
        ("azure", "expired", "expired_at"),
        ("gemini", "cancelled", "cancelled_at"),
    ],
)
def test_outcomes(emu: EmulatorClient, http: httpx.Client, provider: str, outcome: str, stamp: str) -> None:
    batch = emu.add_batch(provider, 10, outcome=outcome, failed=2, timeline=INSTANT)
    current = get_batch(http, batch["id"], provider)
    assert current["status"] == outcome
    assert stamp in current
    counts = current["request_counts"]
    assert (counts["total"], counts["completed"], counts["failed"]) == (10, 8, 2)
    if outcome == "failed":
        assert current["errors"]["object"] == "list"
        assert {"code", "message", "param", "line"} <= set(current["errors"]["data"][0])
    else:
        assert "errors" not in current


def test_failed_outcome_fails_every_request_by_default(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = emu.add_batch("openai", 5, outcome="failed", timeline=INSTANT)
    assert get_batch(http, batch["id"])["request_counts"] == {"total": 5, "completed": 0, "failed": 5}


def test_default_outcome_per_provider(emu: EmulatorClient, http: httpx.Client) -> None:
    anthropic = emu.add_batch("anthropic", 2, timeline=INSTANT)
    vertex = emu.add_batch("vertex", 2, timeline=INSTANT)
    assert get_batch(http, anthropic["id"], "anthropic")["status"] == "ended"
    vertex_batch = get_batch(http, vertex["id"], "vertex")
    assert vertex_batch["status"] == "completed"
    assert vertex_batch["done"] is True


@pytest.mark.parametrize("status", ["completed", "canceled", "deleted", "paused"])
def test_set_status_forces_any_string(emu: EmulatorClient, http: httpx.Client, status: str) -> None:
    batch = emu.add_batch("openai", 3, manual=True)
    assert get_batch(http, batch["id"])["status"] == "in_progress"
    assert emu.set_status(batch["id"], status)["status"] == status
    assert get_batch(http, batch["id"])["status"] == status
    expected = 500 if status == "paused" else 200
    response = http.get(f"/v1/batches/{batch['id']}/results", params={"provider": "openai"})
    assert response.status_code == expected


def test_set_status_many_turns_batches_at_one_instant(emu: EmulatorClient, http: httpx.Client) -> None:
    openai = [emu.add_batch("openai", 2, manual=True)["id"] for _ in range(3)]
    anthropic = emu.add_batch("anthropic", 2, manual=True)["id"]
    assert emu.set_status_many("completed", openai[:2]) == 2
    done = [get_batch(http, batch_id) for batch_id in openai[:2]]
    assert [batch["status"] for batch in done] == ["completed", "completed"]
    assert done[0]["completed_at"] == done[1]["completed_at"]
    assert done[0]["request_counts"]["completed"] == 2
    assert get_batch(http, openai[2])["status"] == "in_progress"
    assert emu.set_status_many("ended") == 4  # no ids: every batch of every provider
    assert get_batch(http, anthropic, "anthropic")["processing_status"] == "ended"
    assert get_batch(http, openai[2])["status"] == "ended"


def test_set_status_many_with_an_unknown_id_changes_nothing(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = emu.add_batch("openai", 2, manual=True)
    with pytest.raises(EmulatorError, match=r"404.*batch_nope"):
        emu.set_status_many("completed", [batch["id"], "batch_nope"])
    assert get_batch(http, batch["id"])["status"] == "in_progress"
    assert emu.set_status_many("completed", []) == 0


def test_manual_batch_stays_in_progress(emu: EmulatorClient, http: httpx.Client) -> None:
    emu.configure(manual=True)
    batch = create_openai_batch(http)
    time.sleep(0.1)
    assert get_batch(http, batch["id"])["status"] == "in_progress"


def test_list_batches_pages_newest_first(emu: EmulatorClient, http: httpx.Client) -> None:
    created = [emu.add_batch("openai", 1, metadata={"n": str(i)})["id"] for i in range(5)]
    emu.add_batch("anthropic", 1)
    listed: list[dict[str, Any]] = []
    after = None
    while True:
        params = {"provider": "openai", "limit": "2", **({"after": after} if after else {})}
        page = http.get("/v1/batches", params=params).json()
        assert page["object"] == "list"
        listed += page["data"]
        if not page["has_more"]:
            break
        assert page["next_cursor"] == page["last_id"] == page["data"][-1]["id"]
        after = page["next_cursor"]
    assert [batch["id"] for batch in listed] == created[::-1]
    assert [batch["metadata"]["n"] for batch in listed] == ["4", "3", "2", "1", "0"]
    assert len(emu.batches()) == 6


def test_batches_are_per_provider(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = emu.add_batch("openai", 1)
    wrong_provider = http.get(f"/v1/batches/{batch['id']}", params={"provider": "azure"})
    assert_bifrost_error(wrong_provider, 404, "batch not found")
    assert_bifrost_error(http.get("/v1/batches/batch_nope", params={"provider": "openai"}), 404, "not found")


# --- provider and create validation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/batches"),
        ("GET", "/v1/batches/batch_x"),
        ("POST", "/v1/batches/batch_x/cancel"),
        ("GET", "/v1/batches/batch_x/results"),
    ],
)
def test_provider_is_required(http: httpx.Client, method: str, path: str) -> None:
    body = assert_bifrost_error(http.request(method, path), 400, "provider is required")
    assert body["extra_fields"]["request_type"].startswith("batch_")


def test_unsupported_and_invalid_providers(http: httpx.Client) -> None:
    body = assert_bifrost_error(http.get("/v1/batches", params={"provider": "cohere"}), 400, "not supported")
    assert body["error"]["code"] == body["error"]["type"] == "unsupported_operation"
    assert_bifrost_error(http.get("/v1/batches", params={"provider": "nope"}), 400, "invalid provider")


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"model": None}, 400, "model is required"),
        ({"model": "gpt-4o-mini"}, 400, "provider/model"),
        ({"model": "mistral/large"}, 400, "not supported by mistral"),
        ({"endpoint": None}, 400, "endpoint is required"),
        ({"endpoint": "/v1/images"}, 400, "endpoint must be one of"),
        ({"input_file_id": "file-x"}, 400, "exactly one of"),
        ({"requests": None}, 400, "exactly one of"),
        ({"requests": [{"method": "POST", "body": {}}]}, 400, "requests[0]: custom_id is required"),
        ({"requests": inline_requests(1) * 2}, 400, "duplicate custom_id"),
        ({"requests": None, "input_file_id": "file-unknown"}, 404, "file not found"),
        ({"metadata": {"a": 1}}, 400, "metadata"),
    ],
)
def test_create_validation(http: httpx.Client, change: dict[str, Any], status: int, message: str) -> None:
    body = {"model": "openai/gpt-4o-mini", "endpoint": CHAT, "requests": inline_requests(2), **change}
    assert_bifrost_error(
        http.post("/v1/batches", json={k: v for k, v in body.items() if v is not None}), status, message
    )


def test_create_anthropic_style_and_blob(http: httpx.Client) -> None:
    anthropic = http.post(
        "/v1/batches",
        json={"model": "anthropic/claude-3-5-haiku", "requests": [{"custom_id": "a", "params": {}}]},
    ).json()
    assert anthropic["id"].startswith("msgbatch_")
    assert anthropic["request_counts"]["total"] == 1
    blob = '{"custom_id": "g1"}\n{"custom_id": "g2"}\n'
    gemini = http.post("/v1/batches", json={"model": "gemini/gemini-2.0-flash", "input_blob": blob}).json()
    assert gemini["request_counts"]["total"] == 2


# --- cancel ---------------------------------------------------------------------------------------


def test_cancel(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = emu.add_batch("openai", 4, manual=True)
    response = http.post(f"/v1/batches/{batch['id']}/cancel", params={"provider": "openai"})
    assert response.status_code == 200
    cancel = response.json()
    assert cancel["status"] == "cancelling"
    assert set(cancel) >= {"id", "object", "status", "request_counts", "cancelling_at", "extra_fields"}
    current = get_batch(http, batch["id"])
    assert current["status"] == "cancelled"
    assert current["cancelled_at"] >= current["cancelling_at"]
    again = http.post(f"/v1/batches/{batch['id']}/cancel", params={"provider": "openai"})
    assert_bifrost_error(again, 400, "cannot cancel a batch with status cancelled")


def test_cancel_delay_and_terminal(emu: EmulatorClient, http: httpx.Client) -> None:
    emu.configure(cancel_delay=0.3)
    running = emu.add_batch("openai", 2, manual=True)
    http.post(f"/v1/batches/{running['id']}/cancel", params={"provider": "openai"})
    assert get_batch(http, running["id"])["status"] == "cancelling"
    time.sleep(0.35)
    assert get_batch(http, running["id"])["status"] == "cancelled"
    done = emu.add_batch("openai", 2, timeline=INSTANT)
    response = http.post(f"/v1/batches/{done['id']}/cancel", params={"provider": "openai"})
    assert_bifrost_error(response, 400, "cannot cancel a batch with status completed")


# --- results --------------------------------------------------------------------------------------


def test_results_before_done_are_a_500(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = emu.add_batch("openai", 2, manual=True)
    response = http.get(f"/v1/batches/{batch['id']}/results", params={"provider": "openai"})
    assert_bifrost_error(response, 500, "batch is not yet completed (status: in_progress)")


def test_openai_results_exclude_failed_requests(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = get_batch(http, emu.add_batch("openai", 50, failed=5, timeline=INSTANT)["id"])
    document = results(http, batch["id"])
    assert document["batch_id"] == batch["id"]
    assert document["extra_fields"] == {"request_type": "batch_results", "provider": "openai"}
    assert "has_more" not in document
    ok_ids = [item["custom_id"] for item in document["results"]]
    assert len(ok_ids) == len(set(ok_ids)) == 45
    item = document["results"][0]
    assert item["response"]["status_code"] == 200
    assert item["response"]["body"]["object"] == "chat.completion"
    assert item["response"]["request_id"]

    def lines(file_id: str) -> list[dict[str, Any]]:
        response = http.get(f"/v1/files/{file_id}/content", params={"provider": "openai"})
        assert response.status_code == 200
        return [json.loads(line) for line in response.text.splitlines()]

    errors = lines(batch["error_file_id"])
    failed_ids = {line["custom_id"] for line in errors}
    assert len(failed_ids) == 5
    assert failed_ids.isdisjoint(ok_ids)
    assert failed_ids | set(ok_ids) == {f"request-{i}" for i in range(50)}
    assert errors[0]["error"] is None
    assert errors[0]["response"]["status_code"] == 400
    assert set(errors[0]["response"]["body"]["error"]) == {"message", "type", "code"}
    assert [line["custom_id"] for line in lines(batch["output_file_id"])] == ok_ids


def test_anthropic_results(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = emu.add_batch("anthropic", 20, failed=3, timeline=INSTANT, parse_errors=[{"line": 7}])
    document = results(http, batch["id"], "anthropic")
    assert document["extra_fields"]["parse_errors"] == [{"line": 7}]
    items = document["results"]
    assert [item["custom_id"] for item in items] == [f"request-{i}" for i in range(20)]
    errored = [item for item in items if item["result"]["type"] == "errored"]
    assert len(errored) == 3
    assert all(item["result"]["message"] is None and item["error"]["message"] for item in errored)
    ok = next(item for item in items if item["result"]["type"] == "succeeded")
    assert ok["result"]["message"]["type"] == "message"
    assert "response" not in ok


def test_anthropic_cancelled_requests_are_canceled(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = emu.add_batch("anthropic", 3, manual=True)
    http.post(f"/v1/batches/{batch['id']}/cancel", params={"provider": "anthropic"})
    items = results(http, batch["id"], "anthropic")["results"]
    assert {item["result"]["type"] for item in items} == {"canceled"}


def test_results_with_explicit_ids_embeddings_and_item_size(emu: EmulatorClient, http: httpx.Client) -> None:
    ids = ['quote"d', "slash\\ed", "unicodé"]
    batch = emu.add_batch("azure", ids, timeline=INSTANT, endpoint="/v1/embeddings", item_bytes=2000)
    response = http.get(f"/v1/batches/{batch['id']}/results", params={"provider": "azure"})
    items = response.json()["results"]
    assert [item["custom_id"] for item in items] == ids
    assert items[0]["response"]["body"]["data"][0]["object"] == "embedding"
    sized = emu.add_batch("openai", 100, timeline=INSTANT, item_bytes=1000)
    raw = http.get(f"/v1/batches/{sized['id']}/results", params={"provider": "openai"}).content
    assert 900 < len(raw) / 100 < 1100
    assert raw == http.get(f"/v1/batches/{sized['id']}/results", params={"provider": "openai"}).content


def test_results_stream_parses_with_ijson(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = emu.add_batch("bedrock", 3000, timeline=INSTANT)
    with http.stream("GET", f"/v1/batches/{batch['id']}/results", params={"provider": "bedrock"}) as response:
        assert response.headers["content-type"] == "application/json"
        parsed = ijson.sendable_list()
        parser = ijson.items_coro(parsed, "results.item")
        for chunk in response.iter_bytes():
            parser.send(chunk)
        parser.close()
    ids = [item["custom_id"] for item in parsed]
    assert ids == [f"request-{i}" for i in range(3000)]


def read_pages(http: httpx.Client, batch_id: str, max_pages: int = 10) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    params: dict[str, str] = {}
    while len(pages) < max_pages:
        pages.append(results(http, batch_id, **params))
        if not pages[-1]["has_more"] or "next_cursor" not in pages[-1]:
            break
        params = {"after": pages[-1]["next_cursor"]}
    return pages


def test_paged_results(emu: EmulatorClient, http: httpx.Client) -> None:
    emu.configure(results_page_size=4)
    batch = emu.add_batch("openai", 10, failed=1, timeline=INSTANT)
    pages = read_pages(http, batch["id"])
    assert [len(page["results"]) for page in pages] == [4, 4, 1]
    assert [page["has_more"] for page in pages] == [True, True, False]
    ids = [item["custom_id"] for page in pages for item in page["results"]]
    assert len(set(ids)) == 9
    assert_bifrost_error(
        http.get(f"/v1/batches/{batch['id']}/results", params={"provider": "openai", "after": "bogus"}),
        400,
        "invalid cursor",
    )


def test_cursor_bugs(emu: EmulatorClient, http: httpx.Client) -> None:
    repeat = emu.add_batch("openai", 10, timeline=INSTANT, results_page_size=3, cursor_bug="repeat")
    pages = read_pages(http, repeat["id"], max_pages=3)
    assert pages[0]["next_cursor"] == pages[1]["next_cursor"] == pages[2]["next_cursor"]
    missing = emu.add_batch("openai", 10, timeline=INSTANT, results_page_size=3, cursor_bug="missing")
    page = results(http, missing["id"])
    assert page["has_more"] is True
    assert "next_cursor" not in page


# --- files ----------------------------------------------------------------------------------------


def jsonl(*custom_ids: str) -> bytes:
    lines = [{"custom_id": c, "method": "POST", "url": CHAT, "body": {}} for c in custom_ids]
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def test_upload_then_create_from_file(http: httpx.Client) -> None:
    content = jsonl("a", "b", "c")
    response = http.post(
        "/v1/files",
        headers={"x-model-provider": "openai"},
        files={"file": ("input.jsonl", content)},
        data={"purpose": "batch"},
    )
    assert response.status_code == 200, response.text
    uploaded = response.json()
    assert uploaded["object"] == "file"
    assert uploaded["bytes"] == len(content)
    assert uploaded["status"] == "processed"
    file_id = uploaded["id"]
    assert http.get(f"/v1/files/{file_id}", params={"provider": "openai"}).json() == uploaded
    assert http.get(f"/v1/files/{file_id}/content", params={"provider": "openai"}).content == content
    listed = http.get("/v1/files", params={"x-model-provider": "openai", "purpose": "batch"}).json()
    assert [item["id"] for item in listed["data"]] == [file_id]
    assert listed["has_more"] is False
    by_header = http.get("/v1/files", headers={"x-model-provider": "openai"}).json()
    assert file_id in [item["id"] for item in by_header["data"]]
    batch = http.post(
        "/v1/batches", json={"model": "openai/gpt-4o-mini", "endpoint": CHAT, "input_file_id": file_id}
    ).json()
    assert batch["input_file_id"] == file_id
    assert batch["request_counts"]["total"] == 3
    deleted = http.delete(f"/v1/files/{file_id}", params={"provider": "openai"}).json()
    assert deleted == {"id": file_id, "object": "file", "deleted": True}
    assert_bifrost_error(http.get(f"/v1/files/{file_id}", params={"provider": "openai"}), 404, "not found")


def test_upload_validation(http: httpx.Client) -> None:
    bad = jsonl("a") + b'{"method": "POST"}\n'
    files = {"file": ("x.jsonl", bad)}
    response = http.post("/v1/files", params={"provider": "openai"}, files=files, data={"purpose": "batch"})
    assert_bifrost_error(response, 400, "line 2: custom_id is required")
    assert_bifrost_error(
        http.post("/v1/files", files={"file": ("x.jsonl", b"")}, data={"purpose": "batch"}),
        400,
        "provider is required",
    )
    # the file list reads the provider from x-model-provider, not from `provider`
    assert_bifrost_error(http.get("/v1/files", params={"provider": "openai"}), 400, "provider is required")


# --- OpenAI-SDK aliases ---------------------------------------------------------------------------


def test_openai_aliases(emu: EmulatorClient, http: httpx.Client) -> None:
    uploaded = http.post(
        "/openai/v1/files", files={"file": ("in.jsonl", jsonl("x", "y"))}, data={"purpose": "batch"}
    ).json()
    assert [f["id"] for f in http.get("/openai/v1/files").json()["data"]] == [uploaded["id"]]
    assert http.get(f"/openai/v1/files/{uploaded['id']}").json()["bytes"] == uploaded["bytes"]
    assert http.get(f"/openai/v1/files/{uploaded['id']}/content").content == jsonl("x", "y")
    body = {"input_file_id": uploaded["id"], "endpoint": CHAT, "completion_window": "24h"}
    body["metadata"] = {"k": "v"}
    created = http.post("/openai/v1/batches", json=body).json()
    for field in ("id", "object", "endpoint", "input_file_id", "completion_window", "status", "created_at"):
        assert created[field] is not None, field
    assert http.get(f"/openai/v1/batches/{created['id']}").json()["id"] == created["id"]
    assert [b["id"] for b in http.get("/openai/v1/batches").json()["data"]] == [created["id"]]
    assert get_batch(http, created["id"])["metadata"] == {"k": "v"}
    assert http.post(f"/openai/v1/batches/{created['id']}/cancel").json()["status"] == "cancelling"
    assert http.get(f"/openai/v1/batches/{created['id']}/results").status_code == 404
    assert http.delete(f"/openai/v1/files/{uploaded['id']}").json()["deleted"] is True


# --- faults ---------------------------------------------------------------------------------------


def test_status_fault_with_retry_after_and_times(emu: EmulatorClient, http: httpx.Client) -> None:
    emu.add_fault("status", path=r"^/v1/batches$", status=429, retry_after="2", times=2)
    statuses = [http.get("/v1/batches", params={"provider": "openai"}) for _ in range(3)]
    assert [r.status_code for r in statuses] == [429, 429, 200]
    assert statuses[0].headers["retry-after"] == "2"
    body = statuses[0].json()  # an upstream failure relayed by the gateway, not its own verdict
    assert (body["is_bifrost_error"], body["status_code"], body["error"]["type"]) == (False, 429, "injected_fault")
    assert emu.faults()[0]["applied"] == 2
    log = emu.requests(r"^/v1/batches$")
    outcomes = [(entry["status"], entry["fault"]) for entry in log]
    assert outcomes == [(429, "status"), (429, "status"), (200, None)]


def test_html_and_empty_faults(emu: EmulatorClient, http: httpx.Client) -> None:
    emu.set_faults(
        [
            FaultRule(action="html", status=502, method="GET", times=1),
            {"action": "empty", "status": 503, "query": "provider=anthropic"},
        ]
    )
    html = http.get("/v1/batches", params={"provider": "openai"})
    assert html.status_code == 502
    assert html.headers["content-type"].startswith("text/html")
    assert "<h1>502 Bad Gateway</h1>" in html.text
    empty = http.get("/v1/batches", params={"provider": "anthropic"})
    assert (empty.status_code, empty.content) == (503, b"")
    emu.clear_faults()
    assert http.get("/v1/batches", params={"provider": "anthropic"}).status_code == 200


def test_body_fault_answers_the_given_body(emu: EmulatorClient, http: httpx.Client) -> None:
    emu.add_fault("body", path="^/v1/batches/", status=200, body='{"id": "batch_x"}', times=1)
    emu.add_fault("body", path="^/v1/batches/", status=418, body="teapot", content_type="text/plain")
    shaped = http.get("/v1/batches/batch_x", params={"provider": "openai"})
    assert (shaped.status_code, shaped.headers["content-type"], shaped.json()) == (
        200,
        "application/json",
        {"id": "batch_x"},
    )
    plain = http.get("/v1/batches/batch_x", params={"provider": "openai"})
    assert (plain.status_code, plain.headers["content-type"], plain.text) == (418, "text/plain", "teapot")
    assert [entry["fault"] for entry in emu.requests("^/v1/batches/")] == ["body", "body"]


def test_delay_fault_exceeds_client_timeout(emu: EmulatorClient, http: httpx.Client) -> None:
    emu.add_fault("delay", seconds=0.5, times=1)
    with pytest.raises(httpx.ReadTimeout):
        http.get("/v1/batches", params={"provider": "openai"}, timeout=0.1)
    assert http.get("/v1/batches", params={"provider": "openai"}).status_code == 200


def test_drop_fault_is_a_disconnect_not_a_500(emu: EmulatorClient, http: httpx.Client) -> None:
    emu.add_fault("drop", method="POST", times=1)
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        create_openai_batch(http)
    assert emu.batches() == []
    assert emu.requests()[-1]["fault"] == "drop"
    assert emu.requests()[-1]["status"] is None
    create_openai_batch(http)


def test_truncate_fault_cuts_the_body(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = emu.add_batch("openai", 2000, timeline=INSTANT)
    emu.add_fault("truncate", path="/results$", times=1)
    received = bytearray()

    def read_results() -> None:
        url = f"/v1/batches/{batch['id']}/results"
        with http.stream("GET", url, params={"provider": "openai"}) as response:
            assert response.status_code == 200
            for chunk in response.iter_bytes():
                received.extend(chunk)

    with pytest.raises(httpx.RemoteProtocolError):
        read_results()
    assert 0 < len(received) < len(results(http, batch["id"])["results"]) * 300
    emu.add_fault("truncate", path=r"^/v1/batches/", bytes=10, times=1)
    with pytest.raises(httpx.RemoteProtocolError, match=r"incomplete|received 10 bytes"):
        get_batch(http, batch["id"])


def test_lose_response_fault_carries_out_the_request(emu: EmulatorClient, http: httpx.Client) -> None:
    emu.add_fault("lose_response", method="POST", path=r"^/v1/batches$", times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        create_openai_batch(http)
    assert len(emu.batches()) == 1
    assert emu.requests()[-1]["status"] == 200


def test_probability_is_seeded(emu: EmulatorClient, http: httpx.Client) -> None:
    def pattern() -> list[int]:
        emu.reset()
        emu.add_fault("status", status=500, probability=0.5)
        return [http.get("/v1/batches", params={"provider": "openai"}).status_code for _ in range(30)]

    emu.configure(seed=7)
    first = pattern()
    assert 0 < first.count(500) < 30
    assert pattern() == first


def test_control_plane_ignores_faults_and_auth(emu: EmulatorClient) -> None:
    emu.configure(bearer_token="secret", virtual_keys={})
    emu.add_fault("drop")
    assert emu.health()["status"] == "ok"
    assert emu.batches() == []


def test_latency(emu: EmulatorClient, http: httpx.Client) -> None:
    emu.configure(latency=0.2, latency_path="/v1/batches")
    start = time.monotonic()
    http.get("/v1/batches", params={"provider": "openai"})
    assert time.monotonic() - start >= 0.2
    start = time.monotonic()
    http.get("/v1/files", params={"x-model-provider": "openai"})
    assert time.monotonic() - start < 0.2


def test_stream_chunk_delay_slows_streamed_bodies(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = emu.add_batch("openai", requests=200, item_bytes=1000, manual=True)
    emu.set_status(batch["id"], "completed")
    emu.configure(stream_chunk_delay=0.1)
    start = time.monotonic()
    with http.stream("GET", f"/v1/batches/{batch['id']}/results", params={"provider": "openai"}) as response:
        body = b"".join(response.iter_bytes())
    assert len(body) > 3 * 64 * 1024  # at least four chunks, each followed by the delay
    assert time.monotonic() - start >= 0.3
    assert len(json.loads(body)["results"]) == 200


def test_invalid_control_calls(emu: EmulatorClient) -> None:
    with pytest.raises(EmulatorError, match="422"):
        emu.add_fault("explode")
    with pytest.raises(EmulatorError, match="does not support batches"):
        emu.add_batch("cohere")
    with pytest.raises(EmulatorError, match="404"):
        emu.set_status("batch_nope", "completed")
    with pytest.raises(EmulatorError, match="422"):
        emu.configure(no_such_option=1)


# --- auth -----------------------------------------------------------------------------------------


def test_gateway_auth(emu: EmulatorClient, http: httpx.Client) -> None:
    emu.configure(basic_auth=("user", "pass"), bearer_token="token")
    unauthorized = http.get("/v1/batches", params={"provider": "openai"})
    assert unauthorized.status_code == 401
    expected = {"is_bifrost_error": False, "status_code": 401, "error": {"message": "Unauthorized"}}
    assert unauthorized.json() == expected
    params = {"provider": "openai"}
    assert http.get("/v1/batches", params=params, auth=("user", "wrong")).status_code == 401
    assert http.get("/v1/batches", params=params, auth=("user", "pass")).status_code == 200
    bearer = {"authorization": "Bearer token"}
    assert http.get("/v1/batches", params=params, headers=bearer).status_code == 200


@pytest.mark.parametrize(
    ("headers", "status", "error_type"),
    [
        ({"x-bf-vk": "sk-bf-ok"}, 200, None),
        ({"authorization": "Bearer sk-bf-ok"}, 200, None),
        ({"x-bf-vk": "sk-bf-broke"}, 402, "budget_exceeded"),
        ({"x-bf-vk": "sk-bf-blocked"}, 403, "virtual_key_blocked"),
        ({"x-bf-vk": "sk-bf-busy"}, 429, "rate_limited"),
        ({"x-bf-vk": "sk-bf-unknown"}, 401, "virtual_key_not_found"),
        ({}, 401, "virtual_key_required"),
    ],
)
def test_virtual_keys(
    emu: EmulatorClient, http: httpx.Client, headers: dict[str, str], status: int, error_type: str | None
) -> None:
    emu.configure(
        virtual_keys={
            "sk-bf-ok": "ok",
            "sk-bf-broke": "budget_exceeded",
            "sk-bf-blocked": "blocked",
            "sk-bf-busy": "rate_limited",
        }
    )
    response = http.get("/v1/batches", params={"provider": "openai"}, headers=headers)
    assert response.status_code == status
    if error_type is not None:
        assert response.json()["type"] == error_type


def test_virtual_key_with_gateway_auth_goes_in_header(emu: EmulatorClient, http: httpx.Client) -> None:
    emu.configure(bearer_token="token", virtual_keys={"sk-bf-ok": "ok"})
    params = {"provider": "openai"}
    both = {"authorization": "Bearer token", "x-bf-vk": "sk-bf-ok"}
    assert http.get("/v1/batches", params=params, headers=both).status_code == 200
    vk_only = http.get("/v1/batches", params=params, headers={"authorization": "Bearer sk-bf-ok"})
    assert vk_only.status_code == 401


# --- request log ----------------------------------------------------------------------------------


def test_request_log(emu: EmulatorClient, http: httpx.Client) -> None:
    http.get("/v1/batches", params={"provider": "openai", "limit": "5"}, headers={"x-bf-vk": "k"})
    http.get("/v1/files", params={"x-model-provider": "openai"})
    entry = emu.requests("^/v1/batches")[0]
    assert entry["method"] == "GET"
    assert entry["query"] == {"provider": "openai", "limit": "5"}
    assert entry["headers"]["x-bf-vk"] == "k"
    assert entry["status"] == 200
    assert len(emu.requests(method="GET")) == 2
    emu.clear_requests()
    assert emu.requests() == []


# --- running it -----------------------------------------------------------------------------------


def test_pytest_fixture(bifrost_emulator: EmulatorClient) -> None:
    assert bifrost_emulator.health()["batches"] == 0
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", bifrost_emulator.url)


def test_subprocess_mode() -> None:
    with run_emulator(EmulatorConfig(virtual_keys={"sk-bf-a": "ok"}), subprocess=True) as emu:
        batch = emu.add_batch("openai", 5, timeline=INSTANT)
        emu.add_fault("drop", times=1)
        with httpx.Client(base_url=emu.url, headers={"x-bf-vk": "sk-bf-a"}) as http:
            with pytest.raises(httpx.RemoteProtocolError):
                get_batch(http, batch["id"])
            assert len(results(http, batch["id"])["results"]) == 5


def test_cli_prints_the_url() -> None:
    command = [sys.executable, "-m", "airflow_provider_bifrost.testing.emulator", "--port", "0"]
    command += ["--virtual-key", "sk-bf-cli", "--virtual-key", "sk-bf-poor=budget_exceeded"]
    command += ["--log-level", "error"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, line
        url = match.group(0)
        headers = {"x-bf-vk": "sk-bf-poor"}
        poor = httpx.get(f"{url}/v1/batches", params={"provider": "openai"}, headers=headers)
        assert poor.status_code == 402
        with EmulatorClient(url) as emu:
            assert emu.config()["virtual_keys"] == {"sk-bf-cli": "ok", "sk-bf-poor": "budget_exceeded"}
    finally:
        process.terminate()
        process.wait(10)


def test_large_results_document_streams(emu: EmulatorClient, http: httpx.Client) -> None:
    count = 400_000
    batch = emu.add_batch("openai", count, timeline=INSTANT, item_bytes=1000)
    marker = b'"custom_id":'
    items = size = 0
    carry = b""
    start = time.perf_counter()
    with http.stream("GET", f"/v1/batches/{batch['id']}/results", params={"provider": "openai"}) as response:
        for chunk in response.iter_raw():
            size += len(chunk)
            items += (carry + chunk).count(marker)
            carry = chunk[-(len(marker) - 1) :]
    elapsed = time.perf_counter() - start
    print(f"\n{count} items, {size / 1e6:.0f} MB in {elapsed:.2f} s: {size / 1e6 / elapsed:.0f} MB/s")
    assert items == count
    assert size > count * 900
