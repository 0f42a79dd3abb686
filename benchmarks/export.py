"""
Export speed and memory: BifrostBatchResultsOperator to file://, against the same response read by
curl into /dev/null (the ceiling) and by a naive client (``response.json()``, then one
``json.dumps`` per line); and with ``compression="gzip"``, against ``curl | gzip`` (gzip's default level,
6, the level the export uses) into /dev/null as its ceiling.

The cost of counting token usage (on by default): the export with ``count_usage=True`` and with
``count_usage=False``, in alternating pairs (``--usage-pairs``, 5 by default) after the modes above; the
medians of each and the median of the pairwise ratios on / off.

Every consumer runs in a fresh process (its peak RSS is its own). Imports, the first connection
lookup, the operator's run-time imports and Airflow's one-time object-storage setup (filesystem and plugin
discovery, paid once per task process by any ``ObjectStoragePath`` user) are not timed; that setup is
printed on its own line.
Consumers run against the emulator in another process, with ~1 KB result items (OpenAI's chat completions,
the commonest batches; ``--provider`` picks another shape). Run
``python benchmarks/export.py [--sizes 10000,100000,400000] [--usage-pairs 5] [--json results.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

MODES = {
    "curl": "curl > /dev/null (ceiling)",
    "naive": "response.json() + json.dumps lines",
    "ours": "BifrostBatchResultsOperator, file://",
    "curl_gzip": "curl | gzip > /dev/null (ceiling)",
    "ours_gzip": "BifrostBatchResultsOperator, file://, gzip",
}
#: The usage comparison's two exports, run in alternating pairs.
USAGE_MODES = {
    "usage_on": "BifrostBatchResultsOperator, file://, count_usage=True",
    "usage_off": "BifrostBatchResultsOperator, file://, count_usage=False",
}
#: Each mode's ceiling, for the "x curl" column.
CEILING = {"ours": "curl", "naive": "curl", "ours_gzip": "curl_gzip", "usage_on": "curl", "usage_off": "curl"}


def consume(url: str, batch_id: str, mode: str, out_dir: str, provider: str = "openai") -> None:
    """Child process: export one way; print items, bytes, seconds and peak RSS as JSON."""
    os.environ["AIRFLOW_CONN_BIFROST_BENCH"] = json.dumps({"conn_type": "bifrost", "host": url})
    from urllib.parse import quote

    import httpx

    from airflow_provider_bifrost.operators.bifrost import BifrostBatchResultsOperator

    results_url = f"{url}/v1/batches/{quote(batch_id, safe='')}/results?provider={provider}"
    operator = BifrostBatchResultsOperator(
        task_id="bench",
        batch_id=batch_id,
        provider=provider,
        bifrost_conn_id="bifrost_bench",
        output_uri=f"file://{out_dir}",
        compression="gzip" if mode == "ours_gzip" else None,
        count_usage=mode != "usage_off",
    )
    operator.hook.get_conn()
    setup = time.perf_counter()
    if mode.startswith(("ours", "usage")):  # the operator imports these when it runs: once per task process
        import airflow_provider_bifrost.results.export  # noqa: F401
        from airflow_provider_bifrost.storage.paths import storage_path

        with storage_path(f"file://{out_dir}/warm-up").open("wb") as sink:
            sink.write(b"{}\n")  # the first write starts Airflow's hook-lineage collector (plugin discovery)
    setup = time.perf_counter() - setup
    start, cpu = time.perf_counter(), time.process_time()
    if mode == "curl":
        out = subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "-w", "%{size_download}", results_url],
            capture_output=True,
            text=True,
            check=True,
        )
        items, size = -1, int(out.stdout)
    elif mode == "curl_gzip":
        script = f"curl -sS '{results_url}' | tee >(wc -c >&2) | gzip -6 > /dev/null"
        out = subprocess.run(["bash", "-o", "pipefail", "-c", script], capture_output=True, text=True, check=True)
        items, size = -1, int(out.stderr.strip().splitlines()[-1])
    elif mode == "naive":
        response = httpx.get(results_url, timeout=600)
        size = len(response.content)
        results = response.json()["results"]
        with open(os.path.join(out_dir, "naive.jsonl"), "w") as sink:
            for item in results:
                sink.write(json.dumps(item) + "\n")
        items = len(results)
    else:
        manifest = operator.execute({})
        items, size = manifest["counts"]["results"], manifest["bytes"]
        if mode == "usage_on":
            assert manifest["usage"]["total"]["requests"] == items, manifest["usage"]
        if mode == "ours_gzip":  # the manifest counts stored (compressed) bytes: the document's size is curl's
            size = -1
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {"items": items, "bytes": size, "seconds": seconds, "cpu": cpu, "peak_rss_mb": peak_mb, "setup": setup}
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,400000", help="result counts, comma separated")
    parser.add_argument("--item-bytes", type=int, default=1000, help="approximate size of one result item")
    parser.add_argument("--usage-pairs", type=int, default=5, help="on/off pairs of the usage comparison, per size")
    parser.add_argument("--provider", default="openai", help="the batch's provider: its result items' shape")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    parser.add_argument(
        "--consume", nargs=5, metavar=("URL", "BATCH_ID", "MODE", "DIR", "PROVIDER"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.consume:
        consume(*args.consume)
        return

    from airflow_provider_bifrost.testing.emulator import run_emulator

    columns = f"{'results':>8} {'MB':>6}  {'consumer':<55} {'seconds':>8} {'items/s':>9} {'MB/s':>6}"
    print(f"{columns} {'x curl':>6} {'CPU s':>6} {'peak RSS MB':>11}")
    setups: list[float] = []
    measured: list[dict[str, Any]] = []
    with run_emulator(subprocess=True) as emulator:
        for size in (int(s) for s in args.sizes.split(",")):
            batch = emulator.add_batch(args.provider, requests=size, item_bytes=args.item_bytes, manual=True)
            emulator.set_status(batch["id"], "completed")
            speeds: dict[str, float] = {}
            document_bytes = 0
            # The usage comparison alternates which export of a pair runs first.
            pairs = [
                ("usage_on", "usage_off") if k % 2 == 0 else ("usage_off", "usage_on") for k in range(args.usage_pairs)
            ]
            for mode in [*MODES, *(mode for pair in pairs for mode in pair)]:
                with tempfile.TemporaryDirectory() as out_dir:
                    command = [
                        sys.executable,
                        __file__,
                        "--consume",
                        emulator.url,
                        batch["id"],
                        mode,
                        out_dir,
                        args.provider,
                    ]
                    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
                r = json.loads(out.strip().splitlines()[-1])
                assert r["items"] in (-1, size), f"{mode} exported {r['items']} of {size}"
                if r["bytes"] < 0:
                    r["bytes"] = document_bytes
                document_bytes = document_bytes or r["bytes"]
                mb_s = speeds[mode] = r["bytes"] / 1e6 / r["seconds"]
                ceiling = speeds[CEILING.get(mode, mode)]
                rss = "-" if mode.startswith("curl") else f"{r['peak_rss_mb']:.0f}"
                if not mode.startswith(("curl", "naive")):
                    setups.append(r["setup"])
                measured.append({"size": size, "mode": mode, "mb_s": mb_s, **r})
                name = {**MODES, **USAGE_MODES}[mode]
                print(
                    f"{size:>8} {r['bytes'] / 1e6:>6.0f}  {name:<55} {r['seconds']:>8.2f} "
                    f"{size / r['seconds']:>9.0f} {mb_s:>6.1f} {mb_s / ceiling:>6.2f} {r['cpu']:>6.2f} {rss:>11}",
                    flush=True,
                )
            if pairs:
                cost = usage_cost([run for run in measured if run["size"] == size])
                print(
                    f"{size:>8} usage counting: on {cost['on_mb_s']:.1f} MB/s, off {cost['off_mb_s']:.1f} MB/s "
                    f"(medians of {len(pairs)}); on / off {cost['ratio']:.3f} (median of the pairs, "
                    f"{cost['ratio_min']:.3f}-{cost['ratio_max']:.3f}); CPU on / off {cost['cpu_ratio']:.3f}",
                    flush=True,
                )
    print(f"One-time object-storage setup in a fresh task process (not timed above): {max(setups):.2f} s at most")
    if args.json:
        with open(args.json, "w") as sink:
            json.dump({"benchmark": "export", "runs": measured, "rows": summary_rows(measured)}, sink, indent=1)


def usage_cost(runs: list[dict[str, Any]]) -> dict[str, float]:
    """The usage comparison of one size: median throughput on and off, and the on / off ratios of the pairs."""
    on = [run for run in runs if run["mode"] == "usage_on"]
    off = [run for run in runs if run["mode"] == "usage_off"]
    ratios = [a["mb_s"] / b["mb_s"] for a, b in zip(on, off, strict=True)]
    return {
        "on_mb_s": statistics.median(run["mb_s"] for run in on),
        "off_mb_s": statistics.median(run["mb_s"] for run in off),
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "cpu_ratio": statistics.median(run["cpu"] for run in on) / statistics.median(run["cpu"] for run in off),
    }


def summary_rows(measured: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ours against the naive client and the curl ceiling, per size: throughput and peak RSS; usage on / off."""
    rows: list[dict[str, Any]] = []
    for size in sorted({run["size"] for run in measured}):
        by_mode = {run["mode"]: run for run in measured if run["size"] == size}
        ours, naive, curl = by_mode["ours"], by_mode["naive"], by_mode["curl"]
        case = f"export {size:,} results ({ours['bytes'] / 1e6:.0f} MB) to file://"
        rows += [
            {
                "case": case,
                "metric": "throughput",
                "unit": "MB/s",
                "ours": ours["mb_s"],
                "alternative": naive["mb_s"],
                "alternative_name": MODES["naive"],
                "better": "higher",
            },
            {
                "case": case,
                "metric": "throughput",
                "unit": "MB/s",
                "ours": ours["mb_s"],
                "alternative": curl["mb_s"],
                "alternative_name": MODES["curl"],
                "better": "higher",
            },
            {
                "case": case,
                "metric": "peak RSS",
                "unit": "MB",
                "ours": ours["peak_rss_mb"],
                "alternative": naive["peak_rss_mb"],
                "alternative_name": MODES["naive"],
                "better": "lower",
            },
        ]
        if "ours_gzip" in by_mode and "curl_gzip" in by_mode:
            rows.append(
                {
                    "case": f"{case}, gzip",
                    "metric": "throughput",
                    "unit": "MB/s",
                    "ours": by_mode["ours_gzip"]["mb_s"],
                    "alternative": by_mode["curl_gzip"]["mb_s"],
                    "alternative_name": MODES["curl_gzip"],
                    "better": "higher",
                }
            )
        runs = [run for run in measured if run["size"] == size]
        if any(run["mode"] == "usage_on" for run in runs):
            cost = usage_cost(runs)
            pairs = sum(run["mode"] == "usage_on" for run in runs)
            rows.append(
                {
                    "case": f"{case}, counting token usage (medians of {pairs} pairs)",
                    "metric": "throughput",
                    "unit": "MB/s",
                    "ours": cost["on_mb_s"],
                    "alternative": cost["off_mb_s"],
                    "alternative_name": USAGE_MODES["usage_off"],
                    "better": "higher",
                    "pair_ratio": cost["ratio"],
                    "pair_ratio_range": [cost["ratio_min"], cost["ratio_max"]],
                    "cpu_ratio": cost["cpu_ratio"],
                }
            )
    return rows


if __name__ == "__main__":
    main()
