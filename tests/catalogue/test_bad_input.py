"""
The bad-input catalogue (docs/bad-input.md): one test per case, checking the task state and the message.

Each test feeds one bad input to what a user runs (the sensor, the trigger, the results operator) against
the emulator over real HTTP, and checks the row of :mod:`tests.catalogue.cases`: the exception's class,
the state Airflow's task runner gives it (see :func:`state_of`), and the message. A few cases run
through ``dag.test()`` (tests/dags/bifrost_bad_input_dags.py), where the state is Airflow's own, and the
import errors are read from a real ``DagBag``.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import re
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, ClassVar

import pytest
from fsspec.implementations.memory import MemoryFile, MemoryFileSystem
from fsspec.registry import known_implementations

from airflow_provider_bifrost.exceptions import BifrostConfigError
from airflow_provider_bifrost.hooks.bifrost import BifrostHook
from airflow_provider_bifrost.hooks.retry import RetryPolicy
from airflow_provider_bifrost.operators.bifrost import BifrostBatchResultsOperator, BifrostCreateBatchOperator
from airflow_provider_bifrost.sensors.bifrost import BifrostBatchSensor
from airflow_provider_bifrost.triggers.bifrost import BifrostBatchTrigger
from airflow_provider_bifrost.version_compat import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)
from tests.catalogue.cases import CASES, CONN, DOC, FAILED, IMPORT_ERROR, RETRY, SUCCESS, render_doc
from tests.unit.hooks.loopback import self_signed_context

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from airflow_provider_bifrost.testing.emulator import EmulatorClient

CONTEXT: Any = {}
#: What the create operator reads of its context.
CREATE_CONTEXT: Any = {
    "ti": SimpleNamespace(dag_id="d", task_id="create", run_id="r", map_index=-1, try_number=1, stats_tags={}),
    "task_state_store": SimpleNamespace(get=lambda key, default=None: default, set=lambda *a, **k: None),
}
#: Credentials the cases use: no message may contain them.
SECRETS = ("s3cret", "sk-bf-good", "sk-bf-broke", "sk-bf-blocked", "sk-bf-unknown")
DAGS = Path(__file__).parents[1] / "dags" / "bifrost_bad_input_dags.py"


# -- checking a case ----------------------------------------------------------------------------


def state_of(exc: BaseException | None) -> str:
    """The state Airflow's task runner gives a task whose ``execute`` raised ``exc`` (None: returned)."""
    if exc is None:
        return SUCCESS
    if isinstance(exc, (AirflowFailException, AirflowSensorTimeout)):
        return FAILED
    assert not isinstance(exc, AirflowSkipException), exc
    return RETRY


def check_seen(case_id: str, state: str, error: str, message: str, **values: str) -> None:
    """
    Check what a user sees against the case's row.

    :param case_id: the row.
    :param state: the task state observed.
    :param error: the exception's class name.
    :param message: its text.
    :param values: values of the run that the row's placeholders stand for.
    """
    case = CASES[case_id]
    assert (state, error) == (case.state, case.error), message
    assert case.pattern(values).fullmatch(message), f"\n  got:      {message}\n  expected: {case.message}"
    assert not [secret for secret in SECRETS if secret in message], message


def check(case_id: str, exc: BaseException, **values: str) -> None:
    """Check an exception raised by ``execute`` against the case's row."""
    check_seen(case_id, state_of(exc), type(exc).__name__, str(exc), **values)


def raised(call: Callable[[], object]) -> BaseException:
    """What ``call`` raised (it must raise)."""
    with pytest.raises(BaseException) as info:  # noqa: PT011 (the row names the class; check() asserts it)
        call()
    return info.value


def parse_error(tmp_path: Path, statement: str) -> tuple[str, str]:
    """
    Parse a DAG file holding ``statement`` with a real ``DagBag``; the import error's class and message.

    :param tmp_path: where the DAG file goes (outside the bundles, so no other test sees it).
    :param statement: builds one task inside a DAG.
    """
    from airflow.dag_processing.dagbag import DagBag

    path = tmp_path / "bad_input_dag.py"
    path.write_text(
        "from datetime import datetime\n"
        "from airflow.sdk import DAG\n"
        "from airflow_provider_bifrost.operators.bifrost import (\n"
        "    BifrostBatchResultsOperator, BifrostCreateBatchOperator\n"
        ")\n"
        "from airflow_provider_bifrost.sensors.bifrost import BifrostBatchSensor\n"
        "with DAG(dag_id='bad_input', schedule=None, start_date=datetime(2026, 1, 1)):\n"
        f"    {statement}\n"
    )
    bag = DagBag(dag_folder=str(path))
    assert bag.dag_ids == [], bag.dag_ids
    (trace,) = bag.import_errors.values()
    name, _, message = trace.strip().splitlines()[-1].partition(": ")
    return name.rpartition(".")[2], message


# -- fixtures and helpers -----------------------------------------------------------------------


