"""
A small batch of inline requests to an Anthropic-style provider, waited for by the create task
itself (deferred), with its results returned through XCom.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_bifrost.operators.bifrost import BifrostBatchResultsOperator, BifrostCreateBatchOperator

QUESTIONS = ["What is a haiku?", "Name a prime above 100.", "Spell 'Airflow' backwards."]

with DAG(
    dag_id="example_bifrost_anthropic_inline",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["bifrost", "example"],
):
    # [START howto_operator_bifrost_create_and_wait]
    ask = BifrostCreateBatchOperator(
        task_id="ask",
        model="anthropic/claude-3-5-haiku-latest",
        requests=[
            {
                "custom_id": f"question-{i}",
                "params": {
                    "model": "claude-3-5-haiku-latest",
                    "max_tokens": 256,
                    "messages": [{"role": "user", "content": question}],
                },
            }
            for i, question in enumerate(QUESTIONS)
        ],
        wait_for_completion=True,  # deferred: no worker slot is held while the batch runs
        poll_interval=5,
        timeout=6 * 3600,
        cancel_on_timeout=True,
        retries=1,
        retry_delay=timedelta(seconds=10),
    )
    # [END howto_operator_bifrost_create_and_wait]

    # [START howto_operator_bifrost_results_to_xcom]
    results = BifrostBatchResultsOperator(task_id="results", batch_id=ask.output, provider="anthropic")
    # [END howto_operator_bifrost_results_to_xcom]

    @task
    def report(items: list[dict[str, Any]]) -> dict[str, int]:
        """Count the answers; the items are the gateway's own result dicts."""
        outcomes = [((item.get("result") or {}).get("type") or "unknown") for item in items]
        counts = {outcome: outcomes.count(outcome) for outcome in sorted(set(outcomes))}
        print(f"{len(items)} results: {counts}")
        return counts

    report(results.output)
