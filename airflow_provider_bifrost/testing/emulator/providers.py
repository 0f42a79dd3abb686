"""What differs between the providers with a batch API, as the gateway shows it.

This module is the reference's "Per provider" table in code: batch and file id shapes, how a batch's
status and ``request_counts`` look on each provider, which ``metadata`` survives, which create
requests the provider refuses, and what ``/results`` answers when nothing is ready. It knows nothing
of HTTP or of the emulator's store; :mod:`.state`, :mod:`.render`, :mod:`.results` and :mod:`.app`
read it.

A batch moves through generic *phases* (``validating``, ``in_progress``, ``finalizing``, then an
outcome such as ``completed``); :func:`wire_status` turns a phase into what the gateway sends for
that provider (Anthropic never says ``completed``, Gemini never says ``validating``...). A status
string that is not a known phase is sent unchanged, as the gateway passes unknown statuses through.
"""

from __future__ import annotations

import string
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import random

PROVIDERS: Final = (
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
BATCH_PROVIDERS: Final = ("openai", "azure", "anthropic", "bedrock", "gemini", "vertex")
#: OpenAI's batch API, 1:1 (Azure runs the same API).
OPENAI_STYLE: Final = frozenset({"openai", "azure"})
ENDPOINTS: Final = ("/v1/chat/completions", "/v1/embeddings", "/v1/completions", "/v1/responses", "/v1/messages")
PROVIDER_NAMES: Final = {
    "openai": "OpenAI",
    "azure": "Azure",
    "anthropic": "Anthropic",
    "bedrock": "Bedrock",
    "gemini": "Gemini",
    "vertex": "Vertex",
}
DEFAULT_MODELS: Final = {
    "openai": "gpt-4o-mini",
    "azure": "gpt-4o-mini",
    "anthropic": "claude-3-5-haiku-latest",
    "bedrock": "anthropic.claude-3-haiku-20240307-v1:0",
    "gemini": "gemini-2.0-flash",
    "vertex": "gemini-2.0-flash-001",
}

# --- phases and statuses ----------------------------------------------------------------------

#: Phases after which a batch no longer changes and its results (if any) can be read.
TERMINAL_PHASES: Final = frozenset(
    {"completed", "ended", "failed", "expired", "cancelled", "canceled", "deleted", "partially_completed"}
)
#: Phases meaning "every request was processed" (unless a batch says how many were).
FULLY_PROCESSED_PHASES: Final = frozenset({"completed", "ended", "failed", "expired", "partially_completed"})
CANCELLED_PHASES: Final = frozenset({"cancelled", "canceled"})
#: Outcome spellings accepted from tests, mapped to the phase they mean.
OUTCOME_ALIASES: Final = {"PartiallyCompleted": "partially_completed", "PARTIALLY_SUCCEEDED": "partially_completed"}

# Phase -> what the gateway sends, where it differs from the phase's name (Bifrost's
# core/providers/*/batch*.go status mappings).
_WIRE_STATUS: Final[dict[str, dict[str, str]]] = {
    "openai": {"partially_completed": "completed"},
    "azure": {"partially_completed": "completed"},
    # processing_status in_progress / canceling / ended; "ended" covers every finish.
    "anthropic": {
        "validating": "in_progress",
        "finalizing": "in_progress",
        "completed": "ended",
        "failed": "ended",
        "expired": "ended",
        "cancelled": "ended",
        "canceled": "ended",
        "partially_completed": "ended",
    },
    # Submitted/Validating/Scheduled -> validating; InProgress; PartiallyCompleted -> failed.
    "bedrock": {"finalizing": "in_progress", "partially_completed": "failed"},
    # BATCH_STATE_PENDING and _RUNNING -> in_progress.
    "gemini": {"validating": "in_progress", "finalizing": "in_progress", "partially_completed": "completed"},
    # JOB_STATE_QUEUED/PENDING -> validating; RUNNING -> in_progress; PARTIALLY_SUCCEEDED -> completed.
    "vertex": {"finalizing": "in_progress", "partially_completed": "completed"},
}
_ANTHROPIC_PROCESSING: Final = {"in_progress": "in_progress", "cancelling": "canceling", "ended": "ended"}
_GEMINI_STATES: Final = {
    "validating": "BATCH_STATE_PENDING",
    "in_progress": "BATCH_STATE_RUNNING",
    "finalizing": "BATCH_STATE_RUNNING",
    "completed": "BATCH_STATE_SUCCEEDED",
    "partially_completed": "BATCH_STATE_SUCCEEDED",
    "failed": "BATCH_STATE_FAILED",
    "cancelling": "BATCH_STATE_CANCELLING",
    "cancelled": "BATCH_STATE_CANCELLED",
    "canceled": "BATCH_STATE_CANCELLED",
    "expired": "BATCH_STATE_EXPIRED",
}
_VERTEX_STATES: Final = {
    "validating": "JOB_STATE_PENDING",
    "in_progress": "JOB_STATE_RUNNING",
    "finalizing": "JOB_STATE_RUNNING",
    "completed": "JOB_STATE_SUCCEEDED",
    "partially_completed": "JOB_STATE_PARTIALLY_SUCCEEDED",
    "failed": "JOB_STATE_FAILED",
    "cancelling": "JOB_STATE_CANCELLING",
    "cancelled": "JOB_STATE_CANCELLED",
    "canceled": "JOB_STATE_CANCELLED",
    "expired": "JOB_STATE_EXPIRED",
}


def wire_status(provider: str, phase: str) -> str:
    """The ``status`` the gateway sends for a batch of ``provider`` in ``phase``."""
    return _WIRE_STATUS.get(provider, {}).get(phase, phase)


def anthropic_processing_status(status: str) -> str:
    """Anthropic's own ``processing_status`` behind a wire ``status``."""
    return _ANTHROPIC_PROCESSING.get(status, status)


def gemini_state(phase: str) -> str:
    """Gemini's ``BATCH_STATE_*`` for a phase (used in the gateway's messages)."""
    return _GEMINI_STATES.get(phase, phase)


def vertex_state(phase: str) -> str:
    """Vertex's ``JOB_STATE_*`` for a phase (used in the gateway's messages)."""
    return _VERTEX_STATES.get(phase, phase)


def request_counts(provider: str, phase: str, total: int, processed: int, failed: int) -> dict[str, int]:
    """``request_counts`` as the gateway fills them for ``provider``.

    Only ``total``, ``completed`` and ``failed`` are always sent; ``succeeded``, ``expired``,
    ``canceled`` and ``pending`` are Go ``omitempty`` integers: sent only when not zero.

    :param phase: the batch's phase now.
    :param total: number of requests.
    :param processed: requests that ran so far.
    :param failed: failed requests among those that ran.
    """
    succeeded = processed - failed
    left = total - processed
    terminal = phase in TERMINAL_PHASES
    extra: dict[str, int] = {}
    if provider == "anthropic":
        # completed = succeeded, failed = errored; what never ran ended as expired or canceled.
        counts = {"total": total, "completed": succeeded, "failed": failed}
        extra = {
            "succeeded": succeeded,
            "expired": left if terminal and phase == "expired" else 0,
            "canceled": left if terminal and phase != "expired" else 0,
            "pending": 0 if terminal else left,
        }
    elif provider == "bedrock":
        # From the job's output manifest, which is written when the job ends.
        counts = {"total": total, "completed": succeeded, "failed": failed} if terminal else zero_counts()
    elif provider == "gemini":
        # completed = total - pending: it includes the failures; succeeded is given.
        counts = {"total": total, "completed": processed, "failed": failed}
        extra = {"succeeded": succeeded, "pending": left}
    else:  # openai, azure, vertex: completed = succeeded
        counts = {"total": total, "completed": succeeded, "failed": failed}
    counts.update((name, value) for name, value in extra.items() if value)
    return counts


def zero_counts() -> dict[str, int]:
    """``request_counts`` where the provider's answer carries none (Go's zero value)."""
    return {"total": 0, "completed": 0, "failed": 0}


# --- ids --------------------------------------------------------------------------------------

BEDROCK_ARN_PREFIX: Final = "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/"
VERTEX_PARENT: Final = "projects/bifrost-emulator/locations/us-central1"
_ALNUM: Final = string.ascii_lowercase + string.digits


def new_batch_id(provider: str, rng: random.Random) -> str:
    """A fresh batch id in the provider's shape (Bedrock job ARN, Gemini/Vertex resource name...)."""
    if provider == "anthropic":
        return f"msgbatch_{rng.getrandbits(96):024x}"
    if provider == "bedrock":
        return BEDROCK_ARN_PREFIX + "".join(rng.choices(_ALNUM, k=12))
    if provider == "gemini":
        return "batches/" + "".join(rng.choices(_ALNUM, k=20))
    if provider == "vertex":
        return f"{VERTEX_PARENT}/batchPredictionJobs/{rng.randrange(10**18, 10**19)}"
    return f"batch_{rng.getrandbits(96):024x}"


def new_file_id(provider: str, rng: random.Random) -> str:
    """A fresh file id in the provider's shape (Bedrock ``s3://``, Vertex ``gs://``, Gemini ``files/``)."""
    token = f"{rng.getrandbits(96):024x}"
    if provider == "bedrock":
        return f"s3://bifrost-emulator/bifrost-files/{token}.jsonl"
    if provider == "vertex":
        return f"gs://bifrost-emulator/bifrost-files/{token}.jsonl"
    if provider == "gemini":
        return "files/" + "".join(rng.choices(_ALNUM, k=12))
    return f"file-{token}"


def resolve_bare_id(provider: str, batch_id: str) -> str | None:
    """The full id a bare trailing id stands for, where the provider accepts one (Gemini, Vertex).

    Gemini prefixes ``batches/``; Vertex resolves a bare job number under the gateway's
    project and location (Bifrost's gemini ``batchRetrieveByKey``, vertex ``vertexBatchJobURL``).
    """
    if provider == "gemini" and not batch_id.startswith("batches/"):
        return "batches/" + batch_id
    if provider == "vertex" and not batch_id.startswith("projects/"):
        return f"{VERTEX_PARENT}/batchPredictionJobs/{batch_id}"
    return None


def resolve_bare_file_id(provider: str, file_id: str) -> str | None:
    """The full file id a bare one stands for (Gemini prefixes ``files/``)."""
    if provider == "gemini" and not file_id.startswith("files/"):
        return "files/" + file_id
    return None


# --- metadata retention -----------------------------------------------------------------------


def listed_metadata(provider: str, metadata: dict[str, str] | None, job_name: str) -> dict[str, str] | None:
    """The ``metadata`` the gateway sends back for a batch: what each provider kept.

    OpenAI/Azure keep it all; Bedrock keeps only the job's name (the reference's "only ``job_name``": the
    gateway's code also fills a ``model_id``, which the reference leaves out, and so does the emulator);
    Anthropic, Gemini and Vertex drop it (Vertex lists ``display_name`` instead).
    """
    if provider in OPENAI_STYLE:
        return metadata
    if provider == "bedrock":
        return {"job_name": job_name}
    return None


# --- create rules -----------------------------------------------------------------------------


def create_error(
    provider: str,
    *,
    has_requests: bool,
    has_blob: bool,
    endpoint: str | None,
    model: str | None,
    role_arn: str | None,
    output_s3_uri: str | None,
    output_folder: str | None,
) -> str | None:
    """The message of the 500 operation error the provider answers a create request with, if any.

    The checks run in the order Bifrost's provider code runs them.
    """
    name = PROVIDER_NAMES[provider]
    if provider in OPENAI_STYLE and not endpoint:
        return f"endpoint is required for {name} batch API"
    if provider == "anthropic" and not has_requests:
        return "requests array is required for Anthropic batch API"
    if provider == "bedrock":
        if not role_arn:
            return "role_arn is required for Bedrock batch API (provide in extra_params)"
        if not output_s3_uri:
            return "output_s3_uri is required for Bedrock batch API (provide in extra_params)"
        if not model:
            return "model is required for Bedrock batch API"
    if provider == "gemini" and not model:
        return "model is required for Gemini batch API"
    if provider == "vertex":
        if not model:
            return "model is required for Vertex batch API"
        if not output_folder:
            return "output_folder.url (a gs:// prefix) is required for Vertex batch API"
    if has_blob and provider != "azure":
        return f"input_blob is only supported by the Azure batch API, not by the {name} batch API"
    return None


#: How Anthropic names a failed request's HTTP status in ``error.code`` (the reference gives the item shapes,
#: not the codes: these are Anthropic's own error types; any other status is an ``api_error``).
ANTHROPIC_ERROR_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}
#: OpenAI's ``body.error`` ``(type, code)`` of a failed request's error-file line, by HTTP status (any other
#: status is a ``server_error``).
OPENAI_ERROR_KINDS: Final = {
    400: ("invalid_request_error", "invalid_value"),
    408: ("timeout", "request_timeout"),
    429: ("requests", "rate_limit_exceeded"),
}
