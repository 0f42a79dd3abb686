"""BifrostHook against the emulator over loopback HTTP: every method, auth form and error class."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_bifrost.exceptions import (
    BifrostAuthenticationError,
    BifrostBadRequestError,
    BifrostBudgetExceededError,
    BifrostConfigError,
    BifrostNotFoundError,
    BifrostOperationError,
    BifrostPermissionError,
    BifrostProtocolError,
    BifrostRateLimitError,
    BifrostServerError,
    BifrostTransportError,
    BifrostUnsupportedOperationError,
)
from airflow_provider_bifrost.hooks.bifrost import BifrostHook

if TYPE_CHECKING:
    from pathlib import Path

    import httpx

    from airflow_provider_bifrost.testing.emulator import EmulatorClient

    from .conftest import RecordedSleeps

MakeHook = Callable[..., BifrostHook]
REQUESTS = [
    {
        "custom_id": f"q{i}",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"question {i}"}]},
    }
    for i in range(5)
]


# -- batches ------------------------------------------------------------------------------------


def test_get_batch(emulator: EmulatorClient, make_hook: MakeHook) -> None:
    seeded = emulator.add_batch("openai", requests=7, manual=True, metadata={"team": "data"})
    batch = make_hook().get_batch(seeded["id"], "openai")
    assert (batch.id, batch.status, batch.request_counts.total) == (seeded["id"], "in_progress", 7)
    assert batch.metadata == {"team": "data"}


def test_provider_defaults_to_the_connection(emulator: EmulatorClient, make_hook: MakeHook) -> None:
    seeded = emulator.add_batch("anthropic", requests=2)
    hook = make_hook(extra={"default_provider": "anthropic"})
    assert hook.get_batch(seeded["id"]).id == seeded["id"]
    assert emulator.requests("/v1/batches/")[-1]["query"]["provider"] == "anthropic"


def test_unknown_provider_is_refused_before_any_request(emulator: EmulatorClient, make_hook: MakeHook) -> None:
    with pytest.raises(BifrostConfigError, match=r"'openia' is not a Bifrost provider\. Valid values: openai, azure"):
        make_hook().get_batch("batch_1", "openia")
    with pytest.raises(BifrostConfigError, match="provider is required"):
        make_hook().get_batch("batch_1")
    assert emulator.requests() == []


@pytest.mark.parametrize("bad_id", ["", "   ", ".", "..", "x\ny", "None"])
def test_bad_batch_ids_are_refused_before_any_request(
    emulator: EmulatorClient, make_hook: MakeHook, bad_id: str
) -> None:
    with pytest.raises(BifrostConfigError, match="batch_id"):
        make_hook().get_batch(bad_id, "openai")
    assert emulator.requests() == []


def test_create_batch_inline_then_wait_and_read_results(emulator: EmulatorClient, make_hook: MakeHook) -> None:
    hook = make_hook()
    batch = hook.create_batch(
        model="gpt-4o-mini",
        provider="openai",
        endpoint="/v1/chat/completions",
        requests=REQUESTS,
        metadata={"airflow_dag": "d"},
    )
    created = emulator.requests("/v1/batches$", method="POST")
    assert len(created) == 1
    assert batch.status in ("validating", "in_progress") and batch.metadata == {"airflow_dag": "d"}
    emulator.set_status(batch.id, "completed")
    results = list(hook.iter_batch_results(batch.id, "openai"))
    assert sorted(r.custom_id or "" for r in results) == [f"q{i}" for i in range(5)]
    assert all(r.succeeded for r in results)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "openai/gpt-4o-mini", "requests": REQUESTS}, "endpoint is required for provider 'openai'"),
        ({"model": "openai/gpt-4o-mini", "endpoint": "/v1/chat/completions"}, "exactly one batch input"),
        (
            {"model": "openai/x", "endpoint": "/v1/chat/completions", "requests": REQUESTS, "input_file_id": "f"},
            "got input_file_id and requests",
        ),
        ({"model": "gpt-4o-mini", "requests": REQUESTS}, "provider is required"),
        ({"model": "anthropic/claude", "requests": [{"custom_id": "a"}]}, "has no body"),
        ({"model": "anthropic/claude", "requests": [REQUESTS[0], REQUESTS[0]]}, "repeats custom_id 'q0'"),
        ({"model": "openai/x", "provider": "anthropic", "requests": REQUESTS}, "names provider 'openai'"),
    ],
)
def test_create_batch_validation(
    emulator: EmulatorClient, make_hook: MakeHook, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(BifrostConfigError, match=message):
        make_hook().create_batch(**kwargs)  # type: ignore[arg-type]
    assert emulator.requests() == []


def test_create_batch_is_not_repeated_after_a_server_error(emulator: EmulatorClient, make_hook: MakeHook) -> None:
    emulator.add_fault("status", method="POST", path="^/v1/batches$", status=503, times=1)
    with pytest.raises(BifrostServerError):
        make_hook().create_batch(model="anthropic/claude-3-5-haiku", requests=REQUESTS)
    assert len(emulator.requests("^/v1/batches$", method="POST")) == 1


def test_create_batch_response_lost_is_not_repeated(emulator: EmulatorClient, make_hook: MakeHook) -> None:
    """The gateway creates the batch but the answer never arrives: no blind second submission."""
    emulator.add_fault("lose_response", method="POST", path="^/v1/batches$", times=1)
    with pytest.raises(BifrostTransportError):
        make_hook().create_batch(model="anthropic/claude-3-5-haiku", requests=REQUESTS)
    assert len(emulator.batches()) == 1


def test_list_and_iterate_batches(emulator: EmulatorClient, make_hook: MakeHook) -> None:
    ids = {emulator.add_batch("openai", requests=1)["id"] for _ in range(5)}
    emulator.add_batch("anthropic", requests=1)
    hook = make_hook()
    page = hook.list_batches("openai", limit=2)
    assert len(page.data) == 2 and page.has_more
    assert {b.id for b in hook.iter_batches("openai", page_size=2)} == ids


def test_alist_batches_pages_on_the_shared_client(emulator: EmulatorClient, make_hook: MakeHook) -> None:
    """One request for many batches' statuses (what a trigger waiting on many would send), page after page."""
    import asyncio

    ids = {emulator.add_batch("openai", requests=1, manual=True)["id"] for _ in range(5)}
    emulator.add_batch("anthropic", requests=1)
    emulator.clear_requests()

    async def every_page() -> list[list[tuple[str, str | None]]]:
        hook = make_hook()
        pages: list[list[tuple[str, str | None]]] = []
        async with hook.shared_async_client():
            after: str | None = None
            while True:
                page = await hook.alist_batches("openai", limit=2, after=after)
                pages.append([(batch.id, batch.status) for batch in page.data])
                after = page.next_cursor or page.last_id
                if not page.has_more:
                    return pages

    pages = asyncio.run(every_page())
    assert [len(page) for page in pages] == [2, 2, 1]
    assert {batch_id for page in pages for batch_id, _ in page} == ids
    assert {status for page in pages for _, status in page} == {"in_progress"}
    lists = emulator.requests("^/v1/batches$")
    assert len(lists) == 3 and lists[0]["query"] == {"provider": "openai", "limit": "2"}
    with pytest.raises(BifrostConfigError, match="from 1 to 100"):
        asyncio.run(make_hook().alist_batches("openai", limit=101))


