"""
The model providers Bifrost routes to, and a profile of each one with a batch API: what differs between them.

Data only, importing nothing: ``get_provider_info`` reads it while Airflow itself is starting, and DAG files
(through the operator modules) read it when they are parsed. Every fact here comes from the gateway's
behaviour as the wire reference records it ("Per provider"); the hook, the operators, the sensor and the
idempotency lookup read a :class:`ProviderProfile` instead of asking ``if provider == ...``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

#: Every value the gateway accepts for the ``provider`` query parameter: the reference's list, the providers
#: of Bifrost's published OpenAPI schema (``ModelProvider``) and newer first-class ones.
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
    "bedrock_mantle",
    "databricks",
    "deepseek",
    "github_copilot",
    "opencode-go",
    "opencode-zen",
    "runware",
    "sarvam",
    "wafer",
    "zro",
)

#: Where a batch's tag (the task instance that submitted it) survives: what the provider keeps and lists back.
TAG_IN_METADATA = "metadata"
TAG_IN_JOB_NAME = "job_name"
TAG_IN_DISPLAY_NAME = "display_name"


@dataclass(frozen=True)
class ProviderProfile:
    """
    What is particular to one provider's batches behind the gateway.

    :param name: the provider.
    :param batch_id_example: what its batch ids look like (Bedrock, Gemini and Vertex ids contain ``/``).
    :param inputs: the create inputs it takes: ``input_file_id``, ``requests``, ``input_blob``.
    :param requires_endpoint: a create without ``endpoint`` is refused (a 500 from the gateway).
    :param required_body: keys a create body must carry besides the input (e.g. Bedrock's ``output_s3_uri``).
    :param held_by_gateway: keys the gateway may supply itself (Bedrock's ``role_arn`` on its key), so their
        absence is not refused but explained when the gateway refuses.
    :param tag_field: where a batch's tag survives and is listed back (``metadata``, ``job_name``,
        ``display_name``), or None when nothing does (then an earlier batch is found by a fingerprint).
    :param results_need_output_file: ``/results`` has something to read only once ``output_file_id`` is set.
    :param error_file: failed requests are in the batch's ``error_file_id``, not in ``/results``.
    :param empty_results_not_ready: an empty ``/results`` answer of a batch with requests means "not ready".
    :param info_placeholder: older gateways answer "no results" with one ``custom_id: "info"`` item.
    :param list_pagination: ``GET /v1/batches`` follows its cursor (else page 1 comes back forever).
    :param file_content: ``GET /v1/files/{id}/content`` works.
    :param completed_includes_failed: ``request_counts.completed`` counts the failed requests too.
    :param partial_statuses: statuses of an unsuccessful batch that may still have results to export.
    :param max_requests: the most requests one batch may hold.
    :param max_bytes: the largest input one batch may have, in bytes.
    """

    name: str
    batch_id_example: str
    inputs: frozenset[str]
    requires_endpoint: bool = False
    required_body: tuple[str, ...] = ()
    held_by_gateway: tuple[str, ...] = ()
    tag_field: str | None = TAG_IN_METADATA
    results_need_output_file: bool = False
    error_file: bool = False
    empty_results_not_ready: bool = False
    info_placeholder: bool = False
    list_pagination: bool = True
    file_content: bool = True
    completed_includes_failed: bool = False
    partial_statuses: frozenset[str] = frozenset()
    max_requests: int = 50_000
    max_bytes: int = 200 * 1024 * 1024

    @property
    def part_input(self) -> str:
        """How a job submits each of its parts: as an uploaded file where the provider takes one, else inline."""
        return "input_file_id" if "input_file_id" in self.inputs else "requests"


_FILE_OR_INLINE = frozenset({"input_file_id", "requests"})
_OPENAI = ProviderProfile(
    "openai",
    "batch_abc123",
    _FILE_OR_INLINE,
    requires_endpoint=True,
    tag_field=TAG_IN_METADATA,
    results_need_output_file=True,
    error_file=True,
    partial_statuses=frozenset({"expired", "cancelled", "canceled"}),
)

#: One profile per provider with a batch API.
PROFILES: Mapping[str, ProviderProfile] = {
    profile.name: profile
    for profile in (
        _OPENAI,
        replace(_OPENAI, name="azure", inputs=_FILE_OR_INLINE | {"input_blob"}, max_requests=100_000),
        ProviderProfile(
            "anthropic",
            "msgbatch_abc123",
            frozenset({"requests"}),
            tag_field=None,
            list_pagination=False,
            file_content=False,
            max_requests=100_000,
            max_bytes=256 * 1024 * 1024,
        ),
        ProviderProfile(
            "bedrock",
            "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abc123",
            _FILE_OR_INLINE,
            required_body=("output_s3_uri",),
            held_by_gateway=("role_arn",),
            tag_field=TAG_IN_JOB_NAME,
            empty_results_not_ready=True,
            list_pagination=False,
            file_content=False,
            partial_statuses=frozenset({"failed"}),
            max_requests=50_000,
            max_bytes=1024 * 1024 * 1024,
        ),
        ProviderProfile(
            "gemini",
            "batches/abc123",
            _FILE_OR_INLINE,
            tag_field=None,
            info_placeholder=True,
            list_pagination=False,
            file_content=False,
            completed_includes_failed=True,
            max_requests=50_000,
            max_bytes=2 * 1024 * 1024 * 1024,
        ),
        ProviderProfile(
            "vertex",
            "projects/my-project/locations/us-central1/batchPredictionJobs/123",
            _FILE_OR_INLINE,
            required_body=("output_folder",),
            tag_field=TAG_IN_DISPLAY_NAME,
            file_content=False,
            max_requests=200_000,
            max_bytes=1024 * 1024 * 1024,
        ),
    )
}

#: Providers with batch support in the gateway; the others answer ``unsupported_operation``.
BATCH_PROVIDERS: frozenset[str] = frozenset(PROFILES)


def profile_of(provider: str, custom: Mapping[str, str] | None = None) -> ProviderProfile:
    """
    The profile of a batch provider; a custom provider (declared in the connection) takes its base's.

    :param provider: a provider with a batch API, or a custom provider's name.
    :param custom: custom provider name -> the provider it is built on.
    :raises KeyError: the provider has no batch API.
    """
    base = (custom or {}).get(provider, provider)
    return PROFILES[base]