def use_connection(monkeypatch: pytest.MonkeyPatch, **fields: Any) -> None:
    """Make the catalogue's connection (``bifrost_bad_input``) hold ``fields``."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", json.dumps({"conn_type": "bifrost", **fields}))


@pytest.fixture
def gateway(emulator: EmulatorClient, monkeypatch: pytest.MonkeyPatch) -> EmulatorClient:
    """The emulator, behind the catalogue's connection (OpenAI by default, no HTTP retries)."""
    use_connection(monkeypatch, host=emulator.url, extra={"default_provider": "openai", "max_retries": 0})
    return emulator


def sensor(batch_id: str = "batch_1", **kwargs: Any) -> BifrostBatchSensor:
    kwargs.setdefault("provider", "openai")
    return BifrostBatchSensor(task_id="wait", batch_id=batch_id, bifrost_conn_id=CONN, **kwargs)


def exporter(batch_id: str, **kwargs: Any) -> BifrostBatchResultsOperator:
    return BifrostBatchResultsOperator(task_id="export", batch_id=batch_id, bifrost_conn_id=CONN, **kwargs)


def finished(emulator: EmulatorClient, **kwargs: Any) -> str:
    """A completed OpenAI batch; its id."""
    batch = emulator.add_batch("openai", manual=True, **kwargs)
    emulator.set_status(batch["id"], "completed")
    return str(batch["id"])


