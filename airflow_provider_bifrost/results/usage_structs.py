"""
What the export decodes of each result item when it counts token usage (:mod:`.usage` holds the rules).

Each struct is :class:`~.records.ItemStatus` (what the export needs anyway) plus the places the rules read, and
msgspec skips everything else at C speed. :class:`UsageStatus` has every shape's places. Decoding costs for
each field it has and each nested object it builds, so batches whose answers all have one known shape decode
only that shape's fields: :class:`ChatUsageStatus`, for OpenAI's chat completions, completions and embeddings
(the commonest batches), chosen by :func:`usage_struct`. An item that does not fit it (no such usage, or an
Anthropic-style ``result``) sends its block back to :class:`UsageStatus` (:meth:`.usage.UsageCounter.add`), so
the choice never changes a count.
"""

from __future__ import annotations

import msgspec

from airflow_provider_bifrost.results.records import ItemResponse, ItemResult, ItemStatus

#: Providers (by their profile) whose chat, completions and embeddings answers carry OpenAI's usage.
CHAT_SHAPED = frozenset({"openai", "azure"})
#: The endpoints whose answers carry ``usage.prompt_tokens`` and friends (OpenAI's chat usage).
CHAT_ENDPOINTS = frozenset({"/v1/chat/completions", "/v1/completions", "/v1/embeddings"})


class TokenDetails(msgspec.Struct, gc=False):
    """OpenAI's ``prompt_tokens_details`` / ``input_tokens_details``."""

    cached_tokens: int | None = None


class TokenUsage(msgspec.Struct, gc=False):
    """A ``usage`` object: OpenAI's (chat or Responses), Anthropic's, or the gateway's flattened Gemini one."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    prompt_tokens_details: TokenDetails | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    input_tokens_details: TokenDetails | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None


class UsageMetadata(msgspec.Struct, gc=False):
    """Vertex's ``usageMetadata``."""

    promptTokenCount: int | None = None  # the wire's names
    candidatesTokenCount: int | None = None
    cachedContentTokenCount: int | None = None
    thoughtsTokenCount: int | None = None
    toolUsePromptTokenCount: int | None = None


class AnswerBody(msgspec.Struct, gc=False):
    """A response body (or Anthropic's ``result.message``): its model and usage."""

    model: str | None = None
    usage: TokenUsage | None = None
    modelVersion: str | None = None
    usageMetadata: UsageMetadata | None = None


class UsageResponse(ItemResponse, gc=False):
    """``response`` with its body's usage."""

    body: AnswerBody | None = None


class UsageResult(ItemResult, gc=False):
    """``result`` with its message's usage."""

    message: AnswerBody | None = None


class UsageStatus(ItemStatus, gc=False):
    """:class:`ItemStatus` plus what usage counting reads, decoded in the same pass."""

    response: UsageResponse | None = None
    result: UsageResult | None = None


class ChatUsage(msgspec.Struct, gc=False):
    """OpenAI's chat usage (chat completions, completions, embeddings): what the rules read of it."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    prompt_tokens_details: TokenDetails | None = None


class ChatBody(msgspec.Struct, gc=False):
    """An OpenAI chat, completions or embeddings response body: its model and usage."""

    model: str | None = None
    usage: ChatUsage | None = None


class ChatResponse(ItemResponse, gc=False):
    """``response`` with its chat body's usage."""

    body: ChatBody | None = None


class ChatUsageStatus(ItemStatus, gc=False):
    """:class:`ItemStatus` plus OpenAI's chat usage, for batches whose answers all have it."""

    response: ChatResponse | None = None


def usage_struct(base: str, endpoint: str | None) -> type[UsageStatus] | type[ChatUsageStatus]:
    """
    The struct to decode a batch's result items into when counting their usage.

    :param base: the batch's provider profile (a custom provider's base).
    :param endpoint: the batch's endpoint, if known.
    """
    return ChatUsageStatus if base in CHAT_SHAPED and endpoint in CHAT_ENDPOINTS else UsageStatus
