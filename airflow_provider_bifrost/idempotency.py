"""
Never a duplicate batch: the tag that ties a batch to its task instance, and finding an earlier try's batch.

Every batch the create operator submits carries its task instance's tag (a hash of dag, task, run and map
index) where the provider keeps it and lists it back (:attr:`ProviderProfile.tag_field`): in ``metadata``
for OpenAI and Azure, as the job name for Bedrock (``metadata["job_name"]``), in the display name for
Vertex. A later try that has no saved batch id lists the provider's batches, newest first, back to when the
DAG run was queued, and reattaches to the newest tagged batch if it is still good for something
(:func:`reusable`).

Anthropic and Gemini keep nothing a client sends: there an earlier batch is found by its fingerprint, the
provider's batches created in a window around the submission with the same number of requests. Exactly one
such batch is reattached to; none means submitting; several fail the task naming them
(:class:`BifrostDuplicateCandidatesError`), never a silent second batch.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_bifrost.exceptions import BifrostError
from airflow_provider_bifrost.outcome.status import BatchState, batch_state
from airflow_provider_bifrost.providers import TAG_IN_DISPLAY_NAME, TAG_IN_JOB_NAME, TAG_IN_METADATA
from airflow_provider_bifrost.version_compat import AirflowFailException

if TYPE_CHECKING:
    from collections.abc import Collection

    from airflow.sdk import Context

    from airflow_provider_bifrost.hooks.bifrost import BifrostHook
    from airflow_provider_bifrost.hooks.models import Batch
    from airflow_provider_bifrost.providers import ProviderProfile

#: Metadata tags of every batch the create operator submits: a hash of the task instance, and its name.
TI_KEY_FIELD = "airflow_ti_key"
TI_NAME_FIELD = "airflow_ti"
#: The metadata key Bedrock names its job after (the gateway passes it as the job name and lists it back).
JOB_NAME_FIELD = "job_name"
#: A job or display name carrying the tag: ``airflow-<key>``.
TAG_PREFIX = "airflow-"
_TAG_IN_NAME = re.compile(rf"{TAG_PREFIX}([0-9a-f]{{32}})$")
#: The longest metadata value providers accept (OpenAI: 512 characters); Vertex's display names: 128.
METADATA_VALUE_MAX = 512
DISPLAY_NAME_MAX = 128
#: The status given to a saved batch the gateway no longer knows (404).
GONE = "gone"
#: Looking for an earlier try's batch: at most this many of the provider's newest batches are read,
#: and none created before the DAG run was queued (less this margin for clock skew).
LOOKUP_LIMIT = 5000
LOOKUP_MARGIN = 3600.0
LOOKUP_PAGE_SIZE = 100
#: A lost create answer is looked for among the batches created this long before it was sent, or after.
FINGERPRINT_SKEW = 120.0


class BifrostDuplicateCandidatesError(BifrostError, AirflowFailException):
    """Several of the provider's batches could be this task instance's lost one: a person has to choose."""


def task_instance_tag(context: Context) -> tuple[str, str]:
    """
    The tag of the task instance running: a stable hash key and a readable name.

    :param context: the task context.
    """
    ti = context["ti"]
    map_index = ti.map_index if ti.map_index is not None else -1
    identity = json.dumps([ti.dag_id, ti.task_id, ti.run_id, map_index])
    name = f"{ti.dag_id}.{ti.task_id} run_id={ti.run_id}" + (f" map_index={map_index}" if map_index >= 0 else "")
    return hashlib.sha256(identity.encode()).hexdigest()[:32], name[:METADATA_VALUE_MAX]


def round_tag(key: str, name: str, number: int) -> tuple[str, str]:
    """
    The tag of a resubmission round's batch (the create operator's ``resubmit_failed``): a key of its own,
    derived from the task instance's, so each round is found again, and never submitted twice, as round 0 is.

    :param key: the task instance's tag key (:func:`task_instance_tag`).
    :param name: its readable name.
    :param number: the round, from 1 (round 0 carries the task instance's own tag).
    """
    if not number:
        return key, name
    derived = hashlib.sha256(f"{key}:round:{number}".encode()).hexdigest()[:32]
    return derived, f"{name} round {number}"[:METADATA_VALUE_MAX]


def tagged(
    profile: ProviderProfile, key: str, name: str, metadata: dict[str, str] | None, display_name: str | None
) -> tuple[dict[str, str], str | None]:
    """
    The create request's metadata and display name, carrying the tag where the provider keeps it.

    :param profile: the provider's profile.
    :param key: the task instance's tag key.
    :param name: its readable name.
    :param metadata: the user's metadata, if any.
    :param display_name: the user's display name, if any.
    """
    metadata = {**(metadata or {}), TI_KEY_FIELD: key, TI_NAME_FIELD: name}
    if profile.tag_field == TAG_IN_JOB_NAME:
        metadata[JOB_NAME_FIELD] = f"{TAG_PREFIX}{key}"
    elif profile.tag_field == TAG_IN_DISPLAY_NAME:
        tag = f"{TAG_PREFIX}{key}"
        room = DISPLAY_NAME_MAX - len(tag) - 1
        display_name = f"{display_name[:room]} {tag}" if display_name else tag
    return metadata, display_name


def tag_of(batch: Batch, profile: ProviderProfile) -> str | None:
    """
    The tag key a listed batch carries, where its provider keeps one.

    :param batch: a batch as listed.
    :param profile: its provider's profile.
    """
    metadata = batch.metadata or {}
    if profile.tag_field == TAG_IN_METADATA:
        value = metadata.get(TI_KEY_FIELD)
        return value if isinstance(value, str) else None
    name = metadata.get(JOB_NAME_FIELD) if profile.tag_field == TAG_IN_JOB_NAME else batch.display_name
    found = _TAG_IN_NAME.search(name) if isinstance(name, str) else None
    return found.group(1) if found else None


def reusable(status: str | None) -> BatchState | None:
    """
    What an earlier try's batch in ``status`` is good for: RUNNING (wait for it), SUCCEEDED, or None (submit anew).

    :param status: the batch's status, or :data:`GONE`.
    """
    if status in (GONE, "cancelling"):  # a batch being cancelled will end cancelled
        return None
    state = batch_state(status)
    return state if state in (BatchState.RUNNING, BatchState.SUCCEEDED) else None


def run_started(context: Context) -> float:
    """
    When the DAG run was queued or started (unix seconds); batches older than that are not its own.

    :param context: the task context.
    """
    dag_run = context.get("dag_run")
    moments = [getattr(dag_run, name, None) for name in ("queued_at", "start_date")]
    stamps = [moment.timestamp() for moment in moments if isinstance(moment, datetime)]
    return min(stamps) if stamps else 0.0


def find_earlier_batch(
    hook: BifrostHook,
    provider: str,
    profile: ProviderProfile,
    key: str,
    context: Context,
    log: Any,
    *,
    requests: int | None = None,
    submitted_at: float | None = None,
    exclude: Collection[str] = (),
) -> str | None:
    """
    The id of this task instance's earlier batch if it is running or completed; None to submit anew.

    :param hook: the hook to list batches with.
    :param provider: the provider whose batches are listed.
    :param profile: its profile (where the tag is, whether the list pages).
    :param key: the task instance's tag key (:func:`task_instance_tag`).
    :param context: the task context (when the DAG run was queued bounds the search).
    :param log: the task's logger.
    :param requests: how many requests the batch has, for a fingerprint (None: unknown).
    :param submitted_at: when this try sent the create request whose answer was lost (None: an earlier try).
    :param exclude: batches known to be something else's (a job's other parts): never candidates.
    :raises BifrostDuplicateCandidatesError: a fingerprint matches several batches.
    """
    if profile.tag_field is None:  # a fingerprint: a narrow window, from this submission or this run's start
        since = (submitted_at if submitted_at is not None else run_started(context)) - FINGERPRINT_SKEW
    else:
        since = run_started(context) - LOOKUP_MARGIN
    max_pages = None if profile.list_pagination else 1
    listed = hook.iter_batches(provider, page_size=LOOKUP_PAGE_SIZE, max_pages=max_pages)
    candidates: list[Batch] = []
    for seen, batch in enumerate(listed, start=1):
        if batch.created_at is not None and batch.created_at < since:
            break
        if batch.id in exclude:  # known to be something else: a job's other part
            pass
        elif profile.tag_field is not None:
            if tag_of(batch, profile) == key:
                return _reattach(batch, log)
        elif _live(batch) and (requests is None or batch.request_counts.total in (requests, 0)):
            candidates.append(batch)
        if seen >= LOOKUP_LIMIT:
            break
    if profile.tag_field is not None or not candidates:
        return None
    if len(candidates) > 1:
        listing = "; ".join(
            f"{batch.id} ({batch.status}, {batch.request_counts.total} requests, created "
            f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(batch.created_at or 0))})"
            for batch in candidates[:10]
        )
        raise BifrostDuplicateCandidatesError(
            f"{provider} keeps no tag of a batch's task instance, and {len(candidates)} of its batches created since "
            f"{time.strftime('%H:%M:%S UTC', time.gmtime(since))} match this one's fingerprint"
            f"{f' ({requests} requests)' if requests is not None else ''}: {listing}. Rather than risk a second "
            "batch, the task stops. Cancel the ones that are not this task's, then clear the task; or, to "
            "continue from one of them, wait for it with BifrostBatchSensor(batch_id=...)."
        )
    log.info("Found %s's batch of this task instance by its fingerprint", provider)
    return _reattach(candidates[0], log)


def _live(batch: Batch) -> bool:
    """
    Whether a look-alike batch could be this task's to wait for: not cancelled, failed or expired (Anthropic's
    cancelled batches end ``ended``, every request cancelled).
    """
    if reusable(batch.status) is None:
        return False
    counts = batch.request_counts
    lost = (counts.canceled or 0) + (counts.expired or 0)
    return not (batch.state is not BatchState.RUNNING and counts.total and lost >= counts.total)


def _reattach(batch: Batch, log: Any) -> str | None:
    if reusable(batch.status) is not None:
        log.info("Reattaching to batch %s of an earlier try (%s)", batch.id, batch.status)
        return batch.id
    log.warning("Batch %s of an earlier try ended %s: submitting a new one", batch.id, batch.status)
    return None


def find_tagged_batches(
    hook: BifrostHook, provider: str, profile: ProviderProfile, keys: dict[str, int], context: Context, log: Any
) -> dict[int, str]:
    """
    The batches of a job's parts that an earlier try submitted, found by their tags in one listing pass:
    part number -> batch id, for the parts whose batch is running or completed.

    :param hook: the hook to list batches with.
    :param provider: the provider whose batches are listed.
    :param profile: its profile (it must keep a tag: ``tag_field``).
    :param keys: each part's tag key -> the part's number.
    :param context: the task context (when the DAG run was queued bounds the search).
    :param log: the task's logger.
    """
    since = run_started(context) - LOOKUP_MARGIN
    max_pages = None if profile.list_pagination else 1
    found: dict[int, str] = {}
    seen_keys: set[str] = set()
    for seen, batch in enumerate(hook.iter_batches(provider, page_size=LOOKUP_PAGE_SIZE, max_pages=max_pages), 1):
        if batch.created_at is not None and batch.created_at < since:
            break
        key = tag_of(batch, profile)
        if key in keys and key not in seen_keys:  # the newest batch of a part decides, as for one batch
            seen_keys.add(key)
            if (batch_id := _reattach(batch, log)) is not None:
                found[keys[key]] = batch_id
        if seen >= LOOKUP_LIMIT or len(seen_keys) == len(keys):
            break
    return found
