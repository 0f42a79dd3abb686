"""
Fault soak: the full pipeline DAG (``example_dags/example_bifrost_pipeline.py``: build requests -> create
the batch -> wait deferred -> export to storage -> mapped process -> summary) run many times under
``dag.test()`` against the Bifrost emulator, which injects a random fault into any gateway request:
429 with and without ``Retry-After``, 500, 502, 503, 504, a delay past the client timeout, a connection
dropped before the request is handled, one dropped after it was handled (its answer lost) and a
truncated body.

Every run gets a fresh DAG run, a fresh output folder and its own fault seed (``--seed`` + run index: run
``i`` is replayed with ``--seed <seed+i> --runs 1``). After each run:

- a successful run must have exported exactly the expected ``custom_id`` values (``describe-0`` ...
  ``describe-<products-1>``), each once, in the files its manifest lists; the output folder must hold
  nothing else (no temporary file, no extra shard) besides ``summary.json``; and exactly one batch must
  have been created for the run;
- a failed run must have failed loudly (a task in state ``failed``, with its exception) and left no
  partial output: no temporary file, no malformed shard; complete shards left without a manifest are
  counted (the manifest is the export's commit marker).

Then it prints one line per run and a table: runs, successes, exact outputs, failed runs (with the reason),
faults injected by kind (from the emulator's fault rules), retries (requests repeated after a faulted one,
from the emulator's request log; and task retries) and the wall time.

The connection's ``timeout`` extra is small (``--timeout``, 2 s), so a delay fault costs little, and
``max_retries`` is raised (``--max-retries``, 6) so random faults at ``--fault-rate`` almost never exhaust
the HTTP retry budget. The DAG runs as written, except that the export task's ``retry_delay`` (Airflow's
default, 300 s) is set to the create task's (5 s): ``dag.test()`` waits out retry delays.

Run ``python benchmarks/soak.py [--runs 50] [--seed 1] [--fault-rate 0.15]`` (about 9 s per run, 8 minutes for
50 on 2 cores: the sensor polls every 5 s). ``--fault-path`` aims the faults at some routes, e.g.
``'^/v1/batches$'`` (create and the lookup of a lost create). Exit status 1 when any run broke a rule
above (a failed run that failed loudly, its faults beyond the retry budget, is reported but allowed).
``tests/soak/test_fault_soak.py`` runs a few runs of the same code in CI.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import pluggy

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from airflow.sdk import DAG

    from airflow_provider_bifrost.testing.emulator import EmulatorClient

#: ``airflow.listeners.hookimpl``, made here: airflow may be imported only once its environment is set.
hookimpl = pluggy.HookimplMarker("airflow")
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_DAGS = ROOT / "example_dags"
PIPELINE_FILE = EXAMPLE_DAGS / "example_bifrost_pipeline.py"
DAG_ID = "example_bifrost_pipeline"
LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"
#: Every gateway route (the control plane, ``/_emulator``, is never faulted).
GATEWAY_PATHS = r"^/(openai/)?v1/"
MANIFEST = "_manifest.json"
SUMMARY = "summary.json"
SHARD = re.compile(r"^part-\d{5}\.jsonl(\.gz)?$")

#: Fault kinds, by name: the emulator fault rule of each (``delay`` gets its seconds from the timeout).
FAULT_KINDS: dict[str, dict[str, Any]] = {
    "429 + Retry-After": {"action": "status", "status": 429, "retry_after": "1"},
    "429": {"action": "status", "status": 429},
    "500": {"action": "status", "status": 500},
    "502": {"action": "status", "status": 502},
    "503": {"action": "status", "status": 503},
    "504": {"action": "status", "status": 504},
    "delay > timeout": {"action": "delay"},
    "drop": {"action": "drop"},
    "lose response": {"action": "lose_response"},
    "truncate": {"action": "truncate"},
}


@dataclass(frozen=True)
class SoakSettings:
    """
    What the soak runs.

    :param runs: DAG runs.
    :param seed: fault seed of the first run (run ``i`` uses ``seed + i``).
    :param fault_rate: chance that a gateway request gets a fault, shared evenly by ``kinds``.
    :param kinds: the fault kinds to inject (names of :data:`FAULT_KINDS`).
    :param fault_path: regex of the request paths that get faults (default: every gateway route).
    :param products: requests per batch (the DAG's ``products`` param).
    :param timeout: the connection's ``timeout`` extra (seconds per read); delay faults exceed it.
    :param max_retries: the connection's ``max_retries`` extra.
    :param failed_requests: requests the emulator fails in each batch (exported from the error file).
    :param results_page_size: page the results route (None: one document).
    :param timeline: the emulator batches' ``(validating, in_progress, finalizing)`` seconds.
    :param task_retry_delay: ``retry_delay`` given to the export task (the create task has its own 5 s).
    :param poke_interval: the sensor's ``poke_interval`` (None: the DAG's, 5 s).
    :param run_timeout: seconds after which a run counts as hung: the stacks are dumped and the process exits
        (None: no watchdog).
    """

    runs: int = 50
    seed: int = 1
    fault_rate: float = 0.15
    kinds: tuple[str, ...] = tuple(FAULT_KINDS)
    fault_path: str = GATEWAY_PATHS
    products: int = 120
    timeout: float = 2.0
    max_retries: int = 6
    failed_requests: int = 5
    results_page_size: int | None = 40
    timeline: tuple[float, float, float] = (0.1, 0.5, 0.1)
    task_retry_delay: float = 5.0
    poke_interval: float | None = None
    run_timeout: float | None = 600.0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.kinds) - set(FAULT_KINDS))
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; known: {', '.join(FAULT_KINDS)}")
        if not 0 <= self.fault_rate <= 1:
            raise ValueError(f"fault_rate must be in [0, 1], got {self.fault_rate}")


@dataclass
class RunReport:
    """What one DAG run did, and what was wrong with it."""

    index: int
    seed: int
    run_id: str = ""
    state: str = ""
    seconds: float = 0.0
    exact: bool = False
    #: Rules the run broke (wrong output, stray or partial files, duplicate batch, silent failure).
    problems: list[str] = field(default_factory=list)
    #: Why a failed run failed: ``task: exception`` of each failed task's last try.
    failure: str | None = None
    #: Complete shards a failed run left under final names without a manifest.
    orphan_shards: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    http_retries: int = 0
    task_retries: int = 0
    batches: int = 0
    log: str = ""

    @property
    def ok(self) -> bool:
        """Exact output, or a loud failure that left no partial output."""
        return not self.problems and (self.exact or self.state == "failed")


# -- environment --------------------------------------------------------------------------------


def airflow_environment(home: str | os.PathLike[str]) -> dict[str, str]:
    """
    The environment an isolated Airflow needs for ``dag.test()`` of the example DAGs (as in tests/conftest.py);
    set it before anything imports airflow.

    :param home: the AIRFLOW_HOME (its sqlite database is created by :func:`migrate_db`).
    """
    bundle = {"name": "example-dags", "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(EXAMPLE_DAGS)}}
    return {
        "AIRFLOW_HOME": os.fspath(home),
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps([bundle]),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
    }


def migrate_db() -> None:
    """Create the metadata database of the current AIRFLOW_HOME (``airflow db migrate``)."""
    command = [sys.executable, "-m", "airflow", "db", "migrate"]
    subprocess.run(command, check=True, capture_output=True, env=os.environ.copy())


def connection_json(url: str, settings: SoakSettings) -> str:
    """The ``bifrost_default`` connection (AIRFLOW_CONN_BIFROST_DEFAULT) for the emulator at ``url``."""
    extra = {"timeout": settings.timeout, "max_retries": settings.max_retries}
    return json.dumps({"conn_type": "bifrost", "host": url, "extra": extra})


def load_pipeline(settings: SoakSettings) -> DAG:
    """The pipeline DAG as written, with the export's retry delay (and the poke interval, if asked) tuned."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PIPELINE_FILE))
    if bag.import_errors:
        raise RuntimeError(f"{PIPELINE_FILE} does not import: {bag.import_errors}")
    dag = bag.get_dag(DAG_ID)
    assert dag is not None
    dag.get_task("export").retry_delay = timedelta(seconds=settings.task_retry_delay)
    if settings.poke_interval is not None:
        dag.get_task("wait").poke_interval = settings.poke_interval
    return dag


