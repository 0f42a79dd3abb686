"""
A Bedrock batch from a JSONL file already on S3: the gateway hands its ``s3://`` URI to Bedrock, which
writes the results under ``output_s3_uri``. The create task waits for the job (deferred), then the results
are exported and counted.

Bedrock batch ids are job ARNs (``arn:aws:bedrock:...:model-invocation-job/<id>``): the provider sends
them as one path segment and makes a safe folder name of them for the export. Set the Variables
``bifrost_bedrock_input`` (the S3 JSONL file), ``bifrost_bedrock_output`` (the S3 prefix Bedrock writes to)
and ``bifrost_bedrock_role`` (the IAM role Bedrock uses, unless the gateway's Bedrock key holds one).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_bifrost.operators.bifrost import BifrostBatchResultsOperator, BifrostCreateBatchOperator
from airflow_provider_bifrost.storage.manifest import iter_result_items

with DAG(
    dag_id="example_bifrost_bedrock",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["bifrost", "example", "bedrock"],
):
    # [START howto_operator_bifrost_bedrock]
    submit = BifrostCreateBatchOperator(
        task_id="submit",
        model="bedrock/anthropic.claude-3-haiku-20240307-v1:0",
        input_file_id="{{ var.value.get('bifrost_bedrock_input', 's3://my-bucket/batch-input/requests.jsonl') }}",
        extra_body={  # passed to Bedrock by the gateway
            "output_s3_uri": "{{ var.value.get('bifrost_bedrock_output', 's3://my-bucket/batch-output/') }}",
            "role_arn": "{{ var.value.get('bifrost_bedrock_role', 'arn:aws:iam::123456789012:role/BedrockBatch') }}",
        },
        wait_for_completion=True,  # deferred: the job runs for hours without holding a worker slot
        poll_interval=5,  # seconds; minutes suit a real Bedrock job
        failed_share_threshold=0.5,
    )
    # [END howto_operator_bifrost_bedrock]

    export = BifrostBatchResultsOperator(
        task_id="export",
        batch_id=submit.output,
        provider="bedrock",
        output_uri="{{ var.value.get('bifrost_output_uri', 'file:///tmp/bifrost-results') }}",
        export_partial=True,  # a partially completed job (status failed) still exports what it produced
    )

    @task
    def summarize(manifest: dict[str, Any]) -> dict[str, int]:
        """Count the records Bedrock answered and the ones it could not."""
        answered = errored = 0
        for item in iter_result_items(manifest):
            if item.get("error"):
                errored += 1
            else:
                answered += 1
        print(f"batch {manifest['batch_id']}: {answered} answered, {errored} errored ({manifest['output_uri']})")
        return {"answered": answered, "errored": errored}

    summarize(export.output)
