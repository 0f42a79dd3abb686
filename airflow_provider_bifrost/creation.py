"""
The checks of a batch creation's arguments: one set for the hook's create body and the create operator.

The create operator runs :func:`check_create_arguments` when the DAG is parsed (templated values skipped)
and once rendered; the hook runs it before it builds the request body. What the provider's profile knows
the gateway would refuse with a 500 is refused here, naming the fix. Light, like :mod:`.validation`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_bifrost.exceptions import BifrostConfigError
from airflow_provider_bifrost.providers import PROVIDERS, ProviderProfile
from airflow_provider_bifrost.validation import (
    always,
    batch_profile,
    is_given,
    named_provider,
    validate_id,
    validate_provider,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping

#: Endpoints the gateway accepts for a batch (``endpoint`` is required for OpenAI).
BATCH_ENDPOINTS = (
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/responses",
    "/v1/messages",
)
#: Metadata keys with this prefix are the create operator's own tags.
RESERVED_METADATA_PREFIX = "airflow_"
#: The create body's keys that have a parameter of their own, so ``extra_body`` may not set them.
CREATE_PARAMETERS = frozenset(
    {
        "model",
        "provider",
        "endpoint",
        "input_file_id",
        "requests",
        "input_blob",
        "completion_window",
        "metadata",
        "output_folder",
        "display_name",
    }
)
#: The kind of batch input each input parameter gives the gateway (a file on storage is uploaded first).
INPUT_KINDS = {"input_uri": "input_file_id"}
#: What to tell a user whose create body misses a key the provider needs.
REQUIRED_BODY_HINTS = {
    "output_s3_uri": (
        "provider {provider!r} needs output_s3_uri, the S3 prefix its results are written under: pass "
        "extra_body={{'output_s3_uri': 's3://bucket/prefix/', 'role_arn': "
        "'arn:aws:iam::123456789012:role/BedrockBatch'}} (role_arn may instead be held by the gateway's Bedrock key)."
    ),
    "output_folder": (
        "provider {provider!r} needs output_folder, where its results are written: e.g. "
        "output_folder='gs://bucket/prefix/'."
    ),
}


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


def check_endpoint(endpoint: object) -> None:
    """
    Reject an endpoint the gateway does not batch.

    :param endpoint: the endpoint given.
    """
    if endpoint not in BATCH_ENDPOINTS:
        raise BifrostConfigError(f"endpoint {endpoint!r} is not one of {', '.join(BATCH_ENDPOINTS)}.")


def require_endpoint(profile: ProviderProfile | None, endpoint: object) -> None:
    """
    Reject a missing endpoint where the provider needs one (the gateway would answer 500).

    :param profile: the batch's provider's profile, if known.
    :param endpoint: the endpoint given (None or empty: none).
    """
    if profile is not None and profile.requires_endpoint and not endpoint:
        raise BifrostConfigError(
            f"endpoint is required for provider {profile.name!r}, e.g. endpoint='/v1/chat/completions'."
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


def check_extra_body(extra_body: object, reserved: Collection[str] = ()) -> None:
    """
    Reject an ``extra_body`` that is not a dict of string keys, or that sets what a parameter of its own sets.

    :param extra_body: the extra top-level keys of the create body (the gateway passes them to the provider).
    :param reserved: more keys the caller sets itself (e.g. the tag it puts in Bedrock's ``job_name``).
    """
    if not isinstance(extra_body, dict) or not all(isinstance(key, str) and key for key in extra_body):
        raise BifrostConfigError(
            "extra_body must be a dict of the extra keys of the create body, e.g. "
            "{'role_arn': 'arn:aws:iam::123456789012:role/BedrockBatch', 'output_s3_uri': 's3://bucket/out/'}."
        )
    if taken := sorted(key for key in extra_body if key in CREATE_PARAMETERS):
        raise BifrostConfigError(f"extra_body sets {taken}: pass them as the parameters of the same name.")
    if taken := sorted(key for key in extra_body if key in reserved):
        raise BifrostConfigError(
            f"extra_body sets {taken}, which the operator sets itself to find the batch again if its answer is lost."
        )


def check_profile_requirements(
    profile: ProviderProfile, *, input_kind: str, endpoint: Any, body: Mapping[str, Any] | None
) -> None:
    """
    Refuse before sending what the provider would refuse with a 500: an input it does not take, a missing
    endpoint, a missing key of the create body.

    :param profile: the provider's profile.
    :param input_kind: the batch input given: ``input_file_id`` (also for ``input_uri``), ``requests`` or
        ``input_blob``.
    :param endpoint: the endpoint given (None: none).
    :param body: the keys the create body will carry besides the input (``extra_body`` and the first-class
        ones), or None while some are templated.
    """
    if input_kind not in profile.inputs:
        takes = " or ".join(sorted(profile.inputs))
        raise BifrostConfigError(
            f"provider {profile.name!r} takes {takes} as its batch input, not {input_kind} (the gateway refuses "
            f"it with a 500){'; pass the requests inline with requests=[...]' if takes == 'requests' else ''}."
        )
    require_endpoint(profile, endpoint)
    for key in profile.required_body if body is not None else ():
        if not body or not body.get(key):
            raise BifrostConfigError(
                REQUIRED_BODY_HINTS.get(key, f"provider {profile.name!r} needs {key}.").format(
                    provider=profile.name, key=key
                )
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
    extra_body: Any = None,
    output_folder: Any = None,
    display_name: Any = None,
    literal: Callable[[Any], bool] = always,
    reserved_metadata: bool = False,
    reserved_body: Collection[str] = (),
    default_provider: str | None = None,
    provider_required: bool = False,
    custom: Mapping[str, str] | None = None,
    any_input: bool = False,
) -> str | None:
    """
    Check the arguments of a batch creation; return the provider they name, if known yet.

    The one set of creation checks: the create operator runs it when the DAG is parsed (templated values
    skipped) and once rendered, the hook before it builds the request body. What the provider's profile
    knows the gateway would refuse with a 500 is refused here, naming the fix.

    :param model: ``"provider/model"``, or the model name with ``provider`` given.
    :param provider: the provider, if given.
    :param endpoint: the endpoint each request calls (None or empty: not given).
    :param inputs: every input parameter by name, None or empty when not given; exactly one must be given.
    :param requests: the inline requests, if given.
    :param metadata: string tags, if given.
    :param completion_window: how long the provider may take.
    :param extra_body: extra top-level keys of the create body, passed to the provider.
    :param output_folder: where the provider writes results (Azure blob or Vertex ``gs://`` prefix).
    :param display_name: the batch's display name.
    :param literal: whether a value is final; templated values are checked once rendered.
    :param reserved_metadata: refuse metadata keys starting with ``airflow_`` (the operator's tags).
    :param reserved_body: ``extra_body`` keys the caller sets itself.
    :param default_provider: the connection's ``default_provider``, used when neither names one.
    :param provider_required: refuse when no provider is named at all (a request is about to be built).
    :param custom: the custom providers the connection declares (known when the task runs).
    :param any_input: the input is read by the caller and sent in the shape the provider takes (a job's parts).
    """
    given = [name for name, value in inputs.items() if is_given(value)]
    if len(given) != 1:
        names = ", ".join(inputs)
        names = " or ".join(names.rsplit(", ", 1))
        got = " and ".join(given) if given else "none"
        raise BifrostConfigError(f"give exactly one of {names} (got {got}): a batch takes exactly one batch input.")
    if not isinstance(model, str) or not model.strip():
        raise BifrostConfigError("model is required, e.g. model='openai/gpt-4o-mini'.")
    named = named_provider(model, provider if is_given(provider) else None, literal, custom, strict=provider_required)
    if named is None and (default_provider or provider_required):
        named = validate_provider(default_provider, custom=custom)
    if is_given(endpoint) and literal(endpoint):
        check_endpoint(endpoint)
    if is_given(requests) and literal(requests):
        check_requests(requests)
    for name, value in inputs.items():
        if name.endswith("_id") and is_given(value) and literal(value):
            validate_id(value, name)
    if not isinstance(completion_window, str) or not completion_window.strip():
        raise BifrostConfigError(f"completion_window must be a duration such as '24h', got {completion_window!r}.")
    if metadata is not None and literal(metadata):
        check_metadata(metadata, reserved=reserved_metadata)
    if extra_body is not None and literal(extra_body):
        check_extra_body(extra_body, reserved_body)
    for name, value in (("output_folder", output_folder), ("display_name", display_name)):
        if value is not None and literal(value) and (not isinstance(value, str) or not value.strip()):
            raise BifrostConfigError(f"{name} must be a non-empty string, got {value!r}.")
    if named is not None and (named in PROVIDERS or named in (custom or {})):
        body_known = all(literal(v) for v in (extra_body, output_folder, display_name) if v is not None)
        body = {**(extra_body or {}), "output_folder": output_folder, "display_name": display_name}
        profile = batch_profile(named, custom)
        check_profile_requirements(
            profile,
            input_kind=profile.part_input if any_input else INPUT_KINDS.get(given[0], given[0]),
            endpoint=endpoint if is_given(endpoint) else None,
            body=body if body_known else None,
        )
    return named
