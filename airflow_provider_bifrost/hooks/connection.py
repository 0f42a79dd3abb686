"""Turn an Airflow connection of type ``bifrost`` into validated gateway settings."""

from __future__ import annotations

import base64
import json
import logging
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from airflow_provider_bifrost.constants import DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from airflow_provider_bifrost.exceptions import BifrostConfigError
from airflow_provider_bifrost.providers import PROVIDERS
from airflow_provider_bifrost.validation import validate_provider

if TYPE_CHECKING:
    from airflow.sdk import Connection

log = logging.getLogger(__name__)

#: Extras a ``bifrost`` connection understands (also accepted with the ``extra__bifrost__`` prefix).
EXTRA_FIELDS = (
    "virtual_key",
    "auth_token",
    "default_provider",
    "providers",
    "headers",
    "timeout",
    "verify",
    "max_retries",
)

#: Headers that carry credentials: set only through the connection's credential fields.
CREDENTIAL_HEADERS = frozenset({"authorization", "x-bf-vk", "proxy-authorization"})

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


@dataclass(frozen=True)
class GatewaySettings:
    """
    Everything the hook needs to talk to one gateway, read from one connection.

    :param conn_id: the Airflow connection id (named in errors).
    :param base_url: gateway origin plus any path prefix, without a trailing ``/`` or ``/v1``.
    :param credential_headers: headers that carry secrets (``x-bf-vk``, ``Authorization``).
    :param headers: other headers sent on every request (``x-bf-dim-*``, ``x-bf-eh-*``...).
    :param timeout: seconds allowed for each read, write and pool wait.
    :param verify: TLS verification: True, False, or the path of a CA bundle.
    :param max_retries: retries after the first attempt for requests that are safe to repeat.
    :param default_provider: provider used when a call names none.
    :param custom_providers: the custom providers the gateway defines (name -> the provider it is built on).
    :param secrets: the secret values, for masking.
    """

    conn_id: str
    base_url: str
    credential_headers: dict[str, str] = field(repr=False)
    headers: dict[str, str]
    timeout: float = DEFAULT_TIMEOUT
    verify: bool | str = True
    max_retries: int = DEFAULT_MAX_RETRIES
    default_provider: str | None = None
    custom_providers: dict[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def client_key(self) -> tuple[object, ...]:
        """What makes two connections able to share one HTTP client (kept in memory only)."""
        return (
            self.base_url,
            tuple(sorted(self.headers.items())),
            tuple(sorted(self.credential_headers.items())),
            self.timeout,
            self.verify,
        )

    @property
    def httpx_timeout(self) -> httpx.Timeout:
        """The timeout object for httpx clients: always finite."""
        return httpx.Timeout(self.timeout, connect=min(self.timeout, DEFAULT_CONNECT_TIMEOUT))

    @classmethod
    def from_connection(cls, conn: Connection) -> GatewaySettings:
        """
        Validate ``conn`` and build settings; raise :class:`BifrostConfigError` naming the bad field.

        :param conn: an Airflow connection of type ``bifrost``.
        """
        conn_id = conn.conn_id or "(unnamed connection)"
        extras = _read_extras(conn_id, conn.extra_dejson)
        login, password = (conn.login or "").strip(), conn.password or ""
        virtual_key = _text(extras.get("virtual_key"))
        auth_token = _text(extras.get("auth_token"))

        credentials: dict[str, str] = {}
        basic = ""  # base64 of login:password, as sent in the Basic header: as secret as the password
        if login:
            if not password:
                raise BifrostConfigError(
                    f"Connection {conn_id!r}: login {login!r} is set but the password is empty. With a "
                    "login, login and password are the gateway's Basic auth; leave the login empty to use "
                    "the password as the virtual key."
                )
            if auth_token:
                raise BifrostConfigError(
                    f"Connection {conn_id!r}: set either login/password (Basic auth) or extra `auth_token` "
                    "(Bearer auth), not both: both use the Authorization header."
                )
            basic = base64.b64encode(f"{login}:{password}".encode()).decode()
            credentials["Authorization"] = f"Basic {basic}"
        elif password:
            if virtual_key and virtual_key != password:
                raise BifrostConfigError(
                    f"Connection {conn_id!r}: the password and extra `virtual_key` hold two different "
                    "virtual keys; keep one (the password, unless a login is set for Basic auth)."
                )
            virtual_key = password
        if auth_token:
            credentials["Authorization"] = f"Bearer {auth_token}"
        if virtual_key:
            credentials["x-bf-vk"] = virtual_key

        custom = _custom_providers(conn_id, extras.get("providers"))
        default_provider = _text(extras.get("default_provider"))
        if default_provider:
            validate_provider(
                default_provider, source=f"Connection {conn_id!r} extra `default_provider`", custom=custom
            )
        return cls(
            conn_id=conn_id,
            base_url=_base_url(conn_id, conn.host, conn.port),
            credential_headers=credentials,
            headers=_headers(conn_id, extras.get("headers")),
            timeout=_positive_number(conn_id, "timeout", extras.get("timeout"), DEFAULT_TIMEOUT),
            verify=_verify(conn_id, extras.get("verify")),
            max_retries=_max_retries(conn_id, extras.get("max_retries")),
            default_provider=default_provider,
            custom_providers=custom,
            secrets=tuple(s for s in (password, virtual_key, auth_token, basic) if s),
        )


def _text(value: Any) -> str | None:
    """A non-empty stripped string, or None (the UI stores unset fields as empty strings)."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _read_extras(conn_id: str, raw: dict[str, Any]) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    unknown = []
    for key, value in raw.items():
        name = key.removeprefix("extra__bifrost__")
        if name in EXTRA_FIELDS:
            if value not in (None, ""):
                extras[name] = value
        else:
            unknown.append(key)
    if unknown:
        log.warning(
            "Connection %r: ignoring unknown extra field(s) %s; known fields: %s",
            conn_id,
            ", ".join(sorted(unknown)),
            ", ".join(EXTRA_FIELDS),
        )
    return extras


def _base_url(conn_id: str, host: str | None, port: int | None) -> str:
    example = "e.g. http://localhost:8080 or https://bifrost.example.com"
    host = (host or "").strip()
    shown = _without_credentials(host)  # what messages may quote: never a password typed into the URL
    if not host:
        raise BifrostConfigError(f"Connection {conn_id!r}: the Gateway URL (host) is empty; set it, {example}.")
    if "://" not in host:
        raise BifrostConfigError(
            f"Connection {conn_id!r}: the Gateway URL {shown!r} has no scheme; write it with http:// or "
            f"https://, {example}."
        )
    try:
        url = httpx.URL(host)
        url_port = url.port
    except (httpx.InvalidURL, ValueError) as exc:
        raise BifrostConfigError(f"Connection {conn_id!r}: the Gateway URL {shown!r} is not a URL: {exc}.") from None
    if url.scheme not in ("http", "https"):
        raise BifrostConfigError(
            f"Connection {conn_id!r}: the Gateway URL's scheme {url.scheme!r} is not http or https ({example})."
        )
    if not url.host:
        raise BifrostConfigError(f"Connection {conn_id!r}: the Gateway URL {shown!r} has no host name ({example}).")
    if url.userinfo:
        raise BifrostConfigError(
            f"Connection {conn_id!r}: put credentials in the login/password fields, not in the Gateway URL."
        )
    for candidate in (port, url_port):
        if candidate is not None and not 0 < int(candidate) < 65536:
            raise BifrostConfigError(f"Connection {conn_id!r}: port {candidate} is not between 1 and 65535.")
    if port is not None:
        if url_port is None:
            url = url.copy_with(port=int(port))
        elif url_port != int(port):
            raise BifrostConfigError(
                f"Connection {conn_id!r}: the Gateway URL says port {url_port} but the port field says {port}."
            )
    path = url.path.rstrip("/")
    path = path.removesuffix("/v1").rstrip("/")
    return str(url.copy_with(path=path or "/", query=None, fragment=None)).rstrip("/")


def _without_credentials(host: str) -> str:
    """``host`` with anything before an ``@`` (user:password) replaced by ``***``, to quote in a message."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)?.*@", r"\1***@", host, flags=re.DOTALL)


