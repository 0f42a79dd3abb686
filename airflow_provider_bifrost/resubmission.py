"""
The create operator's resubmission rounds (``resubmit_failed``): the next round's requests, taken from the
original input by ``custom_id``, submitted as a new batch, never twice.

A round's table is JSON-safe and small (one row a round): it rides in the deferral's ``execute_complete``
arguments, the task's XCom (``rounds``) and, on Airflow 3.3+, the task state store. A row holds the round's
``batch_id``, its final ``status``, its ``requests``, and, once the next round was written, ``resubmitted``
(its requests sent again) and ``reasons`` (why its requests did not succeed, retried or not).

The next round's requests are derived, never stored: the original input (inline requests, the JSONL file on
object storage, or the gateway's copy of the uploaded file) is read once, and each earlier round's results
(error file too) say which of its requests go on (:func:`~airflow_provider_bifrost.results.rounds.split_round`,
one round's digests in memory at a time, the lines through temporary files). The same results always give
the same requests, so a retried task rebuilds the same round and finds its batch by the round's tag
(:func:`~airflow_provider_bifrost.idempotency.round_tag`) instead of submitting it again.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from typing import TYPE_CHECKING, Any

import msgspec

from airflow_provider_bifrost.exceptions import BifrostConfigError, BifrostNotFoundError, BifrostTransportError
from airflow_provider_bifrost.idempotency import find_earlier_batch, round_tag, tagged, task_instance_tag
from airflow_provider_bifrost.jobs.source import line_request
from airflow_provider_bifrost.outcome.status import done_requests, has_results, unsuccessful_requests
from airflow_provider_bifrost.results.export import ResultsExport
from airflow_provider_bifrost.results.records import missing_reason
from airflow_provider_bifrost.results.rounds import failing_items, split_round
from airflow_provider_bifrost.storage.paths import storage_path
from airflow_provider_bifrost.version_compat import AirflowException

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow.sdk import Context

    from airflow_provider_bifrost.hooks.bifrost import BifrostHook
    from airflow_provider_bifrost.providers import ProviderProfile

#: The task state store key (Airflow 3.3+) under which the create operator saves its rounds' table.
ROUNDS_STATE_KEY = "bifrost_batch_rounds"
#: The wait events after which a round's requests may go again: the batch ended (in any way).
ROUND_END = frozenset({"success", "failed", "expired", "cancelled"})
_encode = msgspec.json.Encoder().encode


def first_round(batch_id: str) -> list[dict[str, Any]]:
    """
    The table of a batch that has no round after it yet.

    :param batch_id: round 0's batch.
    """
    return [{"round": 0, "batch_id": batch_id, "status": None, "requests": 0, "resubmitted": 0, "reasons": {}}]


def rounds_verdict(table: list[dict[str, Any]], last: dict[str, Any], threshold: float | None) -> str | None:
    """
    Why the rounds fail the task by their share of requests that never succeeded, or None: the requests
    earlier rounds did not send again (not worth it) and the last round's unsuccessful ones, of round 0's.

    :param table: every round, the last one ended.
    :param last: the last round's batch summary (``request_counts``).
    :param threshold: the task's ``failed_share_threshold`` (None: never).
    """
    total = int(table[0].get("requests") or 0)
    kept = sum(sum(row.get("reasons", {}).values()) - int(row.get("resubmitted") or 0) for row in table[:-1])
    still = kept + unsuccessful_requests(last.get("request_counts") or {})
    if threshold is None or not total or still / total < threshold:
        return None
    return (
        f"after {len(table) - 1} resubmission round(s), {still:,} of {total:,} requests did not succeed "
        f"({still / total:.0%}), at or above failed_share_threshold={threshold}"
    )


class BatchRounds:
    """
    Writes and submits the create operator's next round.

    :param hook: the operator's hook.
    :param provider: the batches' provider.
    :param profile: its profile.
    :param create: the create arguments every round shares (model, endpoint, completion window, extra body,
        output folder).
    :param metadata: the user's metadata of every batch.
    :param display_name: the user's display name of every batch.
    :param inputs: the original input: ``requests``, or ``input_uri`` (with ``input_conn_id``), or
        ``input_file_id``.
    :param log: the task's logger.
    """

    def __init__(
        self,
        hook: BifrostHook,
        provider: str,
        profile: ProviderProfile,
        create: dict[str, Any],
        metadata: dict[str, str] | None,
        display_name: str | None,
        inputs: dict[str, Any],
        log: Any,
    ) -> None:
        self.hook, self.provider, self.profile, self.log = hook, provider, profile, log
        self.create, self.metadata, self.display_name, self.inputs = create, metadata, display_name, inputs
        self._saved: list[dict[str, Any]] = []

    def check_input(self) -> None:
        """Refuse, before round 0, an input the rounds could not read again: a file the gateway cannot return."""
        if self.inputs.get("input_file_id") and not self.profile.file_content:
            raise BifrostConfigError(
                f"resubmit_failed takes a round's requests from the input, and {self.provider}'s files API cannot "
                "return the file input_file_id names: give the requests as input_uri or requests instead."
            )

    def original_lines(self) -> Iterator[bytes]:
        """The original input's requests, one JSON line each, in flat memory."""
        if (requests := self.inputs.get("requests")) is not None:
            for request in requests:
                yield _encode(request)
        elif uri := self.inputs.get("input_uri"):
            with storage_path(uri, self.inputs.get("input_conn_id"), name="input_uri").open("rb") as stream:
                yield from (line.rstrip(b"\r\n") for line in stream if line.strip())
        else:
            lines = self.hook.iter_file_content(self.inputs["input_file_id"], self.provider, lines=True)
            yield from (line for line in lines if line.strip())

    def table(
        self, context: Context, event: dict[str, Any], rounds: list[dict[str, Any]] | None
    ) -> list[dict[str, Any]]:
        """
        The rounds' table a wait's event belongs to: the deferral's, else a new one from the event's batch (the
        rows an earlier try saved are taken up by :meth:`advance`).

        :param context: the task context.
        :param event: the wait's event.
        :param rounds: the table the deferral carried, if any.
        """
        self._saved = []
        store = context.get("task_state_store")
        saved = store.get(ROUNDS_STATE_KEY) if store is not None else None
        table = [dict(row) for row in rounds] if rounds else first_round(str(event.get("batch_id")))
        first = saved[0] if isinstance(saved, list) and saved else None
        if isinstance(first, dict) and first.get("batch_id") == table[0]["batch_id"]:
            self._saved = [dict(row) for row in saved if isinstance(row, dict)]  # type: ignore[union-attr]
        return table

    def advance(self, context: Context, table: list[dict[str, Any]], event: dict[str, Any], limit: int) -> str | None:
        """
        Record how the table's last round ended (``event``); start the next round when it ended, rounds are left
        and something failed for a reason worth another try: return its batch (the table has its row, and is
        saved in the task state store), else None.

        :param context: the task context.
        :param table: the rounds so far.
        :param event: the last round's wait event.
        :param limit: the task's ``resubmit_failed``.
        """
        current = table[-1]
        if current["batch_id"] != event.get("batch_id"):
            raise AirflowException(
                f"Trigger event is for batch {event.get('batch_id')!r}, not round {current['round']}'s "
                f"{current['batch_id']!r}."
            )
        current["status"] = event.get("batch_status")
        self.log.info("Round %d ended: %s", current["round"], event.get("message") or event.get("status"))
        if event.get("status") not in ROUND_END or len(table) > limit:
            return None
        counts = (event.get("batch") or {}).get("request_counts") or {}
        total = int(counts.get("total") or 0)
        if (
            event["status"] == "success"
            and total
            and not unsuccessful_requests(counts)
            and done_requests(counts) >= total
        ):
            current["requests"] = current.get("requests") or total
            self.log.info("Round %d: every request succeeded; no more rounds", current["round"])
            return None
        number, known = len(table), None
        if len(self._saved) > number and [row.get("batch_id") for row in self._saved[:number]] == [
            row["batch_id"] for row in table
        ]:
            known, earlier = self._saved[number], self._saved[number - 1]
            current.update(reasons=earlier.get("reasons") or {}, resubmitted=earlier.get("resubmitted") or 0)
        batch_id = self.next_round(context, table, known)
        if (store := context.get("task_state_store")) is not None:
            store.set(ROUNDS_STATE_KEY, json.loads(json.dumps(table)))
        return batch_id

    def next_round(self, context: Context, table: list[dict[str, Any]], known: dict[str, Any] | None) -> str | None:
        """
        Start the round after the table's last (every round of it ended): write its requests, record in the
        last row what it left, and submit them (or take ``known``, this round's batch an earlier try saved);
        append the new round's row and return its batch, or None when nothing failed for a reason worth another
        try.

        :param context: the task context.
        :param table: the rounds so far.
        :param known: the new round's row from the task state store, if an earlier try saved one (the table's
            last row then holds what that try wrote of it).
        """
        number = len(table)
        if known is not None and known.get("batch_id"):
            try:
                self.hook.get_batch(known["batch_id"], self.provider)
            except BifrostNotFoundError:
                self.log.warning("Round %d's batch %s of an earlier try is gone", number, known["batch_id"])
            else:
                self.log.info("Round %d: batch %s of an earlier try", number, known["batch_id"])
                table.append({**known, "status": None})
                return str(known["batch_id"])
        with tempfile.TemporaryDirectory(prefix="bifrost-rounds-") as folder:
            path, count = self._write(table, folder)
            last = table[-1]
            self.log.info(
                "Round %d (batch %s): %s request(s) did not succeed (%s); %s worth another try",
                number - 1,
                last["batch_id"],
                f"{sum(last['reasons'].values()):,}",
                ", ".join(f"{reason}: {n:,}" for reason, n in sorted(last["reasons"].items())) or "none",
                f"{count:,}",
            )
            if not count:
                return None
            batch_id = self._submit(context, number, path, count, exclude={row["batch_id"] for row in table})
        table.append({**first_round(batch_id)[0], "round": number, "requests": count})
        return batch_id

    def _write(self, table: list[dict[str, Any]], folder: str) -> tuple[str, int]:
        """Replay the rounds: each round's requests that go on, into the next round's file; the last one's path."""
        path, count = "", 0
        for row in table:
            batch = self.hook.get_batch(row["batch_id"], self.provider)
            row["status"] = batch.status
            readable = has_results(batch.status, self.profile.partial_statuses)
            export = ResultsExport(
                self.hook, batch, self.provider, self.profile, include_errors=True, log=self.log, count_usage=False
            )
            failing = failing_items(export.blocks(lean=True)) if readable else {}
            lines = _Counted(self.original_lines() if not row["round"] else _file_lines(path))
            path = os.path.join(folder, f"round-{row['round'] + 1}.jsonl")
            with open(path, "wb") as sink:
                reasons, count = split_round(lines, failing, missing_reason(batch.status), sink)
            row["requests"] = row.get("requests") or batch.request_counts.total or lines.count
            row["reasons"], row["resubmitted"] = dict(reasons), count
        return path, count

    def _submit(self, context: Context, number: int, path: str, count: int, exclude: set[str]) -> str:
        """Round ``number``'s batch, tagged with the round: an earlier try's if it submitted one, else created."""
        key, name = round_tag(*task_instance_tag(context), number)
        ti = context.get("ti")

        def find(submitted_at: float | None) -> str | None:
            return find_earlier_batch(
                self.hook,
                self.provider,
                self.profile,
                key,
                context,
                self.log,
                requests=count,
                submitted_at=submitted_at,
                exclude=exclude,
            )

        if ti is not None and (ti.try_number or 1) > 1 and (found := find(None)) is not None:
            return found
        metadata, display_name = tagged(self.profile, key, name, self.metadata, self.display_name)
        arguments: dict[str, Any] = {}
        if self.profile.part_input == "input_file_id":
            arguments["input_file_id"] = self.hook.upload_file(path, self.provider).id
        else:
            arguments["requests"] = [line_request(line) for line in _file_lines(path)]
        submitted_at = time.time()
        try:
            batch = self.hook.create_batch(
                provider=self.provider, metadata=metadata, display_name=display_name, **self.create, **arguments
            )
        except BifrostTransportError:
            self.log.warning("Round %d: the create request's answer was lost; looking for its batch", number)
            if (found := find(submitted_at)) is not None:
                return found
            raise
        self.log.info("Round %d: resubmitted %s request(s) as batch %s", number, f"{count:,}", batch.id)
        return batch.id


class _Counted:
    """Lines, counted as they are read."""

    def __init__(self, lines: Iterator[bytes]) -> None:
        self.lines, self.count = lines, 0

    def __iter__(self) -> Iterator[bytes]:
        for line in self.lines:
            self.count += 1
            yield line


def _file_lines(path: str) -> Iterator[bytes]:
    with open(path, "rb") as stream:
        yield from (line.rstrip(b"\n") for line in stream)
