"""The ``/results`` document and the JSONL files of a batch, in each provider's item shape.

Item shapes (Bifrost's core/providers/*/batch*.go result conversions):

- OpenAI/Azure: ``{custom_id, response{status_code, request_id, body}}``, successes only (failed
  requests are in the error file, which ``/results`` leaves out).
- Anthropic: ``{custom_id, result{type: succeeded, message}}``; errored requests
  ``{custom_id, result{type: errored}, error{code, message}}``; requests that never ran end as
  ``expired`` or ``canceled``.
- Bedrock: ``recordId`` -> ``custom_id``, ``modelOutput`` -> ``response.body`` (Claude's message),
  a record error -> ``error{code, message}`` + ``response.status_code``.
- Gemini: the body flattened to ``{finish_reason, text, usage}``; errors ``{custom_id, error}``.
- Vertex: the raw Vertex ``GenerateContentResponse`` as ``body``; errors ``{custom_id, error}``.

Token usage is realistic for each shape and deterministic per item ``i``: prompt tokens
``12 + i % 37`` (of which ``4 * (i % 3)`` read from a cache and, for Anthropic-style usage,
``2 * (i % 2)`` written to it), completion tokens ``20 + i % 53``.

A result document can hold hundreds of thousands of items, so it is produced as ~64 KB byte chunks
(each joining many items) from per-batch string templates filled with per-item values; only small
parts go through ``json.dumps``. It is compact (no whitespace; each item starts with
``{"custom_id":"``), as the gateway writes it. Contents are deterministic for a batch (seeded by
``Batch.seed``).
"""

from __future__ import annotations

import functools
import json
import operator
import random
import re
from itertools import islice
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING, Any

from airflow_provider_bifrost.testing.emulator.providers import ANTHROPIC_ERROR_TYPES, OPENAI_ERROR_KINDS, gemini_state

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from airflow_provider_bifrost.testing.emulator.state import Batch, BatchView

CHUNK_SIZE = 64 * 1024
_CURSOR = re.compile(r"cursor_(\d+)")
_FAILED_MESSAGE = "Request %(raw)s: failed on purpose by the Bifrost emulator."
# Per-item values, in the order BatchContent._values returns them.
_FIELDS = ("cid", "raw", "i", "pad", "usage")
_FIELD = re.compile(r"(?<!%)%\((\w+)\)[sd]")
# Each item shape's usage object; %(name)d fields filled per item by _usage_table.
_USAGE_STYLES = {
    "openai": (
        '"usage":{"prompt_tokens":%(pt)d,"completion_tokens":%(ct)d,"total_tokens":%(tt)d,'
        '"prompt_tokens_details":{"cached_tokens":%(cached)d,"audio_tokens":0},'
        '"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,'
        '"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}'
    ),
    "embedding": '"usage":{"prompt_tokens":%(pt)d,"total_tokens":%(pt)d}',
    "anthropic": (
        '"usage":{"input_tokens":%(fresh)d,"cache_creation_input_tokens":%(created)d,'
        '"cache_read_input_tokens":%(cached)d,"output_tokens":%(ct)d}'
    ),
    # the gateway's flattened Gemini usage (Go map keys: sorted)
    "gemini": '"usage":{"completion_tokens":%(ct)d,"prompt_tokens":%(pt)d,"total_tokens":%(tt)d}',
    "vertex": (
        '"usageMetadata":{"promptTokenCount":%(pt)d,"candidatesTokenCount":%(ct)d,"totalTokenCount":%(tt)d%(vcache)s}'
    ),
}


def token_usage(i: int) -> tuple[int, int, int, int]:
    """Item ``i``'s ``(prompt, completion, cache_read, cache_creation)`` tokens.

    ``prompt`` counts every input token, cached ones included (OpenAI's ``prompt_tokens``);
    Anthropic's ``input_tokens`` is ``prompt - cache_read - cache_creation``.
    """
    return 12 + i % 37, 20 + i % 53, 4 * (i % 3), 2 * (i % 2)


