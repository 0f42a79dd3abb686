"""BifrostError bodies, one constructor per kind of gateway error, and the exception that sends one.

The kinds differ as they do in the gateway (transports/bifrost-http/handlers/utils.go ``SendError``,
core/providers/utils ``NewBifrostOperationError`` / ``NewProviderAPIError``):

- :func:`request_error`: the HTTP handler refuses the request itself (missing ``provider``, a body
  that does not parse): ``is_bifrost_error: false`` and ``status_code`` 400.
- :func:`operation_error`: the gateway's own operation failed, including the provider code's
  validation of a create request: ``is_bifrost_error: true``, no ``status_code``, HTTP 500.
- :func:`upstream_error`: the provider answered an error: its status (404 for an unknown batch...),
  ``is_bifrost_error: false``.

``extra_fields`` use the current names (``provider``, ``request_type``, ``original_model_requested``,
``resolved_model_used``) and, like every field the gateway omits when empty, never carry ``null``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from airflow_provider_bifrost.testing.emulator.routing import CONTROL_PREFIX

if TYPE_CHECKING:
    from fastapi import Request
    from starlette.responses import Response


class GatewayError(Exception):
    """An error answer of the gateway.

    :param status_code: HTTP status.
    :param body: JSON body (a BifrostError, or an auth error's own shape).
    """

    def __init__(self, status_code: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("error", {}).get("message", ""))
        self.status_code = status_code
        self.body = body


def _compact(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if v is not None}


def _error_body(
    *,
    is_bifrost_error: bool,
    status_code: int | None,
    message: str,
    error_type: str | None = None,
    code: str | None = None,
    provider: str | None = None,
    request_type: str | None = None,
    model: str | None = None,
) -> dict[str, Any]:
    extra = {
        "provider": provider,
        "request_type": request_type,
        "original_model_requested": model,
        "resolved_model_used": model,
    }
    return _compact(
        {
            "is_bifrost_error": is_bifrost_error,
            "status_code": status_code,
            "error": _compact({"type": error_type, "code": code, "message": message}),
            "extra_fields": _compact(extra),
        }
    )


def request_error(message: str, *, request_type: str | None = None, provider: str | None = None) -> GatewayError:
    """The HTTP handler's own refusal (400)."""
    body = _error_body(
        is_bifrost_error=False, status_code=400, message=message, provider=provider, request_type=request_type
    )
    return GatewayError(400, body)


def unsupported_operation(provider: str, request_type: str) -> GatewayError:
    """A provider without that operation (400, ``error.code = "unsupported_operation"``)."""
    body = _error_body(
        is_bifrost_error=False,
        status_code=400,
        message=f"{request_type} is not supported by {provider} provider",
        error_type="unsupported_operation",
        code="unsupported_operation",
        provider=provider,
        request_type=request_type,
    )
    return GatewayError(400, body)


def operation_error(message: str, *, provider: str, request_type: str, model: str | None = None) -> GatewayError:
    """A gateway operation error: HTTP 500, ``is_bifrost_error: true``, no ``status_code``.

    A permanent client error when it is the provider's validation of a request.
    """
    body = _error_body(
        is_bifrost_error=True,
        status_code=None,
        message=message,
        provider=provider,
        request_type=request_type,
        model=model,
    )
    return GatewayError(500, body)


def upstream_error(
    status_code: int,
    message: str,
    *,
    provider: str,
    request_type: str,
    error_type: str | None = None,
    model: str | None = None,
) -> GatewayError:
    """The provider's own error answer, passed on with its status."""
    body = _error_body(
        is_bifrost_error=False,
        status_code=status_code,
        message=message,
        error_type=error_type,
        provider=provider,
        request_type=request_type,
        model=model,
    )
    return GatewayError(status_code, body)


async def handle_gateway_error(request: Request, exc: Exception) -> Response:
    """Exception handler: a :class:`GatewayError` as its JSON answer."""
    assert isinstance(exc, GatewayError)
    return JSONResponse(exc.body, status_code=exc.status_code)


async def handle_validation_error(request: Request, exc: Exception) -> Response:
    """Exception handler: bad query/body types are a 400 BifrostError on gateway routes."""
    assert isinstance(exc, RequestValidationError)
    if request.url.path.startswith(CONTROL_PREFIX):
        return await request_validation_exception_handler(request, exc)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()))
    return await handle_gateway_error(request, request_error(f"invalid {where}: {first.get('msg', '')}"))