def test_cancel_batch_sync_and_async(emulator: EmulatorClient, make_hook: MakeHook) -> None:
    import asyncio

    hook = make_hook()
    first = emulator.add_batch("openai", requests=3, manual=True)["id"]
    second = emulator.add_batch("openai", requests=3, manual=True)["id"]
    assert hook.cancel_batch(first, "openai").status in ("cancelling", "cancelled")
    cancelled = asyncio.run(hook.acancel_batch(second, "openai"))
    assert cancelled.status in ("cancelling", "cancelled")
    assert hook.get_batch(first, "openai").status == "cancelled"


def test_aget_batch(emulator: EmulatorClient, make_hook: MakeHook) -> None:
    import asyncio

    seeded = emulator.add_batch("gemini", requests=4, manual=True)
    emulator.set_status(seeded["id"], "completed")

    async def fetch() -> str | None:
        hook = make_hook()
        try:
            return (await hook.aget_batch(seeded["id"], "gemini")).status
        finally:
            await hook.aclose()

    assert asyncio.run(fetch()) == "completed"


def test_a_status_checks_response_is_freed_at_once_not_left_to_the_garbage_collector(
    emulator: EmulatorClient, make_hook: MakeHook
) -> None:
    """A thousand waits poll in one triggerer: a response that outlives its poll in a reference cycle makes
    full collections long enough to stall the event loop (see docs/performance.md)."""
    import asyncio
    import gc
    import weakref

    seeded = emulator.add_batch("openai", requests=2, manual=True)

    async def poll() -> list[weakref.ref[httpx.Response]]:
        hook = make_hook()
        try:
            async with hook.shared_async_client():
                path, params = f"/v1/batches/{seeded['id']}", {"provider": "openai"}
                responses = [await hook._asend("GET", path, params=params) for _ in range(3)]
                assert [response.json()["id"] for response in responses] == [seeded["id"]] * 3
                return [weakref.ref(response) for response in responses]
        finally:
            await hook.aclose()

    gc.collect()
    gc.disable()
    try:
        refs = asyncio.run(poll())
        assert [ref() for ref in refs] == [None, None, None]  # freed by their reference counts alone
    finally:
        gc.enable()