# -- faults -------------------------------------------------------------------------------------


def fault_rules(settings: SoakSettings) -> list[dict[str, Any]]:
    """
    One emulator rule per fault kind on every gateway route, so that a request gets a fault with chance
    ``fault_rate``, each kind equally likely.

    The emulator tries the rules in order, each with its own draw: rule ``i`` gets probability
    ``share / (1 - i * share)``, which makes every kind's overall chance ``share = fault_rate / kinds``.
    """
    share = settings.fault_rate / len(settings.kinds)
    rules = []
    for index, name in enumerate(settings.kinds):
        rule = {**FAULT_KINDS[name], "path": settings.fault_path, "probability": min(share / (1 - index * share), 1)}
        if rule["action"] == "delay":
            rule["seconds"] = settings.timeout + 1.5
        if rule["action"] == "status":
            rule["message"] = f"injected by the soak: {name}"
        rules.append(rule)
    return rules


def http_retries(entries: Sequence[dict[str, Any]]) -> int:
    """Requests that repeat (same method, path and query) a request whose last occurrence got a fault."""
    faulted: dict[tuple[str, str, tuple[tuple[str, str], ...]], bool] = {}
    repeats = 0
    for entry in entries:
        key = (entry["method"], entry["path"], tuple(sorted(entry["query"].items())))
        repeats += faulted.get(key, False)
        faulted[key] = entry["fault"] is not None
    return repeats


