"""The hook registers every credential of its connection with Airflow's secret masker, so a log line that
carries one (a debug line, an exception message) is redacted in task and trigger logs."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

import pytest
from airflow.sdk._shared.secrets_masker import _secrets_masker
from airflow.sdk.log import mask_logs

from airflow_provider_bifrost.hooks.bifrost import BifrostHook

if TYPE_CHECKING:
    from collections.abc import Iterator

VIRTUAL_KEY = "sk-bf-MASKTEST-5d1e"
PASSWORD = "gw-pass-MASKTEST-88b0"
TOKEN = "tok-MASKTEST-0c7a"
BASIC = base64.b64encode(f"gw-user:{PASSWORD}".encode()).decode()


@pytest.fixture(autouse=True)
def masker() -> Iterator[None]:
    """Airflow's process-wide masker, empty for the test (others register look-alike secrets), then restored."""
    masker = _secrets_masker()
    patterns, replacer = set(masker.patterns), masker.replacer
    masker.patterns, masker.replacer = set(), None
    yield
    masker.patterns, masker.replacer = patterns, replacer


def logged(line: str) -> str:
    """``line`` as Airflow's log pipeline writes it (the ``mask_logs`` processor of task/trigger logs)."""
    return str(mask_logs(None, "info", {"event": line})["event"])


def connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "bifrost", **fields}))
    return conn_id


CASES = {
    "virtual key as password": ({"password": VIRTUAL_KEY}, [VIRTUAL_KEY]),
    # Airflow masks a connection's password itself, but not an extra named `virtual_key`, nor the
    # Basic header's base64: those only the hook registers.
    "basic auth + virtual key extra": (
        {"login": "gw-user", "password": PASSWORD, "extra": {"virtual_key": VIRTUAL_KEY}},
        [PASSWORD, VIRTUAL_KEY, BASIC],
    ),
    "bearer token + virtual key extra": (
        {"extra": {"auth_token": TOKEN, "extra__bifrost__virtual_key": VIRTUAL_KEY}},
        [TOKEN, VIRTUAL_KEY],
    ),
}


@pytest.mark.parametrize(("fields", "secrets"), list(CASES.values()), ids=list(CASES))
def test_the_hook_registers_every_credential_with_the_masker(
    monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any], secrets: list[str]
) -> None:
    conn_id = connection(monkeypatch, "bifrost_mask", host="http://gw.example.com", **fields)
    line = "sending " + ", ".join(f"<{secret}>" for secret in secrets)
    assert logged(line) == line  # the masker does not know them yet

    settings = BifrostHook(conn_id).settings

    masked = logged(line)
    assert not [secret for secret in secrets if secret in masked], masked
    assert masked.count("***") == len(secrets), masked
    # Whatever a careless line logs of the headers sent, the credentials in them are hidden.
    headers = logged(json.dumps(settings.credential_headers))
    assert not [secret for secret in secrets if secret in headers], headers


async def test_the_async_path_of_the_trigger_registers_them_too(monkeypatch: pytest.MonkeyPatch) -> None:
    conn_id = connection(
        monkeypatch,
        "bifrost_mask_async",
        host="http://gw.example.com",
        login="gw-user",
        password=PASSWORD,
        extra={"virtual_key": VIRTUAL_KEY},
    )
    line = f"x-bf-vk={VIRTUAL_KEY} authorization=Basic {BASIC}"
    assert logged(line) == line

    await BifrostHook(conn_id).aget_settings()

    assert logged(line) == "x-bf-vk=*** authorization=Basic ***"
