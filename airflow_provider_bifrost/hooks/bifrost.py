"""
``BifrostHook``: the batch and files API of a Bifrost gateway, sync and async.

Request paths, bodies and reading answers live in :mod:`.api` (no I/O); clients and error translation in
:mod:`.http`; what is retried in :mod:`.retry`; the connection's settings in :mod:`.connection`.

Why one long module: it is the one hook, each route of the batch and files API a method (and its async
twin where the triggerer needs one); everything without I/O is already in the modules above.
"""

from __future__ import annotations

import json
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager, nullcontext
from functools import cached_property
from typing import TYPE_CHECKING, Any

import httpx
from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from airflow_provider_bifrost.constants import (
    DEFAULT_COMPLETION_WINDOW,
    DEFAULT_CONN_NAME,
    DEFAULT_MAX_CONSECUTIVE_FAILURES,
)
from airflow_provider_bifrost.exceptions import (
    BifrostAPIError,
    BifrostConfigError,
    BifrostError,
    BifrostProtocolError,
)
from airflow_provider_bifrost.hooks.api import (
    batch_path,
    build_create_body,
    file_path,
    parse_model,
    parse_retrieved_batch,
    split_lines,
    upload_source,
)
from airflow_provider_bifrost.hooks.connection import GatewaySettings
from airflow_provider_bifrost.hooks.http import (
    SHARED_ASYNC_CLIENTS,
    SharedClient,
    araise_for_error,
    build_async_client,
    build_client,
    build_download_client,
    quiet_request_log,
    raise_for_error,
)
from airflow_provider_bifrost.hooks.models import Batch, BatchList, BatchResultItem, FileObject
from airflow_provider_bifrost.hooks.retry import RetryPolicy
from airflow_provider_bifrost.outcome.polling import BatchPoll
from airflow_provider_bifrost.results.pages import BatchResults
from airflow_provider_bifrost.validation import batch_profile, validate_provider

if TYPE_CHECKING:
    import logging
    import os
    from collections.abc import AsyncIterator, Iterator

    from airflow.sdk import Connection, ObjectStoragePath

    from airflow_provider_bifrost.providers import ProviderProfile
    from airflow_provider_bifrost.results.records import ItemStatus

STREAM_CHUNK = 256 * 1024
#: Request URLs an async hook keeps built (a wait asks for the same one again and again).
ASYNC_URLS_KEPT = 16
#: The largest page of ``GET /v1/batches`` the gateway serves.
LIST_PAGE_MAX = 100


