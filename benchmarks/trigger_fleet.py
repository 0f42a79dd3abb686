"""
A fleet of batch triggers in one event loop: ours (``BifrostBatchTrigger``) against the OpenAI provider's.

For N = 100, 500 and 1000 batches, N triggers run concurrently in ONE asyncio event loop (as in a
triggerer), polling the Bifrost emulator every 2 s; the emulator runs in its own process and adds
100 ms to every batch status call. Ours polls ``GET /v1/batches/{id}?provider=openai``; the OpenAI
provider's ``OpenAIBatchTrigger`` polls the emulator's OpenAI-SDK alias ``GET /openai/v1/batches/{id}``
(same emulator, same kind of batch: provider openai, manual, 3 requests). Once every trigger has had
a poll answered (or 240 s after the first poll, noted under the row), every batch turns ``completed``
at the same instant (one bulk control call, see ``EmulatorClient.set_status_many``): "the flip". For
each implementation and N it reports

- the time from the flip until all N events have fired (a run is cut off 180 s after the flip and
  reported as ``>180 s`` with the number of events that had fired);
- the worst event-loop stall: a sampler task sleeps 5 ms in a loop for the whole run (from the
  fleet's start to its last event) and keeps its largest overshoot; also the worst one that began
  after the flip;
- the worst stall after warm-up: the worst that began once every trigger had had its first poll
  answered (the first round opens the connections and reads the connection of each trigger);
- the CPU per answered status poll: the fleet process's CPU time (``time.process_time()``, every thread,
  from the fleet's start to its last event) over the status polls answered in that time (counted in the
  child, around the method each trigger polls with: ``BifrostHook.aget_batch``, ``OpenAIHook.get_batch``);
- the peak RSS of the process running the fleet (each run in a fresh child process);
- how many batch status requests the emulator received, in all and after the flip;

then the ratios ours / OpenAI's.

Fairness: in each child, the connection lookup of the implementation under test is warmed up before
the fleet starts (Airflow's first lookup in a process initialises the secrets backends, ~0.2 s), and
``gc.collect(); gc.freeze()`` runs after the imports (so a full collection does not walk Airflow's
imported heap, ~0.1-0.2 s); INFO logging (one httpx line per request, in both) is disabled. The
parent seeds the batches, watches the emulator's request log to learn when every trigger has polled,
flips the batches and sends the flip time (``time.monotonic()``, one clock for every process on
Linux) to the child; nothing else runs in the child's process besides the fleet and the sampler.

The OpenAI trigger calls the synchronous ``OpenAIHook.get_batch`` inside its async ``run()`` (and
builds one ``OpenAI`` client per trigger on its first poll), so every poll blocks the event loop:
its polls happen one at a time, whatever the poll interval.

Run (about 16 minutes on 2 cores, two thirds of it the N=1000 runs; ``--sizes 100`` takes 1.5 minutes)::

    python benchmarks/trigger_fleet.py [--sizes 100,500,1000] [--impls ours,openai] [--json results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import inspect
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.triggers.base import BaseTrigger

    from airflow_provider_bifrost.testing.emulator import EmulatorClient

IMPLS = {
    "ours": "airflow_provider_bifrost.triggers.bifrost.BifrostBatchTrigger",
    "openai": "airflow.providers.openai.triggers.openai.OpenAIBatchTrigger",
}
BIFROST_CONN_ID = "bifrost_bench"
OPENAI_CONN_ID = "openai_bench"
#: Batch status calls of both implementations (ours, and the OpenAI-SDK alias).
STATUS_PATH = r"^(/openai)?/v1/batches/[^/]+$"
LATENCY = 0.1
POLL_INTERVAL = 2.0
SAMPLE_INTERVAL = 0.005
AFTER_FLIP_BUDGET = 180.0
#: Flip anyway if not every trigger has polled this long after the first poll (OpenAI's N=1000: ~200 s).
BEFORE_FLIP_BUDGET = 240.0
#: Seconds a child may take to import and start its fleet.
STARTUP_BUDGET = 120.0
WATCH_INTERVAL = 0.5
REQUEST_LOG_SIZE = 10_000  # the emulator keeps this many requests
RESULT_PREFIX = "RESULT "
#: The method each implementation's trigger polls a batch's status with: (module, class, method).
POLL_METHODS = {
    "ours": ("airflow_provider_bifrost.hooks.bifrost", "BifrostHook", "aget_batch"),
    "openai": ("airflow.providers.openai.hooks.openai", "OpenAIHook", "get_batch"),
}


# --- child: one fleet ---------------------------------------------------------------------------


@dataclass
class Stalls:
    """The largest overshoots of the sampler's sleeps, in seconds."""

    worst: float = 0.0
    worst_after_flip: float = 0.0
    worst_after_warm_up: float = 0.0