# -- one run ------------------------------------------------------------------------------------


@contextlib.contextmanager
def captured_output(path: Path) -> Iterator[IO[str]]:
    """Send this process's file descriptors 1 and 2 (stdout, stderr) to ``path``; yield a stream to the console."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    console = os.fdopen(os.dup(saved[1]), "w")
    try:
        with open(path, "ab") as sink:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            try:
                yield console
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        for fd in saved:
            os.close(fd)
        console.close()


class FailureListener:
    """An Airflow listener keeping the error of every failed try (task id -> ``Class: message`` of its last)."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    @contextlib.contextmanager
    def registered(self) -> Iterator[FailureListener]:
        """Listen for the duration of the block (task runners call listeners in-process under ``dag.test()``)."""
        from airflow.sdk.listener import get_listener_manager

        manager = get_listener_manager()
        manager.add_listener(self)
        try:
            yield self
        finally:
            manager.pm.unregister(self)

    @hookimpl
    def on_task_instance_failed(
        self, previous_state: Any, task_instance: Any, error: BaseException | str | None
    ) -> None:
        """Keep the error of a failed try (also called for a try that will be retried)."""
        text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
        self.errors[str(task_instance.task_id)] = " ".join(text.split())


def run_once(dag: DAG, emulator: EmulatorClient, settings: SoakSettings, index: int, work: Path) -> RunReport:
    """
    One DAG run under faults, checked.

    :param dag: the pipeline (see :func:`load_pipeline`).
    :param emulator: the emulator the ``bifrost_default`` connection points at.
    :param settings: the soak settings.
    :param index: the run's number (its fault seed is ``settings.seed + index``).
    :param work: the soak's folder; the run writes to ``run-<index>/out`` and logs to ``run-<index>/airflow.log``.
    """
    report = RunReport(index=index, seed=settings.seed + index)
    folder = work / f"run-{index:03d}"
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "out"
    log_path = folder / "airflow.log"
    report.log = str(log_path)
    os.environ["AIRFLOW_VAR_BIFROST_OUTPUT_URI"] = out.as_uri()
    rules = fault_rules(settings)
    emulator.clear_requests()
    emulator.configure(seed=report.seed)
    emulator.set_faults(rules)
    start = time.monotonic()
    listener = FailureListener()
    with captured_output(log_path) as console, listener.registered():
        if settings.run_timeout is not None:
            faulthandler.dump_traceback_later(settings.run_timeout, exit=True, file=console)
        try:
            run = dag.test(run_conf={"products": settings.products})
        finally:
            faulthandler.cancel_dump_traceback_later()
    report.seconds = time.monotonic() - start
    applied = emulator.faults()
    emulator.clear_faults()
    entries = emulator.requests()
    for name, rule in zip(settings.kinds, applied, strict=True):
        report.faults[name] = rule["applied"]
    report.requests = len(entries)
    report.http_retries = http_retries(entries)
    report.run_id, report.state = str(run.run_id), str(run.state)
    instances = run.get_task_instances()
    report.task_retries = sum(max((ti.try_number or 0) - 1, 0) for ti in instances)
    batches = [
        batch
        for batch in emulator.batches()
        if str((batch.get("metadata") or {}).get("airflow_ti", "")).endswith(f" run_id={run.run_id}")
    ]
    report.batches = len(batches)
    if report.state == "success":
        check_success(report, out, batches, settings.products)
    else:
        failed = sorted({ti.task_id for ti in instances if ti.state == "failed"})
        report.failure = "; ".join(f"{task}: {listener.errors.get(task, '(no error)')}" for task in failed)
        if report.state != "failed" or not failed:
            states = sorted((ti.task_id, str(ti.state)) for ti in instances)
            report.problems.append(f"run ended {report.state} with no failed task: {states}")
        if silent := [task for task in failed if task not in listener.errors]:
            report.problems.append(f"tasks failed without an error: {silent}")
        check_failure(report, out, settings.products)
    return report


