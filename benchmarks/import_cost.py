"""
Import cost in a DAG file: what importing the operator and sensor modules adds to ``import airflow.sdk``.

Every import runs in a fresh interpreter (``python -c``), the cases taking turns so that a burst of load
on a shared machine hits them alike; one untimed warm-up run of each case first (bytecode caches, the
Airflow home's first configuration). Each child times, with ``time.perf_counter``, ``import airflow.sdk``
and then the case's imports; the latter is what the case adds to DAG parsing. Cases:

- ``airflow.sdk``: the baseline alone;
- ``ours``: ``BifrostCreateBatchOperator``, ``BifrostBatchResultsOperator`` and ``BifrostBatchSensor``;
- ``openai``: the OpenAI provider's batch operator module (``OpenAITriggerBatchOperator``; its batch wait
  is that operator's deferral, it has no sensor module);
- ``anthropic``: the Anthropic provider's operators, when that provider is installed.

Then ``python -X importtime`` (a few runs, the least self time of each module kept) lists the modules our
imports add beyond ``import airflow.sdk``, the ten with the most self time first.

Run ``python benchmarks/import_cost.py [--repeat 15] [--json results.json]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
from typing import Any

#: What each case imports after ``import airflow.sdk``.
CASES: dict[str, str] = {
    "airflow.sdk": "",
    "ours": (
        "from airflow_provider_bifrost.operators.bifrost import BifrostBatchResultsOperator, "
        "BifrostCreateBatchOperator\n"
        "from airflow_provider_bifrost.sensors.bifrost import BifrostBatchSensor"
    ),
    "openai": "from airflow.providers.openai.operators.openai import OpenAITriggerBatchOperator",
}
ANTHROPIC = "airflow.providers.anthropic.operators"
#: The summary rows' case and alternative.
CASE = "DAG file imports the 2 operators + sensor"
ALTERNATIVE = "OpenAI provider's batch operator"
LABELS = {
    "airflow.sdk": "import airflow.sdk alone",
    "ours": "+ our 2 operators and sensor",
    "openai": "+ OpenAI provider's batch operator",
    "anthropic": "+ Anthropic provider's operators",
}
CHILD = """\
import json, time
start = time.perf_counter()
import airflow.sdk
sdk = time.perf_counter()
exec(compile({extra!r}, "<case>", "exec"))
done = time.perf_counter()
print(json.dumps({{"sdk_ms": (sdk - start) * 1000, "added_ms": (done - sdk) * 1000}}))
"""


def cases() -> dict[str, str]:
    """The cases this environment can run (the Anthropic provider only when installed)."""
    found = dict(CASES)
    try:
        anthropic = importlib.util.find_spec(ANTHROPIC) is not None
    except ModuleNotFoundError:
        anthropic = False
    if anthropic:
        found["anthropic"] = f"import {ANTHROPIC}"
    return found


def run_child(code: str, env: dict[str, str], *, importtime: bool = False) -> subprocess.CompletedProcess[str]:
    """One fresh interpreter running ``code``."""
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", code]
    return subprocess.run(command, capture_output=True, text=True, check=True, env=env)


def time_cases(found: dict[str, str], repeat: int, env: dict[str, str]) -> dict[str, dict[str, list[float]]]:
    """Per case, the ``sdk_ms`` and ``added_ms`` of every timed run (after one warm-up run each)."""
    samples: dict[str, dict[str, list[float]]] = {name: {"sdk_ms": [], "added_ms": []} for name in found}
    for turn in range(repeat + 1):
        for name, extra in found.items():
            out = run_child(CHILD.format(extra=extra), env).stdout
            if turn == 0:
                continue  # warm-up
            result = json.loads(out.strip().splitlines()[-1])
            for key in ("sdk_ms", "added_ms"):
                samples[name][key].append(result[key])
        print(f"  run {turn}/{repeat} done" if turn else "  warm-up done", file=sys.stderr, flush=True)
    return samples


def parse_importtime(stderr: str) -> dict[str, tuple[float, float]]:
    """``-X importtime`` output as module -> (self ms, cumulative ms)."""
    modules: dict[str, tuple[float, float]] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line.split(":", 1)[1].split("|")
        modules[name.strip()] = (int(own) / 1000, int(cumulative) / 1000)
    return modules


def added_modules(extra: str, env: dict[str, str], runs: int) -> dict[str, float]:
    """The modules ``extra`` imports beyond ``import airflow.sdk``, with their least self time (ms) over runs."""
    best: dict[str, float] = {}
    for _ in range(runs):
        base = parse_importtime(run_child("import airflow.sdk", env, importtime=True).stderr)
        case = parse_importtime(run_child(f"import airflow.sdk\n{extra}", env, importtime=True).stderr)
        for name, (own, _) in case.items():
            if name not in base:
                best[name] = min(own, best.get(name, own))
    return best


def stats(values: list[float]) -> dict[str, float]:
    """Median and minimum."""
    return {"median": statistics.median(values), "min": min(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15, help="timed fresh-process runs per case")
    parser.add_argument("--importtime-runs", type=int, default=3, help="-X importtime runs for the module list")
    parser.add_argument("--top", type=int, default=10, help="modules listed")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    args = parser.parse_args()

    found = cases()
    with tempfile.TemporaryDirectory(prefix="import-cost-airflow-") as airflow_home:
        env = {**os.environ, "AIRFLOW_HOME": airflow_home, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
        print(f"{args.repeat} fresh processes per case, after one warm-up run each", flush=True)
        samples = time_cases(found, args.repeat, env)
        ours_modules = added_modules(found["ours"], env, args.importtime_runs)
        openai_modules = added_modules(found["openai"], env, 1)

    summary: dict[str, dict[str, Any]] = {}
    for name in found:
        pairs = list(zip(samples[name]["sdk_ms"], samples[name]["added_ms"], strict=True))
        summary[name] = {
            "sdk_ms": stats(samples[name]["sdk_ms"]),
            "added_ms": stats(samples[name]["added_ms"]),
            "total_ms": stats([sdk + added for sdk, added in pairs]),
            # (sdk + added) / sdk within each process: the shared machine's load cancels out
            "ratio": statistics.median((sdk + added) / sdk for sdk, added in pairs),
        }
    print(f"\n{'case':<38} {'total ms':>9} {'(min)':>7} {'added ms':>9} {'(min)':>7} {'total / sdk':>11}")
    for name, row in summary.items():
        added, total = row["added_ms"], row["total_ms"]
        print(
            f"{LABELS[name]:<38} {total['median']:>9.0f} {total['min']:>7.0f} {added['median']:>9.1f} "
            f"{added['min']:>7.1f} {row['ratio']:>10.3f}x"
        )
    print("(medians over the runs; total / sdk: the median of (sdk + added) / sdk within each process)")
    ours, openai = summary["ours"]["added_ms"], summary["openai"]["added_ms"]
    print(
        f"\nours adds {ours['median']:.1f} ms (median; min {ours['min']:.1f}) to import airflow.sdk "
        f"({summary['airflow.sdk']['sdk_ms']['median']:.0f} ms); the OpenAI provider's batch operator "
        f"adds {openai['median']:.1f} ms; ours / OpenAI's: {ours['median'] / openai['median']:.2f}x"
    )
    top = sorted(ours_modules.items(), key=lambda item: -item[1])
    print(
        f"\nmodules our imports add: {len(ours_modules)} (self time {sum(ours_modules.values()):.1f} ms in all); "
        f"the OpenAI provider's add {len(openai_modules)} ({sum(openai_modules.values()):.1f} ms)"
    )
    print(f"top {args.top} by self time (least of {args.importtime_runs} -X importtime runs):")
    for module, own in top[: args.top]:
        print(f"  {own:>7.2f} ms  {module}")

    if args.json:
        result = {
            "benchmark": "import",
            "repeat": args.repeat,
            "cases": summary,
            "added_modules": {"ours": ours_modules, "openai": sorted(openai_modules)},
            "rows": [
                {
                    "case": CASE,
                    "metric": "added import time (median)",
                    "unit": "ms",
                    "ours": ours["median"],
                    "alternative": openai["median"],
                    "alternative_name": ALTERNATIVE,
                    "better": "lower",
                },
                {
                    "case": CASE,
                    "metric": "x import airflow.sdk alone (median)",
                    "unit": "x",
                    "ours": summary["ours"]["ratio"],
                    "alternative": summary["openai"]["ratio"],
                    "alternative_name": ALTERNATIVE,
                    "better": "lower",
                    "no_ratio": True,
                },
                {
                    "case": CASE,
                    "metric": "modules added (-X importtime)",
                    "unit": "",
                    "ours": len(ours_modules),
                    "alternative": len(openai_modules),
                    "alternative_name": ALTERNATIVE,
                    "better": "lower",
                },
            ],
        }
        with open(args.json, "w") as sink:
            json.dump(result, sink, indent=1)


if __name__ == "__main__":
    main()