@dataclass
class Polls:
    """Status polls answered in the child, and when every batch had had its first one (the warm-up's end)."""

    n: int
    answered: int = 0
    batches: set[str] = field(default_factory=set)
    warm: float | None = None
    warm_cpu: float = 0.0
    warm_answered: int = 0

    def add(self, batch_id: str) -> None:
        self.answered += 1
        if self.warm is None:
            self.batches.add(batch_id)
            if len(self.batches) >= self.n:
                self.warm, self.warm_cpu, self.warm_answered = time.monotonic(), time.process_time(), self.answered


def count_polls(impl: str, polls: Polls) -> None:
    """Wrap the method the implementation's trigger polls with, counting the polls it answers."""
    module, owner_name, name = POLL_METHODS[impl]
    owner = getattr(importlib.import_module(module), owner_name)
    original = getattr(owner, name)
    if inspect.iscoroutinefunction(original):

        async def counted_async(self: Any, batch_id: str, *args: Any, **kwargs: Any) -> Any:
            answer = await original(self, batch_id, *args, **kwargs)
            polls.add(batch_id)
            return answer

        setattr(owner, name, counted_async)
    else:

        def counted(self: Any, batch_id: str, *args: Any, **kwargs: Any) -> Any:
            answer = original(self, batch_id, *args, **kwargs)
            polls.add(batch_id)
            return answer

        setattr(owner, name, counted)


def connection_env(url: str) -> dict[str, str]:
    """The two benchmark connections, as Airflow environment variables."""
    return {
        f"AIRFLOW_CONN_{BIFROST_CONN_ID.upper()}": json.dumps({"conn_type": "bifrost", "host": url}),
        f"AIRFLOW_CONN_{OPENAI_CONN_ID.upper()}": json.dumps(
            {"conn_type": "openai", "host": f"{url}/openai/v1", "password": "sk-bench"}
        ),
    }


def build_triggers(impl: str, batch_ids: list[str]) -> list[BaseTrigger]:
    """N triggers of one implementation, same poll interval."""
    if impl == "ours":
        from airflow_provider_bifrost.triggers.bifrost import BifrostBatchTrigger

        return [
            BifrostBatchTrigger(
                batch_id=batch_id, provider="openai", bifrost_conn_id=BIFROST_CONN_ID, poll_interval=POLL_INTERVAL
            )
            for batch_id in batch_ids
        ]
    from airflow.providers.openai.triggers.openai import OpenAIBatchTrigger

    return [
        OpenAIBatchTrigger(conn_id=OPENAI_CONN_ID, batch_id=batch_id, poll_interval=POLL_INTERVAL, timeout=3600)
        for batch_id in batch_ids
    ]


async def warm_up(impl: str) -> None:
    """Look the connection up once, the way the implementation's trigger does."""
    if impl == "ours":
        from airflow_provider_bifrost.hooks.bifrost import BifrostHook

        await BifrostHook(BIFROST_CONN_ID).aget_settings()
    else:
        from airflow.providers.openai.hooks.openai import OpenAIHook

        OpenAIHook(conn_id=OPENAI_CONN_ID).get_connection(OPENAI_CONN_ID)


async def sample_stalls(stalls: Stalls, flip: list[float], polls: Polls) -> None:
    """Sleep ``SAMPLE_INTERVAL`` in a loop, keeping the largest overshoot (overall, after the warm-up and the flip)."""
    while True:
        before = time.monotonic()
        await asyncio.sleep(SAMPLE_INTERVAL)
        after = time.monotonic()
        overshoot = after - before - SAMPLE_INTERVAL
        stalls.worst = max(stalls.worst, overshoot)
        if polls.warm is not None and before >= polls.warm:  # a stall that began after the warm-up
            stalls.worst_after_warm_up = max(stalls.worst_after_warm_up, overshoot)
        if flip and before >= flip[0]:  # a stall that began after the flip
            stalls.worst_after_flip = max(stalls.worst_after_flip, overshoot)