def check_success(report: RunReport, out: Path, batches: list[dict[str, Any]], products: int) -> None:
    """The export holds every expected custom_id once, nothing else is in the output, one batch was created."""
    problems = report.problems
    if len(batches) != 1:
        problems.append(f"{len(batches)} batches created for the run: {[b['id'] for b in batches]}")
    folders = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if len(folders) != 1:
        problems.append(f"expected one export folder in {out}, found {folders}")
        if not folders:
            return
    folder = out / folders[0]
    if batches and folders[0] != batches[-1]["id"]:
        problems.append(f"export folder {folders[0]} is not the run's batch {batches[-1]['id']}")
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        problems.append(f"no {MANIFEST} in {folder}")
        return
    manifest = json.loads(manifest_path.read_text())
    shard_names = [_name(uri) for uri in manifest["files"]]
    expected_names = {MANIFEST, SUMMARY, *shard_names}
    present = {p.name for p in folder.iterdir()}
    if stray := sorted(present - expected_names):
        problems.append(f"stray files in the export folder: {stray}")
    if missing := sorted(expected_names - present):
        problems.append(f"missing files: {missing}")
        return
    seen: Counter[str] = Counter()
    for shard in manifest["shards"]:
        ids, bad = read_shard(folder / _name(shard["uri"]))
        if bad:
            problems.append(f"{_name(shard['uri'])}: {bad} lines that are not result items")
        if len(ids) != shard["items"]:
            problems.append(f"{_name(shard['uri'])} holds {len(ids)} items, its manifest entry says {shard['items']}")
        seen.update(ids)
    problems.extend(compare_ids(seen, products, complete=True))
    if manifest["counts"]["results"] != products:
        problems.append(f"manifest counts {manifest['counts']['results']} results, expected {products}")
    summary = json.loads((folder / SUMMARY).read_text())
    if (summary["items"], summary["files"]) != (products, len(shard_names)):
        problems.append(f"summary.json says {summary['items']} items in {summary['files']} files")
    report.exact = not problems


def check_failure(report: RunReport, out: Path, products: int) -> None:
    """A failed run left no temporary file and no malformed shard; a manifest it wrote must be exact."""
    for folder in sorted(p for p in out.iterdir() if p.is_dir()) if out.is_dir() else []:
        names = sorted(p.name for p in folder.iterdir())
        if stray := [n for n in names if not SHARD.match(n) and n not in (MANIFEST, SUMMARY)]:
            report.problems.append(f"{folder.name}: temporary or stray files left: {stray}")
        shards = [n for n in names if SHARD.match(n)]
        seen: Counter[str] = Counter()
        for name in shards:
            ids, bad = read_shard(folder / name)
            if bad:
                report.problems.append(f"{folder.name}/{name}: {bad} malformed lines under a final name")
            seen.update(ids)
        if MANIFEST in names:  # the export finished: its output must be complete even though the run failed
            report.problems.extend(compare_ids(seen, products, complete=True))
        else:
            report.orphan_shards += len(shards)
            report.problems.extend(compare_ids(seen, products, complete=False))


