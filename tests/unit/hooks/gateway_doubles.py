"""A scripted gateway (httpx's MockTransport) and a client on it, for the unit tests of the HTTP layer."""

from __future__ import annotations

import random

import httpx

from airflow_provider_bifrost.hooks.connection import GatewaySettings
from airflow_provider_bifrost.hooks.http import build_client, raise_for_error
from airflow_provider_bifrost.hooks.retry import RetryPolicy

SECRET = "sk-bf-never-print-me"


def policy(sleeps: list[float], max_retries: int = 3) -> RetryPolicy:
    return RetryPolicy(max_retries=max_retries, sleep=sleeps.append, rng=random.Random(7))


def settings(**overrides: object) -> GatewaySettings:
    values: dict[str, object] = {
        "conn_id": "t",
        "base_url": "http://gw.test",
        "credential_headers": {"x-bf-vk": SECRET, "Authorization": "Bearer tok"},
        "headers": {"x-bf-dim-team": "data"},
    }
    values.update(overrides)
    return GatewaySettings(**values)  # type: ignore[arg-type]


def client_for(handler: httpx.MockTransport) -> httpx.Client:
    return build_client(settings(), transport=handler)


def scripted(*responses: httpx.Response | Exception) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handle), seen


def get(client: httpx.Client, retry: RetryPolicy, *, idempotent: bool = True, method: str = "GET") -> httpx.Response:
    def attempt() -> httpx.Response:
        response = client.request(method, "/v1/batches/b1", params={"provider": "openai"})
        raise_for_error(response)
        return response

    return retry.call(f"{method} /v1/batches/b1", attempt, idempotent=idempotent)
