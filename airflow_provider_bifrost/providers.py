"""
The model providers Bifrost routes to, and which of them have a batch API.

Data only, importing nothing: ``get_provider_info`` reads it while Airflow itself is starting.
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