def read_shard(path: Path) -> tuple[list[str], int]:
    """The custom_ids of a JSONL shard (``.gz`` too), and how many lines are not JSON objects with one."""
    ids: list[str] = []
    bad = 0
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as lines:
        for line in lines:
            try:
                item = json.loads(line)
                ids.append(str(item["custom_id"]))
            except (ValueError, KeyError, TypeError):
                bad += 1
    return ids, bad


def compare_ids(seen: Counter[str], products: int, *, complete: bool) -> list[str]:
    """What is wrong with ``seen`` as the run's custom_ids: duplicates, strangers, and (if complete) gaps."""
    expected = {f"describe-{i}" for i in range(products)}
    problems = []
    if duplicates := sorted(cid for cid, n in seen.items() if n > 1):
        problems.append(f"{len(duplicates)} custom_ids more than once, e.g. {duplicates[:3]}")
    if unexpected := sorted(set(seen) - expected):
        problems.append(f"{len(unexpected)} unexpected custom_ids, e.g. {unexpected[:3]}")
    if complete and (missing := sorted(expected - set(seen), key=lambda c: int(c.rpartition("-")[2]))):
        problems.append(f"{len(missing)} custom_ids missing, e.g. {missing[:3]}")
    return problems


def _name(uri: str) -> str:
    return Path(unquote(urlparse(uri).path)).name


# -- the soak -----------------------------------------------------------------------------------


def soak(
    dag: DAG,
    emulator: EmulatorClient,
    settings: SoakSettings,
    work: Path,
    *,
    progress: IO[str] | None = None,
) -> list[RunReport]:
    """
    Run the pipeline ``settings.runs`` times under faults; the emulator is reset and configured first.

    :param dag: the pipeline (see :func:`load_pipeline`).
    :param emulator: the emulator AIRFLOW_CONN_BIFROST_DEFAULT points at.
    :param settings: the soak settings.
    :param work: where runs write their output and logs.
    :param progress: where to print one line per run as it ends (None: nowhere).
    """
    emulator.reset()
    emulator.configure(
        timeline=settings.timeline,
        failed_requests=settings.failed_requests,
        results_page_size=settings.results_page_size,
    )
    reports = []
    if progress is not None:
        print(RUN_HEADER, file=progress, flush=True)
    for index in range(settings.runs):
        report = run_once(dag, emulator, settings, index, work)
        reports.append(report)
        if progress is not None:
            print(run_line(report), file=progress, flush=True)
    return reports


RUN_HEADER = (
    f"{'run':>4} {'seed':>5} {'state':<8} {'exact':<5} {'secs':>6} {'reqs':>5} {'faults':>6} "
    f"{'retries':>7} {'task retries':>12} {'batches':>7}  notes"
)


def run_line(report: RunReport) -> str:
    """One line about a run."""
    notes = [*report.problems]
    if report.failure:
        notes.append(f"failed: {report.failure}")
    if report.orphan_shards:
        notes.append(f"{report.orphan_shards} complete shards left without a manifest")
    if notes:
        notes.append(f"log: {report.log}")
    return (
        f"{report.index:>4} {report.seed:>5} {report.state:<8} {'yes' if report.exact else 'no':<5} "
        f"{report.seconds:>6.1f} {report.requests:>5} {sum(report.faults.values()):>6} {report.http_retries:>7} "
        f"{report.task_retries:>12} {report.batches:>7}  {' | '.join(notes)}"
    )


