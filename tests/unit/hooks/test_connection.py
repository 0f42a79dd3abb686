from __future__ import annotations

import base64
import json
import re
import ssl

import pytest
from airflow.sdk import Connection

from airflow_provider_bifrost.exceptions import BifrostConfigError
from airflow_provider_bifrost.hooks.connection import GatewaySettings
from airflow_provider_bifrost.hooks.http import client_kwargs


def settings(**fields: object) -> GatewaySettings:
    extra = fields.pop("extra", None)
    conn = Connection(
        conn_id="bifrost_test",
        conn_type="bifrost",
        extra=json.dumps(extra) if isinstance(extra, dict) else extra,  # type: ignore[arg-type]
        **fields,  # type: ignore[arg-type]
    )
    return GatewaySettings.from_connection(conn)


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("http://localhost:8080", None, "http://localhost:8080"),
        ("http://localhost:8080/", None, "http://localhost:8080"),
        ("http://localhost:8080/v1", None, "http://localhost:8080"),
        ("http://localhost:8080/v1/", None, "http://localhost:8080"),
        ("https://gw.example.com/bifrost/v1", None, "https://gw.example.com/bifrost"),
        ("http://localhost", 8080, "http://localhost:8080"),
        ("  https://gw.example.com  ", None, "https://gw.example.com"),
    ],
)
def test_gateway_url_forms(host: str, port: int | None, expected: str) -> None:
    assert settings(host=host, port=port).base_url == expected


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"host": ""}, "Gateway URL (host) is empty"),
        ({"host": "localhost:8080"}, "has no scheme"),
        ({"host": "ftp://gw.example.com"}, "is not http or https"),
        ({"host": "http://localhost", "port": 70000}, "not between 1 and 65535"),
        ({"host": "http://localhost:8080", "port": 9090}, "says port 8080 but the port field says 9090"),
        ({"host": "http://user:pw@localhost:8080"}, "not in the Gateway URL"),
        ({"host": "http://localhost:99999"}, "port 99999 is not between 1 and 65535"),
        ({"host": "http://[::1"}, "is not a URL"),
    ],
)
def test_bad_gateway_url_is_named(fields: dict[str, object], message: str) -> None:
    with pytest.raises(BifrostConfigError, match=re.escape(message)):
        settings(**fields)


def test_password_is_the_virtual_key() -> None:
    s = settings(host="http://gw", password="sk-bf-secret")
    assert s.credential_headers == {"x-bf-vk": "sk-bf-secret"}
    assert "sk-bf-secret" in s.secrets
    assert "sk-bf-secret" not in repr(s)


def test_login_and_password_are_basic_auth_with_virtual_key_in_extra() -> None:
    s = settings(host="http://gw", login="admin", password="gw-pass", extra={"virtual_key": "sk-bf-vk"})
    expected = "Basic " + base64.b64encode(b"admin:gw-pass").decode()
    assert s.credential_headers == {"Authorization": expected, "x-bf-vk": "sk-bf-vk"}
    assert set(s.secrets) == {"gw-pass", "sk-bf-vk", expected.removeprefix("Basic ")}  # the header's value too


def test_bearer_token_and_prefixed_extras_from_the_ui() -> None:
    s = settings(
        host="http://gw",
        extra={"extra__bifrost__auth_token": "tok", "extra__bifrost__virtual_key": "sk-bf-1", "timeout": ""},
    )
    assert s.credential_headers == {"Authorization": "Bearer tok", "x-bf-vk": "sk-bf-1"}
    assert s.timeout == 60.0


def test_all_extras() -> None:
    s = settings(
        host="http://gw",
        extra={
            "default_provider": "anthropic",
            "headers": '{"x-bf-dim-team": "data"}',
            "timeout": "12.5",
            "verify": "false",
            "max_retries": "2",
        },
    )
    assert (s.default_provider, s.headers, s.timeout, s.verify, s.max_retries) == (
        "anthropic",
        {"x-bf-dim-team": "data"},
        12.5,
        False,
        2,
    )
    assert s.httpx_timeout.connect == 10.0
    assert s.httpx_timeout.read == 12.5


