"""
The checks a task runs on its arguments: when the DAG file builds it, and again once templates are rendered.

The checks of a batch creation's arguments are in :mod:`.creation`.

Pure and light on purpose: DAG files import the operator and sensor modules, which call these at parse time,
so nothing here may import the HTTP client, the models or the results parsers
(``tests/unit/test_import_cost.py``). Every failure is a :class:`~airflow_provider_bifrost.exceptions.
BifrostConfigError` naming the parameter and the fix.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_bifrost.exceptions import BifrostConfigError
from airflow_provider_bifrost.providers import BATCH_PROVIDERS, PROFILES, PROVIDERS, ProviderProfile

if TYPE_CHECKING:
    from collections.abc import Callable

#: The compressions the results export writes (``BifrostBatchResultsOperator(compression=...)``).
COMPRESSIONS: tuple[str, ...] = ("gzip",)
#: What a model's price says, in US dollars per million tokens: ``input`` and ``output``, and optionally the prices
#: of cached input tokens and of cache writes (each the input price when not given).
PRICE_KEYS: tuple[str, ...] = ("input", "output", "cached_input", "cache_write_input")
_PRICES_EXAMPLE = "prices={'gpt-4o-mini': {'input': 0.15, 'output': 0.6, 'cached_input': 0.075}}"


def always(_: Any) -> bool:
    """Every value is final (rendered, or not templated): the ``literal`` test of run-time checks."""
    return True


def untemplated(value: Any) -> bool:
    """Whether a value given to a task when the DAG is parsed is final: a string with no Jinja, or a container."""
    if isinstance(value, str):
        return "{{" not in value and "{%" not in value
    return isinstance(value, (list, dict, tuple))


def is_given(value: object) -> bool:
    """Whether an optional argument was given: not None, and not a blank string (a template rendered empty)."""
    return value is not None and not (isinstance(value, str) and not value.strip())


def validate_provider(provider: object, *, source: str = "provider", custom: Mapping[str, str] | None = None) -> str:
    """
    Return ``provider`` if the gateway knows it (or the connection declares it as a custom provider), else
    raise before any request is made, suggesting the closest known name.

    :param provider: the value to check.
    :param source: where the value came from, named in the error (a parameter or a connection field).
    :param custom: the custom providers the connection declares (extra ``providers``).
    """
    known = (*PROVIDERS, *(custom or {}))
    if not isinstance(provider, str) or not provider.strip():
        raise BifrostConfigError(
            f"{source} is required: set it on the task or set `default_provider` in the connection's "
            f"extra. Valid values: {', '.join(known)}."
        )
    if provider not in known:
        close = difflib.get_close_matches(provider, known, n=1)
        guess = f" Did you mean {close[0]!r}?" if close else ""
        raise BifrostConfigError(
            f"{source} {provider!r} is not a Bifrost provider. Valid values: {', '.join(known)}.{guess} A custom "
            "provider your gateway defines can be declared in the connection's extra `providers`, e.g. "
            f'{{"{provider}": "openai"}} (its name and the provider it is built on).'
        )
    return provider


def validate_id(value: object, name: str = "batch_id") -> str:
    """
    Return a batch or file id, refusing only what no provider's id can be: empty, surrounded by whitespace,
    with control characters, ``.``/``..``, or the text a template renders for a missing value.

    Ids may contain ``/`` (a Bedrock job ARN, Gemini's ``batches/<id>``, a Vertex resource name): requests
    send an id as one path segment, percent-encoded (:mod:`~airflow_provider_bifrost.hooks.api`).

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
    if value != value.strip() or value in (".", "..") or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise BifrostConfigError(
            f"{name} {value!r} is not a valid id: ids have no surrounding spaces or control characters, and are "
            "not '.' or '..'."
        )
    return value


def model_provider(model: str, provider: str | None, custom: Mapping[str, str] | None = None) -> str | None:
    """
    The provider a ``"provider/model"`` name starts with (it must agree with ``provider`` when that is given),
    or None when the model names no provider.

    :param model: the model, e.g. ``openai/gpt-4o-mini`` or ``gpt-4o-mini``.
    :param provider: the provider given beside it, if any.
    :param custom: the custom providers the connection declares.
    """
    prefix, _, rest = model.partition("/")
    if not rest or (prefix not in PROVIDERS and prefix not in (custom or {})):
        return None
    if provider and provider != prefix:
        raise BifrostConfigError(f"model {model!r} names provider {prefix!r} but provider is {provider!r}.")
    return prefix


def named_provider(
    model: Any,
    provider: Any,
    literal: Callable[[Any], bool] = always,
    custom: Mapping[str, str] | None = None,
    *,
    strict: bool = True,
) -> str | None:
    """
    The provider named by ``provider`` or by the model's prefix (validated, consistent), if known yet.

    :param model: the model (a template is skipped).
    :param provider: the provider given, or None (a template is skipped).
    :param literal: whether a value is final; templated values are checked once rendered.
    :param custom: the custom providers the connection declares.
    :param strict: refuse a provider name the gateway does not know. When a DAG is parsed the connection's
        custom providers are not known yet, so a name that is not a provider is checked when the task runs.
    """
    if provider is not None and literal(provider):
        if strict or provider in PROVIDERS:
            validate_provider(provider, custom=custom)
    else:
        provider = None
    prefix = model_provider(model, provider, custom) if isinstance(model, str) and literal(model) else None
    return prefix or provider


def batch_profile(provider: str, custom: Mapping[str, str] | None = None) -> ProviderProfile:
    """
    The profile of a provider the gateway batches (a custom provider takes its base's); refuse any other.

    :param provider: a valid provider name.
    :param custom: the custom providers the connection declares (name -> the provider it is built on).
    """
    base = (custom or {}).get(provider, provider)
    if base not in PROFILES:
        choices = ", ".join(sorted(BATCH_PROVIDERS))
        built = f" (a custom provider built on {base!r})" if base != provider else ""
        raise BifrostConfigError(f"provider {provider!r}{built} has no batch API in Bifrost; use one of {choices}.")
    return PROFILES[base]


def check_batch_provider(provider: object, custom: Mapping[str, str] | None = None, where: str = "") -> None:
    """
    Reject a provider the gateway has no batch API for; None, a template and a name that is not a known
    provider pass (a custom provider, checked against the connection when the task runs).

    :param provider: the provider named (a task's ``provider`` argument).
    :param custom: the custom providers the connection declares.
    :param where: appended to the message, e.g. ``" (task_id)"``.
    """
    if isinstance(provider, str) and (provider in PROVIDERS or provider in (custom or {})):
        try:
            batch_profile(provider, custom)
        except BifrostConfigError as exc:
            raise BifrostConfigError(f"{exc}{where}") from None


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


def check_storage_uri(uri: object, name: str) -> None:
    """
    Reject a storage location that is not a URI with a scheme (a bare path is ambiguous across workers).

    :param uri: the value given.
    :param name: the parameter it came from (``input_uri``, ``output_uri``).
    """
    if not isinstance(uri, str) or "://" not in uri:
        raise BifrostConfigError(
            f"{name} {uri!r} is not a storage URI; write it with its scheme, e.g. s3://bucket/prefix or "
            "file:///absolute/path."
        )


def batch_ids_of(value: object, name: str = "batch_id") -> list[str]:
    """
    The batches a results task exports: one id, or a list of ids (a batch and its resubmission rounds, oldest
    first), given as a list or as a template's rendering of one (a JSON or Python list in a string); each id
    checked by :func:`validate_id`, none repeated.

    :param value: the value given.
    :param name: the parameter it came from.
    """
    if isinstance(value, str) and value.strip().startswith("["):
        text = value
        try:
            value = json.loads(text)
        except ValueError:
            import ast  # a Python list, as Jinja renders an XCom list without render_template_as_native_obj

            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                raise BifrostConfigError(f"{name} {text!r} looks like a list but is not one.") from None
    if isinstance(value, (list, tuple)):
        if not value:
            raise BifrostConfigError(f"{name} is an empty list: pass at least one batch id.")
        ids = [validate_id(item, f"{name}[{index}]") for index, item in enumerate(value)]
        if len(set(ids)) != len(ids):
            raise BifrostConfigError(f"{name} lists a batch twice: {ids!r}.")
        return ids
    return [validate_id(value, name)]


def check_rounds(resubmit_failed: object, where: str = "", *, waits: bool = True) -> None:
    """
    Check ``resubmit_failed``: how many rounds of resubmission, a whole number, 0 or more; rounds need a task
    that waits for its batches to end.

    :param resubmit_failed: the value given.
    :param where: appended to the message, e.g. ``" (task_id)"``.
    :param waits: the task waits for its batches (the create operator's ``wait_for_completion``).
    """
    if isinstance(resubmit_failed, bool) or not isinstance(resubmit_failed, int) or resubmit_failed < 0:
        raise BifrostConfigError(
            f"resubmit_failed must be a whole number of rounds (0: none), got {resubmit_failed!r}{where}"
        )
    if resubmit_failed and not waits:
        raise BifrostConfigError(
            "resubmit_failed needs wait_for_completion=True: what failed is known, and sent again, only once "
            f"the batch has ended{where}"
        )


def check_usage_options(count_usage: object, prices: object, where: str = "") -> None:
    """
    Check an export's ``count_usage`` and ``prices`` together, at DAG parse time (templated prices skipped).

    :param count_usage: whether to count token usage.
    :param prices: the prices given, if any.
    :param where: appended to the message, e.g. ``" (task_id)"``.
    """
    if not isinstance(count_usage, bool):
        raise BifrostConfigError(f"count_usage must be True or False, got {count_usage!r}{where}")
    if prices is not None:
        if not count_usage:
            raise BifrostConfigError(
                "prices price the token usage the export counts: leave count_usage=True to get the cost, or "
                f"drop prices{where}"
            )
        check_prices(prices, where, literal=untemplated)


def check_prices(
    prices: object, where: str = "", literal: Callable[[Any], bool] = always
) -> dict[str, dict[str, float]]:
    """
    Check ``prices`` (model -> US dollars per million tokens, see :data:`PRICE_KEYS`); return them as floats.

    A string is read as a JSON object (a template rendering a Variable, say); a price given as a numeric string
    (a rendered template) is read as a number.

    :param prices: the value given.
    :param where: appended to the message, e.g. ``" (task_id)"``.
    :param literal: whether a value is final; values that are not (templates, when the DAG is parsed) are left
        unchecked, and out of the result.
    """
    if isinstance(prices, str):
        if not literal(prices):
            return {}
        text = prices
        try:
            prices = json.loads(text)
        except ValueError:
            raise BifrostConfigError(
                f"prices {text[:60]!r} is neither a dict nor a JSON object; give model -> price, e.g. "
                f"{_PRICES_EXAMPLE}{where}"
            ) from None
    if not isinstance(prices, Mapping):
        raise BifrostConfigError(
            f"prices must map each model to its price in US dollars per 1M tokens, got {type(prices).__name__}; "
            f"e.g. {_PRICES_EXAMPLE}{where}"
        )
    checked: dict[str, dict[str, float]] = {}
    for model, price in prices.items():
        if not isinstance(model, str) or not model.strip():
            raise BifrostConfigError(f"prices: a model name must be a non-empty string, got {model!r}{where}")
        if not isinstance(price, Mapping):
            raise BifrostConfigError(
                f"prices[{model!r}] must be a dict of {', '.join(PRICE_KEYS)} (US dollars per 1M tokens), got "
                f"{price!r}{where}"
            )
        for key in price:
            if key not in PRICE_KEYS:
                close = difflib.get_close_matches(str(key), PRICE_KEYS, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise BifrostConfigError(
                    f"prices[{model!r}] has an unknown key {key!r}{hint}: a price has input and output, and "
                    f"optionally cached_input and cache_write_input, in US dollars per 1M tokens{where}"
                )
        missing = [key for key in PRICE_KEYS[:2] if key not in price]
        if missing:
            raise BifrostConfigError(
                f"prices[{model!r}] needs {' and '.join(missing)} (US dollars per 1M tokens); e.g. "
                f"{_PRICES_EXAMPLE}{where}"
            )
        numbers = {key: _price(value, model, key, where, literal) for key, value in price.items()}
        checked[model] = {key: number for key, number in numbers.items() if number is not None}
    return checked


def _price(value: object, model: str, key: str, where: str, literal: Callable[[Any], bool]) -> float | None:
    """A price as a float; None for a value not final yet (a template)."""
    if isinstance(value, str):
        if not literal(value):
            return None
        with contextlib.suppress(ValueError):
            value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise BifrostConfigError(
            f"prices[{model!r}][{key!r}] must be a number of US dollars per 1M tokens, zero or more, got "
            f"{value!r}{where}"
        )
    return float(value)
