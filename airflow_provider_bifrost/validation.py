"""
The checks a task runs on its arguments: when the DAG file builds it, and again once templates are rendered.

Pure and light on purpose: DAG files import the operator and sensor modules, which call these at parse time,
so nothing here may import the HTTP client, the models or the results parsers
(``tests/unit/test_import_cost.py``). Every failure is a :class:`~airflow_provider_bifrost.exceptions.
BifrostConfigError` naming the parameter and the fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_bifrost.exceptions import BifrostConfigError
from airflow_provider_bifrost.providers import BATCH_PROVIDERS, PROVIDERS

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

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
#: Metadata keys with this prefix are the create operator's own tags.
RESERVED_METADATA_PREFIX = "airflow_"


def always(_: Any) -> bool:
    """Every value is final (rendered, or not templated): the ``literal`` test of run-time checks."""
    return True


def is_given(value: object) -> bool:
    """Whether an optional argument was given: not None, and not a blank string (a template rendered empty)."""
    return value is not None and not (isinstance(value, str) and not value.strip())


def validate_provider(provider: object, *, source: str = "provider") -> str:
    """
    Return ``provider`` if the gateway knows it, else raise before any request is made.

    :param provider: the value to check.
    :param source: where the value came from, named in the error (a parameter or a connection field).
    """
    if not isinstance(provider, str) or not provider.strip():
        raise BifrostConfigError(
            f"{source} is required: set it on the task or set `default_provider` in the connection's "
            f"extra. Valid values: {', '.join(PROVIDERS)}."
        )
    if provider not in PROVIDERS:
        raise BifrostConfigError(
            f"{source} {provider!r} is not a Bifrost provider. Valid values: {', '.join(PROVIDERS)}."
        )
    return provider


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


def named_provider(model: Any, provider: Any, literal: Callable[[Any], bool] = always) -> str | None:
    """
    The provider named by ``provider`` or by the model's prefix (validated, consistent), if known yet.

    :param model: the model (a template is skipped).
    :param provider: the provider given, or None (a template is skipped).
    :param literal: whether a value is final; templated values are checked once rendered.
    """
    provider = validate_provider(provider) if provider is not None and literal(provider) else None
    prefix = model_provider(model, provider) if isinstance(model, str) and literal(model) else None
    return prefix or provider


def check_batch_provider(provider: str) -> None:
    """
    Reject a provider the gateway has no batch API for.

    :param provider: a valid provider name.
    """
    if provider not in BATCH_PROVIDERS:
        choices = ", ".join(sorted(BATCH_PROVIDERS))
        raise BifrostConfigError(f"provider {provider!r} has no batch API in Bifrost; use one of {choices}.")


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


def check_metadata(metadata: object, *, reserved: bool = False) -> None:
    """
    Reject batch metadata that is not a dict of strings to strings.

    :param metadata: the metadata given.
    :param reserved: also reject keys starting with ``airflow_`` (the create operator's own tags).
    """
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise BifrostConfigError("metadata must be a dict of strings to strings.")
    if reserved and (taken := sorted(key for key in metadata if key.startswith(RESERVED_METADATA_PREFIX))):
        raise BifrostConfigError(
            f"metadata keys starting with {RESERVED_METADATA_PREFIX!r} are reserved for the operator: {taken}."
        )


def check_create_arguments(
    *,
    model: Any,
    provider: Any,
    endpoint: Any,
    inputs: Mapping[str, Any],
    requests: Any,
    metadata: Any,
    completion_window: Any,
    literal: Callable[[Any], bool] = always,
    reserved_metadata: bool = False,
    default_provider: str | None = None,
    provider_required: bool = False,
) -> str | None:
    """
    Check the arguments of a batch creation; return the provider they name, if known yet.

    The one set of creation checks: the create operator runs it when the DAG is parsed (templated values
    skipped) and once rendered, the hook before it builds the request body.

    :param model: ``"provider/model"``, or the model name with ``provider`` given.
    :param provider: the provider, if given.
    :param endpoint: the endpoint each request calls (None or empty: not given).
    :param inputs: every input parameter by name, None or empty when not given; exactly one must be given.
    :param requests: the inline requests, if given.
    :param metadata: string tags, if given.
    :param completion_window: how long the provider may take.
    :param literal: whether a value is final; templated values are checked once rendered.
    :param reserved_metadata: refuse metadata keys starting with ``airflow_`` (the operator's tags).
    :param default_provider: the connection's ``default_provider``, used when neither names one.
    :param provider_required: refuse when no provider is named at all (a request is about to be built).
    """
    given = [name for name, value in inputs.items() if is_given(value)]
    if len(given) != 1:
        names = ", ".join(inputs)
        names = " or ".join(names.rsplit(", ", 1))
        got = " and ".join(given) if given else "none"
        raise BifrostConfigError(f"give exactly one of {names} (got {got}): a batch takes exactly one batch input.")
    if not isinstance(model, str) or not model.strip():
        raise BifrostConfigError("model is required, e.g. model='openai/gpt-4o-mini'.")
    named = named_provider(model, provider if is_given(provider) else None, literal)
    if named is None and (default_provider or provider_required):
        named = validate_provider(default_provider)
    if named is not None:
        check_batch_provider(named)
    if is_given(endpoint) and literal(endpoint):
        check_endpoint(endpoint)
    require_endpoint(named, endpoint if is_given(endpoint) else None)
    if is_given(requests) and literal(requests):
        check_requests(requests)
    for name, value in inputs.items():
        if name.endswith("_id") and is_given(value) and literal(value):
            validate_id(value, name)
    if not isinstance(completion_window, str) or not completion_window.strip():
        raise BifrostConfigError(f"completion_window must be a duration such as '24h', got {completion_window!r}.")
    if metadata is not None and literal(metadata):
        check_metadata(metadata, reserved=reserved_metadata)
    return named


def check_positive_seconds(value: object, name: str, where: str = "") -> None:
    """
    Reject a duration that is not a positive number of seconds.

    :param value: the value given.
    :param name: the parameter, for the message.
    :param where: appended to the message, e.g. ``" (task_id)"``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise BifrostConfigError(f"{name} must be a positive number of seconds, got {value!r}{where}")


def check_threshold(threshold: object, where: str = "") -> None:
    """
    Reject a ``failed_share_threshold`` outside (0, 1].

    :param threshold: the value given (None: never fail on the share).
    :param where: appended to the message, e.g. ``" (task_id)"``.
    """
    if threshold is not None and (
        isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1
    ):
        raise BifrostConfigError(f"failed_share_threshold must be in (0, 1] or None, got {threshold!r}{where}")


def check_compression(compression: object, where: str = "") -> None:
    """
    Reject a compression the export does not write.

    :param compression: the value given (None: no compression).
    :param where: appended to the message, e.g. ``" (task_id)"``.
    """
    if compression is not None and compression not in COMPRESSIONS:
        raise BifrostConfigError(f"compression must be None or one of {COMPRESSIONS}, got {compression!r}{where}")