# Usage repeats with period lcm(37, 53, 3, 2): one rendered usage object per residue and item shape,
# so the hot loop only indexes a table.
_USAGE_PERIOD = 37 * 53 * 3 * 2


@functools.cache
def _usage_table(style: str) -> list[str]:
    """The usage object of every residue ``i % _USAGE_PERIOD``, rendered in one item shape's style."""
    template = _USAGE_STYLES[style]
    rows = []
    for i in range(_USAGE_PERIOD):
        prompt, completion, cache_read, cache_creation = token_usage(i)
        values = {
            "pt": prompt,
            "ct": completion,
            "tt": prompt + completion,
            "cached": cache_read,
            "created": cache_creation,
            "fresh": prompt - cache_read - cache_creation,
            "vcache": f',"cachedContentTokenCount":{cache_read}' if cache_read else "",
        }
        rows.append(template % values)
    return rows


def _lit(value: Any) -> str:
    """``value`` as JSON, safe to embed in a ``%`` template."""
    return json.dumps(value).replace("%", "%%")


def _usage_style(batch: Batch) -> str:
    """Which usage object the batch's result bodies carry."""
    if batch.provider in ("anthropic", "bedrock") or batch.endpoint == "/v1/messages":
        return "anthropic"
    if batch.provider in ("gemini", "vertex"):
        return batch.provider
    return "embedding" if batch.endpoint == "/v1/embeddings" else "openai"


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
        provider = batch.provider
        self._usage = _usage_table(_usage_style(batch))
        # Templates: per-item values go in %(name)s / %(name)d fields (see _values).
        token = f"{batch.seed:08x}"
        text = "Answer %(i)d to %(raw)s. %(pad)s"
        message = self._message_template(token, text)
        failure = '"message":"' + _FAILED_MESSAGE + '"'
        self._errors: dict[int, _Template] = {}  # failed requests' templates, by HTTP status
        self._error_lines: dict[int, _Template] = {}  # openai/azure: the error file's lines, by HTTP status
        self._unprocessed: _Template | None = None
        codes = sorted(set(batch.failure_codes))
        if provider == "anthropic":
            self._ok = _Template('{"custom_id":%(cid)s,"result":{"type":"succeeded","message":' + message + "}}")
            for code in codes:
                kind = ANTHROPIC_ERROR_TYPES.get(code, "api_error")
                self._errors[code] = _Template(
                    '{"custom_id":%(cid)s,"result":{"type":"errored"},"error":{"code":"' + kind + '",' + failure + "}}"
                )
            left = "expired" if view.status == "expired" else "canceled"
            self._unprocessed = _Template('{"custom_id":%(cid)s,"result":{"type":"' + left + '"}}')
        elif provider == "bedrock":
            body = message.replace('"msg_', '"msg_bdrk_', 1)
            self._ok = _Template('{"custom_id":%(cid)s,"response":{"status_code":200,"body":' + body + "}}")
            for code in codes:
                error = (
                    f'{{"custom_id":%(cid)s,"response":{{"status_code":{code}}},"error":{{"code":"{code}",{failure}}}}}'
                )
                self._errors[code] = _Template(error)
        elif provider in ("gemini", "vertex"):
            body = self._gemini_template(text) if provider == "gemini" else self._vertex_template(token, text)
            self._ok = _Template('{"custom_id":%(cid)s,"response":{"status_code":200,"body":' + body + "}}")
            for code in codes:
                self._errors[code] = _Template(f'{{"custom_id":%(cid)s,"error":{{"code":"{code}",{failure}}}}}')
        else:  # openai, azure: the output file's lines, without OpenAI's own line id and error
            body = self._openai_body_template(token, text)
            request_id = '"request_id":"req_' + token + '_%(i)d"'
            ok_response = '{"status_code":200,' + request_id + ',"body":' + body + "}"
            line_start = '{"id":"batch_req_' + token + '_%(i)d","custom_id":%(cid)s,"response":'
            self._output_line = _Template(line_start + ok_response + ',"error":null}')
            for code in codes:
                kind, error_code = OPENAI_ERROR_KINDS.get(code, ("server_error", "server_error"))
                error = f'{{"message":"{_FAILED_MESSAGE}","type":"{kind}","code":"{error_code}"}}'
                failed_response = f'{{"status_code":{code},{request_id},"body":{{"error":{error}}}}}'
                self._error_lines[code] = _Template(line_start + failed_response + ',"error":null}')
            self._input_line = _Template(self._input_template())
            self._ok = _Template('{"custom_id":%(cid)s,"response":' + ok_response + "}")
        self._pad_len = 0
        self._pad_source = ""
        if batch.item_bytes and batch.total:
            self._pad_len = max(0, batch.item_bytes - len(self._ok(self._values(0))))
            rng = random.Random(batch.seed)
            self._pad_source = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz     ", k=self._pad_len + 1024))
        # Items per ~CHUNK_SIZE byte chunk, from the size of a typical item.
        self._per_chunk = max(1, CHUNK_SIZE // len(self._ok(self._values(0)))) if batch.total else 1

    # --- bodies ---------------------------------------------------------------------------------

    def _openai_body_template(self, token: str, text: str) -> str:
        batch = self.batch
        model = _lit(batch.model)
        if batch.endpoint == "/v1/embeddings":
            rng = random.Random(batch.seed)
            dims = max(8, (batch.item_bytes or 0) // 10)
            vector = ",".join(f"{rng.uniform(-1, 1):.6f}" for _ in range(dims))
            return (
                '{"object":"list","data":[{"object":"embedding","index":0,"embedding":[' + vector + "]}],"
                '"model":' + model + ",%(usage)s}"
            )
        if batch.endpoint == "/v1/messages":
            return self._message_template(token, text)
        return (
            '{"id":"chatcmpl-'
            + token
            + '-%(i)d","object":"chat.completion","created":'
            + str(int(batch.created_at))
            + ',"model":'
            + model
            + ',"choices":[{"index":0,"message":{"role":"assistant","content":"'
            + text
            + '","refusal":null},"logprobs":null,"finish_reason":"stop"}],%(usage)s,'
            '"service_tier":"default","system_fingerprint":"fp_emulator"}'
        )

    def _message_template(self, token: str, text: str) -> str:
        """An Anthropic Messages response (Anthropic batches, Claude on Bedrock)."""
        return (
            '{"id":"msg_'
            + token
            + '_%(i)d","type":"message","role":"assistant","model":'
            + _lit(self.batch.model)
            + ',"content":[{"type":"text","text":"'
            + text
            + '"}],"stop_reason":"end_turn","stop_sequence":null,%(usage)s}'
        )

    @staticmethod
    def _gemini_template(text: str) -> str:
        """The gateway's flattened Gemini body (Go map keys: sorted)."""
        return '{"finish_reason":"STOP","text":"' + text + '",%(usage)s}'

    def _vertex_template(self, token: str, text: str) -> str:
        """A raw Vertex ``GenerateContentResponse``."""
        return (
            '{"candidates":[{"content":{"role":"model","parts":[{"text":"'
            + text
            + '"}]},"finishReason":"STOP","avgLogprobs":-0.125}],%(usage)s,"modelVersion":'
            + _lit(self.batch.model)
            + ',"responseId":"'
            + token
            + '-%(i)d"}'
        )

    def _input_template(self) -> str:
        model = _lit(self.batch.model)
        if self.batch.endpoint == "/v1/embeddings":
            body = '{"model":' + model + ',"input":"Text %(i)d"}'
        else:
            body = '{"model":' + model + ',"messages":[{"role":"user","content":"Question %(i)d"}]}'
        url = _lit(self.batch.endpoint)
        return '{"custom_id":%(cid)s,"method":"POST","url":' + url + ',"body":' + body + "}"

    def _values(self, i: int) -> tuple[str, ...]:
        """Item ``i``'s values, in ``_FIELDS`` order."""
        cid = encode_basestring_ascii(self.batch.custom_ids[i])
        start = (i * 31) & 1023
        pad = self._pad_source[start : start + self._pad_len]
        return cid, cid[1:-1], str(i), pad, self._usage[i % _USAGE_PERIOD]

    # --- documents ------------------------------------------------------------------------------

    def _result_indices(self, start: int) -> Iterator[int]:
        batch = self.batch
        if batch.provider == "anthropic":  # every request has a result once the batch ended
            return iter(range(start, batch.total))
        if batch.provider in ("openai", "azure"):  # the output file: successes only
            failed = self._failed
            return (i for i in range(start, self.view.processed) if i not in failed)
        return iter(range(start, self.view.processed))

    def _result_items(self, indices: Iterable[int]) -> Iterator[str]:
        if not self._errors:
            return _render(self._ok, self._values, indices)
        return self._mixed_items(indices)

    def _mixed_items(self, indices: Iterable[int]) -> Iterator[str]:
        processed, failed = self.view.processed, self._failed
        ok, errors, unprocessed = self._ok, self._errors, self._unprocessed or self._ok
        failure_code = self.batch.failure_code
        for i in indices:
            template = unprocessed if i >= processed else errors[failure_code(i)] if i in failed else ok
            yield template(self._values(i))

    def _error_file_lines(self, processed: int) -> Iterator[str]:
        lines, failure_code, values = self._error_lines, self.batch.failure_code, self._values
        for i in self.batch.failed:
            if i >= processed:
                return
            yield lines[failure_code(i)](values(i))

    def results(self, after: str | None, page_size: int | None, *, info_placeholder: bool = False) -> Iterator[bytes]:
        """The ``/results`` document (one page of it when ``page_size`` is set), as byte chunks.

        :param after: cursor from a previous page's ``next_cursor``.
        :param page_size: items per page (None: every item in one document).
        :param info_placeholder: a Gemini batch without results answers older gateways' single
            ``{"custom_id": "info", ...}`` item.
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
        paging: dict[str, Any] = {}
        if info_placeholder and self.view.processed == 0:
            items = iter([self._info_item()])
        else:
            indices = self._result_indices(start)
            if page_size is not None:
                page = list(islice(indices, page_size))
                following = next(indices, None)
                indices = iter(page)
                paging["has_more"] = following is not None
                if following is not None and batch.cursor_bug != "missing":
                    repeat = batch.cursor_bug == "repeat" and after is not None
                    paging["next_cursor"] = after if repeat else f"cursor_{following}"
            items = self._result_items(indices)
        tail = "]," + "".join(f"{json.dumps(k)}:{json.dumps(v)}," for k, v in paging.items())
        tail += '"extra_fields":' + json.dumps(extra, separators=(",", ":")) + "}"
        return _array_chunks(head, items, tail, self._per_chunk)

    def _info_item(self) -> str:
        state = gemini_state(self.view.status)
        body = {"message": f"Batch completed with state: {state}. No results available."}
        item = {"custom_id": "info", "response": {"status_code": 200, "body": body}}
        return json.dumps(item, separators=(",", ":"))

    def jsonl(self, kind: str) -> Iterator[bytes]:
        """Content of an OpenAI/Azure batch's ``input``, ``output`` or ``error`` file, as byte chunks."""
        processed, failed = self.view.processed, self._failed
        if kind == "input":
            template, indices = self._input_line, iter(range(self.batch.total))
        elif kind == "output":
            template, indices = self._output_line, (i for i in range(processed) if i not in failed)
        else:
            return _line_chunks(self._error_file_lines(processed), self._per_chunk)
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
