"""
The checks a DAG file runs when it builds a task: ids, inline requests, endpoints, export compressions.

Pure and light on purpose: the operator and sensor modules import these at module level, and DAG files
import those modules, so nothing here may import the HTTP client, the models or the results parsers
(``tests/unit/test_import_cost.py``). :mod:`airflow_provider_bifrost.hooks.bifrost` re-exports them.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_bifrost.hooks.errors import BifrostConfigError
from airflow_provider_bifrost.hooks.providers import PROVIDERS

#: Endpoints the gateway accepts for a batch (``endpoint`` is required for OpenAI).
BATCH_ENDPOINTS = (
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/responses",
    "/v1/messages",
)
#: Providers whose batches need ``endpoint``.
ENDPOINT_PROVIDERS = frozenset({"openai", "azure"})
#: The compressions the results export writes (``BifrostBatchResultsOperator(compression=...)``).
COMPRESSIONS: tuple[str, ...] = ("gzip",)


def validate_id(value: object, name: str = "batch_id") -> str:
    """
    Return a batch or file id that is safe to put in a URL path; raise naming the problem otherwise.

    :param value: the id.
    :param name: the parameter it came from.
    """
    if not isinstance(value, str) or not value.strip():
        raise BifrostConfigError(
            f"{name} is empty{'' if isinstance(value, str) else f' ({type(value).__name__})'}: "
            "pass the id of an existing batch (a template that renders empty ends here too)."
        )
    if value in ("None", "null"):
        raise BifrostConfigError(
            f"{name} is the text {value!r}: its template rendered a missing value, e.g. an xcom_pull of a task "
            "that returned nothing. Pass the id of an existing batch."
        )
    if (
        value != value.strip()
        or "/" in value
        or "\\" in value
        or ".." in value
        or value == "."
        or any(ord(c) < 32 for c in value)
    ):
        raise BifrostConfigError(f"{name} {value!r} is not a valid id: ids have no spaces, '/', '\\' or '..'.")
    return value


def check_requests(requests: Any) -> None:
    """
    Reject inline batch requests that are not a non-empty list of dicts with unique ``custom_id`` and a body.

    :param requests: the requests as given.
    """
    if not isinstance(requests, list) or not requests:
        raise BifrostConfigError("requests must be a non-empty list of {custom_id, method, url, body} dicts.")
    seen: set[str] = set()
    for index, request in enumerate(requests):
        if not isinstance(request, dict):
            raise BifrostConfigError(f"requests[{index}] is a {type(request).__name__}, not a dict.")
        custom_id = request.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            raise BifrostConfigError(f"requests[{index}] has no custom_id (a non-empty string).")
        if custom_id in seen:
            raise BifrostConfigError(f"requests[{index}] repeats custom_id {custom_id!r}; custom_ids must be unique.")
        seen.add(custom_id)
        if "body" not in request and "params" not in request:
            raise BifrostConfigError(f"requests[{index}] ({custom_id!r}) has no body (or params).")


def model_provider(model: str, provider: str | None) -> str | None:
    """
    The provider a ``"provider/model"`` name starts with (it must agree with ``provider`` when that is given),
    or None when the model names no provider.

    :param model: the model, e.g. ``openai/gpt-4o-mini`` or ``gpt-4o-mini``.
    :param provider: the provider given beside it, if any.
    """
    prefix, _, rest = model.partition("/")
    if not rest or prefix not in PROVIDERS:
        return None
    if provider and provider != prefix:
        raise BifrostConfigError(f"model {model!r} names provider {prefix!r} but provider is {provider!r}.")
    return prefix


def check_endpoint(endpoint: object) -> None:
    """
    Reject an endpoint the gateway does not batch.

    :param endpoint: the endpoint given.
    """
    if endpoint not in BATCH_ENDPOINTS:
        raise BifrostConfigError(f"endpoint {endpoint!r} is not one of {', '.join(BATCH_ENDPOINTS)}.")


def require_endpoint(provider: str | None, endpoint: object) -> None:
    """
    Reject a missing endpoint where the provider needs one.

    :param provider: the batch's provider, if known.
    :param endpoint: the endpoint given (None or empty: none).
    """
    if provider in ENDPOINT_PROVIDERS and not endpoint:
        raise BifrostConfigError(
            f"endpoint is required for provider {provider!r}, e.g. endpoint='/v1/chat/completions'."
        )


def check_metadata(metadata: object) -> None:
    """
    Reject batch metadata that is not a dict of strings to strings.

    :param metadata: the metadata given.
    """
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise BifrostConfigError("metadata must be a dict of strings to strings.")
