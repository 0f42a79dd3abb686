"""
Peak memory and speed of streaming a batch's results, ours against loading the document whole.

Each consumer runs in a fresh process (so its peak RSS is its own) against the emulator running in
another process. Prints one table; run
``python benchmarks/results_memory.py [--sizes 100000,400000] [--json results.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

MODES = {
    "iter_batch_result_dicts": "ours: streamed dicts",
    "iter_batch_results": "ours: streamed models",
    "naive_json": "response.json() of the whole document",
}


def consume(url: str, batch_id: str, mode: str) -> None:
    """Child process: read every result one way, print count, seconds, peak RSS (MB) as JSON."""
    os.environ["AIRFLOW_CONN_BIFROST_BENCH"] = json.dumps({"conn_type": "bifrost", "host": url})
    import httpx

    from airflow_provider_bifrost.hooks.bifrost import BifrostHook

    hook = BifrostHook("bifrost_bench")
    hook.get_conn()  # connection lookup and client setup are not part of the timing
    start = time.perf_counter()
    if mode == "naive_json":
        response = httpx.get(f"{url}/v1/batches/{batch_id}/results", params={"provider": "openai"}, timeout=600)
        count = len(response.json()["results"])
    else:
        count = sum(1 for _ in getattr(hook, mode)(batch_id, "openai"))
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"count": count, "seconds": seconds, "peak_rss_mb": peak_mb}))


def baseline_rss_mb() -> float:
    """Peak RSS of a process that only imports the hook: the floor every mode starts from."""
    code = (
        "import resource; import airflow_provider_bifrost.hooks.bifrost;"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100000,400000", help="result counts, comma separated")
    parser.add_argument("--item-bytes", type=int, default=1000, help="approximate size of one result item")
    parser.add_argument("--modes", default=",".join(MODES), help="which consumers to run")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    parser.add_argument("--consume", nargs=3, metavar=("URL", "BATCH_ID", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.consume:
        consume(*args.consume)
        return

    from airflow_provider_bifrost.testing.emulator import run_emulator

    baseline = baseline_rss_mb()
    print(f"baseline (import only): {baseline:.0f} MB peak RSS")
    measured: list[dict[str, Any]] = []
    print(f"{'results':>8} {'MB':>6}  {'consumer':<40} {'seconds':>8} {'items/s':>9} {'MB/s':>6} {'peak RSS MB':>11}")
    with run_emulator(subprocess=True) as emulator:
        for size in (int(s) for s in args.sizes.split(",")):
            batch = emulator.add_batch("openai", requests=size, item_bytes=args.item_bytes, manual=True)
            emulator.set_status(batch["id"], "completed")
            megabytes = size * args.item_bytes / 1e6
            for mode in args.modes.split(","):
                out = subprocess.run(
                    [sys.executable, __file__, "--consume", emulator.url, batch["id"], mode],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                r = json.loads(out.strip().splitlines()[-1])
                assert r["count"] == size, f"{mode} read {r['count']} of {size} results"
                measured.append({"size": size, "mode": mode, "megabytes": megabytes, **r})
                print(
                    f"{size:>8} {megabytes:>6.0f}  {MODES[mode]:<40} {r['seconds']:>8.2f} "
                    f"{size / r['seconds']:>9.0f} {megabytes / r['seconds']:>6.1f} {r['peak_rss_mb']:>11.0f}",
                    flush=True,
                )
    if args.json:
        with open(args.json, "w") as sink:
            result = {"benchmark": "results_memory", "baseline_rss_mb": baseline, "runs": measured}
            json.dump({**result, "rows": summary_rows(measured)}, sink, indent=1)


def summary_rows(measured: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Streamed dicts against the whole document loaded at once, per size: peak RSS and seconds."""
    rows: list[dict[str, Any]] = []
    for size in sorted({run["size"] for run in measured}):
        by_mode = {run["mode"]: run for run in measured if run["size"] == size}
        ours, naive = by_mode.get("iter_batch_result_dicts"), by_mode.get("naive_json")
        if ours is None or naive is None:
            continue
        case = f"read {size:,} results ({ours['megabytes']:.0f} MB) through the hook"
        for metric, unit, key in (("peak RSS", "MB", "peak_rss_mb"), ("time", "s", "seconds")):
            rows.append(
                {
                    "case": case,
                    "metric": metric,
                    "unit": unit,
                    "ours": ours[key],
                    "alternative": naive[key],
                    "alternative_name": MODES["naive_json"],
                    "better": "lower",
                }
            )
    return rows


if __name__ == "__main__":
    main()
