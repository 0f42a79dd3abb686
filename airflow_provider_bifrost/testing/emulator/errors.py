"""BifrostError bodies and the exception the gateway routes raise to send one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from airflow_provider_bifrost.testing.emulator.faults import CONTROL_PREFIX

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


def bifrost_error(
    status_code: int,
    message: str,
    *,
    error_type: str | None = None,
    code: str | None = None,
    provider: str | None = None,
    request_type: str | None = None,
) -> GatewayError:
    """A :class:`GatewayError` with a BifrostError body."""
    error = {"type": error_type, "code": code, "message": message}
    extra = {"provider": provider, "request_type": request_type}
    return GatewayError(
        status_code,
        {
            "is_bifrost_error": True,
            "status_code": status_code,
            "error": {k: v for k, v in error.items() if v is not None},
            "extra_fields": {k: v for k, v in extra.items() if v is not None},
        },
    )


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
    return await handle_gateway_error(request, bifrost_error(400, f"invalid {where}: {first.get('msg', '')}"))