class BifrostHook(BaseHook):
    """
    Talk to a Bifrost gateway's batch and files API.

    The connection's host is the gateway URL; its password is the virtual key (``x-bf-vk``), or, with
    a login, the gateway's Basic auth password (the virtual key then goes in extra ``virtual_key``).
    See the README for every extra. Requests that are safe to repeat are retried with backoff.

    :param bifrost_conn_id: the Airflow connection of type ``bifrost``.
    :param retry_policy: retry and backoff settings; by default built from the connection's
        ``max_retries``.
    """

    conn_name_attr = "bifrost_conn_id"
    default_conn_name = DEFAULT_CONN_NAME
    conn_type = "bifrost"
    hook_name = "Bifrost"

    def __init__(
        self,
        bifrost_conn_id: str = default_conn_name,
        *,
        retry_policy: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bifrost_conn_id = bifrost_conn_id
        self._retry_policy = retry_policy
        self._async_client: httpx.AsyncClient | None = None
        self._shared: SharedClient | None = None
        self._async_urls: dict[tuple[str, tuple[tuple[str, Any], ...]], httpx.URL] = {}

    @classmethod
    def for_polling(cls, bifrost_conn_id: str = default_conn_name) -> BifrostHook:
        """
        A hook for the status checks of a wait: one attempt per request, as its :meth:`batch_poll` retries.

        :param bifrost_conn_id: the Airflow connection of type ``bifrost``.
        """
        return cls(bifrost_conn_id, retry_policy=RetryPolicy(max_retries=0))

    @staticmethod
    def batch_poll(
        batch_id: str,
        provider: str | None,
        *,
        poll_interval: float,
        deadline: float | None,
        log: logging.Logger | logging.LoggerAdapter[Any],
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
        failed_share_threshold: float | None = None,
        not_found_until: float | None = None,
        part_of: str | None = None,
        progress_every: float | None = None,
    ) -> BatchPoll:
        """
        The poll decision of a wait on a batch, with the polling retry policy: the one way every wait is built.

        :param batch_id: the batch.
        :param provider: its provider.
        :param poll_interval: seconds between status checks.
        :param deadline: unix time at which the wait times out (None: never).
        :param log: where the wait logs.
        :param max_consecutive_failures: failed checks in a row that end the wait.
        :param failed_share_threshold: the waiting task's, for the closing line.
        :param not_found_until: unix time until which a 404 counts as transient (the batch was just created).
        :param part_of: the job part the batch is, named in its closing line.
        :param progress_every: seconds between progress lines at INFO (None: none).
        """
        return BatchPoll(
            batch_id,
            provider,
            poll_interval=poll_interval,
            deadline=deadline,
            retry=RetryPolicy.for_polling(poll_interval, max_consecutive_failures),
            log=log,
            failed_share_threshold=failed_share_threshold,
            not_found_until=not_found_until,
            part_of=part_of,
            progress_every=progress_every,
        )

    # -- connection ---------------------------------------------------------------------------

    @cached_property
    def settings(self) -> GatewaySettings:
        """The validated gateway settings of the connection (secrets registered with the masker)."""
        return self._settings_from(self.get_connection(self.bifrost_conn_id))

    async def aget_settings(self) -> GatewaySettings:
        """The gateway settings, read without blocking the event loop."""
        if "settings" not in self.__dict__:
            conn = await self.aget_connection(self.bifrost_conn_id)
            self.__dict__["settings"] = self._settings_from(conn)
        return self.settings

    def _settings_from(self, conn: Connection) -> GatewaySettings:
        settings = GatewaySettings.from_connection(conn)
        for secret in settings.secrets:
            mask_secret(secret)
        return settings

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy in force (from the connection's ``max_retries`` unless given)."""
        if self._retry_policy is None:
            self._retry_policy = RetryPolicy(max_retries=self.settings.max_retries)
        return self._retry_policy

    @cached_property
    def client(self) -> httpx.Client:
        """The sync HTTP client (created on first use)."""
        return build_client(self.settings)

    @cached_property
    def download_client(self) -> httpx.Client:
        """The sync HTTP client of streamed downloads (created on first use): the same client on another
        connection pool (:func:`~airflow_provider_bifrost.hooks.http.build_download_client`)."""
        return build_download_client(self.settings)

    def get_conn(self) -> httpx.Client:
        """The sync HTTP client, configured for the gateway."""
        return self.client

    def close(self) -> None:
        """Close the sync clients."""
        for name in ("client", "download_client"):
            if name in self.__dict__:
                self.__dict__.pop(name).close()

    async def aclose(self) -> None:
        """Close the hook's own async client (a shared one is closed by its last lease)."""
        if self._async_client is not None:
            await self._async_client.aclose()
            self._async_client = None

    def resolve_provider(self, provider: str | None) -> str:
        """
        The provider to use: ``provider``, else the connection's ``default_provider``; validated.

        :param provider: the provider named by the caller, if any.
        """
        if provider is None or (isinstance(provider, str) and not provider.strip()):
            provider = self.settings.default_provider
        return validate_provider(provider, custom=self.settings.custom_providers)

    def profile(self, provider: str) -> ProviderProfile:
        """
        The profile of a batch provider (a custom provider of the connection takes its base's); refuse a
        provider without a batch API.

        :param provider: a provider resolved by :meth:`resolve_provider`.
        """
        return batch_profile(provider, self.settings.custom_providers)

    # -- plumbing -----------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool = True,
        stream: bool = False,
        retry: RetryPolicy | None = None,
        **request: Any,
    ) -> httpx.Response:
        """One request with the retry policy; the response has been checked (and read unless streaming: a
        streamed response comes from the download client)."""
        client = self.download_client if stream else self.client

        def attempt() -> httpx.Response:
            response = client.send(client.build_request(method, path, **request), stream=True)
            raise_for_error(response)
            if not stream:
                try:
                    response.read()
                finally:
                    response.close()
            return response

        return (retry or self.retry_policy).call(f"{method} {path}", attempt, idempotent=idempotent)

    # -- batches ------------------------------------------------------------------------------

    def get_batch(self, batch_id: str, provider: str | None = None) -> Batch:
        """
        Retrieve a batch.

        :param batch_id: the batch id.
        :param provider: the batch's provider; defaults to the connection's ``default_provider``.
        """
        path = batch_path(batch_id)
        response = self._send("GET", path, params={"provider": self.resolve_provider(provider)})
        return parse_retrieved_batch(response)

    def list_batches(
        self, provider: str | None = None, *, limit: int | None = None, after: str | None = None
    ) -> BatchList:
        """
        One page of the provider's batches.

        :param provider: the provider; defaults to the connection's ``default_provider``.
        :param limit: page size.
        :param after: the ``next_cursor`` of the previous page.
        """
        params: dict[str, Any] = {"provider": self.resolve_provider(provider)}
        if limit is not None:
            params["limit"] = limit
        if after:
            params["after"] = after
        return parse_model(self._send("GET", "/v1/batches", params=params), BatchList)

    def iter_batches(
        self, provider: str | None = None, *, page_size: int | None = None, max_pages: int | None = None
    ) -> Iterator[Batch]:
        """
        Every batch of the provider, page after page, each once.

        Some providers' list ignores the cursor (Anthropic, Gemini, Bedrock: page 1 comes back forever with
        ``has_more`` set): the listing stops, with a warning, at a repeated page or cursor, or at ``has_more``
        without a cursor, rather than loop or yield a batch twice.

        :param provider: the provider; defaults to the connection's ``default_provider``.
        :param page_size: batches per request.
        :param max_pages: read at most this many pages (None: all).
        """
        after: str | None = None
        cursors: set[str] = set()
        seen: set[str] = set()
        pages = 0
        while True:
            page = self.list_batches(provider, limit=page_size, after=after)
            pages += 1
            fresh = [batch for batch in page.data if batch.id not in seen]
            if page.data and not fresh:
                self.log.warning("GET /v1/batches repeated a page (the gateway ignores the cursor): stopping")
                return
            seen.update(batch.id for batch in fresh)
            yield from fresh
            cursor = page.next_cursor or page.last_id
            if not page.has_more or not page.data or (max_pages is not None and pages >= max_pages):
                return
            if not cursor or cursor in cursors:
                self.log.warning(
                    "GET /v1/batches: has_more, but the cursor %r is missing or repeated: stopping", cursor
                )
                return
            cursors.add(cursor)
            after = cursor

    def cancel_batch(self, batch_id: str, provider: str | None = None) -> Batch:
        """
        Ask the provider to cancel a batch (it moves to ``cancelling``, then ``cancelled``).

        :param batch_id: the batch id.
        :param provider: the batch's provider; defaults to the connection's ``default_provider``.
        """
        path = batch_path(batch_id, "/cancel")
        response = self._send("POST", path, params={"provider": self.resolve_provider(provider)})
        return parse_model(response, Batch)

    def create_batch(
        self,
        *,
        model: str,
        provider: str | None = None,
        endpoint: str | None = None,
        input_file_id: str | None = None,
        requests: list[dict[str, Any]] | None = None,
        input_blob: str | None = None,
        completion_window: str = DEFAULT_COMPLETION_WINDOW,
        metadata: dict[str, str] | None = None,
        output_folder: str | None = None,
        display_name: str | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> Batch:
        """
        Create a batch from an uploaded file, inline requests, or a blob. Never retried blindly.

        What the provider is known to refuse (its profile: e.g. Anthropic without inline requests, Bedrock
        without ``output_s3_uri``) is refused before sending, naming the fix.

        :param model: the model, as ``"provider/model"`` or just the model name when ``provider`` is set.
        :param provider: the provider, if ``model`` does not start with it.
        :param endpoint: the API endpoint each request calls (required for OpenAI), e.g.
            ``/v1/chat/completions``.
        :param input_file_id: id of an uploaded JSONL file (see :meth:`upload_file`).
        :param requests: inline requests, ``[{"custom_id", "method", "url", "body"}, ...]``.
        :param input_blob: the provider's own input reference (an Azure blob URL).
        :param completion_window: how long the provider may take.
        :param metadata: string key/value tags stored with the batch (kept by OpenAI and Azure only).
        :param output_folder: where the provider writes results (an Azure blob or Vertex ``gs://`` prefix).
        :param display_name: the batch's display name (Vertex lists it back).
        :param extra_body: extra top-level keys the gateway passes to the provider, e.g. Bedrock's
            ``{"role_arn": ..., "output_s3_uri": ...}``.
        """
        body = build_create_body(
            model=model,
            provider=provider,
            default_provider=self.settings.default_provider,
            endpoint=endpoint,
            input_file_id=input_file_id,
            requests=requests,
            input_blob=input_blob,
            completion_window=completion_window,
            metadata=metadata,
            output_folder=output_folder,
            display_name=display_name,
            extra_body=extra_body,
            custom=self.settings.custom_providers,
        )
        return parse_model(self._send("POST", "/v1/batches", json=body, idempotent=False), Batch)

    def iter_batch_result_dicts(self, batch_id: str, provider: str | None = None) -> BatchResults:
        """
        Every result item of a finished batch as a plain dict (exactly as sent), streamed.

        The returned iterator also tells, once exhausted, the pages read and any
        ``extra_fields.parse_errors`` (lines the gateway skipped).

        :param batch_id: the batch id.
        :param provider: the batch's provider; defaults to the connection's ``default_provider``.
        """
        return self._batch_results(batch_id, provider, lean=False)

    def iter_batch_result_lines(
        self, batch_id: str, provider: str | None = None, *, usage: type[ItemStatus] | None = None
    ) -> BatchResults:
        """
        Every result of a finished batch for writing out: iterate ``.records()`` for each item's JSON line
        (the gateway's own bytes when it can) with its ``custom_id`` and ``succeeded``; the item itself is
        decoded only if asked for. Same paging, resume and checks as :meth:`iter_batch_result_dicts`.

        :param batch_id: the batch id.
        :param provider: the batch's provider; defaults to the connection's ``default_provider``.
        :param usage: also decode each item's token usage, in the same pass, into this struct (for
            ``results.usage``: ``UsageCounter.struct_for``).
        """
        return self._batch_results(batch_id, provider, lean=True, usage=usage)

    def _batch_results(
        self, batch_id: str, provider: str | None, *, lean: bool, usage: type[ItemStatus] | None = None
    ) -> BatchResults:
        path = batch_path(batch_id, "/results")
        params = {"provider": self.resolve_provider(provider)}

        @contextmanager
        def open_page(after: str | None) -> Iterator[Iterator[bytes]]:
            response = self._send("GET", path, params={**params, **({"after": after} if after else {})}, stream=True)
            try:
                # As the download transport delivers them (pieces of at least 512 KB): the parsers take chunks of
                # any size, and re-chunking here would copy every byte once more.
                yield response.iter_bytes()
            finally:
                response.close()

        return BatchResults(open_page, retry=self.retry_policy, what=f"GET {path}", lean=lean, usage=usage)

    def iter_batch_results(self, batch_id: str, provider: str | None = None) -> Iterator[BatchResultItem]:
        """
        Every result item of a finished batch, as models, streamed (see :meth:`iter_batch_result_dicts`).

        :param batch_id: the batch id.
        :param provider: the batch's provider; defaults to the connection's ``default_provider``.
        """
        for item in self.iter_batch_result_dicts(batch_id, provider):
            yield BatchResultItem.model_validate(item)

    # -- files --------------------------------------------------------------------------------

    def upload_file(
        self,
        source: str | os.PathLike[str] | ObjectStoragePath,
        provider: str | None = None,
        *,
        purpose: str = "batch",
        filename: str | None = None,
    ) -> FileObject:
        """
        Upload a file (streamed from disk or object storage, never read whole). Never retried blindly.

        :param source: a local path or an ``ObjectStoragePath`` (``s3://``, ``file://``...).
        :param provider: the provider to upload to; defaults to the connection's ``default_provider``.
        :param purpose: the file's purpose (``batch`` for batch input).
        :param filename: the name to give the file; defaults to the source's name.
        """
        provider = self.resolve_provider(provider)
        opener, name = upload_source(source)

        def attempt() -> httpx.Response:
            with opener() as stream:
                request = self.client.build_request(
                    "POST",
                    "/v1/files",
                    params={"provider": provider},
                    data={"purpose": purpose},
                    files={"file": (filename or name, stream, "application/jsonl")},
                )
                response = self.client.send(request)
            raise_for_error(response)
            return response

        response = self.retry_policy.call("POST /v1/files", attempt, idempotent=False)
        return parse_model(response, FileObject)

    def get_file(self, file_id: str, provider: str | None = None) -> FileObject:
        """
        Retrieve a file object.

        :param file_id: the file id.
        :param provider: the file's provider; defaults to the connection's ``default_provider``.
        """
        path = file_path(file_id)
        response = self._send("GET", path, params={"provider": self.resolve_provider(provider)})
        return parse_model(response, FileObject)

    def delete_file(self, file_id: str, provider: str | None = None) -> None:
        """
        Delete a file.

        :param file_id: the file id.
        :param provider: the file's provider; defaults to the connection's ``default_provider``.
        """
        path = file_path(file_id)
        self._send("DELETE", path, params={"provider": self.resolve_provider(provider)})

    def iter_file_content(self, file_id: str, provider: str | None = None, *, lines: bool = False) -> Iterator[bytes]:
        """
        Stream a file's content (e.g. a batch's output or error JSONL), in chunks or line by line.

        A download that breaks mid-way is requested again and resumed after the bytes already yielded
        (within the retry policy's budget), so nothing is yielded twice or lost.

        :param file_id: the file id.
        :param provider: the file's provider; defaults to the connection's ``default_provider``.
        :param lines: yield one line at a time (without the line break) instead of raw chunks.
        """
        path = file_path(file_id, "/content")
        chunks = self._resumed_download(path, {"provider": self.resolve_provider(provider)})
        yield from split_lines(chunks) if lines else chunks

    def _resumed_download(self, path: str, params: dict[str, Any]) -> Iterator[bytes]:
        """The body of ``GET path`` in chunks; a broken stream is requested again and the bytes seen skipped."""
        received = 0
        failures = self.retry_policy.streak()
        while True:
            response = self._send("GET", path, params=params, stream=True)
            try:
                skip = received
                for chunk in response.iter_bytes(STREAM_CHUNK):
                    if skip >= len(chunk):
                        skip -= len(chunk)
                        continue
                    chunk, skip = chunk[skip:], 0
                    received += len(chunk)
                    failures.reset()
                    yield chunk
                if skip:
                    raise BifrostProtocolError(f"GET {path}: the file got shorter between attempts; cannot resume.")
                return
            except httpx.TransportError as exc:
                self.retry_policy.pause(failures, f"GET {path}", exc, f"after {received} bytes")
            finally:
                response.close()

    def iter_file_items(self, file_id: str, provider: str | None = None) -> Iterator[dict[str, Any]]:
        """
        Stream a JSONL file's lines as dicts (blank lines skipped).

        :param file_id: the file id.
        :param provider: the file's provider; defaults to the connection's ``default_provider``.
        """
        for number, line in enumerate(self.iter_file_content(file_id, provider, lines=True), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError:
                raise BifrostProtocolError(f"File {file_id}: line {number} is not JSON.") from None
            if not isinstance(item, dict):
                raise BifrostProtocolError(f"File {file_id}: line {number} is not a JSON object.")
            yield item

    # -- async --------------------------------------------------------------------------------

    async def _aclient(self) -> tuple[httpx.AsyncClient, AbstractAsyncContextManager[Any]]:
        """The client for async calls and the gate to pass: the loop's shared one while leased, else our own."""
        if self._shared is not None:
            return self._shared.client, self._shared.gate
        if self._async_client is None:
            self._async_client = build_async_client(await self.aget_settings())
        return self._async_client, nullcontext()

    @asynccontextmanager
    async def shared_async_client(self) -> AsyncIterator[BifrostHook]:
        """
        Within the block, async calls use the client this event loop shares for the same gateway.

        Triggers use this so that many of them polling one gateway share one connection pool.
        """
        settings = await self.aget_settings()
        async with SHARED_ASYNC_CLIENTS.lease(settings) as self._shared:
            try:
                yield self
            finally:
                self._shared = None

    async def _asend(self, method: str, path: str, *, params: dict[str, Any]) -> httpx.Response:
        client, gate = await self._aclient()
        quiet = quiet_request_log if self._shared is not None else nullcontext  # a trigger's checks: no INFO line
        # A wait checks the same URL again and again: httpx parses a path and its query in pure Python (~50 us).
        key = (path, tuple(params.items()))
        url = self._async_urls.get(key)
        if url is None:
            if len(self._async_urls) >= ASYNC_URLS_KEPT:
                self._async_urls.clear()
            url = self._async_urls[key] = client.build_request(method, path, params=params).url

        async def attempt() -> httpx.Response:
            async with gate:
                with quiet():
                    response = await client.send(client.build_request(method, url), stream=True)
                await araise_for_error(response)
                try:
                    await response.aread()
                finally:
                    await response.aclose()
                # httpx's response and its bound stream refer to each other: left so, every poll's response
                # (and the ~20 objects it holds) waits for the garbage collector. The body is read: let go.
                response.stream = httpx.ByteStream(b"")
                return response

        return await self.retry_policy.acall(f"{method} {path}", attempt)

    async def aget_batch(self, batch_id: str, provider: str | None = None) -> Batch:
        """
        Retrieve a batch without blocking the event loop.

        :param batch_id: the batch id.
        :param provider: the batch's provider; defaults to the connection's ``default_provider``.
        """
        await self.aget_settings()
        path = batch_path(batch_id)
        response = await self._asend("GET", path, params={"provider": self.resolve_provider(provider)})
        return parse_retrieved_batch(response)

    async def alist_batches(
        self, provider: str | None = None, *, limit: int = LIST_PAGE_MAX, after: str | None = None
    ) -> BatchList:
        """
        One page of the provider's batches without blocking the event loop: where the provider's list pages
        correctly (openai, azure, vertex), one request tells the statuses of up to ``limit`` batches, for a
        trigger waiting on many. One attempt per call, like :meth:`aget_batch` in a wait (the caller retries).

        :param provider: the provider; defaults to the connection's ``default_provider``.
        :param limit: page size, 1 to :data:`LIST_PAGE_MAX`.
        :param after: the ``next_cursor`` (or ``last_id``) of the previous page.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= LIST_PAGE_MAX:
            raise BifrostConfigError(f"limit must be an integer from 1 to {LIST_PAGE_MAX}, got {limit!r}")
        await self.aget_settings()
        params: dict[str, Any] = {"provider": self.resolve_provider(provider), "limit": limit}
        if after:
            params["after"] = after
        return parse_model(await self._asend("GET", "/v1/batches", params=params), BatchList)

    async def acancel_batch(self, batch_id: str, provider: str | None = None) -> Batch:
        """
        Cancel a batch without blocking the event loop.

        :param batch_id: the batch id.
        :param provider: the batch's provider; defaults to the connection's ``default_provider``.
        """
        await self.aget_settings()
        path = batch_path(batch_id, "/cancel")
        response = await self._asend("POST", path, params={"provider": self.resolve_provider(provider)})
        return parse_model(response, Batch)

    # -- connection test ----------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Make one cheap real call (list one batch) and say, in words a person can act on, how it went."""
        try:
            settings = self.settings
            provider = settings.default_provider or "openai"
            # One attempt: a person is waiting for the answer.
            params = {"provider": provider, "limit": 1}
            parse_model(self._send("GET", "/v1/batches", params=params, retry=RetryPolicy(max_retries=0)), BatchList)
        except BifrostAPIError as exc:
            if exc.http_status == 404:
                return False, (f"The gateway answered 404 for GET /v1/batches: is the Gateway URL right? ({exc})")
            return False, str(exc)
        except BifrostError as exc:
            return False, str(exc)
        return True, f"Connected to the Bifrost gateway at {settings.base_url} (listed {provider} batches)."