def test_a_triggers_status_checks_log_no_info_line_per_request(
    emulator: EmulatorClient, make_hook: MakeHook, caplog: pytest.LogCaptureFixture
) -> None:
    """On the shared client (a trigger's), httpx's INFO line per request is dropped; elsewhere it stays."""
    import asyncio
    import logging

    seeded = emulator.add_batch("openai", requests=2, manual=True)

    async def poll(shared: bool) -> None:
        hook = make_hook()
        try:
            if shared:
                async with hook.shared_async_client():
                    await hook.aget_batch(seeded["id"], "openai")
            else:
                await hook.aget_batch(seeded["id"], "openai")
        finally:
            await hook.aclose()

    def request_lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "httpx" and "HTTP Request" in r.getMessage()]

    caplog.set_level(logging.INFO, logger="httpx")
    asyncio.run(poll(shared=True))
    assert request_lines() == []
    asyncio.run(poll(shared=False))
    assert len(request_lines()) == 1


# -- files --------------------------------------------------------------------------------------


def _write_jsonl(path: Path, n: int) -> None:
    path.write_text("".join(json.dumps({**REQUESTS[0], "custom_id": f"line-{i}"}) + "\n" for i in range(n)))


def test_upload_local_file_create_and_read_files(emulator: EmulatorClient, make_hook: MakeHook, tmp_path: Path) -> None:
    source = tmp_path / "input.jsonl"
    _write_jsonl(source, 20)
    hook = make_hook()
    uploaded = hook.upload_file(source, "openai")
    assert (uploaded.bytes, uploaded.filename, uploaded.purpose) == (source.stat().st_size, "input.jsonl", "batch")
    assert hook.get_file(uploaded.id, "openai").id == uploaded.id
    batch = hook.create_batch(model="openai/gpt-4o-mini", endpoint="/v1/chat/completions", input_file_id=uploaded.id)
    assert (batch.request_counts.total, batch.input_file_id) == (20, uploaded.id)
    content = b"".join(hook.iter_file_content(uploaded.id, "openai"))
    assert content == source.read_bytes()
    lines = list(hook.iter_file_content(uploaded.id, "openai", lines=True))
    assert len(lines) == 20 and json.loads(lines[3])["custom_id"] == "line-3"
    assert [item["custom_id"] for item in hook.iter_file_items(uploaded.id, "openai")][:2] == ["line-0", "line-1"]
    hook.delete_file(uploaded.id, "openai")
    with pytest.raises(BifrostNotFoundError):
        hook.get_file(uploaded.id, "openai")