async def drain(trigger: BaseTrigger, arrivals: list[float], statuses: Counter[str]) -> None:
    """Run one trigger to its end, noting when each event arrives."""
    async for event in trigger.run():
        arrivals.append(time.monotonic())
        statuses[str(event.payload.get("status"))] += 1


async def fleet(impl: str, triggers: list[BaseTrigger], polls: Polls) -> dict[str, Any]:
    """Run the fleet until every event fired or ``AFTER_FLIP_BUDGET`` after the flip (read from stdin)."""
    loop = asyncio.get_running_loop()
    flipped = asyncio.Event()
    flip: list[float] = []

    def read_flip() -> None:  # blocks in a read, off the loop: costs the loop nothing
        line = sys.stdin.readline()
        flip.append(float(line) if line.strip() else time.monotonic())
        loop.call_soon_threadsafe(flipped.set)

    threading.Thread(target=read_flip, name="flip-reader", daemon=True).start()
    await warm_up(impl)
    stalls = Stalls()
    arrivals: list[float] = []
    statuses: Counter[str] = Counter()
    started, cpu_started, answered_before = time.monotonic(), time.process_time(), polls.answered
    sampler = asyncio.create_task(sample_stalls(stalls, flip, polls))
    runs: asyncio.Future[Any] = asyncio.gather(*(drain(trigger, arrivals, statuses) for trigger in triggers))
    flip_wait: asyncio.Future[Any] = asyncio.ensure_future(flipped.wait())
    await asyncio.wait({runs, flip_wait}, return_when=asyncio.FIRST_COMPLETED)
    if not flip:
        raise RuntimeError(f"the fleet ended before the flip: {dict(statuses)}")
    await asyncio.wait({runs}, timeout=max(0.0, flip[0] + AFTER_FLIP_BUDGET - time.monotonic()))
    cpu_seconds, answered = time.process_time() - cpu_started, polls.answered - answered_before
    sampler.cancel()
    finished = runs.done()
    if finished:
        runs.result()  # raise what a trigger raised
    return {
        "impl": impl,
        "n": len(triggers),
        "events": len(arrivals),
        "seconds": max(arrivals) - flip[0] if finished else None,
        "stall": stalls.worst,
        "stall_after_flip": stalls.worst_after_flip,
        "stall_after_warm_up": stalls.worst_after_warm_up if polls.warm is not None else None,
        "warm_up_seconds": polls.warm - started if polls.warm is not None else None,
        "cpu_seconds": cpu_seconds,
        "polls_answered": answered,
        "cpu_per_poll": cpu_seconds / answered if answered else None,
        "cpu_per_poll_after_warm_up": (
            (cpu_seconds + cpu_started - polls.warm_cpu) / (polls.answered - polls.warm_answered)
            if polls.warm is not None and polls.answered > polls.warm_answered
            else None
        ),
        "statuses": dict(statuses),
    }


def child(impl: str, n: int, url: str) -> None:
    """One run in a fresh process: batch ids on the first stdin line, the flip time on the second."""
    os.environ.update(connection_env(url))
    import logging

    logging.disable(logging.INFO)
    batch_ids: list[str] = json.loads(sys.stdin.readline())
    if len(batch_ids) != n:
        raise RuntimeError(f"expected {n} batch ids, got {len(batch_ids)}")
    triggers = build_triggers(impl, batch_ids)  # imports the implementation
    polls = Polls(n)
    count_polls(impl, polls)
    gc.collect()
    gc.freeze()
    asyncio.run(report(impl, triggers, polls))


async def report(impl: str, triggers: list[BaseTrigger], polls: Polls) -> None:
    """Run the fleet, print its result with the peak RSS, and leave at once."""
    result = await fleet(impl, triggers, polls)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    sys.stderr.flush()
    os._exit(0)  # the triggers of a run cut off are still pending (or blocked in a poll): do not wait


