"""
Every benchmark behind one command, then one table: ours against the alternative, and the ratio.

Runs, each in its own process (its own output streamed as it goes), then summarises from the JSON each
writes (``--json``):

- ``import``: ``import_cost.py``, the operator and sensor modules' import cost in a DAG file against the
  OpenAI provider's batch operator;
- ``export``: ``export.py``, ``BifrostBatchResultsOperator`` to ``file://`` against a naive
  ``response.json()`` client and curl (the ceiling), and gzipped against ``curl | gzip``; and counting token
  usage against not counting it (``count_usage=False``), in alternating pairs;
- ``results_memory``: ``results_memory.py``, streaming results through the hook against loading the
  document whole;
- ``trigger_fleet``: ``trigger_fleet.py``, N ``BifrostBatchTrigger`` against N of the OpenAI provider's
  ``OpenAIBatchTrigger`` in one event loop: time to all events, stalls, CPU per answered status poll.
- ``jobs``: ``jobs.py``, ``BifrostBatchJobOperator``: a 1,000,000-request job's time, peak RSS and gateway
  requests per phase (against 100,000: flat memory), a 100-batch job's requests per batch per poll round
  (OpenAI's one list call against Anthropic's call per batch), and splitting and uploading against a plain
  copy of the same bytes.
- ``resubmit``: ``resubmit_round.py``, one resubmission round of ``BifrostCreateBatchOperator``: its gateway
  requests and wall time (the task with ``resubmit_failed=1`` less the task without), and starting it alone.

Run ``python benchmarks/run_all.py`` (or ``python -m benchmarks``; about 20 minutes on 2 cores, most of
it the trigger fleet at N=1000) or ``--quick`` (smaller sizes, about 3 minutes). ``--only import,export``
picks benchmarks; ``--json PATH`` keeps every figure; ``--markdown PATH`` writes the table as Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Benchmark:
    """One script, its arguments for a full and a quick run."""

    script: str
    full: tuple[str, ...]
    quick: tuple[str, ...]


BENCHMARKS: dict[str, Benchmark] = {
    "import": Benchmark("import_cost.py", ("--repeat", "15"), ("--repeat", "5", "--importtime-runs", "1")),
    "export": Benchmark(
        "export.py", ("--sizes", "10000,100000,400000"), ("--sizes", "10000,100000", "--usage-pairs", "3")
    ),
    "results_memory": Benchmark("results_memory.py", ("--sizes", "100000,400000"), ("--sizes", "100000")),
    "trigger_fleet": Benchmark("trigger_fleet.py", ("--sizes", "100,500,1000"), ("--sizes", "100")),
    "jobs": Benchmark("jobs.py", ("--sizes", "100000,1000000", "--repeat", "3"), ("--quick",)),
    "resubmit": Benchmark("resubmit_round.py", ("--sizes", "1000,10000,50000"), ("--sizes", "1000,10000")),
}
#: A "|" inside a Markdown table cell.
ESCAPED_PIPE = "\\|"
COLUMNS = ("benchmark", "case", "metric", "ours", "alternative", "value", "ours / alt", "better")


def machine() -> dict[str, Any]:
    """What the figures ran on: CPU, cores, memory, load, Python, Airflow."""
    cpu = platform.processor() or platform.machine()
    memory_gb = None
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
        kb = next(
            line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
        )
        memory_gb = int(kb) / 1024 / 1024
    except (OSError, StopIteration):
        pass
    versions: dict[str, str | None] = {}
    for dist in ("apache-airflow", "apache-airflow-providers-openai", "airflow-provider-bifrost"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def run(name: str, benchmark: Benchmark, quick: bool) -> tuple[dict[str, Any] | None, float, int]:
    """Run one benchmark in its own process, its output streamed; its JSON result, seconds and exit code."""
    args = benchmark.quick if quick else benchmark.full
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as folder:
        out = Path(folder) / "result.json"
        command = [sys.executable, str(HERE / benchmark.script), *args, "--json", str(out)]
        print(f"\n===== {name}: {' '.join(['python', f'benchmarks/{benchmark.script}', *args])} =====", flush=True)
        started = time.monotonic()
        code = subprocess.run(command, check=False).returncode
        seconds = time.monotonic() - started
        result = json.loads(out.read_text()) if code == 0 and out.exists() else None
    print(f"===== {name}: {'done' if result else f'FAILED (exit {code})'} in {seconds:.0f} s =====", flush=True)
    return result, seconds, code


def value(number: float | None, unit: str, cut_off: bool = False) -> str:
    """A figure with its unit; seconds below one in ms; ``>`` for a run cut off at its budget."""
    if number is None:
        return "-"
    prefix = ">" if cut_off else ""
    if unit == "s":
        return f"{prefix}{number * 1000:.0f} ms" if number < 1 else f"{prefix}{number:.1f} s"
    if unit == "ms":
        return f"{prefix}{number:.1f} ms"
    if unit == "us":  # a figure in seconds, shown in microseconds
        return f"{prefix}{number * 1e6:.0f} us"
    if unit == "MB/s":
        return f"{prefix}{number:.1f} MB/s"
    if unit == "MB":
        return f"{prefix}{number:.0f} MB"
    if unit == "x":
        return f"{prefix}{number:.3f}x"
    return f"{prefix}{number:g}{(' ' + unit) if unit else ''}"


def ratio(row: dict[str, Any]) -> str:
    """ours / alternative; ``<`` when the alternative was cut off (its real figure is larger)."""
    ours, theirs = row.get("ours"), row.get("alternative")
    if row.get("no_ratio") or ours is None or not theirs:
        return "-"
    ratio = ours / theirs
    return f"{'<' if row.get('alternative_cut_off') else ''}{ratio:.3g}x"


def table(results: dict[str, dict[str, Any]]) -> list[tuple[str, ...]]:
    """The summary's rows, one per (benchmark, case, metric, alternative)."""
    rows: list[tuple[str, ...]] = []
    for name, result in results.items():
        for row in result["rows"]:
            unit = row.get("unit", "")
            rows.append(
                (
                    name,
                    row["case"],
                    row["metric"],
                    value(row["ours"], unit),
                    row["alternative_name"],
                    value(row["alternative"], unit, bool(row.get("alternative_cut_off"))),
                    ratio(row),
                    row.get("better", ""),
                )
            )
    return rows


