"""
Jobs (``BifrostBatchJobOperator``): a large job's memory, time and gateway requests; a many-batch job's
status polls; splitting and uploading against a plain copy of the same bytes.

Every measured run is a fresh child process (its peak RSS is its own) against the emulator running in
another process (its memory and CPU are not counted in the child's). Three parts:

- ``job`` (issue 14): a job of N small chat requests (~150 bytes a line, in ``--files`` JSONL files on
  ``file://``) run as Airflow would run it (``execute``, each deferral's ``BifrostJobTrigger`` in an event
  loop, ``execute_complete``, to the export to ``file://``), with the provider's default limits (OpenAI:
  50,000 requests a part) and ``max_active_batches=4``, on a short emulator timeline. Per phase, the wall
  and CPU time and the peak RSS *of that phase* (the kernel's high-water mark, ``VmHWM``, is reset at the
  start of each phase through ``/proc/self/clear_refs``): ``plan`` (reading the input once, splitting it,
  checking every ``custom_id``), ``submit`` (each part's lines written to a temporary file, uploaded, its
  batch created), ``wait`` (the trigger's polls; the emulator's timeline sets its length), ``export``
  (every part's results into one export, the ids checked against the input). The gateway requests come
  from the emulator's request log, per part. Run at 100,000 and 1,000,000 requests, peak RSS must not grow.
- ``fleet`` (issue 16, goal 2): a job of ``--fleet-parts`` parts of 10 requests, all running at once,
  waited on by one trigger: the gateway requests per batch per poll round and each round's wall time, on
  OpenAI (its list pages correctly: one list call answers the round) against Anthropic (one status call
  per batch), and on OpenAI with 100 newer batches of other work in the account (the job's batches are not
  on the list's first page: the round falls back to one call per batch). The emulator adds
  ``--latency`` to every list and status call while the trigger waits; batches are held ``in_progress``
  for ``--rounds`` rounds, then all turn ``completed`` at once.
- ``upload`` (issue 16, goal 4): planning a job and writing and uploading every part to the gateway (what
  the job operator does before its creates: ``make_plan``, then per part ``RequestSource.write_part`` to a
  temporary file and ``BifrostHook.upload_file``) against a plain copy of the same bytes between the same
  storages: the input file(s) opened through ``ObjectStoragePath`` and cut at newlines into as many
  byte ranges as the job has parts, each range POSTed as it is to the gateway's ``/v1/files`` through the
  hook's own HTTP client (the same multipart request and ``Content-Length``; no parsing, no temporary
  file). The two alternate, ``--repeat`` times each; the ratio is taken pair by pair.

Run ``python benchmarks/jobs.py [--sizes 100000,1000000] [--repeat 3] [--json results.json]``; ``--quick``
is the small variant ``run_all.py --quick`` runs; ``--profile`` prints a cProfile of the job's planning and
export (one extra run at the largest size).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import os
import pstats
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_bifrost.testing.emulator import EmulatorClient

CONN_ID = "bifrost_bench"
MODEL = {"openai": "openai/gpt-4o-mini", "anthropic": "anthropic/claude-3-5-haiku-latest"}
ENDPOINT = {"openai": "/v1/chat/completions", "anthropic": None}
RESULT_PREFIX = "RESULT "
#: The emulator's timeline of a job's batches (validating, in_progress, finalizing seconds).
JOB_TIMELINE = (0.1, 0.5, 0.1)
JOB_POLL_INTERVAL = 0.25
MAX_ACTIVE = 4
FLEET_POLL_INTERVAL = 1.0
#: Batches of other work created after a fleet job's own in the ``openai-busy`` case.
BUSY_BATCHES = 100
#: Gateway requests by kind: (method, path pattern).
KINDS = {
    "upload": ("POST", r"^/v1/files$"),
    "create": ("POST", r"^/v1/batches$"),
    "list": ("GET", r"^/v1/batches$"),
    "status": ("GET", r"^/v1/batches/[^/]+$"),
    "results": ("GET", r"^/v1/batches/[^/]+/results$"),
    "file content": ("GET", r"^/v1/files/[^/]+/content$"),
}


# --- memory ---------------------------------------------------------------------------------------


def reset_peak() -> bool:
    """Reset this process's peak RSS (``VmHWM``) to its current RSS; False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as sink:
            sink.write("5")
        return True
    except OSError:
        return False


def peak_mb() -> float:
    """This process's peak RSS in MB since the last :func:`reset_peak` (else since it started)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """This process's RSS now, in MB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024