def test_upload_from_object_storage_path(emulator: EmulatorClient, make_hook: MakeHook, tmp_path: Path) -> None:
    source = tmp_path / "store" / "input.jsonl"
    source.parent.mkdir()
    _write_jsonl(source, 3)
    uploaded = make_hook().upload_file(ObjectStoragePath(f"file://{source}"), "anthropic")
    assert uploaded.bytes == source.stat().st_size


def test_upload_of_a_missing_file_is_refused(emulator: EmulatorClient, make_hook: MakeHook, tmp_path: Path) -> None:
    with pytest.raises(BifrostConfigError, match="is not a file"):
        make_hook().upload_file(tmp_path / "nope.jsonl", "openai")


def test_error_file_of_an_openai_batch(emulator: EmulatorClient, make_hook: MakeHook) -> None:
    seeded = emulator.add_batch("openai", requests=10, failed=3, manual=True)
    emulator.set_status(seeded["id"], "completed")
    hook = make_hook()
    batch = hook.get_batch(seeded["id"], "openai")
    assert batch.error_file_id and batch.output_file_id
    errored = list(hook.iter_file_items(batch.error_file_id, "openai"))
    results = list(hook.iter_batch_result_dicts(batch.id, "openai"))
    assert len(errored) == 3 and len(results) == 7
    assert not {e["custom_id"] for e in errored} & {r["custom_id"] for r in results}


def test_error_file_download_resumes_after_a_drop(
    emulator: EmulatorClient, make_hook: MakeHook, sleeps: RecordedSleeps
) -> None:
    seeded = emulator.add_batch("openai", requests=3000, failed=2000, item_bytes=500, manual=True)
    emulator.set_status(seeded["id"], "completed")
    hook = make_hook()
    error_file = hook.get_batch(seeded["id"], "openai").error_file_id
    assert error_file
    whole = b"".join(hook.iter_file_content(error_file, "openai"))
    emulator.add_fault("truncate", path="/content$", bytes=300_000, times=2)  # cut mid-line, twice
    items = list(hook.iter_file_items(error_file, "openai"))
    assert items == [json.loads(line) for line in whole.splitlines()]
    assert len({item["custom_id"] for item in items}) == 2000
    assert len(emulator.requests("/content$")) == 1 + 3 and len(sleeps) == 2


def test_error_file_download_gives_up_after_the_retry_budget(
    emulator: EmulatorClient, make_hook: MakeHook, sleeps: RecordedSleeps
) -> None:
    seeded = emulator.add_batch("openai", requests=1000, failed=1000, item_bytes=500, manual=True)
    emulator.set_status(seeded["id"], "completed")
    hook = make_hook(max_retries=1)
    error_file = hook.get_batch(seeded["id"], "openai").error_file_id
    assert error_file
    emulator.add_fault("truncate", path="/content$", bytes=100_000)
    with pytest.raises(BifrostTransportError, match="/content"):
        list(hook.iter_file_items(error_file, "openai"))
    assert len(emulator.requests("/content$")) == 2


# -- results ------------------------------------------------------------------------------------


def test_results_before_done_is_the_gateways_verdict_not_retried(emulator: EmulatorClient, make_hook: MakeHook) -> None:
    seeded = emulator.add_batch("openai", requests=3, manual=True)
    with pytest.raises(BifrostOperationError, match=r"HTTP 500: batch results not available.*not retried"):
        list(make_hook(max_retries=3).iter_batch_result_dicts(seeded["id"], "openai"))
    assert len(emulator.requests("/results$")) == 1