def free_port() -> int:
    """A loopback port nothing listens on (connecting to it is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def recording_hook(sleeps: list[float]) -> BifrostHook:
    """A hook allowing 3 retries whose backoff waits are recorded, not slept."""
    return BifrostHook(CONN, retry_policy=RetryPolicy(max_retries=3, sleep=sleeps.append))


def run_trigger(trigger: BifrostBatchTrigger) -> dict[str, Any]:
    """Run a trigger to its one event, as the triggerer would."""

    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            payload: dict[str, Any] = event.payload
            return payload
        raise AssertionError("the trigger sent no event")

    return asyncio.run(first())


# -- dag.test() ---------------------------------------------------------------------------------


def run_dag(dag_id: str, capsys: pytest.CaptureFixture[str], conf: dict[str, Any] | None = None) -> tuple[str, str]:
    """
    ``dag.test()`` of a catalogue DAG (one task ``wait``, 1 retry without delay); the state it ends in
    (``failed (no retry)`` after one try, ``up_for_retry`` when a second try ran) and the task log.
    """
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert not bag.import_errors, bag.import_errors
    capsys.readouterr()
    run = bag.get_dag(dag_id).test(run_conf=conf)
    log = capsys.readouterr().out  # the task runner logs through structlog to stdout here
    ti = run.get_task_instance("wait")
    assert (run.state, ti.state) == ("failed", "failed"), log[-3000:]
    tries = {1: FAILED, 2: RETRY}
    assert ti.try_number in tries, ti.try_number
    return tries[ti.try_number], log


def logged_error(log: str, error: str) -> str:
    """The message of the last ``<module>.<error>: <message>`` line of a traceback in ``log``."""
    found = re.findall(rf"^(?:\w+\.)*{error}: (.*)$", log, re.MULTILINE)
    assert found, f"no {error} in the task log"
    return str(found[-1])


# -- connection ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("airflow_db")
def test_conn_no_host(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    use_connection(monkeypatch, host="", extra={"default_provider": "openai"})
    state, log = run_dag("bifrost_bad_input_sensor", capsys)
    check_seen("conn_no_host", state, "BifrostConfigError", logged_error(log, "BifrostConfigError"))


def test_conn_no_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    use_connection(monkeypatch, host="localhost:8080")
    check("conn_no_scheme", raised(lambda: sensor().execute(CONTEXT)))


def test_conn_bad_port(monkeypatch: pytest.MonkeyPatch) -> None:
    use_connection(monkeypatch, host="http://localhost", port=70000)
    check("conn_bad_port", raised(lambda: sensor().execute(CONTEXT)))


def test_conn_bad_port_in_url(monkeypatch: pytest.MonkeyPatch) -> None:
    use_connection(monkeypatch, host="http://localhost:80a")
    check("conn_bad_port_in_url", raised(lambda: sensor().execute(CONTEXT)))


def test_conn_password_in_url(monkeypatch: pytest.MonkeyPatch) -> None:
    use_connection(monkeypatch, host="http://admin:s3cret@localhost:8080")
    check("conn_password_in_url", raised(lambda: sensor().execute(CONTEXT)))


def test_conn_password_in_bad_url(monkeypatch: pytest.MonkeyPatch) -> None:
    use_connection(monkeypatch, host="http://admin:s3cret@localhost:80a")
    check("conn_password_in_bad_url", raised(lambda: sensor().execute(CONTEXT)))


@pytest.mark.usefixtures("airflow_db")
def test_conn_unreachable(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    use_connection(monkeypatch, host=f"http://127.0.0.1:{port}", extra={"max_retries": 0})
    state, log = run_dag("bifrost_bad_input_sensor", capsys)
    message = logged_error(log, "BifrostTransportError")
    check_seen("conn_unreachable", state, "BifrostTransportError", message, port=str(port))


def virtual_key_refused(
    gateway: EmulatorClient, monkeypatch: pytest.MonkeyPatch, case_id: str, key: str, policy: str | None
) -> None:
    keys = {"sk-bf-good": "ok", **({key: policy} if policy else {})}
    gateway.configure(virtual_keys=keys)
    use_connection(monkeypatch, host=gateway.url, password=key, extra={"max_retries": 0})
    batch = gateway.add_batch("openai", requests=2, manual=True)
    check(case_id, raised(lambda: sensor(batch["id"]).execute(CONTEXT)), batch=batch["id"])
    assert len(gateway.requests()) == 1  # not retried by the hook


def test_conn_wrong_key(gateway: EmulatorClient, monkeypatch: pytest.MonkeyPatch) -> None:
    virtual_key_refused(gateway, monkeypatch, "conn_wrong_key", "sk-bf-unknown", None)


def test_conn_budget_exceeded(gateway: EmulatorClient, monkeypatch: pytest.MonkeyPatch) -> None:
    virtual_key_refused(gateway, monkeypatch, "conn_budget_exceeded", "sk-bf-broke", "budget_exceeded")


def test_conn_blocked(gateway: EmulatorClient, monkeypatch: pytest.MonkeyPatch) -> None:
    virtual_key_refused(gateway, monkeypatch, "conn_blocked", "sk-bf-blocked", "blocked")


def test_conn_wrong_key_while_waiting(gateway: EmulatorClient, monkeypatch: pytest.MonkeyPatch) -> None:
    gateway.configure(virtual_keys={"sk-bf-good": "ok"})
    use_connection(monkeypatch, host=gateway.url, password="sk-bf-good", extra={"max_retries": 0})
    batch = gateway.add_batch("openai", requests=2, manual=True)
    waiting = sensor(batch["id"], poke_interval=0.1)
    deferred = raised(lambda: waiting.execute(CONTEXT))
    assert isinstance(deferred, TaskDeferred)
    gateway.configure(virtual_keys={"sk-bf-other": "ok"})  # the key is revoked while the task is deferred
    assert isinstance(deferred.trigger, BifrostBatchTrigger)
    event = run_trigger(deferred.trigger)
    check("conn_wrong_key_while_waiting", raised(lambda: waiting.execute_complete(CONTEXT, event)), batch=batch["id"])


def test_conn_tls_plain_http(gateway: EmulatorClient, monkeypatch: pytest.MonkeyPatch) -> None:
    port = gateway.url.rsplit(":", 1)[1]
    use_connection(monkeypatch, host=f"https://127.0.0.1:{port}")
    waiting, sleeps = sensor("batch_1"), list[float]()
    waiting.hook = recording_hook(sleeps)
    check("conn_tls_plain_http", raised(lambda: waiting.execute(CONTEXT)), batch="batch_1", port=port)
    assert sleeps == []  # a plain-HTTP port stays one: not retried


class _Quiet(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_error(500)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the client refusing the certificate is what the test is about


@pytest.fixture(scope="module")
def self_signed_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An https server on loopback with a freshly made self-signed certificate; its URL."""
    context = self_signed_context(tmp_path_factory.mktemp("tls"))
    server = _QuietServer(("127.0.0.1", 0), _Quiet)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name="self-signed-gateway", daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_conn_tls_self_signed(self_signed_gateway: str, monkeypatch: pytest.MonkeyPatch) -> None:
    use_connection(monkeypatch, host=self_signed_gateway)
    waiting, sleeps = sensor("batch_1"), list[float]()
    waiting.hook = recording_hook(sleeps)
    port = self_signed_gateway.rsplit(":", 1)[1]
    check("conn_tls_self_signed", raised(lambda: waiting.execute(CONTEXT)), batch="batch_1", port=port)
    assert sleeps == []  # an untrusted certificate stays untrusted: not retried


def test_conn_verify_typo(monkeypatch: pytest.MonkeyPatch) -> None:
    use_connection(monkeypatch, host="https://bifrost.example.com", extra={"verify": "ture"})
    check("conn_verify_typo", raised(lambda: sensor().execute(CONTEXT)))


def test_conn_negative_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    use_connection(monkeypatch, host="http://localhost:8080", extra={"timeout": -5})
    check("conn_negative_timeout", raised(lambda: sensor().execute(CONTEXT)))


# -- parameters ---------------------------------------------------------------------------------


def test_param_unknown_provider(gateway: EmulatorClient) -> None:
    check("param_unknown_provider", raised(lambda: sensor(provider="openia").execute(CONTEXT)))
    assert gateway.requests() == []


