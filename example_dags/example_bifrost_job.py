"""
Jobs larger than one batch: requests on object storage (any number of JSONL files) or from a TaskFlow
function, split into batches within the provider's limits, submitted a few at a time, waited on in the
triggerer, and exported as one folder with one manifest.

Runs as is against the emulator (``bash scripts/demo.sh`` starts one). Against a real gateway, set the
``bifrost_default`` connection, and the ``bifrost_output_uri`` Variable (e.g. ``s3://bucket/bifrost``) with
``bifrost_output_conn_id`` naming its storage connection. The first DAG writes its own input files so that
it runs anywhere; in real life they are already there.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import DAG, Param, task

from airflow_provider_bifrost.operators.bifrost import BifrostBatchJobOperator
from airflow_provider_bifrost.storage.manifest import iter_result_items
from airflow_provider_bifrost.storage.paths import storage_path

if TYPE_CHECKING:
    from collections.abc import Iterator

DEFAULT_OUTPUT_URI = "file:///tmp/bifrost-results"
OUTPUT_URI = "{{ var.value.get('bifrost_output_uri', '" + DEFAULT_OUTPUT_URI + "') }}"
OUTPUT_CONN_ID = "{{ var.value.get('bifrost_output_conn_id', '') }}"


def review_request(i: int) -> dict[str, Any]:
    """One chat-completion request classifying a product review."""
    return {
        "custom_id": f"review-{i}",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": "gpt-4o-mini",
            "max_tokens": 4,
            "messages": [{"role": "user", "content": f"positive, negative or neutral? Review {i}"}],
        },
    }


with DAG(
    dag_id="example_bifrost_job",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={
        "reviews": Param(2_500, type="integer", minimum=1, description="requests in the job"),
        "files": Param(3, type="integer", minimum=1, description="input files they are written to"),
    },
    tags=["bifrost", "example", "job"],
):

    @task
    def write_input(output_uri: str, output_conn_id: str, **context: Any) -> str:
        """Write the requests as JSONL files under ``<output_uri>/<run>/requests/`` and return their glob."""
        params, run_id = context["params"], context["run_id"]
        folder = storage_path(output_uri, output_conn_id or None) / "inputs" / run_id.replace(":", "_")
        folder.mkdir(parents=True, exist_ok=True)
        for f in range(params["files"]):
            with (folder / f"requests-{f:03d}.jsonl").open("w") as sink:
                for i in range(f, params["reviews"], params["files"]):
                    sink.write(json.dumps(review_request(i)) + "\n")
        return f"{output_uri.rstrip('/')}/inputs/{run_id.replace(':', '_')}/*.jsonl"

    # [START howto_operator_bifrost_job]
    classify = BifrostBatchJobOperator(
        task_id="classify",
        model="openai/gpt-4o-mini",
        endpoint="/v1/chat/completions",
        input_uri=write_input(OUTPUT_URI, OUTPUT_CONN_ID),  # a file, a folder, or a glob of JSONL files
        output_uri=OUTPUT_URI,  # the job's export: <output_uri>/job-<id>/part-*.jsonl and _manifest.json
        output_conn_id=OUTPUT_CONN_ID,
        max_requests_per_batch=1_000,  # default: the provider's limit (50,000 requests for OpenAI)
        max_active_batches=2,  # at most 2 batches of the job queued at once: the rest wait their turn
        results_per_file=1_000,
        resubmit_failed=2,  # up to 2 more rounds for what was rate limited, expired, a server error...
        failed_share_threshold=0.05,  # fail when 5% or more of the job's requests still did not succeed
        poll_interval=5,
        retries=2,
        retry_delay=timedelta(seconds=10),
    )
    # [END howto_operator_bifrost_job]

    @task
    def tally(manifest: dict[str, Any]) -> dict[str, int]:
        """Count the answers, reading the export back one item at a time."""
        answers: dict[str, int] = {}
        for item in iter_result_items(manifest):
            body = (item.get("response") or {}).get("body") or {}
            content = str(((body.get("choices") or [{}])[0].get("message") or {}).get("content") or "error")
            answers[content] = answers.get(content, 0) + 1
        rounds = len(manifest["rounds"] or [None])
        print(f"{len(manifest['parts'])} batches in {rounds} round(s), counts {manifest['counts']}: {answers}")
        return answers

    tally(classify.output)


with DAG(
    dag_id="example_bifrost_job_taskflow",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["bifrost", "example", "job"],
):
    # [START howto_decorator_bifrost_batch]
    @task.bifrost_batch(
        model="anthropic/claude-3-5-haiku-latest",
        output_uri=OUTPUT_URI,  # the function's requests are kept here too, for every try of the job
        output_conn_id=OUTPUT_CONN_ID,
        max_requests_per_batch=500,
        max_active_batches=4,
        poll_interval=5,
    )
    def summaries(count: int) -> Iterator[dict[str, Any]]:
        """Yield the requests: a generator of any size is written to storage as it goes, never held whole."""
        for i in range(count):
            yield {
                "custom_id": f"ticket-{i}",
                "params": {
                    "model": "claude-3-5-haiku-latest",
                    "max_tokens": 64,
                    "messages": [{"role": "user", "content": f"Summarize support ticket {i} in one line."}],
                },
            }

    @task
    def report(manifest: dict[str, Any]) -> dict[str, int]:
        """The job's counts, from the manifest the job task returned."""
        return {key: manifest["counts"][key] for key in ("results", "succeeded", "missing", "unexpected")}

    report(summaries(1_200))
    # [END howto_decorator_bifrost_batch]
