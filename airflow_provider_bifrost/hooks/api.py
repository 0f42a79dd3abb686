"""
The gateway's batch and files API without I/O: request paths, the create body, reading answers into models.

What :class:`~airflow_provider_bifrost.hooks.bifrost.BifrostHook`'s sync and async methods share, the way
httpx's ``BaseClient`` holds what its two clients share: nothing here sends a request.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from airflow_provider_bifrost.creation import check_create_arguments
from airflow_provider_bifrost.exceptions import BifrostConfigError, BifrostProtocolError
from airflow_provider_bifrost.hooks.models import Batch
from airflow_provider_bifrost.validation import model_provider, validate_id

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    import httpx

M = TypeVar("M", bound=BaseModel)


def batch_path(batch_id: object, suffix: str = "") -> str:
    """
    The URL path of a batch (``/v1/batches/{id}{suffix}``), the id validated and escaped.

    :param batch_id: the batch id.
    :param suffix: e.g. ``/cancel`` or ``/results``.
    """
    return f"/v1/batches/{quote(validate_id(batch_id), safe='')}{suffix}"


def file_path(file_id: object, suffix: str = "") -> str:
    """
    The URL path of a file (``/v1/files/{id}{suffix}``), the id validated and escaped.

    :param file_id: the file id.
    :param suffix: e.g. ``/content``.
    """
    return f"/v1/files/{quote(validate_id(file_id, 'file_id'), safe='')}{suffix}"


def build_create_body(
    *,
    model: str,
    provider: str | None,
    endpoint: str | None,
    input_file_id: str | None,
    requests: list[dict[str, Any]] | None,
    input_blob: str | None,
    completion_window: str,
    metadata: dict[str, str] | None,
    output_folder: str | None = None,
    display_name: str | None = None,
    extra_body: dict[str, Any] | None = None,
    default_provider: str | None = None,
    custom: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """
    Check batch-creation parameters (:func:`~airflow_provider_bifrost.creation.check_create_arguments`)
    and build the ``POST /v1/batches`` body.

    :param model: ``"provider/model"``, or the model name with ``provider`` given.
    :param provider: the provider, when ``model`` has no provider prefix (must agree when it has one).
    :param endpoint: the endpoint each request calls.
    :param input_file_id: an uploaded file's id.
    :param requests: inline requests.
    :param input_blob: the provider's own input reference (an Azure blob URL).
    :param completion_window: how long the provider may take.
    :param metadata: string tags.
    :param output_folder: where the provider writes results (an Azure blob or Vertex ``gs://`` prefix).
    :param display_name: the batch's display name.
    :param extra_body: extra top-level keys, passed by the gateway to the provider (Bedrock ``role_arn``,
        ``output_s3_uri``...).
    :param default_provider: the connection's default, used only when neither names a provider.
    :param custom: the custom providers the connection declares.
    """
    named = check_create_arguments(
        model=model,
        provider=provider,
        endpoint=endpoint,
        inputs={"input_file_id": input_file_id, "requests": requests, "input_blob": input_blob},
        requests=requests,
        metadata=metadata,
        completion_window=completion_window,
        extra_body=extra_body,
        output_folder=output_folder,
        display_name=display_name,
        default_provider=default_provider,
        provider_required=True,
        custom=custom,
    )
    if model_provider(model, named, custom) is None:
        model = f"{named}/{model}"
    body: dict[str, Any] = {**(extra_body or {}), "model": model, "completion_window": completion_window}
    for key, value in (
        ("endpoint", endpoint),
        ("input_file_id", input_file_id),
        ("requests", requests),
        ("input_blob", input_blob),
        ("metadata", metadata),
        ("output_folder", {"url": output_folder} if output_folder else None),
        ("display_name", display_name),
    ):
        if value:
            body[key] = value
    return body


def parse_model(response: httpx.Response, model: type[M]) -> M:
    """
    The answer of a request as ``model``; an answer that is not JSON or not that shape is a protocol error.

    :param response: the response, read.
    :param model: the wire model it holds.
    """
    what = f"{response.request.method} {response.request.url.path}"
    try:
        payload = response.json()
    except ValueError:
        excerpt = " ".join(response.text[:200].split())
        raise BifrostProtocolError(
            f"Bifrost {what} answered HTTP {response.status_code} with a body that is not JSON "
            f"({response.headers.get('content-type', 'no content type')}): {excerpt!r}."
        ) from None
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:3])
        raise BifrostProtocolError(
            f"Bifrost {what} answered with JSON that is not a {model.__name__}: {problems}."
        ) from None


def parse_retrieved_batch(response: httpx.Response) -> Batch:
    """
    A retrieved batch; one without a status cannot say whether it is finished, so it is refused.

    :param response: the answer of ``GET /v1/batches/{id}``, read.
    """
    batch = parse_model(response, Batch)
    if not batch.status:
        raise BifrostProtocolError(
            f"Bifrost {response.request.method} {response.request.url.path} answered a batch object with no "
            f"`status`, so whether batch {batch.id} is finished is unknown: the gateway, or a proxy in front of "
            "it, is not answering as the batch API documents."
        )
    return batch


@contextmanager
def _open_local(path: str | os.PathLike[str]) -> Iterator[Any]:
    with open(path, "rb") as stream:
        yield stream


def upload_source(source: Any) -> tuple[Callable[[], Any], str]:
    """
    A context manager factory opening an upload's ``source`` for binary reading, and its file name.

    :param source: a local path or an ``ObjectStoragePath``.
    """
    if isinstance(source, (str, os.PathLike)) and not hasattr(source, "fs"):
        if not os.path.isfile(source):
            raise BifrostConfigError(f"upload source {os.fspath(source)!r} is not a file.")
        return (lambda: _open_local(source)), PurePath(os.fspath(source)).name
    if hasattr(source, "open") and hasattr(source, "name"):
        try:  # info, unlike is_file(), says why it cannot see the file (no credentials, refused, unreachable)
            kind = source.fs.info(source.path).get("type")
        except FileNotFoundError:
            kind = None
        if kind != "file":
            raise BifrostConfigError(f"upload source {source} is not a file.")
        return (lambda: source.open("rb")), source.name
    raise BifrostConfigError(f"upload source must be a path or an ObjectStoragePath, not {type(source).__name__}.")


def split_lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """
    The lines of a byte stream given in chunks, without their line breaks.

    :param chunks: the stream.
    """
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.rstrip(b"\r")
    if pending:
        yield pending.rstrip(b"\r")
