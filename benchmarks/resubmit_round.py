"""
What one resubmission round of ``BifrostCreateBatchOperator(resubmit_failed=1)`` costs: gateway requests and
wall time, against the emulator (in a child process).

For each size and input (inline ``requests``, or a JSONL file at ``input_uri``), an OpenAI batch in which 10%
of the requests fail (429, 500, 400 in turn: two thirds worth another try) is waited for in the worker, twice:
with ``resubmit_failed=0`` and with ``resubmit_failed=1``; the difference is the round (its wait included:
the emulator's batches take about ``--batch-seconds``). Then the round's start alone is timed: reading the
finished batch's results and error file, the input, writing the round's requests and submitting them
(``BatchRounds.advance``). Prints the requests by route and the seconds; run
``python benchmarks/resubmit_round.py [--sizes 1000,10000] [--json results.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

MODEL: dict[str, Any] = {"model": "openai/gpt-4o-mini", "endpoint": "/v1/chat/completions"}
FAILED_SHARE = 0.1


def routes(entries: list[dict[str, Any]]) -> dict[str, int]:
    """Requests by method and route, ids replaced by ``{id}``."""
    counted: Counter[str] = Counter()
    for entry in entries:
        path = re.sub(r"/(batch|file)[-_][\w-]+", r"/{id}", entry["path"])
        counted[f"{entry['method']} {path}"] += 1
    return dict(sorted(counted.items()))


def context(try_number: int = 1) -> Any:
    pushed: dict[str, Any] = {}
    ti = SimpleNamespace(
        dag_id="bench",
        task_id="create",
        run_id=f"manual__{time.time_ns()}",
        map_index=-1,
        try_number=try_number,
        stats_tags={},
        xcom_push=lambda key, value: pushed.__setitem__(key, value),
        pushed=pushed,
    )
    started = datetime.now(timezone.utc).replace(year=2020)
    return {"ti": ti, "dag_run": SimpleNamespace(queued_at=started, start_date=started)}


def inputs(size: int, kind: str, folder: Path) -> dict[str, Any]:
    requests = [
        {
            "custom_id": f"r{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"question {i}"}]},
        }
        for i in range(size)
    ]
    if kind == "inline":
        return {"requests": requests}
    path = folder / f"requests-{size}.jsonl"
    path.write_text("".join(json.dumps(request) + "\n" for request in requests))
    return {"input_uri": f"file://{path}"}


def run(sizes: list[int], batch_seconds: float) -> list[dict[str, Any]]:
    from airflow_provider_bifrost.operators.bifrost import BifrostCreateBatchOperator
    from airflow_provider_bifrost.outcome.events import terminal_event
    from airflow_provider_bifrost.resubmission import first_round
    from airflow_provider_bifrost.testing.emulator import run_emulator

    rows: list[dict[str, Any]] = []
    with run_emulator(subprocess=True) as emulator, tempfile.TemporaryDirectory() as folder:
        os.environ["AIRFLOW_CONN_BIFROST_DEFAULT"] = json.dumps({"conn_type": "bifrost", "host": emulator.url})
        for size in sizes:
            for kind in ("inline", "input_uri"):
                given = inputs(size, kind, Path(folder))
                measured: dict[int, tuple[float, list[dict[str, Any]]]] = {}
                for rounds in (0, 1):
                    emulator.reset()
                    emulator.configure(
                        timeline=(0.0, batch_seconds, 0.0),
                        failed_requests=int(size * FAILED_SHARE),
                        failure_codes=[429, 500, 400],
                    )
                    operator = BifrostCreateBatchOperator(
                        task_id="create",
                        **MODEL,
                        **given,
                        wait_for_completion=True,
                        deferrable=False,
                        poll_interval=0.1,
                        resubmit_failed=rounds,
                        progress_every=None,
                    )
                    started = time.perf_counter()
                    operator.execute(context())
                    measured[rounds] = (time.perf_counter() - started, emulator.requests())
                # the round's start alone: round 0 finished, then one advance
                emulator.reset()
                emulator.configure(
                    timeline=(0.0, 0.0, 0.0), failed_requests=int(size * FAILED_SHARE), failure_codes=[429, 500, 400]
                )
                operator = BifrostCreateBatchOperator(
                    task_id="create", **MODEL, **given, wait_for_completion=True, resubmit_failed=1
                )
                operator.provider = "openai"
                hook = operator.hook
                file_id = None
                if "input_uri" in given:
                    file_id = hook.upload_file(given["input_uri"].removeprefix("file://"), "openai").id
                batch = hook.create_batch(
                    provider="openai", input_file_id=file_id, requests=given.get("requests"), **MODEL
                )
                batch = hook.get_batch(batch.id, "openai")
                emulator.clear_requests()
                helper = operator._batch_rounds()
                table = first_round(batch.id)
                started = time.perf_counter()
                resubmitted = helper.advance(context(), table, terminal_event(batch, "openai"), 1)
                start_seconds = time.perf_counter() - started
                start_requests = emulator.requests()
                assert resubmitted is not None
                (without_s, without_r), (with_s, with_r) = measured[0], measured[1]
                row = {
                    "size": size,
                    "input": kind,
                    "resubmitted": table[0]["resubmitted"],
                    "task_seconds": {"rounds=0": without_s, "rounds=1": with_s},
                    "task_requests": {"rounds=0": len(without_r), "rounds=1": len(with_r)},
                    "round_requests": len(with_r) - len(without_r),
                    "round_seconds": with_s - without_s,
                    "start_seconds": start_seconds,
                    "start_requests": len(start_requests),
                    "start_routes": routes(start_requests),
                }
                rows.append(row)
                print(
                    f"{size:>7,} {kind:9} resubmitted {row['resubmitted']:>5,}: task {without_s:6.2f} s / "
                    f"{len(without_r):3} requests without the round, {with_s:6.2f} s / {len(with_r):3} with it; "
                    f"the round's start {start_seconds * 1000:7.1f} ms, {len(start_requests)} requests "
                    f"{row['start_routes']}",
                    flush=True,
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,10000", help="requests per batch, comma-separated")
    parser.add_argument("--batch-seconds", type=float, default=0.5, help="how long each emulated batch runs")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    rows = run([int(size) for size in args.sizes.split(",")], args.batch_seconds)
    summary = [
        {
            "case": f"{row['size']:,} requests, {row['input']}, {row['resubmitted']:,} resubmitted",
            "metric": metric,
            "ours": row[key],
            "alternative_name": "-",
            "alternative": None,
            "unit": unit,
            "no_ratio": True,
            "better": "lower",
        }
        for row in rows
        for metric, key, unit in (
            ("requests of the round (task with it - without it)", "round_requests", ""),
            ("wall time of the round, its wait included", "round_seconds", "s"),
            ("requests to start the round", "start_requests", ""),
            ("wall time to start the round", "start_seconds", "s"),
        )
    ]
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": summary, "details": rows}, indent=2))


if __name__ == "__main__":
    main()