def test_param_no_provider(emulator: EmulatorClient, monkeypatch: pytest.MonkeyPatch) -> None:
    use_connection(monkeypatch, host=emulator.url)
    check("param_no_provider", raised(lambda: sensor(provider=None).execute(CONTEXT)))
    assert emulator.requests() == []


def bad_batch_id(gateway: EmulatorClient, case_id: str, batch_id: str) -> None:
    check(case_id, raised(lambda: sensor(batch_id).execute(CONTEXT)))
    check(case_id, raised(lambda: exporter(batch_id).execute(CONTEXT)))
    assert gateway.requests() == []


def test_param_empty_batch_id(gateway: EmulatorClient) -> None:
    bad_batch_id(gateway, "param_empty_batch_id", "")


def test_param_whitespace_batch_id(gateway: EmulatorClient) -> None:
    bad_batch_id(gateway, "param_whitespace_batch_id", "   ")


def test_param_batch_id_control_character(gateway: EmulatorClient) -> None:
    bad_batch_id(gateway, "param_batch_id_control_character", "batch_1\n")


def test_param_batch_id_dotdot(gateway: EmulatorClient) -> None:
    bad_batch_id(gateway, "param_batch_id_dotdot", "..")


@pytest.mark.usefixtures("airflow_db")
def test_param_templated_empty(gateway: EmulatorClient, capsys: pytest.CaptureFixture[str]) -> None:
    state, log = run_dag("bifrost_bad_input_sensor", capsys, {"batch_id": ""})
    check_seen("param_templated_empty", state, "BifrostConfigError", logged_error(log, "BifrostConfigError"))
    assert gateway.requests() == []


@pytest.mark.usefixtures("airflow_db")
def test_param_templated_none(gateway: EmulatorClient, capsys: pytest.CaptureFixture[str]) -> None:
    state, log = run_dag("bifrost_bad_input_sensor", capsys, {"batch_id": None})
    check_seen("param_templated_none", state, "BifrostConfigError", logged_error(log, "BifrostConfigError"))
    assert gateway.requests() == []


@pytest.mark.usefixtures("airflow_db")
def test_param_templated_missing(gateway: EmulatorClient, capsys: pytest.CaptureFixture[str]) -> None:
    state, log = run_dag("bifrost_bad_input_missing_param", capsys)
    check_seen("param_templated_missing", state, "UndefinedError", logged_error(log, "UndefinedError"))
    assert gateway.requests() == []


def test_param_output_uri_unknown_scheme(gateway: EmulatorClient) -> None:
    batch_id = finished(gateway, requests=2)
    check(
        "param_output_uri_unknown_scheme",
        raised(lambda: exporter(batch_id, output_uri="nosuch://bucket/out").execute(CONTEXT)),
    )


def test_param_output_uri_no_scheme(gateway: EmulatorClient) -> None:
    batch_id = finished(gateway, requests=2)
    check("param_output_uri_no_scheme", raised(lambda: exporter(batch_id, output_uri="/tmp/out").execute(CONTEXT)))


def test_param_output_uri_renders_empty(gateway: EmulatorClient) -> None:
    batch_id = finished(gateway, requests=3)
    with pytest.raises(BifrostConfigError) as raised:
        exporter(batch_id, output_uri="").execute(CONTEXT)
    check_seen("param_output_uri_renders_empty", state_of(raised.value), "BifrostConfigError", str(raised.value))


def refused_at_parse_time(tmp_path: Path, case_id: str, statement: str) -> None:
    error, message = parse_error(tmp_path, statement)
    check_seen(case_id, IMPORT_ERROR, error, message)


def test_param_sensor_negative_poke_interval(tmp_path: Path) -> None:
    statement = "BifrostBatchSensor(task_id='wait', batch_id='b', poke_interval=-1)"
    refused_at_parse_time(tmp_path, "param_sensor_negative_poke_interval", statement)


def test_param_sensor_zero_poke_interval(tmp_path: Path) -> None:
    statement = "BifrostBatchSensor(task_id='wait', batch_id='b', poke_interval=0)"
    refused_at_parse_time(tmp_path, "param_sensor_zero_poke_interval", statement)


def test_param_sensor_negative_timeout(tmp_path: Path) -> None:
    statement = "BifrostBatchSensor(task_id='wait', batch_id='b', timeout=-60)"
    refused_at_parse_time(tmp_path, "param_sensor_negative_timeout", statement)


def test_param_sensor_bad_threshold(tmp_path: Path) -> None:
    statement = "BifrostBatchSensor(task_id='wait', batch_id='b', failed_share_threshold=1.5)"
    refused_at_parse_time(tmp_path, "param_sensor_bad_threshold", statement)


def test_param_trigger_negative_poll_interval() -> None:
    check("param_trigger_negative_poll_interval", raised(lambda: BifrostBatchTrigger("b", poll_interval=-5)))


