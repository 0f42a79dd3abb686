"""
Storage failures named by their real cause: a missing bucket, no credentials, access denied, an endpoint that
cannot be reached.

Filesystems (s3fs, gcsfs, the local disk...) raise what they raise: ``FileNotFoundError`` for a missing
bucket, ``PermissionError`` for a refusal, botocore or aiohttp errors for a network failure, and Airflow's
S3 filesystem falls back to anonymous access when the connection has no credentials. Only a missing bucket
is permanent (:class:`~airflow_provider_bifrost.exceptions.BifrostConfigError`); the rest are
:class:`~airflow_provider_bifrost.exceptions.BifrostStorageError`, which Airflow retries like any transient
fault. Each message names the parameter (``input_uri`` or ``output_uri``) the location came from.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from airflow_provider_bifrost.exceptions import BifrostConfigError, BifrostError, BifrostStorageError

if TYPE_CHECKING:
    from collections.abc import Iterator

#: Exception class names that mean the storage endpoint could not be reached (botocore, aiohttp, the OS).
UNREACHABLE = frozenset(
    {
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "ClientConnectorError",
        "ServerDisconnectedError",
        "ConnectionRefusedError",
        "ConnectionResetError",
        "TimeoutError",
        "gaierror",
    }
)
NO_CREDENTIALS = frozenset({"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"})


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and the ones it was raised from, outermost first."""
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return seen


def describe(exc: BaseException, *, name: str, uri: str, conn_param: str, anonymous: bool) -> BifrostError | None:
    """
    The error a person can act on for a storage failure, or None when it is not one of the known causes.

    :param exc: what the filesystem raised.
    :param name: the parameter the location came from (``input_uri`` or ``output_uri``).
    :param uri: the location, without credentials.
    :param conn_param: the parameter naming the storage connection (``input_conn_id``, ``output_conn_id``).
    :param anonymous: the filesystem fell back to anonymous access (the connection has no credentials).
    """
    chain = _chain(exc)
    names = {type(link).__name__ for link in chain}
    if names & NO_CREDENTIALS or (anonymous and isinstance(exc, (PermissionError, FileNotFoundError))):
        return BifrostStorageError(
            f"{name} {uri}: no credentials for this storage, so the access was anonymous and refused: set "
            f"{conn_param} to a connection with credentials (e.g. an AWS connection with a key, a role or a profile)."
        )
    if names & UNREACHABLE:
        return BifrostStorageError(
            f"{name} {uri}: the storage endpoint cannot be reached ({type(chain[-1]).__name__}): check the endpoint "
            f"of the {conn_param} connection and the network; the task is retried."
        )
    if isinstance(exc, PermissionError):
        return BifrostStorageError(
            f"{name} {uri}: access denied ({exc.strerror or exc}): the credentials of the {conn_param} connection "
            f"may not use this location; grant them access or choose another {name}."
        )
    return None


def is_anonymous(fs: Any) -> bool:
    """Whether the filesystem works without credentials (Airflow's S3 filesystem falls back to that)."""
    return getattr(fs, "anon", False) is True


@contextmanager
def storage_errors(name: str, uri: str, conn_param: str, fs: Any = None) -> Iterator[None]:
    """
    Within the block, a storage failure of a known cause is raised as the error that names it.

    :param name: the parameter the location came from (``input_uri`` or ``output_uri``).
    :param uri: the location, without credentials.
    :param conn_param: the parameter naming the storage connection.
    :param fs: the filesystem in use, if known (to tell anonymous access).
    """
    try:
        yield
    except BifrostError:
        raise
    except Exception as exc:
        described = describe(exc, name=name, uri=uri, conn_param=conn_param, anonymous=is_anonymous(fs))
        if described is None:
            raise
        raise described from exc


def missing_bucket(name: str, bucket: str) -> BifrostConfigError:
    """
    The permanent error of a bucket that does not exist.

    :param name: the parameter the location came from.
    :param bucket: the bucket.
    """
    return BifrostConfigError(
        f"{name}: bucket {bucket!r} does not exist, or the storage connection cannot see it; create it first "
        "(the export never creates buckets)."
    )