def _headers(conn_id: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise BifrostConfigError(
                f'Connection {conn_id!r}: extra `headers` must be a JSON object, e.g. {{"x-bf-dim-team": "data"}}.'
            ) from None
    if not isinstance(value, dict):
        raise BifrostConfigError(f"Connection {conn_id!r}: extra `headers` must be a JSON object of strings.")
    headers: dict[str, str] = {}
    for name, header_value in value.items():
        if str(name).lower() in CREDENTIAL_HEADERS:
            raise BifrostConfigError(
                f"Connection {conn_id!r}: extra `headers` may not set {name!r}; put credentials in the "
                "password, `virtual_key` or `auth_token` fields, which are masked in logs."
            )
        if not isinstance(header_value, (str, int, float)) or isinstance(header_value, bool):
            raise BifrostConfigError(f"Connection {conn_id!r}: extra `headers` value for {name!r} must be a string.")
        headers[str(name)] = str(header_value)
    return headers


def _custom_providers(conn_id: str, value: Any) -> dict[str, str]:
    """The extra `providers`: a JSON object naming each custom provider and the provider it is built on."""
    if value is None:
        return {}
    example = '{"my-openai": "openai"}'
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    if not isinstance(value, dict):
        raise BifrostConfigError(
            f"Connection {conn_id!r}: extra `providers` must be a JSON object naming each custom provider the "
            f"gateway defines and the provider it is built on, e.g. {example}."
        )
    custom: dict[str, str] = {}
    for name, base in value.items():
        if not isinstance(name, str) or not name.strip() or "/" in name or name in PROVIDERS:
            raise BifrostConfigError(
                f"Connection {conn_id!r}: extra `providers` names {name!r}, which is not a new provider name "
                f"(non-empty, no '/', not one of Bifrost's own providers), e.g. {example}."
            )
        validate_provider(base, source=f"Connection {conn_id!r} extra `providers` base of {name!r}")
        custom[name] = str(base)
    return custom


def _positive_number(conn_id: str, name: str, value: Any, default: float) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not number > 0 or number == float("inf"):
        raise BifrostConfigError(
            f"Connection {conn_id!r}: extra `{name}` must be a positive number of seconds, got {value!r}."
        )
    return number


def _max_retries(conn_id: str, value: Any) -> int:
    if value is None:
        return DEFAULT_MAX_RETRIES
    try:
        number = int(str(value).strip())
    except ValueError:
        number = -1
    if isinstance(value, bool) or number < 0 or number > 100:
        raise BifrostConfigError(
            f"Connection {conn_id!r}: extra `max_retries` must be a whole number from 0 to 100, got {value!r}."
        )
    return number


def _verify(conn_id: str, value: Any) -> bool | str:
    """True/False, or an existing CA bundle path; any other value is an error, never "off"."""
    if value is None or isinstance(value, bool):
        return True if value is None else value
    text = str(value).strip()
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    if os.path.exists(text):
        return text
    raise BifrostConfigError(
        f"Connection {conn_id!r}: extra `verify` is {value!r}, which is neither true/false nor an existing CA "
        "bundle path. TLS verification stays on unless it is set to false explicitly."
    )