class Phases:
    """Wall time, CPU time and peak RSS per named phase; a phase may run many times (its figures add up)."""

    def __init__(self) -> None:
        self.figures: dict[str, dict[str, float]] = {}
        self.resettable = reset_peak()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Measure what runs inside as (part of) phase ``name``."""
        reset_peak()
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            figures = self.figures.setdefault(name, {"seconds": 0.0, "cpu": 0.0, "peak_rss_mb": 0.0, "calls": 0})
            figures["seconds"] += time.perf_counter() - wall
            figures["cpu"] += time.process_time() - cpu
            figures["peak_rss_mb"] = max(figures["peak_rss_mb"], peak_mb())
            figures["calls"] += 1

    def wrap(self, owner: Any, name: str, phase: str) -> None:
        """Measure every call of ``owner.name`` as phase ``phase``."""
        original = getattr(owner, name)

        def measured(*args: Any, **kwargs: Any) -> Any:
            with self.phase(phase):
                return original(*args, **kwargs)

        setattr(owner, name, measured)


# --- input ----------------------------------------------------------------------------------------


def request_line(index: int, provider: str = "openai") -> bytes:
    """One small chat request as a JSONL line (~150 bytes for OpenAI)."""
    if provider == "anthropic":
        params = {"model": "claude-3-5-haiku-latest", "max_tokens": 16, "messages": [{"role": "user", "content": "Hi"}]}
        return json.dumps({"custom_id": f"r-{index:07d}", "params": params}).encode() + b"\n"
    return (
        b'{"custom_id":"r-%07d","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini",'
        b'"messages":[{"role":"user","content":"Count to %d."}]}}\n' % (index, index)
    )


def write_input(folder: Path, requests: int, files: int) -> list[Path]:
    """``requests`` requests in ``files`` JSONL files of (nearly) equal counts, in order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths, start = [], 0
    for number in range(files):
        count = requests // files + (1 if number < requests % files else 0)
        path = folder / f"requests-{number:03d}.jsonl"
        with path.open("wb") as sink:
            for first in range(start, start + count, 10_000):
                sink.write(b"".join(request_line(i) for i in range(first, min(first + 10_000, start + count))))
        paths.append(path)
        start += count
    return paths


def input_uri(folder: Path) -> str:
    """The input's ``input_uri``: a glob of its JSONL files."""
    return f"file://{folder}/*.jsonl"


# --- child processes ------------------------------------------------------------------------------


def connect(url: str) -> None:
    """Point the benchmark connection at the emulator; quiet the per-request INFO lines."""
    import logging

    os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps({"conn_type": "bifrost", "host": url})
    for name in ("httpx", "airflow_provider_bifrost", "airflow.task", "BifrostBatchJobOperator"):
        logging.getLogger(name).setLevel(logging.WARNING)


def warm_up(url: str, out_dir: str) -> None:
    """What every task process pays once, not timed: the connection lookup and the object-storage setup."""
    from airflow_provider_bifrost.hooks.bifrost import BifrostHook
    from airflow_provider_bifrost.storage.paths import storage_path

    BifrostHook(CONN_ID).get_conn()
    with storage_path(f"file://{out_dir}/warm-up").open("wb") as sink:
        sink.write(b"{}\n")  # the first write starts Airflow's hook-lineage collector (plugin discovery)


def task_context() -> Any:
    """The part of a task context the job operator reads."""
    ti = SimpleNamespace(
        dag_id="bench", task_id="job", run_id="bench__1", map_index=-1, try_number=1, xcom_push=lambda **_: None
    )
    return {"ti": ti}


def first_event(trigger: Any) -> dict[str, Any]:
    """Run a trigger in a fresh event loop until its first event, as a triggerer would."""

    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            payload: dict[str, Any] = event.payload
            return payload
        raise RuntimeError("the trigger ended without an event")

    return asyncio.run(first())