def test_anthropic_results_and_parse_errors(emulator: EmulatorClient, make_hook: MakeHook) -> None:
    seeded = emulator.add_batch("anthropic", requests=6, failed=2, manual=True, parse_errors=["line 9: bad"])
    emulator.set_status(seeded["id"], "ended")
    results = make_hook().iter_batch_result_dicts(seeded["id"], "anthropic")
    items = list(results)
    assert len(items) == 6
    assert sum(1 for i in items if i["result"]["type"] == "succeeded") == 4
    assert results.parse_errors == ["line 9: bad"]


def test_results_pages_are_followed(emulator: EmulatorClient, make_hook: MakeHook) -> None:
    seeded = emulator.add_batch("openai", requests=25, results_page_size=10, manual=True)
    emulator.set_status(seeded["id"], "completed")
    results = make_hook().iter_batch_result_dicts(seeded["id"], "openai")
    ids = [item["custom_id"] for item in results]
    assert len(ids) == len(set(ids)) == 25
    assert len(results.pages) == 3
    afters = [r["query"].get("after") for r in emulator.requests("/results$")]
    assert afters[0] is None and all(afters[1:]) and len(set(afters)) == 3


@pytest.mark.parametrize(("bug", "message"), [("repeat", "repeated cursor"), ("missing", "gives no next_cursor")])
def test_results_cursor_guards(emulator: EmulatorClient, make_hook: MakeHook, bug: str, message: str) -> None:
    seeded = emulator.add_batch("openai", requests=30, results_page_size=10, cursor_bug=bug, manual=True)
    emulator.set_status(seeded["id"], "completed")
    got: list[object] = []
    with pytest.raises(BifrostProtocolError, match=message):
        for item in make_hook().iter_batch_result_dicts(seeded["id"], "openai"):
            got.append(item)
    assert len(emulator.requests("/results$")) <= 3


def test_results_stream_resumes_after_a_drop(
    emulator: EmulatorClient, make_hook: MakeHook, sleeps: RecordedSleeps
) -> None:
    seeded = emulator.add_batch("openai", requests=2000, manual=True)
    emulator.set_status(seeded["id"], "completed")
    emulator.add_fault("truncate", path="/results$", bytes=300_000, times=2)
    ids = [item["custom_id"] for item in make_hook().iter_batch_result_dicts(seeded["id"], "openai")]
    assert len(ids) == len(set(ids)) == 2000
    assert len(emulator.requests("/results$")) == 3
    assert len(sleeps) == 2


def test_results_stream_gives_up_after_the_retry_budget(
    emulator: EmulatorClient, make_hook: MakeHook, sleeps: RecordedSleeps
) -> None:
    seeded = emulator.add_batch("openai", requests=500, manual=True)
    emulator.set_status(seeded["id"], "completed")
    emulator.add_fault("truncate", path="/results$", bytes=5000)
    with pytest.raises(BifrostTransportError):
        list(make_hook(max_retries=2).iter_batch_result_dicts(seeded["id"], "openai"))
    assert len(emulator.requests("/results$")) == 3


def test_100k_results_stream(emulator: EmulatorClient, make_hook: MakeHook) -> None:
    seeded = emulator.add_batch("openai", requests=100_000, manual=True, item_bytes=300)
    emulator.set_status(seeded["id"], "completed")
    count = 0
    last = None
    for item in make_hook().iter_batch_result_dicts(seeded["id"], "openai"):
        count += 1
        last = item["custom_id"]
    assert count == 100_000 and last is not None


# -- auth ---------------------------------------------------------------------------------------


def test_virtual_key_as_password(emulator: EmulatorClient, make_hook: MakeHook) -> None:
    emulator.configure(virtual_keys={"sk-bf-good": "ok"})
    seeded = emulator.add_batch("openai", requests=1)
    assert make_hook(password="sk-bf-good").get_batch(seeded["id"], "openai").id == seeded["id"]
    assert emulator.requests()[-1]["headers"]["x-bf-vk"] == "sk-bf-good"