def test_param_operator_zero_results_per_file(tmp_path: Path) -> None:
    statement = "BifrostBatchResultsOperator(task_id='export', batch_id='b', results_per_file=0)"
    refused_at_parse_time(tmp_path, "param_operator_zero_results_per_file", statement)


def test_param_operator_negative_max_xcom_results(tmp_path: Path) -> None:
    statement = "BifrostBatchResultsOperator(task_id='export', batch_id='b', max_xcom_results=-1)"
    refused_at_parse_time(tmp_path, "param_operator_negative_max_xcom_results", statement)


def test_param_operator_bad_compression(tmp_path: Path) -> None:
    statement = "BifrostBatchResultsOperator(task_id='export', batch_id='b', compression='zip')"
    refused_at_parse_time(tmp_path, "param_operator_bad_compression", statement)


# -- gateway responses --------------------------------------------------------------------------


def test_resp_not_found(gateway: EmulatorClient) -> None:
    check("resp_not_found", raised(lambda: exporter("batch_missing").execute(CONTEXT)), batch="batch_missing")
    assert len(gateway.requests()) == 1, "a 404 is not retried"


def test_resp_not_found_while_waiting(gateway: EmulatorClient) -> None:
    waiting = sensor("batch_missing", poke_interval=0.05)
    deferred = raised(lambda: waiting.execute(CONTEXT))
    assert isinstance(deferred, TaskDeferred), "within the grace a 404 is waited out in the triggerer"
    trigger = deferred.trigger
    assert isinstance(trigger, BifrostBatchTrigger) and trigger.not_found_until is not None
    trigger.not_found_until = time.time() + 0.3  # the rest of the grace, shortened
    event = run_trigger(trigger)
    assert len(gateway.requests()) > 2, "the 404 was checked again during the grace"
    check(
        "resp_not_found_while_waiting", raised(lambda: waiting.execute_complete(CONTEXT, event)), batch="batch_missing"
    )


def test_param_provider_without_batch_api(tmp_path: Path) -> None:
    statement = "BifrostBatchSensor(task_id='wait', batch_id='b', provider='groq')"
    refused_at_parse_time(tmp_path, "param_provider_without_batch_api", statement)
    for build in (lambda: exporter("b", provider="groq"), lambda: BifrostBatchTrigger("b", "groq")):
        assert "provider 'groq' has no batch API" in str(raised(build))


def test_resp_html_error_page(gateway: EmulatorClient) -> None:
    gateway.add_fault("html", path="^/v1/batches/", status=502)
    check("resp_html_error_page", raised(lambda: sensor("batch_1").execute(CONTEXT)), batch="batch_1")


def unusable_batch_object(gateway: EmulatorClient, case_id: str, fault: dict[str, Any]) -> None:
    gateway.set_faults([{**fault, "path": "^/v1/batches/batch_1$"}])
    check(case_id, raised(lambda: sensor("batch_1").execute(CONTEXT)), batch="batch_1")
    check(case_id, raised(lambda: exporter("batch_1").execute(CONTEXT)), batch="batch_1")


def test_resp_non_json(gateway: EmulatorClient) -> None:
    fault = {"action": "body", "status": 200, "body": "OK", "content_type": "text/plain"}
    unusable_batch_object(gateway, "resp_non_json", fault)


def test_resp_empty_body(gateway: EmulatorClient) -> None:
    unusable_batch_object(gateway, "resp_empty_body", {"action": "empty", "status": 200})


def test_resp_wrong_shape(gateway: EmulatorClient) -> None:
    fault = {"action": "body", "status": 200, "body": '[{"id": "batch_1"}]'}
    unusable_batch_object(gateway, "resp_wrong_shape", fault)


def test_resp_missing_status(gateway: EmulatorClient) -> None:
    """A batch object without a status is an error, not a batch that looks forever unfinished."""
    fault = {"action": "body", "status": 200, "body": '{"id": "batch_1", "object": "batch"}'}
    unusable_batch_object(gateway, "resp_missing_status", fault)
    # In the triggerer, it is retried like any garbled answer, then reported.
    gateway.set_faults([{**fault, "path": "^/v1/batches/batch_1$"}])
    event = run_trigger(BifrostBatchTrigger("batch_1", "openai", CONN, poll_interval=0.01, max_consecutive_failures=2))
    assert event["status"] == "error" and "no `status`" in event["message"], event


def test_resp_unknown_status(gateway: EmulatorClient) -> None:
    batch = gateway.add_batch("openai", requests=2, manual=True)
    gateway.set_status(batch["id"], "paused_by_provider")
    waiting = sensor(batch["id"], poke_interval=0.1, timeout=0.3)
    deferred = raised(lambda: waiting.execute(CONTEXT))
    assert isinstance(deferred, TaskDeferred) and isinstance(deferred.trigger, BifrostBatchTrigger)
    event = run_trigger(deferred.trigger)
    check("resp_unknown_status", raised(lambda: waiting.execute_complete(CONTEXT, event)), batch=batch["id"])


