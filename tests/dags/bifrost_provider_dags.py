"""One pipeline DAG per batch provider: create and wait deferred, export to storage, read the results back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_bifrost.operators.bifrost import BifrostBatchResultsOperator, BifrostCreateBatchOperator
from airflow_provider_bifrost.storage.manifest import iter_result_items

COUNT = 6
OPENAI_STYLE = [
    {
        "custom_id": f"q{i}",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "m", "messages": [{"role": "user", "content": f"question {i}"}]},
    }
    for i in range(COUNT)
]
ANTHROPIC_STYLE = [
    {"custom_id": f"q{i}", "params": {"max_tokens": 32, "messages": [{"role": "user", "content": f"question {i}"}]}}
    for i in range(COUNT)
]
#: What each provider's create needs besides the requests.
PROVIDERS: dict[str, dict[str, Any]] = {
    "openai": {"model": "openai/gpt-4o-mini", "endpoint": "/v1/chat/completions", "requests": OPENAI_STYLE},
    "azure": {"model": "azure/gpt-4o-mini", "endpoint": "/v1/chat/completions", "requests": OPENAI_STYLE},
    "anthropic": {"model": "anthropic/claude-3-5-haiku", "requests": ANTHROPIC_STYLE},
    "bedrock": {
        "model": "bedrock/anthropic.claude-3-haiku-20240307-v1:0",
        "requests": ANTHROPIC_STYLE,
        "extra_body": {
            "role_arn": "arn:aws:iam::123456789012:role/BedrockBatch",
            "output_s3_uri": "s3://bifrost-batch-output/results/",
        },
    },
    "gemini": {"model": "gemini/gemini-2.0-flash", "requests": OPENAI_STYLE},
    "vertex": {
        "model": "vertex/gemini-2.0-flash",
        "requests": OPENAI_STYLE,
        "output_folder": "gs://bifrost-batch-output/results/",
    },
}

for provider, arguments in PROVIDERS.items():
    with DAG(
        dag_id=f"bifrost_provider_{provider}",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        tags=["bifrost", "test"],
    ):
        create = BifrostCreateBatchOperator(
            task_id="create", wait_for_completion=True, poll_interval=0.2, failed_share_threshold=None, **arguments
        )
        export = BifrostBatchResultsOperator(
            task_id="export",
            batch_id="{{ ti.xcom_pull(task_ids='create') }}",
            provider=provider,
            output_uri="{{ var.value.bifrost_output_uri }}",
        )

        @task
        def read_back(manifest: dict[str, Any]) -> dict[str, Any]:
            items = list(iter_result_items(manifest))
            return {
                "batch_id": manifest["batch_id"],
                "output_uri": manifest["output_uri"],
                "custom_ids": sorted(str(item["custom_id"]) for item in items),
                "counts": manifest["counts"],
            }

        create >> export
        read_back(export.output)
