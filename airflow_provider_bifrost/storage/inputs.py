"""
A batch's input on object storage: uploading it to the gateway's files API, counting its requests.

Failures of the storage are named by their cause and by ``input_uri`` (:mod:`.errors`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_bifrost.exceptions import BifrostConfigError
from airflow_provider_bifrost.storage.errors import is_anonymous, storage_errors
from airflow_provider_bifrost.storage.paths import plain_uri, storage_path

if TYPE_CHECKING:
    from airflow_provider_bifrost.hooks.bifrost import BifrostHook
    from airflow_provider_bifrost.hooks.models import FileObject


def upload_input(hook: BifrostHook, input_uri: str, conn_id: str | None, provider: str | None) -> FileObject:
    """
    Stream the JSONL file at ``input_uri`` to the gateway's files API.

    :param hook: the hook to upload with.
    :param input_uri: the file, e.g. ``s3://bucket/requests.jsonl``.
    :param conn_id: its storage connection.
    :param provider: the provider to upload to.
    """
    source = storage_path(input_uri, conn_id, name="input_uri")
    with storage_errors("input_uri", plain_uri(source), "input_conn_id", source.fs):
        try:
            kind = source.fs.info(source.path).get("type")  # unlike is_file(), it says why it sees no file
        except FileNotFoundError:
            if is_anonymous(source.fs):  # anonymous access sees nothing: storage_errors names the credentials
                raise
            kind = None
        if kind != "file":
            raise BifrostConfigError(f"input_uri {plain_uri(source)} is not a file: give the JSONL file's URI.")
        return hook.upload_file(source, provider)


def count_requests(input_uri: str, conn_id: str | None) -> int:
    """
    The requests in the JSONL file at ``input_uri``: its non-blank lines, counted as the file streams by.

    :param input_uri: the file.
    :param conn_id: its storage connection.
    """
    source = storage_path(input_uri, conn_id, name="input_uri")
    with storage_errors("input_uri", plain_uri(source), "input_conn_id", source.fs), source.open("rb") as stream:
        return sum(1 for line in stream if line.strip())
