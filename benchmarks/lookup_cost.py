"""
What finding a lost create answer costs, per provider, with thousands of the provider's batches listed.

For each provider the emulator (in a child process) holds ``--batches`` batches of it, created an hour
earlier, after the DAG run started (the worst case for a tag lookup: no ``created_at`` ends the listing
before the run's start). The lookup the create operator runs after a lost answer
(``idempotency.find_earlier_batch``) is timed twice: when no batch was created (the create never reached
the gateway: a tag lookup reads the whole listing) and when the lost batch exists (the newest). Prints
requests sent and wall time; run ``python benchmarks/lookup_cost.py [--batches 5000] [--json results.json]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from types import SimpleNamespace
from typing import Any

PROVIDERS = ("openai", "azure", "anthropic", "bedrock", "gemini", "vertex")
REQUESTS = 4


def run(batches: int) -> list[dict[str, Any]]:
    """Every provider, both cases; one row each."""
    from airflow_provider_bifrost.hooks.bifrost import BifrostHook
    from airflow_provider_bifrost.idempotency import find_earlier_batch, tagged
    from airflow_provider_bifrost.providers import PROFILES
    from airflow_provider_bifrost.testing.emulator import run_emulator

    rows = []
    log = logging.getLogger("lookup")
    context: Any = {"dag_run": SimpleNamespace(queued_at=None, start_date=None)}
    key = "0123456789abcdef0123456789abcdef"
    with run_emulator(subprocess=True) as emulator:
        os.environ["AIRFLOW_CONN_BIFROST_BENCH"] = json.dumps({"conn_type": "bifrost", "host": emulator.url})
        for provider in PROVIDERS:
            emulator.reset()
            profile = PROFILES[provider]
            for _ in range(batches):
                emulator.add_batch(provider, requests=REQUESTS + 1, manual=True, age=3600)
            metadata, display_name = tagged(profile, key, "bench", None, None)
            for case in ("no batch was created", "lost batch exists"):
                if case == "lost batch exists":  # the newest batch: the one whose answer was lost
                    emulator.add_batch(
                        provider,
                        requests=REQUESTS,
                        manual=True,
                        metadata=metadata if provider in ("openai", "azure", "bedrock") else None,
                        job_name=metadata.get("job_name"),
                        display_name=display_name,
                    )
                emulator.clear_requests()
                hook = BifrostHook("bifrost_bench")
                started = time.perf_counter()
                found = find_earlier_batch(
                    hook, provider, profile, key, context, log, requests=REQUESTS, submitted_at=time.time()
                )
                elapsed = time.perf_counter() - started
                sent = len(emulator.requests(r"^/v1/batches$", method="GET"))
                rows.append(
                    {
                        "provider": provider,
                        "case": case,
                        "found": found is not None,
                        "requests": sent,
                        "seconds": elapsed,
                    }
                )
                print(
                    f"{provider:9} {case:22} found={found is not None!s:5} requests={sent:3} {elapsed * 1000:8.1f} ms"
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0] if __doc__ else None)
    parser.add_argument("--batches", type=int, default=5000, help="batches of each provider listed (default 5000)")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    print(f"{args.batches:,} batches of each provider, created an hour ago, after the DAG run started; page size 100")
    rows = run(args.batches)
    if args.json:
        with open(args.json, "w") as sink:
            json.dump({"batches": args.batches, "rows": rows}, sink, indent=2)


if __name__ == "__main__":
    main()
