"""
The bad-input catalogue: each case's input, the task state it ends in and the message a user reads.

The tests in ``test_bad_input.py`` (one per case, ``test_<id>``) check every row against the real
behaviour; ``docs/bad-input.md`` is rendered from this list (``python -m tests.catalogue.cases``
rewrites it, and a test fails when it is stale).

A message is the exact text a user reads, where ``<batch>``, ``<port>``... stand for values that differ
from run to run; one ending in ``…`` is the stable leading part of a longer text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from airflow_provider_bifrost.constants import NOT_FOUND_GRACE

DOC = Path(__file__).parents[2] / "docs" / "bad-input.md"

#: Task states, as Airflow shows them.
IMPORT_ERROR = "DAG import error"
FAILED = "failed (no retry)"
RETRY = "up_for_retry"
SUCCESS = "success"

#: Stand-ins for values that vary between runs; any other ``<...>`` (an HTML tag, say) is literal.
PLACEHOLDERS = ("batch", "port", "path", "bucket", "ssl_error", "file")
_PLACEHOLDER = re.compile(r"<({})>".format("|".join(PLACEHOLDERS)))
ELLIPSIS = "…"


@dataclass(frozen=True)
class Case:
    """
    One row of the catalogue.

    :param id: the test is ``test_<id>``.
    :param area: connection, parameters, responses or storage.
    :param given: the bad input (markdown).
    :param state: the task state it ends in.
    :param error: the exception's class name ("" for a success).
    :param message: what the user reads (see the module docstring).
    """

    id: str
    area: str
    given: str
    state: str
    error: str
    message: str

    def pattern(self, values: dict[str, str]) -> re.Pattern[str]:
        """The message as a regex: placeholders given in ``values`` are those values, others anything."""
        text = self.message.removesuffix(ELLIPSIS)
        parts: list[str] = []
        position = 0
        for match in _PLACEHOLDER.finditer(text):
            parts.append(re.escape(text[position : match.start()]))
            name = match.group(1)
            parts.append(re.escape(values[name]) if name in values else ".+?")
            position = match.end()
        parts.append(re.escape(text[position:]))
        return re.compile("".join(parts) + (".*" if self.message.endswith(ELLIPSIS) else ""), re.DOTALL)


CONN = "bifrost_bad_input"
_C = f"Connection '{CONN}':"
_EXAMPLE = "e.g. http://localhost:8080 or https://bifrost.example.com"
_GET = "Bifrost GET /v1/batches/<batch>"
_BAD_ID = "is not a valid id: ids have no surrounding spaces or control characters, and are not '.' or '..'."
_EMPTY_ID = "batch_id is empty: pass the id of an existing batch (a template that renders empty ends here too)."

CASES_LIST: list[Case] = [
    # -- connection ---------------------------------------------------------------------------
    Case(
        "conn_no_host",
        "connection",
        "connection without a host (run through `dag.test()`)",
        FAILED,
        "BifrostConfigError",
        f"{_C} the Gateway URL (host) is empty; set it, {_EXAMPLE}.",
    ),
    Case(
        "conn_no_scheme",
        "connection",
        "host `localhost:8080` (no scheme)",
        FAILED,
        "BifrostConfigError",
        f"{_C} the Gateway URL 'localhost:8080' has no scheme; write it with http:// or https://, {_EXAMPLE}.",
    ),
    Case(
        "conn_bad_port",
        "connection",
        "port field `70000`",
        FAILED,
        "BifrostConfigError",
        f"{_C} port 70000 is not between 1 and 65535.",
    ),
    Case(
        "conn_bad_port_in_url",
        "connection",
        "host `http://localhost:80a`",
        FAILED,
        "BifrostConfigError",
        f"{_C} the Gateway URL 'http://localhost:80a' is not a URL: Invalid port: '80a'.",
    ),
    Case(
        "conn_password_in_url",
        "connection",
        "host `http://admin:s3cret@localhost:8080`",
        FAILED,
        "BifrostConfigError",
        f"{_C} put credentials in the login/password fields, not in the Gateway URL.",
    ),
    Case(
        "conn_password_in_bad_url",
        "connection",
        "host `http://admin:s3cret@localhost:80a`: the password is never quoted",
        FAILED,
        "BifrostConfigError",
        f"{_C} the Gateway URL 'http://***@localhost:80a' is not a URL: Invalid port: '80a'.",
    ),
    Case(
        "conn_unreachable",
        "connection",
        "host `http://127.0.0.1:<free port>` (connection refused; run through `dag.test()`)",
        RETRY,
        "BifrostTransportError",
        "Bifrost GET /v1/batches/batch_bad_input at http://127.0.0.1:<port> failed: ConnectError: [Errno 111] "
        "Connection refused. Check the connection's Gateway URL and port, and that the gateway is running and "
        "reachable.",
    ),
    Case(
        "conn_wrong_key",
        "connection",
        "virtual key the gateway does not know (401)",
        FAILED,
        "BifrostAuthenticationError",
        f"{_GET} failed with HTTP 401 (virtual_key_not_found): virtual key not found. Check the connection's "
        "credentials: the virtual key (password, or extra `virtual_key` when a login is set), the gateway "
        "login/password, or extra `auth_token`.",
    ),
    Case(
        "conn_wrong_key_while_waiting",
        "connection",
        "the key is revoked while the sensor is deferred (the trigger gets 401)",
        FAILED,
        "AirflowFailException",
        f"Waiting for Bifrost batch <batch> failed: {_GET} failed with HTTP 401 (virtual_key_not_found): virtual "
        f"key not found. Check the connection's credentials{ELLIPSIS}",
    ),
    Case(
        "conn_budget_exceeded",
        "connection",
        "virtual key whose budget is used up (402)",
        FAILED,
        "BifrostBudgetExceededError",
        f"{_GET} failed with HTTP 402 (budget_exceeded): budget exceeded for this virtual key. The virtual key's "
        "budget is used up: raise it in the gateway or use another key.",
    ),
    Case(
        "conn_blocked",
        "connection",
        "blocked virtual key (403)",
        FAILED,
        "BifrostPermissionError",
        f"{_GET} failed with HTTP 403 (virtual_key_blocked): virtual key is blocked. The gateway's governance "
        "refused this request: ask its admin to allow this key, model or provider.",
    ),
    Case(
        "conn_tls_plain_http",
        "connection",
        "`https://` URL to a plain-HTTP gateway port (not retried)",
        RETRY,
        "BifrostTransportError",
        f"{_GET} at https://127.0.0.1:<port> failed: ConnectError: <ssl_error>. The gateway answered in plain "
        "HTTP, not TLS: write the Gateway URL with http://, or use the port where the gateway serves https.",
    ),
    Case(
        "conn_tls_self_signed",
        "connection",
        "`https://` gateway with a self-signed certificate, `verify` left on (not retried)",
        RETRY,
        "BifrostTransportError",
        f"{_GET} at https://127.0.0.1:<port> failed: ConnectError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate "
        "verify failed: self-signed certificate <ssl_error>. TLS verification failed: the gateway's certificate "
        "is not trusted. If a private CA signed it, point the connection's extra `verify` at that CA bundle; if "
        "the host name does not match, use the name the certificate was issued for.",
    ),
    Case(
        "conn_verify_typo",
        "connection",
        'extra `verify: "ture"`',
        FAILED,
        "BifrostConfigError",
        f"{_C} extra `verify` is 'ture', which is neither true/false nor an existing CA bundle path. TLS "
        "verification stays on unless it is set to false explicitly.",
    ),
    Case(
        "conn_negative_timeout",
        "connection",
        "extra `timeout: -5`",
        FAILED,
        "BifrostConfigError",
        f"{_C} extra `timeout` must be a positive number of seconds, got -5.",
    ),
    # -- parameters ---------------------------------------------------------------------------
    Case(
        "param_unknown_provider",
        "parameters",
        '`provider="openia"`',
        FAILED,
        "BifrostConfigError",
        f"provider 'openia' is not a Bifrost provider. Valid values: openai, azure, anthropic, {ELLIPSIS}",
    ),
    Case(
        "param_no_provider",
        "parameters",
        "no `provider` and no `default_provider` in the connection",
        FAILED,
        "BifrostConfigError",
        "provider is required: set it on the task or set `default_provider` in the connection's extra. Valid "
        f"values: openai, {ELLIPSIS}",
    ),
    Case("param_empty_batch_id", "parameters", '`batch_id=""`', FAILED, "BifrostConfigError", _EMPTY_ID),
    Case("param_whitespace_batch_id", "parameters", '`batch_id="   "`', FAILED, "BifrostConfigError", _EMPTY_ID),
    Case(
        "param_batch_id_control_character",
        "parameters",
        '`batch_id="batch_1\\n"` (a control character, e.g. from a file read with its line break)',
        FAILED,
        "BifrostConfigError",
        f"batch_id 'batch_1\\n' {_BAD_ID}",
    ),
    Case(
        "param_batch_id_dotdot",
        "parameters",
        '`batch_id=".."` (ids may contain `/`, as Bedrock, Gemini and Vertex ids do, but are never `.` or `..`)',
        FAILED,
        "BifrostConfigError",
        f"batch_id '..' {_BAD_ID}",
    ),
    Case(
        "param_templated_empty",
        "parameters",
        '`batch_id="{{ params.batch_id }}"` rendering `""` (run through `dag.test()`)',
        FAILED,
        "BifrostConfigError",
        _EMPTY_ID,
    ),
    Case(
        "param_templated_none",
        "parameters",
        '`batch_id="{{ params.batch_id }}"` rendering `None`, as an `xcom_pull` of nothing does (`dag.test()`)',
        FAILED,
        "BifrostConfigError",
        "batch_id is the text 'None': its template rendered a missing value, e.g. an xcom_pull of a task that "
        "returned nothing. Pass the id of an existing batch.",
    ),
    Case(
        "param_templated_missing",
        "parameters",
        '`batch_id="{{ params.missing_or_empty }}"`, a param the DAG does not have (`dag.test()`; Airflow renders '
        "templates strictly)",
        RETRY,
        "UndefinedError",
        "'dict object' has no attribute 'missing_or_empty'",
    ),
    Case(
        "param_output_uri_unknown_scheme",
        "parameters",
        '`output_uri="nosuch://bucket/out"`',
        FAILED,
        "BifrostConfigError",
        "output_uri 'nosuch://bucket/out': no filesystem is installed for scheme 'nosuch'. Install the Airflow "
        "provider that brings it (s3: apache-airflow-providers-amazon[s3fs], gs: apache-airflow-providers-google) "
        "or use file://.",
    ),
    Case(
        "param_output_uri_no_scheme",
        "parameters",
        '`output_uri="/tmp/out"`',
        FAILED,
        "BifrostConfigError",
        "output_uri '/tmp/out' is not a storage URI; write it with its scheme, e.g. s3://bucket/prefix or "
        "file:///absolute/path.",
    ),
    Case(
        "param_output_uri_renders_empty",
        "parameters",
        "`output_uri=\"{{ var.value.get('out', '') }}\"` rendering `\"\"`",
        FAILED,
        "BifrostConfigError",
        "output_uri rendered '': give a storage URI (e.g. s3://bucket/prefix), or leave output_uri unset (None) to "
        "return the results through XCom.",
    ),
    Case(
        "param_sensor_negative_poke_interval",
        "parameters",
        "`BifrostBatchSensor(poke_interval=-1)`",
        IMPORT_ERROR,
        "ValueError",
        "Operator arg `poke_interval` must be timedelta object or a non-negative number",
    ),
    Case(
        "param_sensor_zero_poke_interval",
        "parameters",
        "`BifrostBatchSensor(poke_interval=0)`",
        IMPORT_ERROR,
        "BifrostConfigError",
        "poke_interval must be a positive number of seconds (each check is a request to the gateway), got 0 (wait)",
    ),
    Case(
        "param_sensor_negative_timeout",
        "parameters",
        "`BifrostBatchSensor(timeout=-60)`",
        IMPORT_ERROR,
        "ValueError",
        "Operator arg `timeout` must be timedelta object or a non-negative number",
    ),
    Case(
        "param_provider_without_batch_api",
        "parameters",
        '`BifrostBatchSensor(provider="groq")` (likewise the results operator and the trigger)',
        IMPORT_ERROR,
        "BifrostConfigError",
        "provider 'groq' has no batch API in Bifrost; use one of anthropic, azure, bedrock, gemini, openai, vertex. "
        "(wait)",
    ),
    Case(
        "param_sensor_bad_threshold",
        "parameters",
        "`BifrostBatchSensor(failed_share_threshold=1.5)`",
        IMPORT_ERROR,
        "BifrostConfigError",
        "failed_share_threshold must be in (0, 1] or None, got 1.5 (wait)",
    ),
    Case(
        "param_trigger_negative_poll_interval",
        "parameters",
        "`BifrostBatchTrigger(poll_interval=-5)` built by your own operator when it defers",
        FAILED,
        "BifrostConfigError",
        "poll_interval must be a positive number of seconds, got -5",
    ),
    Case(
        "param_operator_zero_results_per_file",
        "parameters",
        "`BifrostBatchResultsOperator(results_per_file=0)`",
        IMPORT_ERROR,
        "BifrostConfigError",
        "results_per_file must be a positive number of items, got 0",
    ),
    Case(
        "param_operator_negative_max_xcom_results",
        "parameters",
        "`BifrostBatchResultsOperator(max_xcom_results=-1)`",
        IMPORT_ERROR,
        "BifrostConfigError",
        "max_xcom_results must be zero or more, got -1 (export)",
    ),
    Case(
        "param_operator_bad_compression",
        "parameters",
        '`BifrostBatchResultsOperator(compression="zip")`',
        IMPORT_ERROR,
        "BifrostConfigError",
        "compression must be None or one of ('gzip',), got 'zip' (export)",
    ),
    # -- responses ----------------------------------------------------------------------------
    Case(
        "resp_not_found",
        "responses",
        "404: no such batch, when exporting it",
        FAILED,
        "BifrostNotFoundError",
        f"{_GET} failed with HTTP 404: batch not found: <batch>. Check the id, the provider it belongs to, and the "
        "connection's gateway URL.",
    ),
    Case(
        "resp_not_found_while_waiting",
        "responses",
        f"404 while waiting, after the first {NOT_FOUND_GRACE:g} s (a gateway may not know a batch created a moment "
        "ago: until then a 404 is retried)",
        FAILED,
        "AirflowFailException",
        f"Waiting for Bifrost batch <batch> failed: {_GET} failed with HTTP 404: batch not found: <batch>. Check "
        "the id, the provider it belongs to, and the connection's gateway URL.",
    ),
    Case(
        "resp_bad_input_file",
        "responses",
        "`input_uri` whose second line is not JSON: the gateway answers 400; the task fails at once, without "
        "uploading the file again on a retry",
        FAILED,
        "BifrostBadRequestError",
        f"Bifrost POST /v1/files failed with HTTP 400: line 2: invalid JSON{ELLIPSIS}",
    ),
    Case(
        "resp_html_error_page",
        "responses",
        "a proxy's HTML error page (502)",
        RETRY,
        "BifrostServerError",
        f"{_GET} failed with HTTP 502: non-JSON body (text/html), probably from a proxy: '<html> <head><title>502 "
        f"Bad Gateway</title></head> {ELLIPSIS}",
    ),
    Case(
        "resp_non_json",
        "responses",
        "200 with a `text/plain` body",
        RETRY,
        "BifrostProtocolError",
        f"{_GET} answered HTTP 200 with a body that is not JSON (text/plain): 'OK'.",
    ),
    Case(
        "resp_empty_body",
        "responses",
        "200 with an empty body",
        RETRY,
        "BifrostProtocolError",
        f"{_GET} answered HTTP 200 with a body that is not JSON (no content type): ''.",
    ),
    Case(
        "resp_wrong_shape",
        "responses",
        "200 with a JSON list instead of a batch object",
        RETRY,
        "BifrostProtocolError",
        f"{_GET} answered with JSON that is not a Batch: body: Input should be a valid dictionary or instance of "
        "Batch.",
    ),
    Case(
        "resp_missing_status",
        "responses",
        "a batch object without `status`",
        RETRY,
        "BifrostProtocolError",
        f"{_GET} answered a batch object with no `status`, so whether batch <batch> is finished is unknown: the "
        "gateway, or a proxy in front of it, is not answering as the batch API documents.",
    ),
    Case(
        "resp_unknown_status",
        "responses",
        "status `paused_by_provider` until the sensor's `timeout`",
        FAILED,
        "AirflowSensorTimeout",
        "Bifrost batch <batch>: batch <batch> did not finish before the deadline (last status 'paused_by_provider': "
        "a status this provider does not know, so taken as running)",
    ),
    Case(
        "resp_results_truncated_mid_item",
        "responses",
        "a results document that ends in the middle of an item (complete 200 response)",
        RETRY,
        "BifrostProtocolError",
        "GET /v1/batches/<batch>/results: The results document is not valid JSON after 1 items; the response was "
        "cut short or is not a results document.",
    ),
    Case(
        "resp_results_connection_cut",
        "responses",
        "the results stream is cut mid-item on every attempt",
        RETRY,
        "BifrostTransportError",
        f"{_GET}/results at http://127.0.0.1:<port> failed: RemoteProtocolError: peer closed connection without "
        "sending complete message body (incomplete chunked read). The connection to the gateway failed mid-request.",
    ),
    Case(
        "resp_results_not_a_document",
        "responses",
        "results route answers JSON without a `results` array",
        RETRY,
        "BifrostProtocolError",
        "GET /v1/batches/<batch>/results: The response is not a results document: it has no `results` array.",
    ),
    Case(
        "resp_results_repeated_cursor",
        "responses",
        "paged results repeat a `next_cursor`",
        RETRY,
        "BifrostProtocolError",
        "GET /v1/batches/<batch>/results: the gateway repeated cursor 'cursor_10'; stopping after 20 items rather "
        "than loop.",
    ),
    Case(
        "resp_results_has_more_without_cursor",
        "responses",
        "`has_more: true` without `next_cursor`",
        RETRY,
        "BifrostProtocolError",
        "GET /v1/batches/<batch>/results: page 1 says has_more but gives no next_cursor; stopping after 10 items "
        "rather than loop or lose results.",
    ),
    Case(
        "resp_results_fewer_than_counted",
        "responses",
        "a well-formed results document with 2 items for a batch whose `request_counts` say 10 completed",
        SUCCESS,
        "",
        "(no error: the 2 items are exported; the task log warns that the batch reports 10 requests but 2 results "
        "were exported, and the manifest's counts.expected is 10)",
    ),
    Case(
        "resp_results_gigantic_item",
        "responses",
        "one result item of 17 MB (over the fast parser's 16 MB span)",
        SUCCESS,
        "",
        "(no error: the item is written whole, as one line of one file)",
    ),
    # -- storage ------------------------------------------------------------------------------
    Case(
        "storage_unwritable_path",
        "storage",
        "`output_uri` under a regular file: `file:///tmp/.../file.txt/sub`",
        FAILED,
        "BifrostConfigError",
        "output_uri: cannot create the folder file://<path>/<batch> (Not a directory); choose a location the task "
        "can write to.",
    ),
    Case(
        "storage_under_proc",
        "storage",
        '`output_uri="file:///proc/bifrost-out"` (not writable, even for root)',
        FAILED,
        "BifrostConfigError",
        "output_uri: cannot create the folder file:///proc/bifrost-out/<batch> (No such file or directory); choose a "
        "location the task can write to.",
    ),
    Case(
        "storage_missing_bucket",
        "storage",
        "`s3://` bucket that does not exist (moto server)",
        FAILED,
        "BifrostConfigError",
        "output_uri: bucket '<bucket>' does not exist, or the storage connection cannot see it; create it first "
        "(the export never creates buckets).",
    ),
    Case(
        "storage_no_credentials",
        "storage",
        "`s3://` with an AWS connection that has no credentials (Airflow then tries anonymous access)",
        RETRY,
        "BifrostStorageError",
        "output_uri s3://<bucket>/exports/<batch>: no credentials for this storage, so the access was anonymous and "
        "refused: set output_conn_id to a connection with credentials (e.g. an AWS connection with a key, a role or "
        "a profile).",
    ),
    Case(
        "storage_access_denied",
        "storage",
        "`s3://` endpoint that refuses the credentials (403 `AccessDenied`)",
        RETRY,
        "BifrostStorageError",
        f"output_uri s3://<bucket>/exports/<batch>: access denied {ELLIPSIS}",
    ),
    Case(
        "storage_unreachable",
        "storage",
        "`s3://` endpoint nothing listens on",
        RETRY,
        "BifrostStorageError",
        "output_uri s3://<bucket>/exports/<batch>: the storage endpoint cannot be reached (ConnectionRefusedError): "
        "check the endpoint of the output_conn_id connection and the network; the task is retried.",
    ),
    Case(
        "storage_input_access_denied",
        "storage",
        "`input_uri` on an `s3://` endpoint that refuses the credentials (403): named `input_uri`, not `output_uri`",
        RETRY,
        "BifrostStorageError",
        f"input_uri s3://<bucket>/requests.jsonl: access denied {ELLIPSIS}",
    ),
    Case(
        "storage_input_missing",
        "storage",
        "`input_uri` naming a file that does not exist",
        FAILED,
        "BifrostConfigError",
        "input_uri file://<path>/missing.jsonl is not a file: give the JSONL file's URI.",
    ),
    Case(
        "param_input_uri_no_scheme",
        "parameters",
        '`input_uri="/data/requests.jsonl"`: refused when the DAG is parsed, naming `input_uri`',
        IMPORT_ERROR,
        "BifrostConfigError",
        "BifrostCreateBatchOperator(task_id='create'): input_uri '/data/requests.jsonl' is not a storage URI; write "
        "it with its scheme, e.g. s3://bucket/prefix or file:///absolute/path.",
    ),
    Case(
        "storage_disk_full",
        "storage",
        "the disk fills up mid-export (writes raise `ENOSPC`): every file of the attempt is removed, no manifest",
        RETRY,
        "OSError",
        "[Errno 28] No space left on device: '<file>'",
    ),
    Case(
        "storage_disk_full_at_manifest",
        "storage",
        "the disk fills up as the manifest is written: no `_manifest.json` and no temporary left (the complete "
        "shards stay, but with no manifest downstream tasks see no export)",
        RETRY,
        "OSError",
        "[Errno 28] No space left on device: '/exports/run/<batch>/._manifest.json.tmp'",
    ),
]
CASES: dict[str, Case] = {case.id: case for case in CASES_LIST}

_INTRO = """\
# Bad input: what the user sees

