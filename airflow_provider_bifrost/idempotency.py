"""
Never a duplicate batch: the tag that ties a batch to its task instance, and finding an earlier try's batch.

Every batch the create operator submits carries the task instance's tag (``airflow_ti_key``, a hash of
dag, task, run and map index; ``airflow_ti``, readable). A later try of the same task instance that has no
saved batch id lists the provider's batches, newest first, back to when the DAG run was queued, and
reattaches to the newest tagged batch if it is still good for something (:func:`reusable`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_bifrost.outcome.status import BatchState, batch_state

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_bifrost.hooks.bifrost import BifrostHook

#: Metadata tags of every batch the create operator submits: a hash of the task instance, and its name.
TI_KEY_FIELD = "airflow_ti_key"
TI_NAME_FIELD = "airflow_ti"
#: The longest metadata value providers accept (OpenAI: 512 characters).
METADATA_VALUE_MAX = 512
#: The status given to a saved batch the gateway no longer knows (404).
GONE = "gone"
#: Looking for an earlier try's batch: at most this many of the provider's newest batches are read,
#: and none created before the DAG run was queued (less this margin for clock skew).
LOOKUP_LIMIT = 5000
LOOKUP_MARGIN = 3600.0
LOOKUP_PAGE_SIZE = 100


def task_instance_tag(context: Context) -> tuple[str, str]:
    """
    The metadata tag of the task instance running: a stable hash key and a readable name.

    :param context: the task context.
    """
    ti = context["ti"]
    map_index = ti.map_index if ti.map_index is not None else -1
    identity = json.dumps([ti.dag_id, ti.task_id, ti.run_id, map_index])
    name = f"{ti.dag_id}.{ti.task_id} run_id={ti.run_id}" + (f" map_index={map_index}" if map_index >= 0 else "")
    return hashlib.sha256(identity.encode()).hexdigest()[:32], name[:METADATA_VALUE_MAX]


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


def find_tagged_batch(hook: BifrostHook, provider: str, key: str, context: Context, log: Any) -> str | None:
    """
    The id of the newest batch tagged with ``key``, if it is running or completed; None to submit anew.

    :param hook: the hook to list batches with.
    :param provider: the provider whose batches are listed.
    :param key: the task instance's tag (:func:`task_instance_tag`).
    :param context: the task context (when the DAG run was queued bounds the search).
    :param log: the task's logger.
    """
    since = run_started(context) - LOOKUP_MARGIN
    for seen, batch in enumerate(hook.iter_batches(provider, page_size=LOOKUP_PAGE_SIZE), start=1):
        if (batch.metadata or {}).get(TI_KEY_FIELD) == key:
            if reusable(batch.status) is not None:
                log.info("Reattaching to batch %s of an earlier try (%s)", batch.id, batch.status)
                return batch.id
            log.warning("Batch %s of an earlier try ended %s: submitting a new one", batch.id, batch.status)
            return None
        if seen >= LOOKUP_LIMIT or (batch.created_at is not None and batch.created_at < since):
            break
    return None
