"""What the gateway sends: batch and file objects, result documents and JSONL file contents.

A result document can hold hundreds of thousands of items, so it is produced as ~64 KB byte
chunks (each joining many items) from per-batch string templates filled with per-item values;
only small parts go through ``json.dumps``. Contents are deterministic for a batch (seeded by
``Batch.seed``).
"""

from __future__ import annotations

import json
import operator
import random
import re
from itertools import islice
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from airflow_provider_bifrost.testing.emulator.state import Batch, BatchView, StoredFile

CHUNK_SIZE = 64 * 1024
_CURSOR = re.compile(r"cursor_(\d+)")
_DEFAULT_MODELS = {
    "anthropic": "claude-3-5-haiku-latest",
    "bedrock": "anthropic.claude-3-haiku-20240307-v1:0",
    "gemini": "gemini-2.0-flash",
    "vertex": "gemini-2.0-flash",
}
_FAILED_MESSAGE = "Invalid request %(raw)s: failed on purpose by the Bifrost emulator."
# Per-item values, in the order BatchContent._values returns them.
_FIELDS = ("cid", "raw", "i", "pad", "pt", "ct", "tt")
_FIELD = re.compile(r"(?<!%)%\((\w+)\)[sd]")
_NUMBERS = [str(n) for n in range(128)]


def _lit(value: Any) -> str:
    """``value`` as JSON, safe to embed in a ``%`` template."""
    return json.dumps(value).replace("%", "%%")