def child_job(url: str, uri: str, out_dir: str, profile: str | None) -> dict[str, Any]:
    """A whole job, measured by phase (see the module docstring)."""
    connect(url)
    import airflow_provider_bifrost.jobs.export as job_export
    import airflow_provider_bifrost.jobs.split as job_plan
    import airflow_provider_bifrost.jobs.submit as job_submit
    from airflow_provider_bifrost.operators.bifrost import BifrostBatchJobOperator
    from airflow_provider_bifrost.triggers.job import BifrostJobTrigger  # noqa: F401  (imported before timing)
    from airflow_provider_bifrost.version_compat import TaskDeferred

    warm_up(url, out_dir)
    baseline = rss_mb()
    phases = Phases()
    profiles: dict[str, cProfile.Profile] = {}
    if profile:
        for name, owner, attribute in (("plan", job_plan, "make_plan"), ("export", job_export.JobExport, "to_storage")):
            profiles[name] = cProfile.Profile()
            original = getattr(owner, attribute)

            def profiled(*args: Any, _original: Any = original, _name: str = name, **kwargs: Any) -> Any:
                return profiles[_name].runcall(_original, *args, **kwargs)

            setattr(owner, attribute, profiled)
    phases.wrap(job_plan, "make_plan", "plan")
    phases.wrap(job_submit.PartSubmitter, "submit", "submit")
    phases.wrap(job_export.JobExport, "to_storage", "export")
    operator = BifrostBatchJobOperator(
        task_id="job",
        model=MODEL["openai"],
        endpoint=ENDPOINT["openai"],
        input_uri=uri,
        output_uri=f"file://{out_dir}/out",
        bifrost_conn_id=CONN_ID,
        max_active_batches=MAX_ACTIVE,
        poll_interval=JOB_POLL_INTERVAL,
    )
    context = task_context()
    started, cpu = time.perf_counter(), time.process_time()
    times: dict[str, float] = {"started": time.time()}
    deferrals = 0
    try:
        manifest = operator.execute(context)
    except TaskDeferred as deferred:
        pending = deferred
        while True:
            deferrals += 1
            with phases.phase("wait"):
                event = first_event(pending.trigger)
            try:
                times.setdefault("export_started", time.time())  # the last execute_complete exports
                manifest = operator.execute_complete(context, event)
                break
            except TaskDeferred as again:
                times.pop("export_started")
                pending = again
    seconds = time.perf_counter() - started
    counts = manifest["counts"]
    if counts["results"] != counts["expected"] or counts["missing"] or counts["unexpected"]:
        raise RuntimeError(f"the job's export does not match its input: {counts}")
    result = {
        "requests": counts["expected"],
        "parts": len(manifest["parts"]),
        "deferrals": deferrals,
        "seconds": seconds,
        "cpu": time.process_time() - cpu,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_resettable": phases.resettable,
        "phases": phases.figures,
        "export_bytes": manifest.get("bytes"),
        "times": times,
    }
    if profile:
        result["profiles"] = {name: profile_text(p) for name, p in profiles.items()}
    return result


def profile_text(profile: cProfile.Profile, top: int = 18) -> str:
    """The top functions of a profile by their own time."""
    out = io.StringIO()
    pstats.Stats(profile, stream=out).strip_dirs().sort_stats("tottime").print_stats(top)
    return out.getvalue()


def child_fleet(
    url: str, provider: str, parts: int, per_part: int, rounds: int, latency: float, busy: int
) -> dict[str, Any]:
    """
    A job of ``parts`` small parts all running: time each poll round of its trigger (windows for the log).

    ``busy`` batches of other work are created after the job's, before the wait (newest first in a list).
    """
    connect(url)
    from airflow_provider_bifrost.operators.bifrost import BifrostBatchJobOperator
    from airflow_provider_bifrost.testing.emulator import EmulatorClient
    from airflow_provider_bifrost.triggers.job import BifrostJobTrigger
    from airflow_provider_bifrost.version_compat import TaskDeferred

    with tempfile.TemporaryDirectory() as out_dir:
        warm_up(url, out_dir)
    gc.collect()
    gc.freeze()  # as trigger_fleet.py: a full collection would walk Airflow's imported heap (~0.1-0.2 s)
    requests = [json.loads(request_line(i, provider)) for i in range(parts * per_part)]
    operator = BifrostBatchJobOperator(
        task_id="job",
        model=MODEL[provider],
        endpoint=ENDPOINT[provider],
        requests=requests,
        bifrost_conn_id=CONN_ID,
        max_active_batches=parts,
        max_requests_per_batch=per_part,
        poll_interval=FLEET_POLL_INTERVAL,
    )
    try:
        operator.execute(task_context())
    except TaskDeferred as deferred:
        trigger = deferred.trigger
    else:
        raise RuntimeError("the job did not defer")
    assert isinstance(trigger, BifrostJobTrigger)
    emulator = EmulatorClient(url)
    for _ in range(busy):
        emulator.add_batch(provider, requests=1, manual=True)
    emulator.configure(latency=latency, latency_path=r"^/v1/batches")
    windows: list[dict[str, float]] = []
    original = BifrostJobTrigger._round

    async def timed_round(self: BifrostJobTrigger, *args: Any, **kwargs: Any) -> Any:
        started, wall, cpu = time.time(), time.perf_counter(), time.process_time()
        steps = await original(self, *args, **kwargs)
        windows.append(
            {
                "start": started,
                "end": time.time(),
                "seconds": time.perf_counter() - wall,
                "cpu": time.process_time() - cpu,
                "batches": len(steps),
            }
        )
        if len(windows) == rounds:  # every batch turns completed now: the next round ends the wait
            await asyncio.to_thread(emulator.set_status_many, "completed")
        return steps

    BifrostJobTrigger._round = timed_round  # type: ignore[method-assign]
    event = first_event(trigger)
    emulator.configure(latency=0.0, latency_path=None)
    emulator.close()
    assert event["status"] == "done", event
    return {"provider": provider, "parts": parts, "rounds": windows}


