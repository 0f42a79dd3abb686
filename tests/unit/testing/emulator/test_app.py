"""The gateway routes: create rules per provider, list, retrieve, cancel, /results readiness, files,
and the OpenAI-SDK aliases (with plain httpx; tests/unit/testing/emulator/test_openai_sdk.py drives
them with the official SDK)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import pytest

from tests.unit.testing.emulator.helpers import (
    CHAT,
    INSTANT,
    MODELS,
    PROVIDERS,
    assert_bifrost_error,
    cancel,
    create_batch,
    create_body,
    get_batch,
    get_results_response,
    inline_requests,
    jsonl,
    results,
    seg,
    upload,
)

if TYPE_CHECKING:
    import httpx

    from airflow_provider_bifrost.testing.emulator import EmulatorClient

# --- provider ---------------------------------------------------------------------------------


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
    assert body["extra_fields"] == {"provider": "cohere", "request_type": "batch_list"}
    assert_bifrost_error(http.get("/v1/batches", params={"provider": "nope"}), 400, "invalid provider")


def test_batches_are_per_provider(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = emu.add_batch("openai", 1)
    wrong_provider = http.get(f"/v1/batches/{batch['id']}", params={"provider": "azure"})
    body = assert_bifrost_error(wrong_provider, 404, "batch not found", "upstream")
    assert body["extra_fields"] == {"provider": "azure", "request_type": "batch_retrieve"}
    missing = http.get("/v1/batches/batch_nope", params={"provider": "openai"})
    assert_bifrost_error(missing, 404, "not found", "upstream")


# --- create ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "status", "message", "kind"),
    [
        ({"model": None}, 400, "model is required", "request"),
        ({"model": "gpt-4o-mini"}, 400, "provider/model", "request"),
        ({"model": "mistral/large"}, 400, "not supported by mistral", "request"),
        ({"endpoint": None}, 500, "endpoint is required for OpenAI batch API", "operation"),
        ({"endpoint": "/v1/images"}, 400, "endpoint must be one of", "request"),
        ({"input_file_id": "file-x"}, 400, "not both", "request"),
        ({"input_blob": "https://acct.blob.core.windows.net/c/in.jsonl"}, 400, "not both", "request"),
        ({"requests": None}, 400, "exactly one of", "request"),
        ({"requests": [{"method": "POST", "body": {}}]}, 400, "requests[0]: custom_id is required", "request"),
        ({"requests": inline_requests(1) * 2}, 400, "duplicate custom_id", "request"),
        ({"requests": None, "input_file_id": "file-unknown"}, 404, "file not found", "upstream"),
        ({"metadata": {"a": 1}}, 400, "metadata", "request"),
    ],
)
def test_create_validation(http: httpx.Client, change: dict[str, Any], status: int, message: str, kind: Any) -> None:
    body = {"model": "openai/gpt-4o-mini", "endpoint": CHAT, "requests": inline_requests(2), **change}
    response = http.post("/v1/batches", json={k: v for k, v in body.items() if v is not None})
    assert_bifrost_error(response, status, message, kind)


@pytest.mark.parametrize(
    ("provider", "change", "message"),
    [
        ("azure", {"endpoint": None}, "endpoint is required for Azure batch API"),
        ("anthropic", {"requests": None, "input_file_id": "file-x"}, "requests array is required for Anthropic"),
        ("bedrock", {"role_arn": None}, "role_arn is required for Bedrock batch API"),
        ("bedrock", {"output_s3_uri": None}, "output_s3_uri is required for Bedrock batch API"),
        ("bedrock", {"model": None}, "model is required for Bedrock batch API"),
        ("gemini", {"model": None}, "model is required for Gemini batch API"),
        ("vertex", {"model": None}, "model is required for Vertex batch API"),
        ("vertex", {"output_folder": None}, "output_folder.url (a gs:// prefix) is required for Vertex"),
        ("gemini", {"requests": None, "input_blob": "https://a.blob.core.windows.net/c/x"}, "input_blob is only"),
    ],
)
def test_create_refused_by_the_provider_is_a_500(
    http: httpx.Client, provider: str, change: dict[str, Any], message: str
) -> None:
    body = {**create_body(provider, 2), **change}
    # Without a prefixed model, the provider comes from ?provider= (gateways from mid-2026).
    response = http.post(
        "/v1/batches", params={"provider": provider}, json={k: v for k, v in body.items() if v is not None}
    )
    error = assert_bifrost_error(response, 500, message, "operation")
    assert error["extra_fields"]["provider"] == provider
    assert error["extra_fields"]["request_type"] == "batch_create"


def test_operation_error_names_the_model_with_current_names(http: httpx.Client) -> None:
    response = http.post("/v1/batches", json={**create_body("openai"), "endpoint": None})
    error = assert_bifrost_error(response, 500, "endpoint is required", "operation")
    assert error["extra_fields"] == {
        "provider": "openai",
        "request_type": "batch_create",
        "original_model_requested": "gpt-4o-mini",
        "resolved_model_used": "gpt-4o-mini",
    }


def test_bedrock_role_arn_can_be_held_on_the_gateway_key(emu: EmulatorClient, http: httpx.Client) -> None:
    body = {k: v for k, v in create_body("bedrock").items() if k != "role_arn"}
    assert_bifrost_error(http.post("/v1/batches", json=body), 500, "role_arn is required", "operation")
    emu.configure(bedrock_role_arn="arn:aws:iam::123456789012:role/held")
    assert http.post("/v1/batches", json=body).status_code == 200


@pytest.mark.parametrize("provider", PROVIDERS)
def test_create_every_provider(http: httpx.Client, provider: str) -> None:
    batch = create_batch(http, provider, 3, metadata={"team": "data", "job_name": "nightly"})
    assert batch["object"] == "batch"
    assert batch["request_counts"]["total"] == (0 if provider == "bedrock" else 3)
    assert "model" not in batch
    assert batch["extra_fields"]["request_type"] == "batch_create"
    assert batch["extra_fields"]["original_model_requested"] == MODELS[provider].partition("/")[2]
    assert get_batch(http, batch["id"], provider)["id"] == batch["id"]


def test_model_is_optional_when_the_provider_is_named(http: httpx.Client) -> None:
    body = {k: v for k, v in create_body("openai").items() if k != "model"}
    by_query = http.post("/v1/batches", params={"provider": "openai"}, json=body)
    by_header = http.post("/v1/batches", headers={"x-model-provider": "anthropic"}, json=create_body("anthropic"))
    assert (by_query.status_code, by_header.status_code) == (200, 200)
    assert by_header.json()["id"].startswith("msgbatch_")


def test_unknown_keys_are_passed_to_the_provider(http: httpx.Client) -> None:
    body = create_body(
        "bedrock", 2, job_name="from-extra", output_expires_after={"anchor": "created_at", "seconds": 3600}
    )
    batch = create_batch(http, "bedrock", 2, **{k: v for k, v in body.items() if k not in ("model", "requests")})
    assert get_batch(http, batch["id"], "bedrock")["metadata"]["job_name"] == "from-extra"
    vertex = create_batch(http, "vertex", 2, display_name="nightly", modelParameters={"temperature": 0})
    assert get_batch(http, vertex["id"], "vertex")["display_name"] == "nightly"


def test_create_anthropic_style(http: httpx.Client) -> None:
    anthropic = http.post(
        "/v1/batches",
        json={"model": "anthropic/claude-3-5-haiku", "requests": [{"custom_id": "a", "params": {}}]},
    ).json()
    assert anthropic["id"].startswith("msgbatch_")
    assert anthropic["request_counts"]["total"] == 1
    assert anthropic["processing_status"] == "in_progress"


def test_input_blob_is_a_storage_reference(emu: EmulatorClient, http: httpx.Client) -> None:
    url = "https://acct.blob.core.windows.net/batches/in.jsonl"
    body: dict[str, Any] = {"model": "azure/gpt-4o-mini", "endpoint": CHAT, "input_blob": url}
    body["output_folder"] = {"url": "https://acct.blob.core.windows.net/batches/out/"}
    unknown = http.post("/v1/batches", json=body)
    assert_bifrost_error(unknown, 400, "blob does not exist", "upstream")
    emu.add_blob(url, ["g1", "g2"])
    batch = http.post("/v1/batches", json=body).json()
    assert batch["request_counts"]["total"] == 2
    assert "input_file_id" not in batch
    inline_text = {**body, "input_blob": '{"custom_id": "g1"}\n'}  # not a URL the storage holds
    assert_bifrost_error(http.post("/v1/batches", json=inline_text), 400, "blob does not exist", "upstream")


def test_a_registered_s3_object_is_a_bedrock_input_file(emu: EmulatorClient, http: httpx.Client) -> None:
    emu.add_blob("s3://bucket/in/batch.jsonl", 4)
    body = {**create_body("bedrock"), "requests": None, "input_file_id": "s3://bucket/in/batch.jsonl"}
    batch = http.post("/v1/batches", json={k: v for k, v in body.items() if v is not None}).json()
    assert batch["input_file_id"] == "s3://bucket/in/batch.jsonl"
    emu.set_status(batch["id"], "completed")
    assert len(results(http, batch["id"], "bedrock")["results"]) == 4


# --- metadata retention ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "expected"),
    [
        ("openai", {"team": "data", "job_name": "nightly"}),
        ("azure", {"team": "data", "job_name": "nightly"}),
        ("anthropic", None),
        ("bedrock", {"job_name": "nightly"}),
        ("gemini", None),
        ("vertex", None),
    ],
)
def test_metadata_retention(http: httpx.Client, provider: str, expected: dict[str, str] | None) -> None:
    batch = create_batch(http, provider, 2, metadata={"team": "data", "job_name": "nightly"}, display_name="dn")
    listed = http.get("/v1/batches", params={"provider": provider}).json()["data"][0]
    retrieved = get_batch(http, batch["id"], provider)
    for obj in (listed, retrieved):
        assert obj.get("metadata") == expected
        assert ("display_name" in obj) is (provider == "vertex")


# --- list ----------------------------------------------------------------------------------------


def test_list_batches_pages_newest_first(emu: EmulatorClient, http: httpx.Client) -> None:
    created = [emu.add_batch("openai", 1, metadata={"n": str(i)})["id"] for i in range(5)]
    emu.add_batch("anthropic", 1)
    listed: list[dict[str, Any]] = []
    after = None
    while True:
        params = {"provider": "openai", "limit": "2", **({"after": after} if after else {})}
        page = http.get("/v1/batches", params=params).json()
        assert page["object"] == "list"
        assert "first_id" not in page and "last_id" not in page  # the gateway does not set them
        listed += page["data"]
        if not page["has_more"]:
            assert "next_cursor" not in page
            break
        after = page["next_cursor"]
    assert [batch["id"] for batch in listed] == created[::-1]
    assert [batch["metadata"]["n"] for batch in listed] == ["4", "3", "2", "1", "0"]
    assert len(emu.batches()) == 6


@pytest.mark.parametrize("provider", ["vertex", "azure"])
def test_list_pagination_works(emu: EmulatorClient, http: httpx.Client, provider: str) -> None:
    created = [emu.add_batch(provider, 1)["id"] for _ in range(3)]
    first = http.get("/v1/batches", params={"provider": provider, "limit": "2"}).json()
    second = http.get("/v1/batches", params={"provider": provider, "limit": "2", "after": first["next_cursor"]})
    ids = [b["id"] for b in first["data"] + second.json()["data"]]
    assert ids == created[::-1]
    assert second.json()["has_more"] is False


@pytest.mark.parametrize("provider", ["anthropic", "gemini", "bedrock"])
def test_list_cursor_is_ignored(emu: EmulatorClient, http: httpx.Client, provider: str) -> None:
    for _ in range(3):
        emu.add_batch(provider, 1)
    first = http.get("/v1/batches", params={"provider": provider, "limit": "2"}).json()
    assert first["has_more"] is True
    again = http.get("/v1/batches", params={"provider": provider, "limit": "2", "after": first["next_cursor"]})
    assert again.json()["data"] == first["data"]
    assert again.json()["has_more"] is True  # a client must notice the repeated page and stop


def test_list_invalid_cursor(emu: EmulatorClient, http: httpx.Client) -> None:
    emu.add_batch("openai", 1)
    response = http.get("/v1/batches", params={"provider": "openai", "after": "bm9wZQ"})
    assert_bifrost_error(response, 500, "invalid pagination cursor", "operation")


# --- cancel -------------------------------------------------------------------------------------


def test_cancel(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = emu.add_batch("openai", 4, manual=True)
    response = cancel(http, batch["id"])
    assert response.status_code == 200
    cancelled = response.json()
    assert cancelled["status"] == "cancelling"
    assert set(cancelled) >= {"id", "object", "status", "request_counts", "cancelling_at", "extra_fields"}
    current = get_batch(http, batch["id"])
    assert current["status"] == "cancelled"
    assert current["cancelled_at"] >= current["cancelling_at"]
    again = cancel(http, batch["id"])
    assert_bifrost_error(again, 400, "cannot cancel a batch with status cancelled", "upstream")


def test_cancel_delay_and_terminal(emu: EmulatorClient, http: httpx.Client) -> None:
    emu.configure(cancel_delay=0.3)
    running = emu.add_batch("openai", 2, manual=True)
    cancel(http, running["id"])
    assert get_batch(http, running["id"])["status"] == "cancelling"
    time.sleep(0.35)
    assert get_batch(http, running["id"])["status"] == "cancelled"
    done = emu.add_batch("openai", 2, timeline=INSTANT)
    assert_bifrost_error(cancel(http, done["id"]), 400, "cannot cancel a batch with status completed", "upstream")


@pytest.mark.parametrize(
    ("provider", "cancelling", "cancelled"),
    [
        ("openai", "cancelling", "cancelled"),
        ("anthropic", "cancelling", "ended"),  # canceling -> cancelling; finished is always ended
        ("bedrock", "cancelling", "cancelled"),  # Stopping, Stopped
        ("gemini", "cancelling", "cancelled"),
        ("vertex", "cancelling", "cancelled"),
    ],
)
def test_cancel_per_provider(
    emu: EmulatorClient, http: httpx.Client, provider: str, cancelling: str, cancelled: str
) -> None:
    emu.configure(cancel_delay=0.2)
    batch = emu.add_batch(provider, 3, manual=True)
    answer = cancel(http, batch["id"], provider).json()
    assert answer["status"] == cancelling
    assert answer["extra_fields"] == {"request_type": "batch_cancel", "provider": provider}
    if provider == "anthropic":
        assert get_batch(http, batch["id"], provider)["processing_status"] == "canceling"
    time.sleep(0.25)
    assert get_batch(http, batch["id"], provider)["status"] == cancelled


# --- /results when nothing is ready ----------------------------------------------------------------


def test_results_before_done_are_a_500(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = emu.add_batch("openai", 2, manual=True)
    response = get_results_response(http, batch["id"])
    assert_bifrost_error(response, 500, "batch results not available: output_file_id is empty", "operation")


@pytest.mark.parametrize("provider", ["openai", "azure"])
def test_results_of_an_all_failed_openai_batch_are_a_500(
    emu: EmulatorClient, http: httpx.Client, provider: str
) -> None:
    batch = emu.add_batch(provider, 3, failed=3, timeline=INSTANT)
    current = get_batch(http, batch["id"], provider)
    assert current["status"] == "completed"
    assert "output_file_id" not in current
    error_lines = http.get(f"/v1/files/{current['error_file_id']}/content", params={"provider": provider})
    assert len(error_lines.text.splitlines()) == 3
    assert_bifrost_error(get_results_response(http, batch["id"], provider), 500, "output_file_id is empty", "operation")


@pytest.mark.parametrize(
    ("provider", "status", "message", "kind"),
    [
        ("openai", 500, "output_file_id is empty", "operation"),
        ("azure", 500, "output_file_id is empty", "operation"),
        ("anthropic", 400, "has not ended", "upstream"),
        ("gemini", 500, "is still processing (state: BATCH_STATE_RUNNING)", "operation"),
        ("vertex", 500, "no output yet (state: JOB_STATE_RUNNING)", "operation"),
    ],
)
def test_results_while_running(
    emu: EmulatorClient, http: httpx.Client, provider: str, status: int, message: str, kind: Any
) -> None:
    batch = emu.add_batch(provider, 3, manual=True)
    assert_bifrost_error(get_results_response(http, batch["id"], provider), status, message, kind)


def test_bedrock_results_while_running_are_an_empty_200(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = emu.add_batch("bedrock", 3, timeline=(0, 60, 0))
    time.sleep(0.1)
    document = results(http, batch["id"], "bedrock")
    assert document["results"] == []  # not an empty success: the job has not ended
    emu.set_status(batch["id"], "completed")
    assert len(results(http, batch["id"], "bedrock")["results"]) == 3


def test_vertex_results_wait_for_output(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = emu.add_batch("vertex", 3, outcome="failed", processed=0, timeline=INSTANT)
    current = get_batch(http, batch["id"], "vertex")
    assert current["status"] == "failed" and "output_file_id" not in current
    assert_bifrost_error(get_results_response(http, batch["id"], "vertex"), 500, "no output yet", "operation")


@pytest.mark.parametrize("placeholder", [False, True])
def test_gemini_finished_without_results(emu: EmulatorClient, http: httpx.Client, placeholder: bool) -> None:
    emu.configure(gemini_info_placeholder=placeholder)
    batch = emu.add_batch("gemini", 3, outcome="failed", processed=0, timeline=INSTANT)
    items = results(http, batch["id"], "gemini")["results"]
    if not placeholder:
        assert items == []
    else:  # older gateways: one placeholder item meaning "no results"
        assert items == [
            {
                "custom_id": "info",
                "response": {
                    "status_code": 200,
                    "body": {"message": "Batch completed with state: BATCH_STATE_FAILED. No results available."},
                },
            }
        ]


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


# --- files ----------------------------------------------------------------------------------------


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
    assert uploaded["extra_fields"] == {"request_type": "file_upload", "provider": "openai"}
    file_id = uploaded["id"]
    retrieved = http.get(f"/v1/files/{file_id}", params={"provider": "openai"}).json()
    assert retrieved == {**uploaded, "extra_fields": {"request_type": "file_retrieve", "provider": "openai"}}
    assert http.get(f"/v1/files/{file_id}/content", params={"provider": "openai"}).content == content
    listed = http.get("/v1/files", params={"x-model-provider": "openai", "purpose": "batch"}).json()
    assert [item["id"] for item in listed["data"]] == [file_id]
    assert listed["has_more"] is False
    assert "after" not in listed  # omitted, never null
    by_header = http.get("/v1/files", headers={"x-model-provider": "openai"}).json()
    assert file_id in [item["id"] for item in by_header["data"]]
    batch = http.post(
        "/v1/batches", json={"model": "openai/gpt-4o-mini", "endpoint": CHAT, "input_file_id": file_id}
    ).json()
    assert batch["input_file_id"] == file_id
    assert batch["request_counts"]["total"] == 3
    deleted = http.delete(f"/v1/files/{file_id}", params={"provider": "openai"}).json()
    assert deleted == {
        "id": file_id,
        "object": "file",
        "deleted": True,
        "extra_fields": {"request_type": "file_delete", "provider": "openai"},
    }
    missing = http.get(f"/v1/files/{file_id}", params={"provider": "openai"})
    assert_bifrost_error(missing, 404, "not found", "upstream")


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


def test_upload_provider_from_a_form_field(http: httpx.Client) -> None:
    response = http.post(
        "/v1/files", files={"file": ("x.jsonl", jsonl("a"))}, data={"purpose": "batch", "provider": "bedrock"}
    )
    assert response.json()["id"].startswith("s3://")


@pytest.mark.parametrize("provider", ["bedrock", "gemini", "vertex"])
def test_files_with_slashed_ids(http: httpx.Client, provider: str) -> None:
    uploaded = upload(http, provider, jsonl("a", "b"))
    file_id = uploaded["id"]
    retrieved = http.get(f"/v1/files/{seg(file_id)}", params={"provider": provider}).json()
    assert retrieved["id"] == file_id
    create = {**create_body(provider), "requests": None, "input_file_id": file_id}
    batch = http.post("/v1/batches", json={k: v for k, v in create.items() if v is not None}).json()
    assert batch["request_counts"]["total"] == (0 if provider == "bedrock" else 2)
    deleted = http.delete(f"/v1/files/{seg(file_id)}", params={"provider": provider}).json()
    assert deleted["deleted"] is True


def test_gemini_file_content_is_not_supported(http: httpx.Client) -> None:
    uploaded = upload(http, "gemini", jsonl("a"))
    assert uploaded["purpose"] == "batch"
    retrieved = http.get(f"/v1/files/{seg(uploaded['id'])}", params={"provider": "gemini"}).json()
    assert retrieved["purpose"] == "vision"  # Gemini's files have no purpose: the gateway says vision
    content = http.get(f"/v1/files/{seg(uploaded['id'])}/content", params={"provider": "gemini"})
    assert_bifrost_error(content, 500, "doesn't support direct content download", "operation")


def test_error_files_are_openai_and_azure_only(emu: EmulatorClient, http: httpx.Client) -> None:
    for provider in PROVIDERS:
        batch = get_batch(http, emu.add_batch(provider, 4, failed=2, timeline=INSTANT)["id"], provider)
        assert ("error_file_id" in batch) is (provider in ("openai", "azure")), provider


# --- OpenAI-SDK aliases ----------------------------------------------------------------------------


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
    listed = http.get("/openai/v1/batches").json()
    assert [b["id"] for b in listed["data"]] == [created["id"]]
    assert listed["last_id"] == created["id"]  # OpenAI's list shape: the SDK pages with after=last_id
    assert get_batch(http, created["id"])["metadata"] == {"k": "v"}
    cancelled = http.post(f"/openai/v1/batches/{created['id']}/cancel").json()
    assert cancelled["status"] == "cancelling"
    assert "endpoint" not in cancelled  # the short cancel object
    assert http.get(f"/openai/v1/batches/{created['id']}/results").status_code == 404
    assert http.delete(f"/openai/v1/files/{uploaded['id']}").json()["deleted"] is True


def test_openai_alias_takes_the_provider_from_the_body(http: httpx.Client) -> None:
    body = {"provider": "anthropic", "requests": inline_requests(2)}
    created = http.post("/openai/v1/batches", json=body).json()
    assert created["id"].startswith("msgbatch_")
    assert created["extra_fields"]["provider"] == "anthropic"
    retrieved = http.get(f"/openai/v1/batches/{created['id']}", params={"provider": "anthropic"}).json()
    assert retrieved["id"] == created["id"]
    refused = http.post("/openai/v1/batches", json={"provider": "anthropic", "input_file_id": "file-x"})
    assert_bifrost_error(refused, 500, "requests array is required for Anthropic", "operation")
    without_endpoint = http.post("/openai/v1/batches", json={"requests": inline_requests(1)})
    assert_bifrost_error(without_endpoint, 500, "endpoint is required for OpenAI", "operation")