def _compact(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop None values, as the gateway's ``omitempty`` fields do."""
    return {k: v for k, v in obj.items() if v is not None}


def request_counts(batch: Batch, view: BatchView) -> dict[str, int]:
    """``request_counts`` of a batch at one instant."""
    failed = batch.failed_before(view.processed)
    counts = {"total": batch.total, "completed": view.processed - failed, "failed": failed}
    if batch.provider == "anthropic":
        left = batch.total - view.processed
        counts.update(
            succeeded=view.processed - failed,
            expired=left if view.status == "expired" else 0,
            canceled=left if view.status in ("cancelled", "canceled") else 0,
            pending=0 if view.terminal else left,
        )
    return counts


def batch_object(batch: Batch, view: BatchView, request_type: str) -> dict[str, Any]:
    """The batch as the gateway returns it (None fields omitted)."""
    counts = request_counts(batch, view)
    stamps = {name: int(value) for name, value in view.stamps.items()}
    done = view.terminal and batch.provider != "anthropic"
    obj: dict[str, Any] = {
        "id": batch.id,
        "object": "batch",
        "endpoint": batch.endpoint,
        "input_file_id": batch.input_file_id,
        "completion_window": batch.completion_window,
        "status": view.status,
        "request_counts": counts,
        "metadata": batch.metadata,
        "model": batch.model,
        **stamps,
        "expires_at": int(batch.created_at) + _window_seconds(batch.completion_window),
        "output_file_id": batch.output_file_id if done and counts["completed"] else None,
        "error_file_id": batch.error_file_id if done and counts["failed"] else None,
        "errors": _errors(batch) if view.status == "failed" else None,
    }
    if batch.provider == "anthropic":
        obj["processing_status"] = _anthropic_status(view)
        if view.terminal:
            obj["results_url"] = f"https://api.anthropic.com/v1/messages/batches/{batch.id}/results"
    elif batch.provider in ("gemini", "vertex"):
        obj.update(
            operation_name=f"batches/{batch.id}",
            done=view.terminal,
            progress=round(100 * view.processed / batch.total, 2) if batch.total else 100.0,
        )
    obj["extra_fields"] = _compact(
        {"request_type": request_type, "provider": batch.provider, "model_requested": batch.model}
    )
    return _compact(obj)


def cancel_object(batch: Batch, view: BatchView) -> dict[str, Any]:
    """The answer of the cancel route."""
    return _compact(
        {
            "id": batch.id,
            "object": "batch",
            "status": view.status,
            "request_counts": request_counts(batch, view),
            "cancelling_at": _int_or_none(view.stamps.get("cancelling_at")),
            "cancelled_at": _int_or_none(view.stamps.get("cancelled_at")),
            "extra_fields": {"request_type": "batch_cancel", "provider": batch.provider},
        }
    )


def file_object(stored: StoredFile, size: int) -> dict[str, Any]:
    """A file object."""
    return {
        "id": stored.id,
        "object": "file",
        "bytes": size,
        "created_at": int(stored.created_at),
        "filename": stored.filename,
        "purpose": stored.purpose,
        "status": "processed",
    }


def _int_or_none(value: float | None) -> int | None:
    return None if value is None else int(value)


def _window_seconds(window: str) -> int:
    match = re.fullmatch(r"(\d+)h", window)
    return int(match.group(1)) * 3600 if match else 24 * 3600


def _anthropic_status(view: BatchView) -> str:
    if view.status == "cancelling":
        return "canceling"
    return "ended" if view.terminal else "in_progress"


def _errors(batch: Batch) -> dict[str, Any]:
    data = [
        {
            "code": "invalid_request",
            "message": f"request {batch.custom_ids[i]!r} is invalid",
            "param": None,
            "line": i + 1,
        }
        for i in batch.failed[:10]
    ] or [{"code": "batch_failed", "message": "the batch failed", "param": None, "line": None}]
    return {"object": "list", "data": data}


class _Template:
    """A ``%(name)s`` template compiled to positional ``%s`` fields picked from the value tuple.

    Positional formatting of strings is about twice as fast as formatting a mapping.
    """

    __slots__ = ("pick", "text")

    def __init__(self, template: str) -> None:
        self.text = _FIELD.sub("%s", template)
        self.pick = operator.itemgetter(*(_FIELDS.index(name) for name in _FIELD.findall(template)))

    def __call__(self, values: tuple[str, ...]) -> str:
        return self.text % self.pick(values)


class BatchContent:
    """Result documents and JSONL files of one batch at one instant.

    :param batch: the batch.
    :param view: its state now (decides which requests have run).
    """

    def __init__(self, batch: Batch, view: BatchView) -> None:
        self.batch = batch
        self.view = view
        self._failed = frozenset(batch.failed)
        # Templates: per-item values go in %(name)s / %(name)d fields (see _values).
        token = f"{batch.seed:08x}"
        model = (batch.model or "").partition("/")[2] or _DEFAULT_MODELS.get(batch.provider, "gpt-4o-mini")
        body = self._body_template(token, model, int(batch.created_at))
        request_id = '"request_id":"req_' + token + '_%(i)d"'
        ok_response = '{"status_code":200,' + request_id + ',"body":' + body + "}"
        failed_response = (
            '{"status_code":400,'
            + request_id
            + ',"body":{"error":{"message":"'
            + _FAILED_MESSAGE
            + '","type":"invalid_request_error","code":"invalid_value"}}}'
        )
        line_start = '{"id":"batch_req_' + token + '_%(i)d","custom_id":%(cid)s,"response":'
        self._output_line = _Template(line_start + ok_response + ',"error":null}')
        self._error_line = _Template(line_start + failed_response + ',"error":null}')
        self._input_line = _Template(self._input_template(model))
        if batch.provider == "anthropic":
            self._ok = _Template('{"custom_id":%(cid)s,"result":{"type":"succeeded","message":' + body + "}}")
            self._errored = _Template(
                '{"custom_id":%(cid)s,"result":{"type":"errored","message":null},'
                '"error":{"code":"invalid_request_error","message":"' + _FAILED_MESSAGE + '"}}'
            )
            left = "expired" if view.status == "expired" else "canceled"
            unprocessed = '{"custom_id":%(cid)s,"result":{"type":"' + left + '","message":null}}'
            self._unprocessed = _Template(unprocessed)
        else:
            self._ok = _Template('{"custom_id":%(cid)s,"response":' + ok_response + "}")
        self._pad_len = 0
        self._pad_source = ""
        if batch.item_bytes and batch.total:
            self._pad_len = max(0, batch.item_bytes - len(self._ok(self._values(0))))
            rng = random.Random(batch.seed)
            self._pad_source = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz     ", k=self._pad_len + 1024))
        # Items per ~CHUNK_SIZE byte chunk, from the size of a typical item.
        self._per_chunk = max(1, CHUNK_SIZE // len(self._ok(self._values(0)))) if batch.total else 1

    def _body_template(self, token: str, model: str, created: int) -> str:
        endpoint = self.batch.endpoint
        if endpoint == "/v1/embeddings":
            rng = random.Random(self.batch.seed)
            dims = max(8, (self.batch.item_bytes or 0) // 10)
            vector = ",".join(f"{rng.uniform(-1, 1):.6f}" for _ in range(dims))
            return (
                '{"object":"list","data":[{"object":"embedding","index":0,"embedding":[' + vector + "]}],"
                '"model":' + _lit(model) + ',"usage":{"prompt_tokens":%(pt)d,"total_tokens":%(pt)d}}'
            )
        text = "Answer %(i)d to %(raw)s. %(pad)s"
        if self.batch.provider == "anthropic" or endpoint == "/v1/messages":
            return (
                '{"id":"msg_'
                + token
                + '_%(i)d","type":"message","role":"assistant","model":'
                + _lit(model)
                + ',"content":[{"type":"text","text":"'
                + text
                + '"}],"stop_reason":"end_turn",'
                '"stop_sequence":null,"usage":{"input_tokens":%(pt)d,"output_tokens":%(ct)d}}'
            )
        return (
            '{"id":"chatcmpl-'
            + token
            + '-%(i)d","object":"chat.completion","created":'
            + str(created)
            + ',"model":'
            + _lit(model)
            + ',"choices":[{"index":0,"message":{"role":"assistant","content":"'
            + text
            + '"},"finish_reason":"stop"}],'
            '"usage":{"prompt_tokens":%(pt)d,"completion_tokens":%(ct)d,"total_tokens":%(tt)d}}'
        )

    def _input_template(self, model: str) -> str:
        if self.batch.endpoint == "/v1/embeddings":
            body = '{"model":' + _lit(model) + ',"input":"Text %(i)d"}'
        else:
            body = '{"model":' + _lit(model) + ',"messages":[{"role":"user","content":"Question %(i)d"}]}'
        url = _lit(self.batch.endpoint)
        return '{"custom_id":%(cid)s,"method":"POST","url":' + url + ',"body":' + body + "}"

    def _values(self, i: int) -> tuple[str, ...]:
        """Item ``i``'s values, in ``_FIELDS`` order."""
        cid = encode_basestring_ascii(self.batch.custom_ids[i])
        pt, ct = 12 + i % 37, 20 + i % 53
        start = (i * 31) & 1023
        pad = self._pad_source[start : start + self._pad_len]
        return (cid, cid[1:-1], str(i), pad, _NUMBERS[pt], _NUMBERS[ct], _NUMBERS[pt + ct])

    def _result_indices(self, start: int) -> Iterator[int]:
        if self.batch.provider == "anthropic":
            return iter(range(start, self.batch.total))
        failed = self._failed
        return (i for i in range(start, self.view.processed) if i not in failed)

    def _result_items(self, indices: Iterable[int]) -> Iterator[str]:
        if self.batch.provider != "anthropic":
            return _render(self._ok, self._values, indices)
        return self._anthropic_items(indices)

    def _anthropic_items(self, indices: Iterable[int]) -> Iterator[str]:
        processed, failed = self.view.processed, self._failed
        for i in indices:
            template = self._unprocessed if i >= processed else self._errored if i in failed else self._ok
            yield template(self._values(i))

    def results(self, after: str | None, page_size: int | None) -> Iterator[bytes]:
        """The ``/results`` document (one page of it when ``page_size`` is set), as byte chunks.

        :param after: cursor from a previous page's ``next_cursor``.
        :param page_size: items per page (None: every item in one document).
        :raises ValueError: invalid cursor (raised here, before any byte is produced).
        """
        batch = self.batch
        start = 0
        if after is not None:
            match = _CURSOR.fullmatch(after)
            if match is None or int(match.group(1)) > batch.total:
                raise ValueError(f"invalid cursor: {after!r}")
            start = int(match.group(1))
        extra: dict[str, Any] = {"request_type": "batch_results", "provider": batch.provider}
        if batch.parse_errors:
            extra["parse_errors"] = batch.parse_errors
        head = '{"batch_id":' + json.dumps(batch.id) + ',"results":['
        indices = self._result_indices(start)
        paging: dict[str, Any] = {}
        if page_size is not None:
            page = list(islice(indices, page_size))
            following = next(indices, None)
            indices = iter(page)
            paging["has_more"] = following is not None
            if following is not None and batch.cursor_bug != "missing":
                repeat = batch.cursor_bug == "repeat" and after is not None
                paging["next_cursor"] = after if repeat else f"cursor_{following}"
        tail = "]," + "".join(f"{json.dumps(k)}:{json.dumps(v)}," for k, v in paging.items())
        tail += '"extra_fields":' + json.dumps(extra, separators=(",", ":")) + "}"
        return _array_chunks(head, self._result_items(indices), tail, self._per_chunk)

    def jsonl(self, kind: str) -> Iterator[bytes]:
        """Content of the batch's ``input``, ``output`` or ``error`` file, as byte chunks."""
        processed, failed = self.view.processed, self._failed
        if kind == "input":
            template, indices = self._input_line, iter(range(self.batch.total))
        elif kind == "output":
            template, indices = self._output_line, (i for i in range(processed) if i not in failed)
        else:
            template, indices = self._error_line, (i for i in self.batch.failed if i < processed)
        return _line_chunks(_render(template, self._values, indices), self._per_chunk)


def _render(
    template: _Template,
    values: Callable[[int], tuple[str, ...]],
    indices: Iterable[int],
) -> Iterator[str]:
    """``template`` filled with each index's values (the hot loop of large documents)."""
    text, pick = template.text, template.pick
    for i in indices:
        yield text % pick(values(i))


def _array_chunks(head: str, items: Iterator[str], tail: str, per_chunk: int) -> Iterator[bytes]:
    """``head``, the items comma-separated, ``tail``: ``per_chunk`` items per byte chunk."""
    pending, separator = head, ""
    while block := ",".join(islice(items, per_chunk)):
        yield (pending + separator + block).encode()
        pending, separator = "", ","
    yield (pending + tail).encode()


def _line_chunks(lines: Iterator[str], per_chunk: int) -> Iterator[bytes]:
    """The lines, newline-terminated, ``per_chunk`` lines per byte chunk."""
    while block := "\n".join(islice(lines, per_chunk)):
        yield (block + "\n").encode()
