"""The emulator's responses validate against Bifrost's published OpenAPI schemas (something we did not write).

``tests/reference/bifrost-openapi-batch-schemas.yaml`` is a vendored copy of the schemas of the batch
and file routes from Bifrost's OpenAPI description. Every route is called for every provider with a
batch API, in several states, and each answer is validated against its schema with ``jsonschema``;
the error answers against ``BifrostError``. The schemas declare no ``required`` fields and allow
unknown ones, so on top of them each batch object's keys must be properties the schema declares (or
one of the few newer fields listed below): a field the gateway does not send (a ``model`` on a batch)
fails, and a ``null`` fails the declared types.

Where the published description lags the gateway, and how the test allows for it:

- ``BatchStatus`` spells only ``canceled``; gateways send ``cancelled`` (Go's
  ``BatchStatusCancelled``) and Gemini's ``deleted``: both are added to the enum here.
- Newer fields it does not declare: ``display_name`` on batch objects (Vertex), and
  ``original_model_requested``/``resolved_model_used``/``parse_errors`` in ``extra_fields`` (it still
  shows ``model_requested``/``model_deployment``): allowed by name in the key check.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from tests.unit.testing.emulator.helpers import (
    CHAT,
    INSTANT,
    PROVIDERS,
    cancel,
    create_body,
    inline_requests,
    jsonl,
    seg,
)

if TYPE_CHECKING:
    import httpx

    from airflow_provider_bifrost.testing.emulator import EmulatorClient

SCHEMA_FILE = Path(__file__).parents[3] / "reference" / "bifrost-openapi-batch-schemas.yaml"
NEWER_BATCH_FIELDS = {"display_name"}
NEWER_EXTRA_FIELDS = {"original_model_requested", "resolved_model_used", "parse_errors"}


def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = yaml.safe_load(SCHEMA_FILE.read_text())
    patched = copy.deepcopy(schemas)
    patched["BatchStatus"]["enum"] += ["cancelled", "deleted"]  # the description lags: see the docstring
    return patched


SCHEMAS = _schemas()


def validate(name: str, instance: Any) -> None:
    """Validate ``instance`` against the schema ``name`` (its ``#/...`` refs resolve in the same file)."""
    validator = Draft202012Validator({**SCHEMAS, "$ref": f"#/{name}"})
    errors = sorted(validator.iter_errors(instance), key=lambda error: list(error.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def check_batch_keys(batch: dict[str, Any]) -> None:
    declared = set(SCHEMAS["BatchRetrieveResponse"]["properties"]) | NEWER_BATCH_FIELDS
    assert set(batch) <= declared, set(batch) - declared
    check_extra_fields(batch["extra_fields"])


def check_extra_fields(extra: dict[str, Any]) -> None:
    declared = set(SCHEMAS["BifrostResponseExtraFields"]["properties"]) | NEWER_EXTRA_FIELDS
    assert set(extra) <= declared, set(extra) - declared


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_batch_routes(emu: EmulatorClient, http: httpx.Client, provider: str) -> None:
    emu.configure(cancel_delay=0.0)
    created = ok(http.post("/v1/batches", json=create_body(provider, 4, metadata={"job_name": "n"})))
    validate("BatchCreateResponse", created)
    check_batch_keys(created)
    batches = [created["id"]]
    for outcome in ("completed", "failed", "expired", "cancelled", "partially_completed"):
        batches.append(emu.add_batch(provider, 6, failed=2, outcome=outcome, timeline=INSTANT)["id"])
    running = emu.add_batch(provider, 6, manual=True)["id"]
    cancelled = ok(cancel(http, running, provider))
    validate("BatchCancelResponse", cancelled)
    check_extra_fields(cancelled["extra_fields"])
    for batch_id in [*batches, running]:
        batch = ok(http.get(f"/v1/batches/{seg(batch_id)}", params={"provider": provider}))
        validate("BatchRetrieveResponse", batch)
        check_batch_keys(batch)
        answer = http.get(f"/v1/batches/{seg(batch_id)}/results", params={"provider": provider})
        if answer.status_code == 200:
            document = answer.json()
            validate("BatchResultsResponse", document)
            check_extra_fields(document["extra_fields"])
        else:
            validate("BifrostError", answer.json())
    listed = ok(http.get("/v1/batches", params={"provider": provider, "limit": "3"}))
    validate("BatchListResponse", listed)
    for batch in listed["data"]:
        check_batch_keys(batch)


def test_results_with_parse_errors_and_the_gemini_placeholder(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = emu.add_batch(
        "anthropic", 3, failed=1, timeline=INSTANT, parse_errors=[{"code": "parse_error", "message": "x"}]
    )
    validate(
        "BatchResultsResponse", ok(http.get(f"/v1/batches/{batch['id']}/results", params={"provider": "anthropic"}))
    )
    emu.configure(gemini_info_placeholder=True)
    gemini = emu.add_batch("gemini", 3, processed=0, timeline=INSTANT)
    document = ok(http.get(f"/v1/batches/{seg(gemini['id'])}/results", params={"provider": "gemini"}))
    assert document["results"][0]["custom_id"] == "info"
    validate("BatchResultsResponse", document)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_file_routes(http: httpx.Client, provider: str) -> None:
    files = {"file": ("in.jsonl", jsonl("a", "b"))}
    uploaded = ok(http.post("/v1/files", params={"provider": provider}, files=files, data={"purpose": "batch"}))
    validate("FileUploadResponse", uploaded)
    file_id = seg(uploaded["id"])
    validate("FileRetrieveResponse", ok(http.get(f"/v1/files/{file_id}", params={"provider": provider})))
    validate("FileListResponse", ok(http.get("/v1/files", params={"x-model-provider": provider})))
    validate("FileDeleteResponse", ok(http.delete(f"/v1/files/{file_id}", params={"provider": provider})))


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/v1/batches", {}),  # provider missing
        ("GET", "/v1/batches", {"params": {"provider": "cohere"}}),  # unsupported_operation
        ("GET", "/v1/batches/batch_nope", {"params": {"provider": "openai"}}),  # upstream 404
        ("POST", "/v1/batches", {"json": {"model": "openai/gpt-4o-mini", "requests": inline_requests(1)}}),  # 500
        ("POST", "/v1/batches", {"json": {"model": "anthropic/c", "input_file_id": "file-x"}}),  # 500
        (
            "POST",
            "/v1/batches",
            {"json": {"model": "openai/m", "endpoint": CHAT, "input_file_id": "f", "requests": [1]}},
        ),
        ("GET", "/v1/files/files%2Fx/content", {"params": {"provider": "gemini"}}),  # 500 not supported
        ("GET", "/v1/batches", {"params": {"provider": "openai", "limit": "x"}}),  # bad query type
    ],
)
def test_error_bodies(http: httpx.Client, method: str, path: str, kwargs: dict[str, Any]) -> None:
    response = http.request(method, path, **kwargs)
    assert response.status_code >= 400
    body = response.json()
    validate("BifrostError", body)
    declared = set(SCHEMAS["BifrostErrorExtraFields"]["properties"]) | NEWER_EXTRA_FIELDS
    assert set(body.get("extra_fields", {})) <= declared


def test_auth_error_bodies(emu: EmulatorClient, http: httpx.Client) -> None:
    emu.configure(virtual_keys={"sk-bf-blocked": "blocked"})
    for headers in ({}, {"x-bf-vk": "sk-bf-blocked"}, {"x-bf-vk": "sk-bf-nope"}):
        validate("BifrostError", http.get("/v1/batches", params={"provider": "openai"}, headers=headers).json())
    emu.configure(virtual_keys=None, bearer_token="t")
    validate("BifrostError", http.get("/v1/batches", params={"provider": "openai"}).json())


def test_openai_alias_routes(http: httpx.Client) -> None:
    files = {"file": ("in.jsonl", jsonl("a"))}
    uploaded = ok(http.post("/openai/v1/files", files=files, data={"purpose": "batch"}))
    validate("FileUploadResponse", uploaded)
    body = {"input_file_id": uploaded["id"], "endpoint": CHAT, "completion_window": "24h"}
    created = ok(http.post("/openai/v1/batches", json=body))
    validate("BatchCreateResponse", created)
    validate("BatchRetrieveResponse", ok(http.get(f"/openai/v1/batches/{created['id']}")))
    validate("BatchListResponse", ok(http.get("/openai/v1/batches")))
    validate("BatchCancelResponse", ok(http.post(f"/openai/v1/batches/{created['id']}/cancel")))
