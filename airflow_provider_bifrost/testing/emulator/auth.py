"""Gateway auth (Basic / Bearer) and virtual keys, as a FastAPI dependency of the gateway routes."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

from fastapi import Request  # noqa: TC002 (FastAPI reads the dependency's annotation at run time)

from airflow_provider_bifrost.testing.emulator.errors import GatewayError

if TYPE_CHECKING:
    from airflow_provider_bifrost.testing.emulator.state import EmulatorConfig

UNAUTHORIZED = {"is_bifrost_error": False, "status_code": 401, "error": {"message": "Unauthorized"}}
_POLICY_ERRORS = {
    "budget_exceeded": (402, "budget exceeded for this virtual key"),
    "blocked": (403, "virtual key is blocked"),
    "rate_limited": (429, "rate limit exceeded for this virtual key"),
}
_POLICY_TYPES = {
    "budget_exceeded": "budget_exceeded",
    "blocked": "virtual_key_blocked",
    "rate_limited": "rate_limited",
}


async def check_auth(request: Request) -> None:
    """Reject the request as the gateway would, according to the emulator's config.

    :raises GatewayError: 401 gateway auth failure, or a virtual-key error (401/402/403/429).
    """
    config: EmulatorConfig = request.app.state.emulator.config
    authorization = request.headers.get("authorization", "")
    gateway_auth = config.basic_auth is not None or config.bearer_token is not None
    if gateway_auth and not _gateway_auth_ok(authorization, config):
        raise GatewayError(401, UNAUTHORIZED)
    if config.virtual_keys is None:
        return
    key = request.headers.get("x-bf-vk")
    scheme, _, credential = authorization.partition(" ")
    if not key and not gateway_auth and scheme.lower() == "bearer" and credential.startswith("sk-bf-"):
        key = credential
    if not key:
        raise _virtual_key_error(401, "virtual_key_required", "virtual key is required (x-bf-vk header)")
    policy = config.virtual_keys.get(key)
    if policy is None:
        raise _virtual_key_error(401, "virtual_key_not_found", "virtual key not found")
    if policy != "ok":
        status, message = _POLICY_ERRORS[policy]
        raise _virtual_key_error(status, _POLICY_TYPES[policy], message)


def _gateway_auth_ok(authorization: str, config: EmulatorConfig) -> bool:
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return config.bearer_token is not None and credential == config.bearer_token
    if scheme.lower() != "basic" or config.basic_auth is None:
        return False
    try:
        decoded = base64.b64decode(credential, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    user, _, password = decoded.partition(":")
    return (user, password) == config.basic_auth


def _virtual_key_error(status: int, error_type: str, message: str) -> GatewayError:
    return GatewayError(
        status,
        {"type": error_type, "is_bifrost_error": False, "status_code": status, "error": {"message": message}},
    )