def test_verify_accepts_a_ca_bundle_path(tmp_path: object) -> None:
    import pathlib

    bundle = pathlib.Path(str(tmp_path)) / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert settings(host="https://gw", extra={"verify": str(bundle)}).verify == str(bundle)


@pytest.mark.parametrize("verify", [None, "", True, "true", "True", " yes ", "on", "1"])
def test_tls_verification_is_on_by_default_and_when_asked(verify: object) -> None:
    s = settings(host="https://gw", extra={} if verify is None else {"verify": verify})
    assert s.verify is True
    context = client_kwargs(s)["verify"]
    assert isinstance(context, ssl.SSLContext)
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)


@pytest.mark.parametrize("verify", [False, "false", "FALSE", " no ", "off", "0"])
def test_tls_verification_is_off_only_when_spelled_out(verify: object) -> None:
    s = settings(host="https://gw", extra={"verify": verify})
    assert s.verify is False
    assert client_kwargs(s)["verify"] is False


@pytest.mark.parametrize("verify", ["ture", "0ff", "fasle", "flase ", "of", "n", "none", "null", "disabled", 2, "2"])
def test_a_verify_typo_is_an_error_never_off(verify: object) -> None:
    with pytest.raises(BifrostConfigError, match=r"extra `verify` is .*TLS verification stays on") as raised:
        settings(host="https://gw", extra={"verify": verify})
    assert repr(verify) in str(raised.value)


def test_a_verify_typo_in_the_uri_form_is_an_error_too() -> None:
    conn = Connection.from_uri("bifrost://https://:sk-bf-uri@gw.example.com/?verify=flase", conn_id="bifrost_uri")
    with pytest.raises(BifrostConfigError, match="TLS verification stays on"):
        GatewaySettings.from_connection(conn)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"login": "admin"}, "password is empty"),
        ({"login": "admin", "password": "p", "extra": {"auth_token": "t"}}, "not both"),
        ({"password": "sk-bf-a", "extra": {"virtual_key": "sk-bf-b"}}, "two different virtual keys"),
        ({"extra": {"default_provider": "openia"}}, "'openia' is not a Bifrost provider"),
        ({"extra": {"headers": "not json"}}, "must be a JSON object"),
        ({"extra": {"headers": {"x-bf-vk": "sk-bf-x"}}}, "may not set 'x-bf-vk'"),
        ({"extra": {"headers": {"Authorization": "Bearer x"}}}, "may not set 'Authorization'"),
        ({"extra": {"timeout": -1}}, "positive number of seconds"),
        ({"extra": {"timeout": "soon"}}, "positive number of seconds"),
        ({"extra": {"max_retries": "many"}}, "whole number from 0 to 100"),
        ({"extra": {"verify": "flase"}}, "TLS verification stays on"),
    ],
)
def test_bad_connection_fields_are_named(fields: dict[str, object], message: str) -> None:
    with pytest.raises(BifrostConfigError, match=re.escape(message)):
        settings(host="http://gw", **fields)


def test_unknown_extra_is_logged_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    s = settings(host="http://gw", extra={"virtal_key": "oops"})
    assert s.credential_headers == {}
    assert "virtal_key" in caplog.text


def test_uri_form_with_scheme_in_host() -> None:
    conn = Connection.from_uri(
        "bifrost://http://:sk-bf-uri@localhost:8080/?default_provider=openai&timeout=30",
        conn_id="bifrost_default",
    )
    s = GatewaySettings.from_connection(conn)
    assert (s.base_url, s.credential_headers, s.default_provider, s.timeout) == (
        "http://localhost:8080",
        {"x-bf-vk": "sk-bf-uri"},
        "openai",
        30.0,
    )
