"""
The model providers Bifrost routes to, and which of them support the batch API.

Imports nothing at module level: ``get_provider_info`` reads it while Airflow itself is starting.
"""

from __future__ import annotations

#: Every value the gateway accepts for the ``provider`` query parameter.
PROVIDERS: tuple[str, ...] = (
    "openai",
    "azure",
    "anthropic",
    "bedrock",
    "cohere",
    "vertex",
    "vllm",
    "mistral",
    "ollama",
    "groq",
    "sgl",
    "parasail",
    "perplexity",
    "replicate",
    "cerebras",
    "gemini",
    "openrouter",
    "elevenlabs",
    "huggingface",
    "nebius",
    "xai",
    "runway",
    "fireworks",
)

#: Providers with batch support in the gateway; the others answer ``unsupported_operation``.
BATCH_PROVIDERS: frozenset[str] = frozenset({"openai", "azure", "anthropic", "gemini", "bedrock", "vertex"})


def validate_provider(provider: object, *, source: str = "provider") -> str:
    """
    Return ``provider`` if the gateway knows it, else raise before any request is made.

    :param provider: the value to check.
    :param source: where the value came from, named in the error (a parameter or a connection field).
    """
    from airflow_provider_bifrost.hooks.errors import BifrostConfigError

    if not isinstance(provider, str) or not provider.strip():
        raise BifrostConfigError(
            f"{source} is required: set it on the task or set `default_provider` in the connection's "
            f"extra. Valid values: {', '.join(PROVIDERS)}."
        )
    if provider not in PROVIDERS:
        raise BifrostConfigError(
            f"{source} {provider!r} is not a Bifrost provider. Valid values: {', '.join(PROVIDERS)}."
        )
    return provider