def render(rows: list[tuple[str, ...]]) -> str:
    """A plain-text table."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(COLUMNS, *rows, strict=False)]
    numeric = {3, 5, 6}
    lines = []
    for cells in (COLUMNS, *rows):
        lines.append(
            "  ".join(
                cell.rjust(width) if index in numeric else cell.ljust(width)
                for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()
        )
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown(rows: list[tuple[str, ...]]) -> str:
    """The table in Markdown, numbers right-aligned."""
    align = ["---:" if index in (3, 5, 6) else "---" for index in range(len(COLUMNS))]
    lines = [f"| {' | '.join(COLUMNS)} |", f"| {' | '.join(align)} |"]
    lines += [f"| {' | '.join(cell.replace('|', ESCAPED_PIPE) for cell in cells)} |" for cells in rows]
    return "\n".join(lines) + "\n"


def describe(info: dict[str, Any]) -> str:
    """One paragraph about the machine."""
    memory = f"{info['memory_gb']:.0f} GB RAM" if info["memory_gb"] else "RAM unknown"
    load = ", ".join(f"{load:.2f}" for load in info["load_average"])
    versions = ", ".join(f"{dist} {version}" for dist, version in info["versions"].items())
    return (
        f"{info['cpu']}, {info['cores']} cores, {memory}, load average at the start {load}; "
        f"Python {info['python']} on {info['platform']}; {versions}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats: a few minutes")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help=f"among {', '.join(BENCHMARKS)}")
    parser.add_argument("--json", metavar="PATH", help="write every benchmark's figures and the machine as JSON")
    parser.add_argument("--markdown", metavar="PATH", help="write the summary table as Markdown")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    if unknown := set(chosen) - set(BENCHMARKS):
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")

    info = machine()
    command = " ".join(["python benchmarks/run_all.py", *sys.argv[1:]])
    started_at = datetime.now(timezone.utc)
    print(f"{command}\n{started_at:%Y-%m-%d %H:%M} UTC; {describe(info)}", flush=True)
    started = time.monotonic()
    results: dict[str, dict[str, Any]] = {}
    seconds: dict[str, float] = {}
    failed: list[str] = []
    for name in chosen:
        result, seconds[name], code = run(name, BENCHMARKS[name], args.quick)
        if result is None:
            failed.append(f"{name} (exit {code})")
        else:
            results[name] = result
    wall = time.monotonic() - started

    rows = table(results)
    print(f"\n===== summary ({'quick' if args.quick else 'full'} run, {wall / 60:.1f} min in all) =====")
    print(f"{started_at:%Y-%m-%d %H:%M} UTC; {describe(info)}")
    print(render(rows))
    print("ours / alt below 1 is ours lower: better where lower is better, worse where higher is.")
    print("wall time: " + ", ".join(f"{name} {value:.0f} s" for name, value in seconds.items()))
    if failed:
        print(f"FAILED: {', '.join(failed)}")
    if args.markdown:
        Path(args.markdown).write_text(markdown(rows))
    if args.json:
        everything = {
            "command": command,
            "started_at": started_at.isoformat(),
            "machine": info,
            "quick": args.quick,
            "wall_seconds": wall,
            "seconds": seconds,
            "failed": failed,
            "results": results,
        }
        Path(args.json).write_text(json.dumps(everything, indent=1))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
