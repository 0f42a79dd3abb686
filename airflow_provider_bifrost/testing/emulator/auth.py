"""Gateway auth (Basic / Bearer) and virtual keys, as a FastAPI dependency of the gateway routes.

Virtual keys (prefix ``sk-bf-``) are read from ``x-bf-vk``, ``Authorization: Bearer sk-bf-...``,
``x-api-key: sk-bf-...`` and ``x-goog-api-key: sk-bf-...``, as the gateway reads them. Gateway
Basic/Bearer auth (up to v1.5.12 it could guard inference routes; a reverse proxy still may) is
checked first; while it is on, the ``Authorization`` header holds its credentials, not a key.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

from fastapi import Request  # noqa: TC002 (FastAPI reads the dependency's annotation at run time)

from airflow_provider_bifrost.testing.emulator.errors import GatewayError

if TYPE_CHECKING:
    from airflow_provider_bifrost.testing.emulator.state import EmulatorConfig

VIRTUAL_KEY_PREFIX = "sk-bf-"
UNAUTHORIZED = {"is_bifrost_error": False, "status_code": 401, "error": {"message": "Unauthorized"}}
# policy -> (HTTP status, error type, message)
_POLICY_ERRORS = {
    "budget_exceeded": (402, "budget_exceeded", "budget exceeded for this virtual key"),
    "blocked": (403, "virtual_key_blocked", "virtual key is blocked"),
    "model_blocked": (403, "model_blocked", "model is not allowed for this virtual key"),
    "provider_blocked": (403, "provider_blocked", "provider is not allowed for this virtual key"),
    "rate_limited": (429, "rate_limited", "rate limit exceeded for this virtual key"),
    "request_limited": (429, "request_limited", "request limit exceeded for this virtual key"),
    "token_limited": (429, "token_limited", "token limit exceeded for this virtual key"),
}
# The names gateways from v2.1 use (EmulatorConfig.virtual_key_error_names = "access").
_ACCESS_NAMES = {"virtual_key_not_found": "access_not_found", "virtual_key_blocked": "access_blocked"}


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
    key = _virtual_key(request, authorization if not gateway_auth else "")
    if not key:
        raise _virtual_key_error(401, "virtual_key_required", "virtual key is required (x-bf-vk header)", config)
    policy = config.virtual_keys.get(key)
    if policy is None:
        raise _virtual_key_error(401, "virtual_key_not_found", "virtual key not found", config)
    if policy != "ok":
        status, error_type, message = _POLICY_ERRORS[policy]
        raise _virtual_key_error(status, error_type, message, config)


def _virtual_key(request: Request, authorization: str) -> str | None:
    """The virtual key of the request, from the first header that carries one."""
    key = request.headers.get("x-bf-vk")
    if key:
        return key
    scheme, _, credential = authorization.partition(" ")
    candidates = [
        credential if scheme.lower() == "bearer" else "",
        request.headers.get("x-api-key", ""),
        request.headers.get("x-goog-api-key", ""),
    ]
    return next((value for value in candidates if value.startswith(VIRTUAL_KEY_PREFIX)), None)


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


def _virtual_key_error(status: int, error_type: str, message: str, config: EmulatorConfig) -> GatewayError:
    if config.virtual_key_error_names == "access":
        error_type = _ACCESS_NAMES.get(error_type, error_type)
    return GatewayError(
        status,
        {"type": error_type, "is_bifrost_error": False, "status_code": status, "error": {"message": message}},
    )