def test_basic_auth_with_virtual_key_in_extra(emulator: EmulatorClient, make_hook: MakeHook) -> None:
    emulator.configure(basic_auth=("admin", "gw-pass"), virtual_keys={"sk-bf-good": "ok"})
    seeded = emulator.add_batch("openai", requests=1)
    hook = make_hook(login="admin", password="gw-pass", extra={"virtual_key": "sk-bf-good"})
    assert hook.get_batch(seeded["id"], "openai").id == seeded["id"]
    with pytest.raises(BifrostAuthenticationError, match="HTTP 401"):
        make_hook(login="admin", password="wrong", extra={"virtual_key": "sk-bf-good"}).get_batch(
            seeded["id"], "openai"
        )


def test_bearer_token(emulator: EmulatorClient, make_hook: MakeHook) -> None:
    emulator.configure(bearer_token="tok-123")
    seeded = emulator.add_batch("openai", requests=1)
    assert make_hook(extra={"auth_token": "tok-123"}).get_batch(seeded["id"], "openai").id == seeded["id"]
    with pytest.raises(BifrostAuthenticationError):
        make_hook(extra={"auth_token": "nope"}).get_batch(seeded["id"], "openai")


def test_extra_headers_are_sent(emulator: EmulatorClient, make_hook: MakeHook) -> None:
    seeded = emulator.add_batch("openai", requests=1)
    make_hook(extra={"headers": {"x-bf-dim-team": "data"}}).get_batch(seeded["id"], "openai")
    assert emulator.requests()[-1]["headers"]["x-bf-dim-team"] == "data"


@pytest.mark.parametrize(
    ("key", "cls", "fragment"),
    [
        (None, BifrostAuthenticationError, "virtual_key_required"),
        ("sk-bf-unknown", BifrostAuthenticationError, "virtual_key_not_found"),
        ("sk-bf-broke", BifrostBudgetExceededError, "budget_exceeded"),
        ("sk-bf-blocked", BifrostPermissionError, "virtual_key_blocked"),
    ],
)
def test_virtual_key_errors(
    emulator: EmulatorClient, make_hook: MakeHook, key: str | None, cls: type[Exception], fragment: str
) -> None:
    emulator.configure(virtual_keys={"sk-bf-good": "ok", "sk-bf-broke": "budget_exceeded", "sk-bf-blocked": "blocked"})
    hook = make_hook(**({"password": key} if key else {}))
    with pytest.raises(cls) as info:
        hook.get_batch("batch_x", "openai")
    assert type(info.value) is cls and fragment in str(info.value)
    assert key is None or key not in str(info.value)
    assert len(emulator.requests()) == 1  # permanent: not retried


def test_test_connection(emulator: EmulatorClient, make_hook: MakeHook) -> None:
    emulator.configure(virtual_keys={"sk-bf-good": "ok"})
    ok, message = make_hook(password="sk-bf-good").test_connection()
    assert ok and emulator.url in message
    ok, message = make_hook(password="sk-bf-wrong").test_connection()
    assert not ok and "virtual_key_not_found" in message and "virtual key" in message
    assert "sk-bf-wrong" not in message


def test_test_connection_wrong_url(make_hook: MakeHook) -> None:
    ok, message = make_hook(host="http://127.0.0.1:9").test_connection()
    assert not ok and "Check the connection's Gateway URL" in message


# -- errors and retries -------------------------------------------------------------------------


def test_unsupported_provider(emulator: EmulatorClient, make_hook: MakeHook) -> None:
    with pytest.raises(BifrostUnsupportedOperationError, match="unsupported_operation"):
        make_hook().get_batch("batch_1", "groq")


def test_not_found(emulator: EmulatorClient, make_hook: MakeHook) -> None:
    with pytest.raises(BifrostNotFoundError, match="HTTP 404"):
        make_hook().get_batch("batch_missing", "openai")