def test_resp_results_truncated_mid_item(gateway: EmulatorClient) -> None:
    batch_id = finished(gateway, requests=2)
    document = (
        f'{{"batch_id":"{batch_id}","results":[{{"custom_id":"request-0","response":{{"status_code":200,'
        '"body":{}}},{"custom_id":"request-1","respo'
    )
    gateway.add_fault("body", path="/results$", status=200, body=document)
    check("resp_results_truncated_mid_item", raised(lambda: exporter(batch_id).execute(CONTEXT)))


def test_resp_results_connection_cut(gateway: EmulatorClient, tmp_path: Path) -> None:
    batch_id = finished(gateway, requests=300)
    gateway.add_fault("truncate", path="/results$", bytes=20_000)
    exc = raised(lambda: exporter(batch_id, output_uri=f"file://{tmp_path}").execute(CONTEXT))
    check("resp_results_connection_cut", exc, batch=batch_id, port=gateway.url.rsplit(":", 1)[1])
    assert [p.name for p in (tmp_path / batch_id).iterdir()] == []  # nothing under a final name


def test_resp_results_not_a_document(gateway: EmulatorClient) -> None:
    batch_id = finished(gateway, requests=2)
    gateway.add_fault("body", path="/results$", status=200, body='{"data": []}')
    check("resp_results_not_a_document", raised(lambda: exporter(batch_id).execute(CONTEXT)))


def bad_cursor(gateway: EmulatorClient, tmp_path: Path, case_id: str, bug: str) -> None:
    batch_id = finished(gateway, requests=30, results_page_size=10, cursor_bug=bug)
    exc = raised(lambda: exporter(batch_id, output_uri=f"file://{tmp_path}", results_per_file=5).execute(CONTEXT))
    check(case_id, exc, batch=batch_id)
    assert not (tmp_path / batch_id / "_manifest.json").exists()


def test_resp_results_repeated_cursor(gateway: EmulatorClient, tmp_path: Path) -> None:
    bad_cursor(gateway, tmp_path, "resp_results_repeated_cursor", "repeat")


def test_resp_results_has_more_without_cursor(gateway: EmulatorClient, tmp_path: Path) -> None:
    bad_cursor(gateway, tmp_path, "resp_results_has_more_without_cursor", "missing")


def test_resp_results_fewer_than_counted(gateway: EmulatorClient, tmp_path: Path) -> None:
    batch_id = finished(gateway, requests=10, failed=0)
    items = [{"custom_id": f"request-{i}", "response": {"status_code": 200, "body": {}}} for i in range(2)]
    document = json.dumps({"batch_id": batch_id, "results": items, "has_more": False}, separators=(",", ":"))
    gateway.add_fault("body", path="/results$", status=200, body=document)
    manifest = exporter(batch_id, output_uri=f"file://{tmp_path}").execute(CONTEXT)
    assert (manifest["counts"]["results"], manifest["counts"]["expected"]) == (2, 10)
    check_seen("resp_results_fewer_than_counted", state_of(None), "", CASES["resp_results_fewer_than_counted"].message)


def test_resp_results_gigantic_item(gateway: EmulatorClient, tmp_path: Path) -> None:
    batch_id = finished(gateway, requests=1)
    answer = {"choices": [{"message": {"role": "assistant", "content": "x" * 17_500_000}}]}
    item = {"custom_id": "request-0", "response": {"status_code": 200, "body": answer}}
    document = json.dumps({"batch_id": batch_id, "results": [item], "has_more": False}, separators=(",", ":"))
    gateway.add_fault("body", path="/results$", status=200, body=document)  # the gateway's compact layout
    manifest = exporter(batch_id, output_uri=f"file://{tmp_path}").execute(CONTEXT)
    (shard,) = manifest["shards"]
    assert shard["items"] == 1 and shard["bytes"] > 17_500_000
    (line,) = (tmp_path / batch_id / "part-00000.jsonl").read_bytes().splitlines()
    assert json.loads(line) == item
    check_seen("resp_results_gigantic_item", state_of(None), "", CASES["resp_results_gigantic_item"].message)


# -- storage ------------------------------------------------------------------------------------