class SpanReader:
    """
    Byte ranges of one or more open binary streams read one after the other, as one file httpx can size
    (``seek``/``tell``) and read in chunks: a piece of the input, POSTed as it is.

    :param spans: ``(stream, start, end)`` each.
    """

    def __init__(self, spans: list[tuple[Any, int, int]]) -> None:
        self.spans = spans
        self.length = sum(end - start for _, start, end in spans)
        self.seek(0)

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all that is left when negative)."""
        chunks: list[bytes] = []
        wanted = self.length - self.position if size < 0 else size
        while wanted > 0 and self.index < len(self.spans):
            stream, _, end = self.spans[self.index]
            data: bytes = stream.read(min(wanted, end - self.offset))
            if not data:
                break
            chunks.append(data)
            self.offset += len(data)
            self.position += len(data)
            wanted -= len(data)
            if self.offset >= end:
                self._enter(self.index + 1)
        return b"".join(chunks)

    def tell(self) -> int:
        """The position in the piece."""
        return self.position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Go to the piece's start, or (``SEEK_END``) its end: all httpx asks for."""
        if (offset, whence) == (0, os.SEEK_END):
            self.index, self.position = len(self.spans), self.length
        elif (offset, whence) == (0, os.SEEK_SET):
            self.position = 0
            self._enter(0)
        else:
            raise OSError("a piece seeks only to its start or its end")
        return self.position

    def _enter(self, index: int) -> None:
        self.index = index
        if index < len(self.spans):
            stream, self.offset, _ = self.spans[index]
            stream.seek(self.offset)


def cut_spans(paths: list[Any], pieces: int) -> Iterator[list[tuple[Any, int, int]]]:
    """
    The input files' bytes cut at newlines into ``pieces`` pieces of about equal size, a piece's spans
    crossing from one file to the next where a cut falls there. Opens every file (closed on exit).

    :param paths: the input files (``ObjectStoragePath``), in order.
    :param pieces: how many pieces.
    """
    streams = [path.open("rb") for path in paths]
    try:
        sizes = [path.stat().st_size for path in paths]
        total = sum(sizes)
        cuts: list[tuple[int, int]] = []  # (file, offset) of each piece's end but the last
        for piece in range(1, pieces):
            target, file = total * piece // pieces, 0
            while target >= sizes[file]:
                target, file = target - sizes[file], file + 1
            stream = streams[file]
            stream.seek(target)
            stream.readline()  # to the next line's start
            cuts.append((file, stream.tell()))
        cuts.append((len(paths) - 1, sizes[-1]))
        start = (0, 0)
        for end in cuts:
            spans = [
                (streams[file], start[1] if file == start[0] else 0, end[1] if file == end[0] else sizes[file])
                for file in range(start[0], end[0] + 1)
            ]
            yield [span for span in spans if span[2] > span[1]]
            start = end
    finally:
        for stream in streams:
            stream.close()


