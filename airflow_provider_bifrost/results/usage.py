"""
Token usage of a batch's results, per model, counted while they are exported; and what it cost.

Each provider shape keeps its usage in its own place, under its own names (the gateway's result items, as the
wire reference's "Per provider" table and Bifrost's conversions have them). The rules, one per shape
(input, output, cached input, cache writes; ``-`` for none):

- **OpenAI, Azure** (chat, completions, embeddings): ``response.body.usage``, model ``body.model``; input
  ``prompt_tokens``, output ``completion_tokens``, cached ``prompt_tokens_details.cached_tokens``, writes ``-``.
- **OpenAI Responses API**: ``response.body.usage``, model ``body.model``; input ``input_tokens``, output
  ``output_tokens``, cached ``input_tokens_details.cached_tokens``, writes ``-``.
- **Anthropic Messages**: ``result.message.usage`` (Anthropic), ``response.body.usage`` (Claude on Bedrock,
  whose ``modelOutput`` the gateway puts in ``response.body``, and OpenAI's ``/v1/messages``), model ``.model``;
  input ``input_tokens + cache_read_input_tokens + cache_creation_input_tokens``, output ``output_tokens``,
  cached ``cache_read_input_tokens``, writes ``cache_creation_input_tokens``.
- **Gemini**, the body flattened by the gateway to ``{text, finish_reason, usage}``: ``response.body.usage``,
  no model (counted under the provider's name); input ``prompt_tokens``, output ``total_tokens -
  prompt_tokens``, cached ``-`` (the gateway drops it), writes ``-``.
- **Vertex**, the raw response: ``response.body.usageMetadata``, model ``body.modelVersion``; input
  ``promptTokenCount + toolUsePromptTokenCount``, output ``candidatesTokenCount + thoughtsTokenCount``, cached
  ``cachedContentTokenCount``, writes ``-``.

So ``input_tokens`` is always every input token, the cached ones and the cache writes included (OpenAI's
``prompt_tokens``; Anthropic splits them in three). Gemini's flattened usage keeps prompt, completion and total
only, and its ``completion_tokens`` leaves out the thinking tokens, which are billed as output: the total less
the prompt counts them. An answer whose body has none of these (a Bedrock model other than Claude, say) is
counted in ``without_usage``.

The export decodes each item once, into a struct of :mod:`.usage_structs`: :class:`~.records.ItemStatus` (what
the export needs anyway) plus the fields above, and msgspec skips everything else at C speed. Items that were
decoded whole (the ijson parser, the error file, XCom) are converted into the same struct, so one loop
(:meth:`UsageCounter._count`) applies the rules to both; batches of OpenAI's chat usage alone are decoded into
a leaner struct and counted by a loop of that shape's rule alone (:meth:`UsageCounter._count_chat`), which
hands any block it does not fit to the first.

Prices are in US dollars per million tokens, per model: ``{"input": ..., "output": ..., "cached_input": ...,
"cache_write_input": ...}``, the last two optional (checked by
:func:`~airflow_provider_bifrost.validation.check_prices`). Cached input tokens and cache writes without a
price of their own cost the input price: for cached reads an upper bound (providers charge them less), for
Anthropic's cache writes a lower bound (it charges 1.25x or 2x the input price). A model is priced by its name
as the results give it, or as ``<provider>/<name>``; a model without a price has ``cost_usd: null`` and is
listed in ``unpriced_models``, and the total cost is that of the priced models.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from airflow_provider_bifrost.results.records import item_succeeded, lines_decoder
from airflow_provider_bifrost.results.usage_structs import ChatUsageStatus, UsageStatus, usage_struct

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from airflow_provider_bifrost.results.records import RecordBlock

#: Providers (by their profile) whose output tokens are the total less the prompt (see the module's rules).
OUTPUT_FROM_TOTAL = frozenset({"gemini"})


_convert = msgspec.convert


@dataclass
class ModelUsage:
    """
    One model's tokens (or all models' together).

    :param requests: answers that gave usage.
    :param input_tokens: every input token, the cached ones and the cache writes included.
    :param cached_input_tokens: input tokens read from a cache.
    :param cache_write_input_tokens: input tokens written to a cache (Anthropic).
    :param output_tokens: output tokens, reasoning or thinking included.
    """

    requests: int = 0
    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_input_tokens: int = 0
    output_tokens: int = 0

    def add(self, other: ModelUsage) -> None:
        """
        Add another's counts to these.

        :param other: the counts to add.
        """
        self.requests += other.requests
        self.input_tokens += other.input_tokens
        self.cached_input_tokens += other.cached_input_tokens
        self.cache_write_input_tokens += other.cache_write_input_tokens
        self.output_tokens += other.output_tokens

    def cost_usd(self, price: Mapping[str, float]) -> float:
        """
        What these tokens cost at ``price`` (US dollars per million tokens; see the module for the defaults).

        :param price: ``input`` and ``output``, optionally ``cached_input`` and ``cache_write_input``.
        """
        fresh = max(self.input_tokens - self.cached_input_tokens - self.cache_write_input_tokens, 0)
        per_million = (
            fresh * price["input"]
            + self.cached_input_tokens * price.get("cached_input", price["input"])
            + self.cache_write_input_tokens * price.get("cache_write_input", price["input"])
            + self.output_tokens * price["output"]
        )
        return per_million / 1_000_000


def price_of(prices: Mapping[str, Mapping[str, float]], model: str, provider: str) -> Mapping[str, float] | None:
    """
    A model's price: under its name as the results give it, else as ``<provider>/<name>``.

    :param prices: model -> price.
    :param model: the model.
    :param provider: its batch's provider.
    """
    return prices.get(model) or prices.get(f"{provider}/{model}")


class UsageCounter:
    """
    Token usage per model, added a block of results at a time.

    :param provider: the batch's provider: names the usage of answers that name no model (Gemini's).
    :param base: the provider whose rules apply (a custom provider's base); default: ``provider``.
    """

    def __init__(self, provider: str, base: str | None = None) -> None:
        self.provider = provider
        #: Answers (succeeded items) in which no usage was found.
        self.without_usage = 0
        self._base = base or provider
        self._output_from_total = self._base in OUTPUT_FROM_TOTAL
        # model -> [requests, input, cached input, cache writes, output]; the last model's row is kept at hand.
        self._rows: dict[str | None, list[int]] = {}
        self._model: str | None = None
        self._row = self._rows.setdefault(None, [0, 0, 0, 0, 0])

    @property
    def models(self) -> dict[str, ModelUsage]:
        """The counts so far, per model (an answer naming no model counts under the provider's name)."""
        models: dict[str, ModelUsage] = {}
        for model, row in self._rows.items():
            if row[0]:
                counts = models.setdefault(model or self.provider, ModelUsage())
                counts.add(ModelUsage(*row))
        return models

    def struct_for(self, endpoint: str | None) -> type[UsageStatus] | type[ChatUsageStatus]:
        """
        The struct the export's lean path should decode a batch's items into (:func:`.usage_structs.usage_struct`).

        :param endpoint: the batch's endpoint, if known.
        """
        return usage_struct(self._base, endpoint)

    def add(self, block: RecordBlock) -> int:
        """
        Count a block's usage; return how many of its items succeeded (:attr:`ItemStatus.succeeded`, which the
        count asks of each item anyway: the export takes its success count from here rather than visit every
        item twice).

        :param block: result items, decoded as a struct of :meth:`struct_for` (the export's lean path) or as
            dicts.
        """
        decoded = block.decoded()
        if not decoded:
            return 0
        kind = type(decoded[0])  # a block is decoded one way throughout
        if kind is UsageStatus:
            return self._count(decoded)
        if kind is ChatUsageStatus:
            succeeded = self._count_chat(decoded)
            return succeeded if succeeded is not None else self._count(lines_decoder(UsageStatus)(block.jsonl))
        return self.add_items(decoded if kind is dict else [record.item for record in block.records])

    def add_items(self, items: Iterable[dict[str, Any]]) -> int:
        """
        Count the usage of items decoded whole (as dicts), by the same rules; return how many succeeded.

        :param items: result items, as sent.
        """
        statuses = []
        succeeded = 0
        for item in items:
            try:
                statuses.append(_convert(item, UsageStatus, strict=False))
            except msgspec.ValidationError:  # not where, or not what, the rules expect
                ok = item_succeeded(item)
                succeeded += ok
                self.without_usage += ok
        return succeeded + self._count(statuses)

    def _count(self, statuses: Iterable[UsageStatus]) -> int:
        """
        The rules of the module's table, inlined: this loop runs once per exported item, so it keeps its sums
        in locals and touches a model's row only when the model changes (and once per block). Returns how many
        of the items succeeded.
        """
        from_total = self._output_from_total
        model, row = self._model, self._row
        requests = inputs = cached = writes = outputs = without = succeeded = 0
        for status in statuses:
            ok = status.succeeded
            succeeded += ok
            response = status.response
            body = response.body if response is not None else None
            if body is None:
                result = status.result
                body = result.message if result is not None else None
                if body is None:  # an error, or an answer without a body
                    without += ok
                    continue
            usage = body.usage
            if usage is not None:
                name = body.model
                prompt = usage.prompt_tokens
                if prompt is not None:  # OpenAI chat, completions, embeddings; Gemini flattened
                    i = prompt
                    o = usage.completion_tokens or 0
                    if from_total and usage.total_tokens is not None:
                        o = usage.total_tokens - prompt
                    details = usage.prompt_tokens_details
                    c = details.cached_tokens if details is not None else 0
                    w = 0
                else:  # Anthropic Messages (input_tokens leaves the cache out), OpenAI Responses (it counts it)
                    c = usage.cache_read_input_tokens or 0
                    w = usage.cache_creation_input_tokens or 0
                    i = (usage.input_tokens or 0) + c + w
                    o = usage.output_tokens or 0
                    details = usage.input_tokens_details
                    if details is not None and details.cached_tokens:
                        c += details.cached_tokens
            else:
                meta = body.usageMetadata
                if meta is None:  # an answer whose usage is nowhere the rules look
                    without += ok
                    continue
                name = body.modelVersion  # Vertex
                i = (meta.promptTokenCount or 0) + (meta.toolUsePromptTokenCount or 0)
                o = (meta.candidatesTokenCount or 0) + (meta.thoughtsTokenCount or 0)
                c = meta.cachedContentTokenCount
                w = 0
            if name != model:
                _add_row(row, requests, inputs, cached, writes, outputs)
                requests = inputs = cached = writes = outputs = 0
                model = name
                row = self._rows.setdefault(model, [0, 0, 0, 0, 0])
            requests += 1
            inputs += i
            outputs += o
            if c:
                cached += c
            if w:
                writes += w
        _add_row(row, requests, inputs, cached, writes, outputs)
        self._model, self._row = model, row
        self.without_usage += without
        return succeeded

    def _count_chat(self, statuses: list[ChatUsageStatus]) -> int | None:
        """
        :meth:`_count` for items of OpenAI's chat usage alone (its first rule): how many succeeded, or None, having
        counted nothing, when an item does not fit (no chat usage, or a ``result``) and the block needs
        :meth:`_count`.
        """
        model, row = self._model, self._row
        rows: list[tuple[list[int], int, int, int, int]] = []  # the finished models' sums, added at the end
        requests = inputs = cached = outputs = succeeded = 0
        for status in statuses:
            succeeded += status.succeeded
            response = status.response
            body = response.body if response is not None else None
            if body is None or status.result is not None:
                return None
            usage = body.usage
            if usage is None or usage.prompt_tokens is None:
                return None
            if body.model != model:
                rows.append((row, requests, inputs, cached, outputs))
                requests = inputs = cached = outputs = 0
                model = body.model
                row = self._rows.setdefault(model, [0, 0, 0, 0, 0])
            requests += 1
            inputs += usage.prompt_tokens
            outputs += usage.completion_tokens or 0
            details = usage.prompt_tokens_details
            if details is not None and details.cached_tokens:
                cached += details.cached_tokens
        rows.append((row, requests, inputs, cached, outputs))
        for model_row, model_requests, model_inputs, model_cached, model_outputs in rows:
            _add_row(model_row, model_requests, model_inputs, model_cached, 0, model_outputs)
        self._model, self._row = model, row
        return succeeded

    def report(self, prices: Mapping[str, Mapping[str, float]] | None = None) -> dict[str, Any]:
        """
        The counts as the manifest's ``usage``: per model, the total, and the cost with ``prices``.

        :param prices: model -> price (validated: see :func:`~airflow_provider_bifrost.validation.check_prices`).
        """
        models: dict[str, Any] = {}
        total = ModelUsage()
        total_cost: float | None = None
        unpriced = []
        counted = self.models
        for name in sorted(counted):
            counts = counted[name]
            total.add(counts)
            price = price_of(prices, name, self.provider) if prices else None
            cost = counts.cost_usd(price) if price is not None else None
            if cost is None:
                unpriced.append(name)
            else:
                total_cost = (total_cost or 0.0) + cost
            models[name] = {**asdict(counts), "cost_usd": _dollars(cost)}
        return {
            "models": models,
            "total": {**asdict(total), "cost_usd": _dollars(total_cost)},
            "without_usage": self.without_usage,
            "unpriced_models": unpriced,
        }


def _add_row(row: list[int], requests: int, inputs: int, cached: int, writes: int, outputs: int) -> None:
    row[0] += requests
    row[1] += inputs
    row[2] += cached
    row[3] += writes
    row[4] += outputs


def _dollars(cost: float | None) -> float | None:
    return round(cost, 6) if cost is not None else None


def describe(report: Mapping[str, Any]) -> str:
    """
    A usage report (:meth:`UsageCounter.report`) in one line of the task log.

    :param report: the report.
    """

    def tokens(counts: Mapping[str, Any]) -> str:
        cache = f"{counts['cached_input_tokens']:,} cached"
        if counts["cache_write_input_tokens"]:
            cache += f", {counts['cache_write_input_tokens']:,} cache writes"
        cost = f", ${counts['cost_usd']:,.4f}" if counts["cost_usd"] is not None else ""
        return (
            f"{counts['requests']:,} requests, {counts['input_tokens']:,} input tokens ({cache}), "
            f"{counts['output_tokens']:,} output tokens{cost}"
        )

    models = report["models"]
    parts = [f"{name}: {tokens(counts)}" for name, counts in models.items()]
    if len(models) > 1:
        parts.append(f"total: {tokens(report['total'])}")
    if report["without_usage"]:
        parts.append(f"{report['without_usage']:,} answers without usage")
    return "; ".join(parts)