def test_storage_unwritable_path(gateway: EmulatorClient, tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("a regular file")
    batch_id = finished(gateway, requests=2)
    exc = raised(lambda: exporter(batch_id, output_uri=f"file://{tmp_path}/file.txt/sub").execute(CONTEXT))
    check("storage_unwritable_path", exc, path=f"{tmp_path}/file.txt/sub")


def test_storage_under_proc(gateway: EmulatorClient) -> None:
    batch_id = finished(gateway, requests=2)
    check(
        "storage_under_proc", raised(lambda: exporter(batch_id, output_uri="file:///proc/bifrost-out").execute(CONTEXT))
    )


AWS_CONN_ID = "aws_bad_input"


@pytest.fixture
def s3_connection(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """The AWS connection ``aws_bad_input``, leading to the moto server only; its endpoint."""
    import s3fs
    from airflow.sdk.io.store import _STORE_CACHE

    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    extra = {"endpoint_url": moto_endpoint, "region_name": "us-east-1"}
    conn = {"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{AWS_CONN_ID.upper()}", json.dumps(conn))
    _STORE_CACHE.pop(f"s3-{AWS_CONN_ID}", None)
    s3fs.S3FileSystem.clear_instance_cache()
    yield moto_endpoint
    _STORE_CACHE.pop(f"s3-{AWS_CONN_ID}", None)
    s3fs.S3FileSystem.clear_instance_cache()


def test_storage_missing_bucket(gateway: EmulatorClient, s3_connection: str) -> None:
    import boto3

    batch_id = finished(gateway, requests=2)
    bucket = f"bifrost-missing-{uuid.uuid4().hex[:8]}"
    operator = exporter(batch_id, output_uri=f"s3://{bucket}/exports", output_conn_id=AWS_CONN_ID)
    check("storage_missing_bucket", raised(lambda: operator.execute(CONTEXT)), bucket=bucket)
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_connection,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]  # never created


class _DenyingS3(BaseHTTPRequestHandler):
    """An S3 endpoint that refuses every request, as S3 does credentials without access (403 AccessDenied)."""

    def _deny(self) -> None:
        body = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
        self.send_response(403)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _deny

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def denying_s3() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _DenyingS3)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def use_aws(monkeypatch: pytest.MonkeyPatch, endpoint: str, *, credentials: bool = True) -> None:
    """Point ``aws_bad_input`` at ``endpoint`` (the ``s3_connection`` fixture has isolated the AWS environment)."""
    import s3fs
    from airflow.sdk.io.store import _STORE_CACHE

    conn: dict[str, Any] = {"conn_type": "aws", "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"}}
    if credentials:
        conn.update(login="testing", password="testing")
    monkeypatch.setenv(f"AIRFLOW_CONN_{AWS_CONN_ID.upper()}", json.dumps(conn))
    _STORE_CACHE.pop(f"s3-{AWS_CONN_ID}", None)
    s3fs.S3FileSystem.clear_instance_cache()


def s3_export(gateway: EmulatorClient) -> tuple[BifrostBatchResultsOperator, str, str]:
    batch_id = finished(gateway, requests=2)
    bucket = f"bifrost-{uuid.uuid4().hex[:8]}"
    return exporter(batch_id, output_uri=f"s3://{bucket}/exports", output_conn_id=AWS_CONN_ID), batch_id, bucket


def test_storage_no_credentials(gateway: EmulatorClient, s3_connection: str, monkeypatch: pytest.MonkeyPatch) -> None:
    use_aws(monkeypatch, s3_connection, credentials=False)
    operator, batch_id, bucket = s3_export(gateway)
    check("storage_no_credentials", raised(lambda: operator.execute(CONTEXT)), bucket=bucket, batch=batch_id)


def test_storage_access_denied(
    gateway: EmulatorClient, s3_connection: str, denying_s3: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_aws(monkeypatch, denying_s3)
    operator, batch_id, bucket = s3_export(gateway)
    check("storage_access_denied", raised(lambda: operator.execute(CONTEXT)), bucket=bucket, batch=batch_id)


def test_storage_unreachable(gateway: EmulatorClient, s3_connection: str, monkeypatch: pytest.MonkeyPatch) -> None:
    use_aws(monkeypatch, f"http://127.0.0.1:{free_port()}")
    operator, batch_id, bucket = s3_export(gateway)
    check("storage_unreachable", raised(lambda: operator.execute(CONTEXT)), bucket=bucket, batch=batch_id)


def create_from(input_uri: str, **kwargs: Any) -> BifrostCreateBatchOperator:
    return BifrostCreateBatchOperator(
        task_id="create",
        model="openai/gpt-4o-mini",
        endpoint="/v1/chat/completions",
        input_uri=input_uri,
        bifrost_conn_id=CONN,
        **kwargs,
    )


def test_storage_input_access_denied(
    gateway: EmulatorClient, s3_connection: str, denying_s3: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_aws(monkeypatch, denying_s3)
    bucket = f"bifrost-{uuid.uuid4().hex[:8]}"
    operator = create_from(f"s3://{bucket}/requests.jsonl", input_conn_id=AWS_CONN_ID)
    check("storage_input_access_denied", raised(lambda: operator.execute(CREATE_CONTEXT)), bucket=bucket)
    assert gateway.batches() == []


def test_storage_input_missing(gateway: EmulatorClient, tmp_path: Path) -> None:
    operator = create_from(f"file://{tmp_path}/missing.jsonl")
    check("storage_input_missing", raised(lambda: operator.execute(CREATE_CONTEXT)), path=str(tmp_path))
    assert gateway.requests() == []


def test_resp_bad_input_file(gateway: EmulatorClient, tmp_path: Path) -> None:
    source = tmp_path / "requests.jsonl"
    good = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "m"}}
    source.write_text(json.dumps(good) + "\n{not json\n")
    check("resp_bad_input_file", raised(lambda: create_from(f"file://{source}").execute(CREATE_CONTEXT)))
    assert len(gateway.requests(r"^/v1/files$", method="POST")) == 1 and gateway.batches() == []


