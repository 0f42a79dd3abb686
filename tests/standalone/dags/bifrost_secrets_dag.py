"""DAGs of the standalone secrets test, on the ``bifrost_secret`` connection (gateway Basic auth and a
virtual key, both required by the emulator during that test):

- ``bifrost_secrets_pipeline_standalone``: the example pipeline's shape, build requests -> create ->
  deferred sensor -> export -> mapped process; it succeeds. Beside it, ``log_credentials`` logs the
  credential headers the hook sends, as a careless debug line would: the masker must hide them.
- ``bifrost_secrets_failing_standalone``: a create the gateway answers with 500 on every try, and a
  sensor on ``conf["batch_id"]`` whose trigger gets a 401; both fail, so exceptions and tracebacks are
  written to the task and trigger logs.

No credential appears in this file: the DAG source is stored in the metadata database, which the test
searches.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_bifrost.hooks.bifrost import BifrostHook
from airflow_provider_bifrost.operators.bifrost import BifrostBatchResultsOperator, BifrostCreateBatchOperator
from airflow_provider_bifrost.sensors.bifrost import BifrostBatchSensor
from airflow_provider_bifrost.storage.manifest import iter_result_items

CONN_ID = "bifrost_secret"
PIPELINE_DAG_ID = "bifrost_secrets_pipeline_standalone"
FAILING_DAG_ID = "bifrost_secrets_failing_standalone"
REQUESTS = 20
RESULTS_PER_FILE = 10
DEBUG_LINE = "deliberate debug line:"
"""How ``log_credentials`` starts its lines: the test finds them by it."""


def chat_requests(count: int) -> list[dict[str, Any]]:
    """``count`` chat-completion requests."""
    return [
        {
            "custom_id": f"r{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"Say {i}"}]},
        }
        for i in range(count)
    ]


with DAG(PIPELINE_DAG_ID, schedule=None, catchup=False, tags=["bifrost", "test"]):

    @task
    def build_requests() -> list[dict[str, Any]]:
        """The batch's requests."""
        return chat_requests(REQUESTS)

    create = BifrostCreateBatchOperator(
        task_id="create",
        bifrost_conn_id=CONN_ID,
        model="openai/gpt-4o-mini",
        endpoint="/v1/chat/completions",
        requests=build_requests(),
        retries=1,
        retry_delay=timedelta(seconds=1),
    )
    wait = BifrostBatchSensor(
        task_id="wait",
        bifrost_conn_id=CONN_ID,
        batch_id=create.output,
        provider="openai",
        deferrable=True,
        poke_interval=1,
        timeout=600,
    )
    export = BifrostBatchResultsOperator(
        task_id="export",
        bifrost_conn_id=CONN_ID,
        batch_id=create.output,
        provider="openai",
        output_uri="{{ var.value.bifrost_output_uri }}/secrets",
        results_per_file=RESULTS_PER_FILE,
    )

    @task
    def files_of(manifest: dict[str, Any]) -> list[str]:
        """The results files, one mapped task each."""
        return list(manifest["files"])

    @task
    def process(uri: str) -> dict[str, Any]:
        """Count one results file's items, and keep a custom id as a sample."""
        items = list(iter_result_items(uri))
        return {"uri": uri, "items": len(items), "first": items[0]["custom_id"] if items else None}

    process.expand(uri=files_of(export.output))
    create >> wait >> export

    @task
    def log_credentials() -> None:
        """Log every credential header the hook sends, through logging and print (both must be masked in
        the task log), and the connection's password, which Airflow masks by itself."""
        hook = BifrostHook(CONN_ID)
        for name, value in hook.settings.credential_headers.items():
            logging.getLogger(__name__).info("%s header %s: %s", DEBUG_LINE, name, value)
            print(f"{DEBUG_LINE} header {name} (print): {value}")
        print(f"{DEBUG_LINE} connection password (print): {hook.get_connection(CONN_ID).password}")

    log_credentials()


with DAG(FAILING_DAG_ID, schedule=None, catchup=False, tags=["bifrost", "test"]):
    BifrostCreateBatchOperator(
        task_id="create",
        bifrost_conn_id=CONN_ID,
        model="openai/gpt-4o-mini",
        endpoint="/v1/chat/completions",
        requests=chat_requests(3),
        retries=1,
        retry_delay=timedelta(seconds=1),
    )
    BifrostBatchSensor(
        task_id="wait",
        bifrost_conn_id=CONN_ID,
        batch_id="{{ dag_run.conf['batch_id'] }}",
        provider="openai",
        deferrable=True,
        poke_interval=1,
        timeout=600,
    )