# --- parent: emulator, flip, table --------------------------------------------------------------


@dataclass
class Row:
    """One (implementation, N) run."""

    impl: str
    n: int
    seconds: float | None = None
    events: int = 0
    stall: float | None = None
    stall_after_flip: float | None = None
    stall_after_warm_up: float | None = None
    warm_up_seconds: float | None = None
    cpu_seconds: float | None = None
    polls_answered: int = 0
    cpu_per_poll: float | None = None
    cpu_per_poll_after_warm_up: float | None = None
    peak_rss_mb: float | None = None
    status_requests: int = 0
    after_flip: int = 0
    notes: list[str] = field(default_factory=list)


def polled_batches(emulator: EmulatorClient) -> tuple[int, int]:
    """How many status requests arrived, and how many distinct batches have had a poll answered."""
    polls = emulator.requests(STATUS_PATH, method="GET")
    return len(polls), len({entry["path"] for entry in polls if entry["status"] is not None})


def wait_until_polled(emulator: EmulatorClient, process: subprocess.Popen[str], n: int) -> str | None:
    """Wait until every batch has been polled once; a note if the budget ran out (or the child died)."""
    deadline = time.monotonic() + STARTUP_BUDGET + BEFORE_FLIP_BUDGET
    first_poll: float | None = None
    while process.poll() is None:
        requests, polled = polled_batches(emulator)
        if polled >= n:
            return None
        if first_poll is None and requests:
            first_poll = time.monotonic()
            deadline = first_poll + BEFORE_FLIP_BUDGET
        if time.monotonic() > deadline:
            return f"flipped {BEFORE_FLIP_BUDGET:.0f} s after the first poll, with {polled} of {n} batches polled"
        time.sleep(WATCH_INTERVAL)
    return None


def run_one(emulator: EmulatorClient, impl: str, n: int, airflow_home: str) -> Row:
    """Seed N batches, start the child, flip when all have been polled, collect the child's result."""
    row = Row(impl, n)
    emulator.reset()  # keeps the latency configuration
    batch_ids = [emulator.add_batch("openai", requests=3, manual=True)["id"] for _ in range(n)]
    command = [sys.executable, __file__, "--run", impl, str(n), emulator.url]
    env = {**os.environ, "AIRFLOW_HOME": airflow_home}
    with tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env
        )
        assert process.stdin is not None
        process.stdin.write(json.dumps(batch_ids) + "\n")
        process.stdin.flush()
        note = wait_until_polled(emulator, process, n)
        if note:
            row.notes.append(note)
        emulator.set_status_many("completed", batch_ids)
        flip, flip_wall = time.monotonic(), time.time()
        try:
            process.stdin.write(f"{flip!r}\n")
            process.stdin.flush()
            out, _ = process.communicate(timeout=AFTER_FLIP_BUDGET + 60)
        except (BrokenPipeError, subprocess.TimeoutExpired):
            process.kill()
            out, _ = process.communicate()
        stderr.seek(0)
        errors = stderr.read()
    results = [line for line in out.splitlines() if line.startswith(RESULT_PREFIX)]
    if not results:
        tail = "\n".join(errors.strip().splitlines()[-15:])
        row.notes.append(f"child failed (exit {process.returncode}): {tail}")
    else:
        result = json.loads(results[-1][len(RESULT_PREFIX) :])
        row.seconds, row.events = result["seconds"], result["events"]
        row.stall, row.stall_after_flip = result["stall"], result["stall_after_flip"]
        row.stall_after_warm_up, row.warm_up_seconds = result["stall_after_warm_up"], result["warm_up_seconds"]
        row.cpu_seconds, row.polls_answered = result["cpu_seconds"], result["polls_answered"]
        row.cpu_per_poll, row.cpu_per_poll_after_warm_up = result["cpu_per_poll"], result["cpu_per_poll_after_warm_up"]
        row.peak_rss_mb = result["peak_rss_mb"]
        if set(result["statuses"]) - {"success"}:
            row.notes.append(f"event statuses {result['statuses']}")
    polls = emulator.requests(STATUS_PATH, method="GET")
    row.status_requests = len(polls)
    row.after_flip = sum(1 for entry in polls if entry["time"] >= flip_wall)
    if len(emulator.requests()) >= REQUEST_LOG_SIZE:
        row.notes.append(f"request log full: counts are at least these ({REQUEST_LOG_SIZE} kept)")
    return row