def child_upload(url: str, uri: str, mode: str, pieces: int) -> dict[str, Any]:
    """Split and upload a job's input (``ours``), or upload the same bytes in ``pieces`` plain pieces (``copy``)."""
    connect(url)
    from airflow_provider_bifrost.hooks.bifrost import BifrostHook
    from airflow_provider_bifrost.hooks.http import raise_for_error
    from airflow_provider_bifrost.jobs.ids import DigestRuns
    from airflow_provider_bifrost.jobs.source import RequestSource
    from airflow_provider_bifrost.jobs.split import make_plan
    from airflow_provider_bifrost.providers import PROFILES

    with tempfile.TemporaryDirectory() as out_dir:
        warm_up(url, out_dir)
    hook = BifrostHook(CONN_ID)
    profile = PROFILES["openai"]
    source = RequestSource(input_uri=uri)
    baseline = rss_mb()
    reset_peak()
    started, cpu = time.perf_counter(), time.process_time()
    uploaded = 0
    if mode == "ours":
        with DigestRuns() as ids:
            plan = make_plan(source, max_requests=profile.max_requests, max_bytes=profile.max_bytes, ids=ids)
        for part in plan.parts:  # as PartSubmitter.submit does before its create
            with tempfile.NamedTemporaryFile(prefix=f"part-{part.index:05d}-", suffix=".jsonl") as sink:
                source.write_part(plan, part, sink)
                sink.flush()
                uploaded += os.path.getsize(sink.name)
                hook.upload_file(sink.name, "openai")
        pieces = len(plan.parts)
    else:
        paths = [source.path(file) for file in source.files()]
        for number, spans in enumerate(cut_spans(paths, pieces)):
            body: Any = SpanReader(spans)
            request = hook.client.build_request(
                "POST",
                "/v1/files",
                params={"provider": "openai"},
                data={"purpose": "batch"},
                files={"file": (f"piece-{number:05d}.jsonl", body, "application/jsonl")},
            )
            raise_for_error(hook.client.send(request))
            uploaded += body.length
    return {
        "mode": mode,
        "seconds": time.perf_counter() - started,
        "cpu": time.process_time() - cpu,
        "peak_rss_mb": peak_mb(),
        "baseline_rss_mb": baseline,
        "bytes": uploaded,
        "pieces": pieces,
    }