def test_transient_faults_are_retried_with_backoff_and_retry_after(
    emulator: EmulatorClient, make_hook: MakeHook, sleeps: RecordedSleeps
) -> None:
    seeded = emulator.add_batch("openai", requests=1)
    emulator.set_faults(
        [
            {"action": "status", "path": "/v1/batches/", "status": 503, "times": 1},
            {"action": "status", "path": "/v1/batches/", "status": 429, "retry_after": "7", "times": 1},
            {"action": "html", "path": "/v1/batches/", "status": 502, "times": 1},
            {"action": "drop", "path": "/v1/batches/", "times": 1},
        ]
    )
    assert make_hook(max_retries=5).get_batch(seeded["id"], "openai").id == seeded["id"]
    assert len(emulator.requests("/v1/batches/")) == 5
    assert len(sleeps) == 4
    assert 0.5 <= sleeps[0] <= 1.0 and sleeps[1] == 7.0 and 2.0 <= sleeps[2] <= 4.0 and 4.0 <= sleeps[3] <= 8.0


def test_persistent_faults_end_in_a_clear_error(
    emulator: EmulatorClient, make_hook: MakeHook, sleeps: RecordedSleeps
) -> None:
    emulator.add_fault("html", path="/v1/batches/", status=502)
    with pytest.raises(BifrostServerError) as info:
        make_hook(max_retries=2).get_batch("batch_1", "openai")
    assert "HTTP 502" in str(info.value) and "text/html" in str(info.value) and "Bad Gateway" in str(info.value)
    assert len(emulator.requests("/v1/batches/")) == 3


def test_rate_limit_error_after_retries(emulator: EmulatorClient, make_hook: MakeHook) -> None:
    emulator.add_fault("status", path="/v1/batches/", status=429)
    with pytest.raises(BifrostRateLimitError):
        make_hook(max_retries=1).get_batch("batch_1", "openai")


def test_dropped_connection_after_retries(emulator: EmulatorClient, make_hook: MakeHook) -> None:
    emulator.add_fault("drop", path="/v1/batches/")
    with pytest.raises(BifrostTransportError, match="RemoteProtocolError"):
        make_hook(max_retries=1).get_batch("batch_1", "openai")


def test_read_timeout_is_retried(emulator: EmulatorClient, make_hook: MakeHook, sleeps: RecordedSleeps) -> None:
    seeded = emulator.add_batch("openai", requests=1)
    emulator.add_fault("delay", path="/v1/batches/", seconds=1.5, times=1)
    hook = make_hook(extra={"timeout": 0.5})
    assert hook.get_batch(seeded["id"], "openai").id == seeded["id"]
    assert len(sleeps) == 1


def test_empty_error_body(emulator: EmulatorClient, make_hook: MakeHook) -> None:
    emulator.add_fault("empty", path="/v1/batches/", status=400)
    with pytest.raises(BifrostBadRequestError, match="empty body"):
        make_hook().get_batch("batch_1", "openai")


def test_uri_form_connection_from_the_environment(emulator: EmulatorClient, monkeypatch: pytest.MonkeyPatch) -> None:
    emulator.configure(virtual_keys={"sk-bf-uri": "ok"})
    seeded = emulator.add_batch("anthropic", requests=1)
    host = emulator.url.removeprefix("http://")
    monkeypatch.setenv("AIRFLOW_CONN_BIFROST_URI", f"bifrost://http://:sk-bf-uri@{host}/v1?default_provider=anthropic")
    assert BifrostHook("bifrost_uri").get_batch(seeded["id"]).id == seeded["id"]


def test_model_prefix_wins_over_the_connection_default(emulator: EmulatorClient, make_hook: MakeHook) -> None:
    hook = make_hook(extra={"default_provider": "openai"})
    batch = hook.create_batch(model="anthropic/claude-3-5-haiku", requests=REQUESTS)
    assert emulator.requests("^/v1/batches$")[-1]["status"] == 200
    assert hook.get_batch(batch.id, "anthropic").id == batch.id
    with_default = hook.create_batch(model="gpt-4o-mini", endpoint="/v1/chat/completions", requests=REQUESTS)
    assert hook.get_batch(with_default.id).id == with_default.id