def baseline_rss_mb(impl: str, airflow_home: str) -> float:
    """Peak RSS of a process that only imports the implementation's trigger."""
    module, _, name = IMPLS[impl].rpartition(".")
    code = f"import resource; from {module} import {name}; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    env = {**os.environ, "AIRFLOW_HOME": airflow_home}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    return float(out.strip().splitlines()[-1]) / 1024


def duration(seconds: float | None) -> str:
    """Seconds, in ms below one second."""
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def flip_to_events(row: Row) -> str:
    """The flip-to-last-event time, or the cut-off for a run that did not finish."""
    if row.seconds is None:
        return f">{AFTER_FLIP_BUDGET:.0f} s" if row.peak_rss_mb is not None else "failed"
    return duration(row.seconds)


HEADER = (
    f"{'impl':<7} {'N':>5}  {'flip -> all events':>18} {'events':>6}  {'max stall':>9} {'post-warm':>9}"
    f" {'post-flip':>9}  {'CPU/poll':>8} {'post-warm':>9} {'polls':>6}  {'peak RSS MB':>11}"
    f"  {'status reqs':>11} {'post-flip':>9}"
)


def micros(seconds: float | None) -> str:
    """Seconds in microseconds."""
    return "-" if seconds is None else f"{seconds * 1e6:.0f} us"


def format_row(row: Row) -> str:
    """One line of the table."""
    rss = f"{row.peak_rss_mb:.0f}" if row.peak_rss_mb is not None else "-"
    line = (
        f"{row.impl:<7} {row.n:>5}  {flip_to_events(row):>18} {row.events:>6}  {duration(row.stall):>9} "
        f"{duration(row.stall_after_warm_up):>9} {duration(row.stall_after_flip):>9}  {micros(row.cpu_per_poll):>8} "
        f"{micros(row.cpu_per_poll_after_warm_up):>9} "
        f"{row.polls_answered:>6}  {rss:>11}  {row.status_requests:>11} {row.after_flip:>9}"
    )
    return line + "".join(f"\n        note: {note}" for note in row.notes)


def ratio(ours: float | None, theirs: float | None, theirs_cut: bool = False) -> str:
    """ours / theirs; ``<`` when their run was cut off (so their real figure is larger)."""
    if ours is None or theirs is None or theirs == 0:
        return "-"
    return f"{'<' if theirs_cut else ''}{ours / theirs:.3g}x"