def run_child(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run this script as a child with ``args``; its result line, parsed."""
    command = [sys.executable, __file__, "--child", *args]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode or not lines:
        raise RuntimeError(f"child {args[0]} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1][len(RESULT_PREFIX) :])
    return result


# --- parent ---------------------------------------------------------------------------------------


def classify(entries: list[dict[str, Any]]) -> Counter[str]:
    """Gateway requests counted by kind (:data:`KINDS`; ``other`` for the rest)."""
    counts: Counter[str] = Counter()
    for entry in entries:
        kind = next(
            (
                name
                for name, (method, path) in KINDS.items()
                if entry["method"] == method and re.search(path, entry["path"])
            ),
            "other",
        )
        counts[kind] += 1
    return counts


def spread(values: list[float]) -> dict[str, float]:
    """Median, min and max."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def fmt(figures: dict[str, float], digits: int = 2, unit: str = "") -> str:
    """``median (min-max)``; just the median when they agree."""
    median, low, high = (f"{figures[key]:.{digits}f}" for key in ("median", "min", "max"))
    return f"{median}{unit}" if low == high else f"{median}{unit} ({low}-{high})"


def bench_job(emulator: EmulatorClient, sizes: list[int], files: int, repeat: int, work: Path) -> list[dict[str, Any]]:
    """The job part: every size ``repeat`` times, in turn."""
    print("\n== job: BifrostBatchJobOperator end to end (openai defaults, max_active_batches=4) ==")
    emulator.configure(timeline=JOB_TIMELINE, manual=False)
    inputs = {size: work / f"input-{size}" for size in sizes}
    for size, folder in inputs.items():
        write_input(folder, size, files)
    runs: list[dict[str, Any]] = []
    for attempt in range(repeat):
        for size in sizes:
            emulator.reset()
            with tempfile.TemporaryDirectory(dir=work) as out_dir:
                result = run_child(["job", emulator.url, input_uri(inputs[size]), out_dir])
            log = emulator.requests()
            export_started = result["times"]["export_started"]
            before = classify([entry for entry in log if entry["time"] < export_started])
            during = classify([entry for entry in log if entry["time"] >= export_started])
            result["requests_sent"] = {**before, **{f"export {kind}": n for kind, n in during.items()}}
            result["size"], result["attempt"] = size, attempt
            runs.append(result)
            phase = result["phases"]
            print(
                f"  {size:>9,} requests, {result['parts']} parts: total {result['seconds']:.1f} s; "
                + ", ".join(
                    f"{name} {phase[name]['seconds']:.2f} s / {phase[name]['peak_rss_mb']:.0f} MB"
                    for name in ("plan", "submit", "wait", "export")
                )
                + f"; requests sent {dict(result['requests_sent'])}",
                flush=True,
            )
    return runs


def bench_fleet(emulator: EmulatorClient, parts: int, rounds: int, latency: float, repeat: int) -> list[dict[str, Any]]:
    """The fleet part: each case ``repeat`` times, in turn."""
    print(f"\n== fleet: one trigger, {parts} batches of 10 requests, {latency * 1000:.0f} ms gateway latency ==")
    runs: list[dict[str, Any]] = []
    for attempt in range(repeat):
        for case in ("openai", "anthropic", "openai-busy"):
            provider = case.split("-")[0]
            emulator.reset()
            emulator.configure(manual=True, latency=0.0, latency_path=None)
            busy = BUSY_BATCHES if case == "openai-busy" else 0
            result = run_child(
                ["fleet", emulator.url, provider, str(parts), "10", str(rounds), str(latency), str(busy)]
            )
            log = emulator.requests()
            steady = result["rounds"][:rounds]  # before the flip: every batch still running
            per_round = []
            for window in steady:
                inside = [e for e in log if window["start"] <= e["time"] <= window["end"]]
                per_round.append(classify(inside))
            requests = [sum(c.values()) for c in per_round]
            run: dict[str, Any] = {
                "case": case,
                "attempt": attempt,
                "parts": parts,
                "rounds": len(steady),
                "requests_per_round": requests,
                "lists_per_round": [c["list"] for c in per_round],
                "status_per_round": [c["status"] for c in per_round],
                "requests_per_batch_per_round": statistics.median(requests) / parts,
                "round_seconds": [w["seconds"] for w in steady],
                "round_cpu": [w["cpu"] for w in steady],
            }
            runs.append(run)
            print(
                f"  {case:<12} requests per round {requests} (list {run['lists_per_round'][0]}, status "
                f"{run['status_per_round'][0]}), per batch {run['requests_per_batch_per_round']:.3f}; round wall "
                f"{', '.join(f'{s * 1000:.0f}' for s in run['round_seconds'])} ms; CPU "
                f"{', '.join(f'{s * 1000:.0f}' for s in run['round_cpu'])} ms",
                flush=True,
            )
    return runs


def bench_upload(emulator: EmulatorClient, sizes: list[int], files: int, repeat: int, work: Path) -> list[dict]:
    """The upload part: ours and the plain copy alternating, ``repeat`` times per size."""
    print("\n== upload: plan + write + upload every part, against a plain copy of the same bytes ==")
    runs: list[dict[str, Any]] = []
    for size in sizes:
        folder = work / f"input-{size}"
        if not folder.exists():
            write_input(folder, size, files)
        pieces = 0
        for attempt in range(repeat):
            for mode in ("ours", "copy"):
                emulator.reset()  # the emulator keeps uploads on disk: one run's at a time
                result = run_child(["upload", emulator.url, input_uri(folder), mode, str(pieces)])
                pieces = pieces or result["pieces"]
                uploads = classify(emulator.requests())["upload"]
                runs.append({**result, "size": size, "attempt": attempt, "uploads": uploads})
                print(
                    f"  {size:>9,} requests, {mode:<4}: {result['seconds']:.2f} s (CPU {result['cpu']:.2f} s), "
                    f"peak RSS {result['peak_rss_mb']:.0f} MB (baseline {result['baseline_rss_mb']:.0f}), "
                    f"{result['bytes'] / 1e6:.0f} MB in {uploads} uploads",
                    flush=True,
                )
    return runs


# --- summary --------------------------------------------------------------------------------------


def job_summary(runs: list[dict[str, Any]]) -> tuple[list[list[str]], list[dict[str, Any]]]:
    """
    Per size: each phase's wall time, CPU and peak RSS, and the gateway requests per part; table lines and
    summary rows (peak RSS against the smallest size's: flat is 1x).
    """
    lines = [["requests", "parts", "phase", "wall s", "CPU s", "peak RSS MB"]]
    sizes = sorted({run["size"] for run in runs})
    names = [prefix + kind for prefix in ("", "export ") for kind in (*KINDS, "other")]
    columns = [name for name in names if any(name in run["requests_sent"] for run in runs)]
    sent_lines = [["requests", "parts", *columns, "all"]]
    rows: list[dict[str, Any]] = []
    peaks: dict[int, dict[str, float]] = {}
    for size in sizes:
        mine = [run for run in runs if run["size"] == size]
        parts = mine[0]["parts"]
        case = f"job of {size:,} requests ({parts} parts)"
        for phase in ("plan", "submit", "wait", "export"):
            seconds = spread([run["phases"][phase]["seconds"] for run in mine])
            cpu = spread([run["phases"][phase]["cpu"] for run in mine])
            peak = spread([run["phases"][phase]["peak_rss_mb"] for run in mine])
            lines.append([f"{size:,}", str(parts), phase, fmt(seconds), fmt(cpu), fmt(peak, 0)])
            rows.append(row(f"{case}: {phase}", "wall time", "s", seconds["median"]))
        total = spread([run["seconds"] for run in mine])
        lines.append([f"{size:,}", str(parts), "whole job", fmt(total), fmt(spread([r["cpu"] for r in mine])), ""])
        lines.append(
            [f"{size:,}", str(parts), "(task before it)", "", "", fmt(spread([r["baseline_rss_mb"] for r in mine]), 0)]
        )
        peaks[size] = {
            "splitting": statistics.median(
                max(r["phases"][p]["peak_rss_mb"] for p in ("plan", "submit")) for r in mine
            ),
            "exporting": statistics.median(r["phases"]["export"]["peak_rss_mb"] for r in mine),
        }
        sent = {kind: statistics.median(run["requests_sent"].get(kind, 0) / parts for run in mine) for kind in columns}
        sent_lines.append([f"{size:,}", str(parts), *(f"{sent[k]:.2f}" for k in columns), f"{sum(sent.values()):.2f}"])
        rows.append(row(case, "gateway requests per part", "", sum(sent.values())))
    for size in sizes:
        parts = next(run["parts"] for run in runs if run["size"] == size)
        for what, figure in peaks[size].items():
            smallest = sizes[0] if size != sizes[0] else None
            rows.append(
                row(
                    f"job of {size:,} requests ({parts} parts)",
                    f"peak RSS {what}",
                    "MB",
                    figure,
                    peaks[smallest][what] if smallest else None,
                    f"the same at {smallest:,} requests" if smallest else "-",
                )
            )
    lines.append([])
    return lines + sent_lines, rows


def row(
    case: str, metric: str, unit: str, ours: float, alternative: float | None = None, alternative_name: str = "-"
) -> dict[str, Any]:
    """One summary row for ``run_all.py`` (lower is better)."""
    return {
        "case": case,
        "metric": metric,
        "unit": unit,
        "ours": ours,
        "alternative": alternative,
        "alternative_name": alternative_name,
        "better": "lower",
    }


def fleet_summary(runs: list[dict[str, Any]]) -> tuple[list[list[str]], list[dict[str, Any]]]:
    """Per case: requests per batch per round and the round's wall time; ours against Anthropic's per-batch path."""
    lines = [["case", "batches", "requests / round", "per batch / round", "round wall ms", "round CPU ms"]]
    figures: dict[str, dict[str, dict[str, float]]] = {}
    for case in dict.fromkeys(run["case"] for run in runs):
        mine = [run for run in runs if run["case"] == case]
        parts = mine[0]["parts"]
        requests = spread([r for run in mine for r in run["requests_per_round"]])
        per_batch = spread([r / parts for run in mine for r in run["requests_per_round"]])
        wall = spread([s * 1000 for run in mine for s in run["round_seconds"][1:]])  # the first opens connections
        cpu = spread([s * 1000 for run in mine for s in run["round_cpu"][1:]])
        figures[case] = {"per_batch": per_batch, "wall": wall, "cpu": cpu}
        lines.append([case, str(parts), fmt(requests, 0), fmt(per_batch, 3), fmt(wall, 0), fmt(cpu, 1)])
    rows: list[dict[str, Any]] = []
    if "openai" in figures and "anthropic" in figures:
        for metric, unit, key in (
            ("requests per batch per poll round", "", "per_batch"),
            ("poll round wall time", "ms", "wall"),
            ("poll round CPU", "ms", "cpu"),
        ):
            rows.append(
                {
                    "case": f"{runs[0]['parts']}-batch job, one trigger (OpenAI: one list call)",
                    "metric": metric,
                    "unit": unit,
                    "ours": figures["openai"][key]["median"],
                    "alternative": figures["anthropic"][key]["median"],
                    "alternative_name": "the same job on Anthropic (one status call per batch)",
                    "better": "lower",
                }
            )
    return lines, rows


def upload_summary(runs: list[dict[str, Any]]) -> tuple[list[list[str]], list[dict[str, Any]]]:
    """Per size: ours and the copy, and the ratio pair by pair."""
    lines = [["requests", "MB", "what", "wall s", "CPU s", "peak RSS MB", "ours / copy (wall)"]]
    rows: list[dict[str, Any]] = []
    for size in sorted({run["size"] for run in runs}):
        ours = [run for run in runs if run["size"] == size and run["mode"] == "ours"]
        copy = [run for run in runs if run["size"] == size and run["mode"] == "copy"]
        ratio = spread([a["seconds"] / b["seconds"] for a, b in zip(ours, copy, strict=True)])
        megabytes = f"{ours[0]['bytes'] / 1e6:.0f}"
        for name, mine in (("split + write + upload", ours), ("plain copy (ranges POSTed)", copy)):
            wall = spread([run["seconds"] for run in mine])
            cpu = spread([run["cpu"] for run in mine])
            peak = spread([run["peak_rss_mb"] for run in mine])
            lines.append(
                [
                    f"{size:,}",
                    megabytes,
                    name,
                    fmt(wall),
                    fmt(cpu),
                    fmt(peak, 0),
                    fmt(ratio) + "x" if mine is ours else "",
                ]
            )
        for metric, unit, key in (
            ("wall time", "s", "seconds"),
            ("CPU", "s", "cpu"),
            ("peak RSS", "MB", "peak_rss_mb"),
        ):
            rows.append(
                {
                    "case": f"split and upload {size:,} requests ({megabytes} MB, {ours[0]['pieces']} parts)",
                    "metric": metric,
                    "unit": unit,
                    "ours": statistics.median(run[key] for run in ours),
                    "alternative": statistics.median(run[key] for run in copy),
                    "alternative_name": "plain copy: the same bytes in as many ranges, POSTed as they are",
                    "better": "lower",
                }
            )
    return lines, rows


def render(lines: list[list[str]]) -> str:
    """Plain-text tables, each's first line its header; an empty line starts the next table."""
    if [] in lines:
        cut = lines.index([])
        return render(lines[:cut]) + "\n\n" + render(lines[cut + 1 :])
    widths = [max(len(line[index]) for line in lines) for index in range(len(lines[0]))]
    out = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in lines]
    out.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="job sizes in requests, comma separated")
    parser.add_argument("--files", type=int, default=4, help="JSONL files the input is written in")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each case")
    parser.add_argument("--fleet-parts", type=int, default=100, help="batches of the fleet job")
    parser.add_argument("--rounds", type=int, default=4, help="poll rounds measured with every batch running")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds the emulator adds to list/status calls")
    parser.add_argument("--only", default="job,fleet,upload", help="among job, fleet, upload")
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each: the CI-sized variant")
    parser.add_argument("--profile", action="store_true", help="also profile the planning and the export")
    parser.add_argument("--json", metavar="PATH", help="also write every figure as JSON")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, rest = args.child[0], args.child[1:]
        if kind == "job":
            result = child_job(rest[0], rest[1], rest[2], rest[3] if len(rest) > 3 else None)
        elif kind == "fleet":
            url, provider, parts, per_part, rounds, latency, busy = rest
            result = child_fleet(url, provider, int(parts), int(per_part), int(rounds), float(latency), int(busy))
        else:
            result = child_upload(rest[0], rest[1], rest[2], int(rest[3]))
        print(RESULT_PREFIX + json.dumps(result), flush=True)
        return
    if args.quick:
        args.sizes, args.repeat, args.fleet_parts, args.rounds = "100000", 1, 50, 2
    sizes = [int(size) for size in args.sizes.split(",")]
    chosen = {name.strip() for name in args.only.split(",")}

    from airflow_provider_bifrost.testing.emulator import run_emulator

    results: dict[str, Any] = {"benchmark": "jobs", "rows": []}
    tables: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as folder, run_emulator(subprocess=True) as emulator:
        work = Path(folder)
        for name, bench, summary in (
            ("job", lambda: bench_job(emulator, sizes, args.files, args.repeat, work), job_summary),
            (
                "fleet",
                lambda: bench_fleet(emulator, args.fleet_parts, args.rounds, args.latency, args.repeat),
                fleet_summary,
            ),
            ("upload", lambda: bench_upload(emulator, sizes, args.files, args.repeat, work), upload_summary),
        ):
            if name not in chosen:
                continue
            runs = bench()
            lines, rows = summary(runs)
            results[name] = runs
            results["rows"] += rows
            tables.append(f"{name}:\n{render(lines)}")
        if args.profile and "job" in chosen:
            emulator.reset()
            emulator.configure(timeline=JOB_TIMELINE, manual=False)
            with tempfile.TemporaryDirectory(dir=work) as out_dir:
                profiled = run_child(["job", emulator.url, input_uri(work / f"input-{max(sizes)}"), out_dir, "profile"])
            results["profiles"] = profiled["profiles"]
            for name, text in profiled["profiles"].items():
                tables.append(
                    f"cProfile of the job's {name} ({max(sizes):,} requests), top functions by own time:\n{text}"
                )
    print(f"\n== jobs: medians (min-max) over {args.repeat} run(s) ==")
    print("\n\n".join(tables))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