def summary_table(reports: Sequence[RunReport], settings: SoakSettings, wall: float) -> str:
    """The soak's results as a table."""
    runs = len(reports)
    successes = sum(r.state == "success" for r in reports)
    exact = sum(r.exact for r in reports)
    failed = [r for r in reports if r.state != "success"]
    broken = [r for r in reports if r.problems]
    faults: Counter[str] = Counter()
    for report in reports:
        faults.update(report.faults)
    requests = sum(r.requests for r in reports)
    injected = sum(faults.values())
    rows: list[tuple[str, str]] = [
        ("runs", f"{runs}"),
        ("successes", f"{successes}"),
        ("exact outputs", f"{exact} ({exact / runs:.0%})" if runs else "0"),
        ("failed runs", f"{len(failed)}"),
        *((f"  run {r.index} (seed {r.seed})", r.failure or r.state) for r in failed),
        ("runs that broke a rule", f"{len(broken)}"),
        *((f"  run {r.index} (seed {r.seed})", "; ".join(r.problems)) for r in broken),
        ("complete shards left without manifest", f"{sum(r.orphan_shards for r in reports)}"),
        ("batches created", f"{sum(r.batches for r in reports)}"),
        ("gateway requests", f"{requests}"),
        ("injected faults", f"{injected} ({injected / requests:.1%} of requests)" if requests else "0"),
        *((f"  {name}", f"{faults[name]}") for name in settings.kinds),
        ("retries (requests repeated after a fault)", f"{sum(r.http_retries for r in reports)}"),
        ("task retries (Airflow tries beyond the first)", f"{sum(r.task_retries for r in reports)}"),
        ("wall time", f"{wall:.0f} s ({wall / runs:.1f} s per run)" if runs else f"{wall:.0f} s"),
    ]
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def parse_args(argv: Sequence[str] | None = None) -> SoakSettings:
    """The soak settings from the command line."""
    defaults = SoakSettings()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=defaults.runs, help="DAG runs (default %(default)s)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="fault seed of the first run")
    parser.add_argument("--fault-rate", type=float, default=defaults.fault_rate, help="per gateway request")
    parser.add_argument(
        "--kinds", default=",".join(defaults.kinds), help=f"fault kinds, comma separated: {', '.join(FAULT_KINDS)}"
    )
    parser.add_argument("--fault-path", default=defaults.fault_path, help="regex of the paths that get faults")
    parser.add_argument("--products", type=int, default=defaults.products, help="requests per batch")
    parser.add_argument("--timeout", type=float, default=defaults.timeout, help="the connection's timeout extra")
    parser.add_argument("--max-retries", type=int, default=defaults.max_retries, help="the connection's max_retries")
    parser.add_argument("--failed-requests", type=int, default=defaults.failed_requests, help="failed per batch")
    parser.add_argument(
        "--results-page-size", type=int, default=defaults.results_page_size, help="0: results in one document"
    )
    parser.add_argument(
        "--timeline", default=",".join(map(str, defaults.timeline)), help="batches' validating,in_progress,finalizing s"
    )
    parser.add_argument("--poke-interval", type=float, help="the sensor's poke_interval (default: the DAG's 5 s)")
    parser.add_argument("--run-timeout", type=float, default=defaults.run_timeout, help="a run taking longer hangs")
    args = parser.parse_args(argv)
    return SoakSettings(
        runs=args.runs,
        seed=args.seed,
        fault_rate=args.fault_rate,
        kinds=tuple(kind.strip() for kind in args.kinds.split(",") if kind.strip()),
        fault_path=args.fault_path,
        products=args.products,
        timeout=args.timeout,
        max_retries=args.max_retries,
        failed_requests=args.failed_requests,
        results_page_size=args.results_page_size or None,
        timeline=_timeline(args.timeline),
        poke_interval=args.poke_interval,
        run_timeout=args.run_timeout or None,
    )


def _timeline(text: str) -> tuple[float, float, float]:
    validating, in_progress, finalizing = (float(part) for part in text.split(","))
    return validating, in_progress, finalizing


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak in an isolated Airflow home; print a line per run and the table; 1 if a rule was broken."""
    settings = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bifrost-soak-"))
    os.environ.update(airflow_environment(work / "airflow-home"))
    print(
        f"Fault soak: {settings.runs} runs of {DAG_ID} ({settings.products} products), faults in "
        f"{settings.fault_rate:.0%} of gateway requests, seed {settings.seed}; output and logs in {work}",
        flush=True,
    )
    migrate_db()
    from airflow_provider_bifrost.testing.emulator import run_emulator

    start = time.monotonic()
    with contextlib.ExitStack() as stack:
        with captured_output(work / "emulator.log"):  # the emulator's own log (stderr) goes there
            emulator = stack.enter_context(run_emulator(subprocess=True))
        os.environ["AIRFLOW_CONN_BIFROST_DEFAULT"] = connection_json(emulator.url, settings)
        with captured_output(work / "load.log"):
            dag = load_pipeline(settings)
        reports = soak(dag, emulator, settings, work, progress=sys.stdout)
    wall = time.monotonic() - start
    print()
    print(summary_table(reports, settings, wall))
    return 0 if all(report.ok for report in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