def test_param_input_uri_no_scheme(tmp_path: Path) -> None:
    statement = (
        "BifrostCreateBatchOperator(task_id='create', model='openai/gpt-4o-mini', endpoint='/v1/chat/completions', "
        "input_uri='/data/requests.jsonl')"
    )
    refused_at_parse_time(tmp_path, "param_input_uri_no_scheme", statement)


class _FullFile(MemoryFile):
    """A memory file on :class:`FullDisk`: a write beyond the disk's capacity raises ENOSPC."""

    fs: FullDisk

    def write(self, data: Any) -> int:
        full = FullDisk.fills_at is not None and FullDisk.fills_at in self.path
        if full or FullDisk.used + len(data) > FullDisk.capacity:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self.path)
        FullDisk.used += len(data)
        written: int = super().write(data)
        return written


class FullDisk(MemoryFileSystem):
    """
    An in-memory disk of ``capacity`` bytes (``fulldisk://``), with a store of its own; it is full as soon
    as a file whose path contains ``fills_at`` is written, if set.
    """

    protocol = "fulldisk"
    store: ClassVar[dict[str, Any]] = {}
    pseudo_dirs: ClassVar[list[str]] = [""]
    capacity = 0
    used = 0
    fills_at: str | None = None

    @classmethod
    def _strip_protocol(cls, path: Any) -> str:
        stripped: str = super()._strip_protocol(str(path).removeprefix("fulldisk://"))
        return stripped

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if mode in ("wb", "xb", "w+b", "x+b"):
            stream = _FullFile(self, self._strip_protocol(path))
            stream.commit()
            return stream
        return super()._open(path, mode, **kwargs)


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> type[FullDisk]:
    """``fulldisk://``, found by fsspec by name as an installed filesystem would be; empty, 100 kB."""
    implementation = {"class": f"{__name__}.FullDisk", "err": "the catalogue's test filesystem"}
    monkeypatch.setitem(known_implementations, "fulldisk", implementation)
    monkeypatch.setattr(FullDisk, "store", {})
    monkeypatch.setattr(FullDisk, "capacity", 100_000)
    monkeypatch.setattr(FullDisk, "used", 0)
    monkeypatch.setattr(FullDisk, "fills_at", None)
    return FullDisk


@pytest.mark.filterwarnings("ignore:UPath 'fulldisk' filesystem not explicitly implemented")
def test_storage_disk_full(gateway: EmulatorClient, full_disk: type[FullDisk]) -> None:
    batch_id = finished(gateway, requests=1000)  # ~380 kB of results for a 100 kB disk
    exc = raised(lambda: exporter(batch_id, output_uri="fulldisk://exports/run", results_per_file=100).execute(CONTEXT))
    folder = f"/exports/run/{batch_id}/"
    left = {path.removeprefix(folder): stream for path, stream in full_disk.store.items() if path.startswith(folder)}
    assert isinstance(exc, OSError) and exc.errno == errno.ENOSPC
    check("storage_disk_full", exc, file=str(exc.filename))
    assert str(exc.filename).startswith(f"{folder}.part-")  # the shard being written, under its temporary name
    assert left == {}, sorted(left)  # the shards that fitted are removed with the rest: no partial export


@pytest.mark.filterwarnings("ignore:UPath 'fulldisk' filesystem not explicitly implemented")
def test_storage_disk_full_at_manifest(gateway: EmulatorClient, full_disk: type[FullDisk]) -> None:
    batch_id = finished(gateway, requests=10)
    full_disk.fills_at = "_manifest"  # the disk fills up just as the manifest is written, the export's last step
    exc = raised(lambda: exporter(batch_id, output_uri="fulldisk://exports/run").execute(CONTEXT))
    assert isinstance(exc, OSError) and exc.errno == errno.ENOSPC
    check("storage_disk_full_at_manifest", exc, batch=batch_id)
    folder = f"/exports/run/{batch_id}/"
    assert f"{folder}part-00000.jsonl" in full_disk.store  # the complete shard stays
    assert f"{folder}_manifest.json" not in full_disk.store  # no manifest: downstream tasks see no export
    assert f"{folder}._manifest.json.tmp" not in full_disk.store


# -- the catalogue itself -----------------------------------------------------------------------


def test_every_case_has_its_test_and_the_doc_is_current() -> None:
    tests = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    assert set(CASES) <= tests, sorted(set(CASES) - tests)
    assert len(CASES) >= 30
    assert DOC.read_text() == render_doc(), "docs/bad-input.md is stale: run `python -m tests.catalogue.cases`"