def ratio_lines(rows: list[Row]) -> list[str]:
    """Ours / OpenAI's for every N both ran."""
    by_key = {(row.impl, row.n): row for row in rows}
    header = f"{'N':>5}  {'flip -> all events':>18}  {'max stall':>9}  {'post-warm':>9}  {'post-flip':>9}"
    lines = [f"{header}  {'CPU/poll':>8}  {'peak RSS':>8}  {'status reqs':>11}"]
    for n in sorted({row.n for row in rows}):
        ours, theirs = by_key.get(("ours", n)), by_key.get(("openai", n))
        if ours is None or theirs is None:
            continue
        cut = theirs.seconds is None and theirs.peak_rss_mb is not None
        their_seconds = AFTER_FLIP_BUDGET if cut else theirs.seconds
        lines.append(
            f"{n:>5}  {ratio(ours.seconds, their_seconds, cut):>18}  {ratio(ours.stall, theirs.stall):>9}  "
            f"{ratio(ours.stall_after_warm_up, theirs.stall_after_warm_up):>9}  "
            f"{ratio(ours.stall_after_flip, theirs.stall_after_flip):>9}  "
            f"{ratio(ours.cpu_per_poll, theirs.cpu_per_poll):>8}  "
            f"{ratio(ours.peak_rss_mb, theirs.peak_rss_mb):>8}  "
            f"{ratio(ours.status_requests, theirs.status_requests):>11}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,500,1000", help="fleet sizes N, comma separated")
    parser.add_argument("--impls", default="ours,openai", help=f"implementations among {', '.join(IMPLS)}")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    parser.add_argument("--run", nargs=3, metavar=("IMPL", "N", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        child(args.run[0], int(args.run[1]), args.run[2])
        return
    sizes = [int(size) for size in args.sizes.split(",")]
    impls = args.impls.split(",")
    unknown = set(impls) - set(IMPLS)
    if unknown:
        parser.error(f"unknown implementations: {', '.join(sorted(unknown))}")

    from airflow_provider_bifrost.testing.emulator import run_emulator

    rows: list[Row] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="trigger-fleet-airflow-") as airflow_home:
        for impl in impls:
            print(f"baseline (imports only) {impl}: {baseline_rss_mb(impl, airflow_home):.0f} MB peak RSS", flush=True)
        print(
            f"poll interval {POLL_INTERVAL:g} s, {LATENCY * 1000:.0f} ms added per status call, "
            f"stall sampler {SAMPLE_INTERVAL * 1000:.0f} ms\n{HEADER}",
            flush=True,
        )
        with run_emulator(subprocess=True) as emulator:
            emulator.configure(latency=LATENCY, latency_path=STATUS_PATH)
            for n in sizes:
                for impl in impls:
                    row = run_one(emulator, impl, n, airflow_home)
                    rows.append(row)
                    print(format_row(row), flush=True)
    print(f"\n=== trigger fleet ({time.monotonic() - started:.0f} s in all) ===")
    print(HEADER)
    for row in rows:
        print(format_row(row))
    if {"ours", "openai"} <= set(impls):
        print("\nours / OpenAI's (below 1: ours is faster, stalls less, uses less):")
        print("\n".join(ratio_lines(rows)))
    print(
        "\nflip -> all events: from every batch turning completed at once to the last trigger event;"
        "\nmax stall: worst event-loop stall over the whole run (fleet start to last event); post-warm: the"
        "\n  worst that began once every trigger had had a poll answered; post-flip: the worst after the flip;"
        "\nCPU/poll: the fleet process's CPU time over the status polls answered (polls: how many), from the"
        "\n  fleet's start (each trigger's start included) and after the warm-up (steady polling);"
        "\nstatus reqs: batch status requests the emulator received during the run; post-flip: those"
        "\n  that arrived after the flip.",
        flush=True,
    )
    if args.json:
        with open(args.json, "w") as sink:
            json.dump(
                {"benchmark": "trigger_fleet", "runs": [asdict(row) for row in rows], "rows": summary_rows(rows)},
                sink,
                indent=1,
            )


def summary_rows(rows: list[Row]) -> list[dict[str, Any]]:
    """Ours against OpenAI's per N: flip to all events (their cut-off run counts as the budget), stall, RSS."""
    by_key = {(row.impl, row.n): row for row in rows}
    summary: list[dict[str, Any]] = []
    for n in sorted({row.n for row in rows}):
        ours, theirs = by_key.get(("ours", n)), by_key.get(("openai", n))
        if ours is None or theirs is None:
            continue
        cut = theirs.seconds is None and theirs.peak_rss_mb is not None
        case = f"{n} triggers in one event loop"
        alternative = "OpenAI provider's OpenAIBatchTrigger"
        for metric, unit, mine, their, their_cut in (
            ("flip -> all events", "s", ours.seconds, AFTER_FLIP_BUDGET if cut else theirs.seconds, cut),
            ("worst event-loop stall", "s", ours.stall, theirs.stall, False),
            ("worst stall after warm-up", "s", ours.stall_after_warm_up, theirs.stall_after_warm_up, False),
            ("CPU per answered status poll", "us", ours.cpu_per_poll, theirs.cpu_per_poll, False),
            (
                "CPU per poll after warm-up",
                "us",
                ours.cpu_per_poll_after_warm_up,
                theirs.cpu_per_poll_after_warm_up,
                False,
            ),
            ("peak RSS", "MB", ours.peak_rss_mb, theirs.peak_rss_mb, False),
        ):
            summary.append(
                {
                    "case": case,
                    "metric": metric,
                    "unit": unit,
                    "ours": mine,
                    "alternative": their,
                    "alternative_name": alternative,
                    "better": "lower",
                    "alternative_cut_off": their_cut,
                    "notes": ours.notes + theirs.notes,
                }
            )
    return summary


if __name__ == "__main__":
    main()
