"""
Making a job's plan: one pass over its requests split into parts within the provider's limits.

The requests (a :class:`~airflow_provider_bifrost.jobs.source.RequestSource`: inline, or JSONL files on any
object storage) are read once: each part gets at most ``max_requests`` requests and ``max_bytes`` bytes, and
every ``custom_id`` is checked (present, unique across the whole job) with digests kept on local disk
(:mod:`.ids`), never the whole input in memory. A repeat is named with both places it stands.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from airflow_provider_bifrost.exceptions import BifrostConfigError
from airflow_provider_bifrost.jobs.ids import DigestRuns, digest, digests, repeated
from airflow_provider_bifrost.jobs.plan import PartPlan, Plan, Segment
from airflow_provider_bifrost.jobs.source import checked_custom_id, line_custom_id

if TYPE_CHECKING:
    from airflow_provider_bifrost.jobs.source import RequestSource

#: Repeated digests looked up by name in the second pass (the first repeat in input order is named).
REPEATS_NAMED = 1000
#: Request ids digested at a time while planning.
ID_BATCH = 4096


def make_plan(source: RequestSource, *, max_requests: int, max_bytes: int, ids: DigestRuns) -> Plan:
    """
    Read every request once and split them into parts; check each has a ``custom_id``, unique in the job.

    :param source: where the requests are.
    :param max_requests: the most requests in one part.
    :param max_bytes: the largest part, in JSONL bytes.
    :param ids: receives each request's id digest (for the duplicate check, and the export's check).
    :raises BifrostConfigError: a request without a ``custom_id``, too big for a part, or a repeated id.
    """
    plan = Plan(sources=[] if source.inline else source.files())
    content = hashlib.blake2b(digest_size=16)
    count = size = first = 0
    segments: list[Segment] = []
    open_segment: list[int] | None = None  # [source, start, end] of the segment being extended

    def close_part() -> None:
        nonlocal count, size, segments, open_segment
        if open_segment is not None:
            segments.append(Segment(*open_segment))
            open_segment = None
        if count:
            plan.parts.append(PartPlan(len(plan.parts), count, size, first, tuple(segments)))
        count = size = 0
        segments = []

    pending_ids: list[str] = []  # digested a batch at a time (ids.extend: no call per id)
    for file_index, offset, line, where in source.lines(plan):
        pending_ids.append(checked_custom_id(line, where))
        if len(pending_ids) >= ID_BATCH:
            ids.extend(digests(pending_ids))
            pending_ids.clear()
        content.update(line)
        content.update(b"\n")
        line_bytes = len(line) + 1
        if line_bytes > max_bytes:
            raise BifrostConfigError(
                f"{where} is {line_bytes:,} bytes, more than max_bytes_per_batch={max_bytes:,}: no part can hold it. "
                "Make that request smaller, or raise max_bytes_per_batch (up to the provider's limit)."
            )
        if count and (count + 1 > max_requests or size + line_bytes > max_bytes):
            close_part()
        if not count:
            first = plan.requests
        if file_index >= 0:
            end = offset + line_bytes  # the line and its newline (a missing last newline is added when written)
            if open_segment is not None and open_segment[0] == file_index:
                open_segment[2] = max(open_segment[2], end)
            else:
                if open_segment is not None:
                    segments.append(Segment(*open_segment))
                open_segment = [file_index, offset, end]
        count += 1
        size += line_bytes
        plan.requests += 1
    close_part()
    ids.extend(digests(pending_ids))
    plan.content = content.hexdigest()
    if not plan.requests:
        raise BifrostConfigError("the job has no requests: give a non-empty list, or input files with requests.")
    shared: set[int] = set()
    repeats = 0
    for value in repeated(ids.sorted()):  # a digest two requests share: the same id, or (rarely) a collision
        repeats += 1
        if len(shared) < REPEATS_NAMED:
            shared.add(value)
    if shared and (message := _duplicate_message(source, plan, shared, repeats)) is not None:
        raise BifrostConfigError(message)
    return plan


def _duplicate_message(source: RequestSource, plan: Plan, shared: set[int], count: int) -> str | None:
    """
    Name the first repeated ``custom_id`` in input order among those with a digest in ``shared``, and where it
    stands (a second pass, only when there is a repeat); None when requests share digests but not ids.
    """
    seen: dict[str, str] = {}
    for _, _, line, where in source.lines(plan):
        custom_id = line_custom_id(line)
        if digest(custom_id) in shared:
            if custom_id in seen:
                more = f" ({count - 1:,} other id(s) repeat too)" if count > 1 else ""
                return (
                    f"custom_id {custom_id!r} is repeated ({seen[custom_id]}, and again {where}){more}: custom_ids "
                    "must be unique in a job."
                )
            seen[custom_id] = where
    return None
