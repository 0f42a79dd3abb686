"""Gateway auth and virtual keys: where the gateway reads a key, and its error types."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import httpx

    from airflow_provider_bifrost.testing.emulator import EmulatorClient

KEYS = {
    "sk-bf-ok": "ok",
    "sk-bf-broke": "budget_exceeded",
    "sk-bf-blocked": "blocked",
    "sk-bf-model": "model_blocked",
    "sk-bf-provider": "provider_blocked",
    "sk-bf-busy": "rate_limited",
    "sk-bf-requests": "request_limited",
    "sk-bf-tokens": "token_limited",
}


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
        ({"x-api-key": "sk-bf-ok"}, 200, None),
        ({"x-goog-api-key": "sk-bf-ok"}, 200, None),
        ({"x-bf-vk": "sk-bf-broke"}, 402, "budget_exceeded"),
        ({"x-bf-vk": "sk-bf-blocked"}, 403, "virtual_key_blocked"),
        ({"x-bf-vk": "sk-bf-model"}, 403, "model_blocked"),
        ({"x-bf-vk": "sk-bf-provider"}, 403, "provider_blocked"),
        ({"x-bf-vk": "sk-bf-busy"}, 429, "rate_limited"),
        ({"x-bf-vk": "sk-bf-requests"}, 429, "request_limited"),
        ({"x-bf-vk": "sk-bf-tokens"}, 429, "token_limited"),
        ({"x-bf-vk": "sk-bf-unknown"}, 401, "virtual_key_not_found"),
        ({"x-api-key": "sk-bf-unknown"}, 401, "virtual_key_not_found"),
        ({"x-api-key": "provider-key"}, 401, "virtual_key_required"),  # not a virtual key
        ({}, 401, "virtual_key_required"),
    ],
)
def test_virtual_keys(
    emu: EmulatorClient, http: httpx.Client, headers: dict[str, str], status: int, error_type: str | None
) -> None:
    emu.configure(virtual_keys=KEYS)
    response = http.get("/v1/batches", params={"provider": "openai"}, headers=headers)
    assert response.status_code == status
    if error_type is not None:
        body = response.json()
        assert body["type"] == error_type
        assert (body["is_bifrost_error"], body["status_code"]) == (False, status)


@pytest.mark.parametrize(
    ("key", "error_type"), [("sk-bf-unknown", "access_not_found"), ("sk-bf-blocked", "access_blocked")]
)
def test_v21_error_names(emu: EmulatorClient, http: httpx.Client, key: str, error_type: str) -> None:
    emu.configure(virtual_keys=KEYS, virtual_key_error_names="access")
    response = http.get("/v1/batches", params={"provider": "openai"}, headers={"x-bf-vk": key})
    assert response.json()["type"] == error_type


def test_virtual_key_with_gateway_auth_goes_in_header(emu: EmulatorClient, http: httpx.Client) -> None:
    emu.configure(bearer_token="token", virtual_keys={"sk-bf-ok": "ok"})
    params = {"provider": "openai"}
    both = {"authorization": "Bearer token", "x-bf-vk": "sk-bf-ok"}
    assert http.get("/v1/batches", params=params, headers=both).status_code == 200
    vk_only = http.get("/v1/batches", params=params, headers={"authorization": "Bearer sk-bf-ok"})
    assert vk_only.status_code == 401
    api_key = {"authorization": "Bearer token", "x-api-key": "sk-bf-ok"}
    assert http.get("/v1/batches", params=params, headers=api_key).status_code == 200