Each row is one kind of bad input and what a person running the task then sees: the task's state and
the message in its log (the exception's text). Every row is a test, `test_<case>` in
`tests/catalogue/test_bad_input.py`, run against the emulator over real HTTP (a few through `dag.test()`,
so the state is Airflow's own). Rerun them with:

```bash
pytest tests/catalogue -q
```

States: **DAG import error**: raised when the DAG file is parsed (the operator's constructor); the DAG
does not load. **failed (no retry)**: the task fails at once, whatever its `retries` (an
`AirflowFailException` or a sensor timeout): retrying the same input cannot help, so fix it and clear the
task. **up_for_retry**: an ordinary failure; Airflow retries the task if it has retries left, then marks
it failed. In messages, `<batch>`, `<port>`, `<path>`... stand for values of the run, and a message that
ends in `…` is the stable start of a longer one. Batch creation's parameter checks (no input or two, an
unknown provider, OpenAI without endpoint, malformed requests...) are tested one by one in
`tests/integration/test_create_operator.py`.

This file is generated from `tests/catalogue/cases.py`: edit the cases there, then run
`python -m tests.catalogue.cases`.
"""

_AREAS = {
    "connection": "Connection",
    "parameters": "Parameters",
    "responses": "Gateway responses",
    "storage": "Storage",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    padded = f" {text} " if fence == "``" else text
    return _cell(f"{fence}{padded}{fence}")


def render_doc() -> str:
    """``docs/bad-input.md``: the introduction and one table per area."""
    lines = [_INTRO]
    for area, title in _AREAS.items():
        lines += [
            f"## {title}",
            "",
            "| case | input | task state | exception | what the user sees |",
            "|---|---|---|---|---|",
        ]
        for case in CASES_LIST:
            if case.area != area:
                continue
            message = case.message if case.state == SUCCESS else _code(case.message)
            error = f"`{case.error}`" if case.error else ""
            lines.append(f"| `{case.id}` | {_cell(case.given)} | {case.state} | {error} | {message} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(render_doc())
    print(f"wrote {DOC} ({len(CASES_LIST)} cases)")
