"""No credential of a Bifrost connection ends up anywhere Airflow keeps things.

A real Airflow runs the pipeline (create -> deferred sensor -> export -> mapped process) and a failing
DAG (a create answered 500 on every try; a deferred sensor whose trigger gets a 401) on the
``bifrost_secret`` connection: gateway Basic auth with a recognisable password and a recognisable
virtual key, both required by the emulator for the whole test, so the runs prove they were sent.
Then every file of the Airflow home (task logs of every try, trigger logs, component logs, the
metadata database and its WAL, as bytes), every row of every table of the metadata database (XComs,
rendered fields, task state store, next_kwargs...), the trigger kwargs (decrypted, captured while the
triggers existed) and the exported results are searched for the password, the virtual key, the
Basic header's base64 value and the ``LEAKCHECK`` marker: zero hits. A control shows the search finds
a planted secret.

The pipeline's ``log_credentials`` task logs the credential headers on purpose, as a careless debug
line would: its task log must show them masked (the hook registers them with the masker). The only
lines not searched are that task's lines echoed into the scheduler's log (see :func:`search_files`).
"""

from __future__ import annotations

import base64
import configparser
import contextlib
import functools
import json
import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from cryptography.fernet import Fernet, MultiFernet

from tests.standalone.conftest import SECRET_LOGIN, SECRET_PASSWORD, SECRET_VIRTUAL_KEY

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

    from airflow_provider_bifrost.testing.emulator import EmulatorClient
    from tests.standalone.harness import AirflowStandalone

pytestmark = [pytest.mark.standalone, pytest.mark.timeout(600)]

PIPELINE = "bifrost_secrets_pipeline_standalone"
FAILING = "bifrost_secrets_failing_standalone"
STEP_TIMEOUT = 180.0
BASIC_VALUE = base64.b64encode(f"{SECRET_LOGIN}:{SECRET_PASSWORD}".encode()).decode()
MARKER = "LEAKCHECK"
DEBUG_LINE = "deliberate debug line:"
"""How the pipeline's ``log_credentials`` task starts the lines where it logs the credentials."""
NEEDLES: dict[str, bytes] = {
    "virtual key": SECRET_VIRTUAL_KEY.encode(),
    "gateway password": SECRET_PASSWORD.encode(),
    "Basic credentials (base64 of user:password)": BASIC_VALUE.encode(),
}
"""What must never be found; the marker is also searched for, case-insensitively."""


def secrets_in(data: bytes | str) -> list[str]:
    """The names of the secrets found in ``data``."""
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    found = [name for name, needle in NEEDLES.items() if needle in raw]
    if MARKER.lower().encode() in raw.lower():
        found.append(f"marker {MARKER!r}")
    return found


@dataclass
class SearchReport:
    """What was searched, and every hit (``where: secrets``)."""

    counts: dict[str, int] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    def check(self, where: str, data: bytes | str) -> None:
        if found := secrets_in(data):
            self.hits.append(f"{where}: {', '.join(found)}")

    def summary(self) -> str:
        lines = [f"  {what}: {n}" for what, n in sorted(self.counts.items())]
        return "searched for the credentials:\n" + "\n".join(lines)


def search_files(report: SearchReport, root: Path, label: str) -> None:
    """Every file under ``root``, as bytes.

    Except, in the scheduler's own log, the lines of the ``log_credentials`` task: the LocalExecutor
    runs tasks under the scheduler and echoes every task log line to its stdout (Airflow 3.3's
    ``subprocess_logs_to_stdout=True``) through the scheduler's logging, which has no secret masking
    (its masker never learns what tasks register): a line that logs a credential deliberately is
    masked in the task log but not there, even Airflow's own connection password. Those lines are
    counted, not searched; every other line is, so anything the provider logs in a task is searched
    there unmasked.
    """
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            data = path.read_bytes()
        except OSError:  # e.g. a file removed since the listing
            continue
        if path.name == "scheduler.log":
            lines = data.splitlines(keepends=True)
            kept = [line for line in lines if DEBUG_LINE.encode() not in line]
            report.count("scheduler.log: echoed deliberate debug lines (not searched)", len(lines) - len(kept))
            data = b"".join(kept)
        report.count(f"{label}: files")
        report.count(f"{label}: bytes", len(data))
        if ".trigger." in path.name:
            report.count(f"{label}: trigger log files")
        report.check(str(path), data)


def search_database(report: SearchReport, db_path: Path, fernet: MultiFernet | None) -> None:
    """Every value of every row of every table, and the trigger kwargs decrypted."""
    with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30.0)) as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            cursor = connection.execute(f'SELECT * FROM "{table}"')  # names from sqlite_master
            columns = [d[0] for d in cursor.description]
            for row in cursor:
                report.count(f"db rows: {table}")
                for column, value in zip(columns, row, strict=True):
                    if value is None or isinstance(value, int | float):
                        continue
                    report.check(f"db {table}.{column}", value)
                    if table == "trigger" and column == "kwargs":
                        report.check("db trigger.kwargs (decrypted)", decrypt_kwargs(value, fernet))
                        report.count("trigger kwargs decrypted")


def decrypt_kwargs(stored: str | bytes, fernet: MultiFernet | None) -> str:
    """A trigger row's kwargs as Airflow stores them (Fernet-encrypted JSON, or plain JSON), decrypted."""
    text = stored.decode() if isinstance(stored, bytes) else stored
    if text.startswith("{") or fernet is None:
        return text
    return fernet.decrypt(text.encode()).decode()


def airflow_fernet(airflow: AirflowStandalone) -> MultiFernet | None:
    """The Fernet the components encrypt with: ``[core] fernet_key`` of their environment or airflow.cfg."""
    key = airflow.env.get("AIRFLOW__CORE__FERNET_KEY")
    if key is None:
        config = configparser.ConfigParser(interpolation=None)
        config.read(airflow.home / "airflow.cfg")
        key = config.get("core", "fernet_key", fallback="")
    keys = [k.strip() for k in key.split(",") if k.strip()]
    return MultiFernet([Fernet(k.encode()) for k in keys]) if keys else None


class TriggerRecorder:
    """Keeps every trigger row seen: they are deleted once their task resumes."""

    def __init__(self, airflow: AirflowStandalone) -> None:
        self.airflow = airflow
        self.rows: dict[int, dict[str, Any]] = {}

    def poll(self) -> None:
        with contextlib.suppress(sqlite3.OperationalError):
            for row in self.airflow.query("SELECT id, classpath, kwargs, triggerer_id FROM trigger"):
                self.rows[row["id"]] = row

    def running_for(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any] | None:
        """The trigger a triggerer runs for that task, once seen (recording every row meanwhile)."""
        self.poll()
        trigger = self.airflow.trigger_of(dag_id, run_id, task_id)
        if trigger is None or trigger["triggerer_id"] is None:
            return None
        return self.rows.get(trigger["id"])


def batches_of_run(emulator: EmulatorClient, run_id: str) -> list[dict[str, Any]]:
    """The batches whose metadata tag names this DAG run."""
    return [b for b in emulator.batches() if f"run_id={run_id}" in (b.get("metadata") or {}).get("airflow_ti", "")]


@pytest.fixture
def guarded_emulator(standalone_emulator: EmulatorClient) -> Iterator[EmulatorClient]:
    """The session's emulator requiring the ``bifrost_secret`` credentials (Basic auth and the virtual
    key); batches created through the gateway stay ``in_progress`` until the test completes them.
    Back to its defaults (no auth, no faults, no batches) afterwards, for the other standalone tests."""
    standalone_emulator.reset(config=True)
    standalone_emulator.configure(
        basic_auth=(SECRET_LOGIN, SECRET_PASSWORD), virtual_keys={SECRET_VIRTUAL_KEY: "ok"}, manual=True
    )
    try:
        yield standalone_emulator
    finally:
        standalone_emulator.reset(config=True)


def _polled_twice(emulator: EmulatorClient, batch_id: str) -> bool:
    return len(emulator.requests(rf"^/v1/batches/{batch_id}$", method="GET")) >= 2


def _deferral_processed(airflow: AirflowStandalone, dag_id: str, run_id: str) -> bool:
    """Whether the scheduler has processed the executor's event for the sensor's try that deferred.

    A trigger that fires before that makes Airflow 3.3 fail the task, taking the stale "success" of the
    deferral's exit for an external state change (apache/airflow#66374, #67287, #72716): so the batches
    finish only after it.
    """
    finished = f"TaskInstance Finished: dag_id={dag_id}, task_id=wait, run_id={run_id},"
    return finished in airflow.component("scheduler").log()


def _searched_logs(airflow: AirflowStandalone, runs: Iterable[tuple[str, str]]) -> dict[Path, str]:
    logs: dict[Path, str] = {}
    for dag_id, run_id in runs:
        logs.update(airflow.task_logs(dag_id, run_id))
    return logs


def test_no_credential_in_logs_xcoms_triggers_or_database(
    airflow_standalone: AirflowStandalone,
    guarded_emulator: EmulatorClient,
    standalone_output: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    airflow, emulator = airflow_standalone, guarded_emulator
    anonymous = httpx.get(f"{emulator.url}/v1/batches", params={"provider": "openai"}, timeout=10)
    assert anonymous.status_code == 401, "the emulator must refuse requests without the credentials"
    triggers = TriggerRecorder(airflow)
    airflow.wait_for_dag(PIPELINE)
    airflow.wait_for_dag(FAILING)

    ok_run = airflow.trigger_dag(PIPELINE)
    (batch,) = airflow.wait_for(
        lambda: batches_of_run(emulator, ok_run), timeout=STEP_TIMEOUT, what="the pipeline to create its batch"
    )
    # Every batch creation from now on fails: only the failing DAG creates one.
    emulator.add_fault("status", method="POST", path=r"^/v1/batches$", status=500, message="injected outage")
    doomed = emulator.add_batch(provider="openai", requests=3, manual=True)["id"]
    bad_run = airflow.trigger_dag(FAILING, {"batch_id": doomed})

    for dag_id, run_id, batch_id in ((PIPELINE, ok_run, batch["id"]), (FAILING, bad_run, doomed)):
        airflow.wait_for(
            functools.partial(triggers.running_for, dag_id, run_id, "wait"),
            timeout=STEP_TIMEOUT,
            what=f"the sensor of {dag_id} to defer on a running trigger",
            dag_id=dag_id,
            run_id=run_id,
        )
        airflow.wait_for(  # the sensor's own check, then at least one poll by the triggerer
            functools.partial(_polled_twice, emulator, batch_id),
            timeout=60,
            what=f"the triggerer to poll {batch_id}",
            dag_id=dag_id,
            run_id=run_id,
        )
        airflow.wait_for(
            functools.partial(_deferral_processed, airflow, dag_id, run_id),
            timeout=60,
            what=f"the scheduler to process the exit of the deferred sensor of {dag_id}",
            dag_id=dag_id,
            run_id=run_id,
        )
    emulator.add_fault("status", method="GET", path=rf"^/v1/batches/{doomed}$", status=401, message="injected denial")
    emulator.set_status(batch["id"], "completed")

    def finished() -> bool:
        triggers.poll()
        states = (airflow.dag_run_state(PIPELINE, ok_run), airflow.dag_run_state(FAILING, bad_run))
        return all(state in ("success", "failed") for state in states)

    airflow.wait_for(finished, timeout=STEP_TIMEOUT, what="both runs to finish", dag_id=PIPELINE, run_id=ok_run)
    assert airflow.dag_run_state(PIPELINE, ok_run) == "success", airflow.diagnostics(PIPELINE, ok_run)
    assert airflow.dag_run_state(FAILING, bad_run) == "failed", airflow.diagnostics(FAILING, bad_run)
    assert airflow.task_states(FAILING, bad_run) == {"create": "failed", "wait": "failed"}
    assert (airflow.task_instance(FAILING, bad_run, "create") or {}).get("try_number") == 2

    # The credentials were sent, on every request the gateway answered.
    answered = [r for r in emulator.requests() if r["status"] is not None and r["status"] < 300]
    assert len(answered) >= 8, answered
    for request in answered:
        headers = {k.lower(): v for k, v in request["headers"].items()}
        assert headers.get("authorization") == f"Basic {BASIC_VALUE}", request["path"]
        assert headers.get("x-bf-vk") == SECRET_VIRTUAL_KEY, request["path"]

    # Not vacuous: the failures' messages and tracebacks, and the trigger logs, are in what is searched.
    runs = [(PIPELINE, ok_run), (FAILING, bad_run)]
    logs = _searched_logs(airflow, runs)
    failing_text = "\n".join(text for path, text in logs.items() if f"run_id={bad_run}" in str(path))
    assert "HTTP 500" in failing_text and "injected outage" in failing_text, failing_text[-3000:]
    assert "HTTP 401" in failing_text and "injected denial" in failing_text, failing_text[-3000:]
    assert '"exc_type":"BifrostServerError"' in failing_text, failing_text[-3000:]  # the traceback's record
    # The task that logs the hook's credential headers: in its log, masked.
    (debug_log,) = [text for path, text in logs.items() if "task_id=log_credentials" in str(path)]
    for masked in (
        "header x-bf-vk: ***",
        "header x-bf-vk (print): ***",
        "header Authorization: Basic ***",
        "header Authorization (print): Basic ***",
        "connection password (print): ***",
    ):
        assert f"{DEBUG_LINE} {masked}" in debug_log, debug_log[-3000:]
    trigger_logs = [path for path in logs if ".trigger." in path.name]
    assert len(trigger_logs) >= 2, sorted(map(str, logs))
    fernet = airflow_fernet(airflow)
    decrypted = [decrypt_kwargs(row["kwargs"], fernet) for row in triggers.rows.values()]
    assert sum('"bifrost_secret"' in text for text in decrypted) >= 2, decrypted
    xcoms = airflow.query(
        "SELECT count(*) AS n FROM xcom WHERE (dag_id, run_id) IN (VALUES (?, ?), (?, ?))",
        (PIPELINE, ok_run, FAILING, bad_run),
    )[0]["n"]
    assert xcoms >= 7, xcoms  # build_requests, create, wait, export, files_of, process x2

    report = SearchReport()
    report.count("task log files of the two runs", len(logs))
    report.count("trigger log files of the two runs", len(trigger_logs))
    report.count("XCom rows of the two runs", xcoms)
    for row_id, text in zip(triggers.rows, decrypted, strict=True):
        report.count("trigger rows captured while deferred (kwargs decrypted)")
        report.check(f"trigger {row_id} kwargs (decrypted)", text)
        report.check(f"trigger {row_id} kwargs (as stored)", str(triggers.rows[row_id]["kwargs"]))
    search_files(report, airflow.home, "Airflow home (task, trigger and component logs, airflow.db + WAL)")
    search_files(report, standalone_output, "exported results")
    search_database(report, airflow.db_path, fernet)
    for name in ("xcom", "rendered_task_instance_fields", "task_instance", "task_state_store", "dag_code"):
        assert report.counts.get(f"db rows: {name}", 0) > 0 or name == "task_state_store", report.summary()
    with capsys.disabled():
        print(f"\n{report.summary()}\nhits: {len(report.hits)}")
    assert not report.hits, "credentials leaked:\n" + "\n".join(report.hits) + "\n" + report.summary()


def test_the_search_finds_planted_credentials(tmp_path: Path) -> None:
    """The control: the same search, on files, rows and encrypted trigger kwargs that do hold a secret."""
    key = Fernet.generate_key()
    fernet = MultiFernet([Fernet(key)])
    planted = {
        "task.log": f"INFO - calling the gateway with {SECRET_VIRTUAL_KEY} now".encode(),
        "component.log": b"\x00\x01 binary noise Authorization: Basic " + BASIC_VALUE.encode() + b"\xff",
        "plain.txt": f"password={SECRET_PASSWORD}".encode(),
    }
    for name, data in planted.items():
        (tmp_path / "home" / "logs").mkdir(parents=True, exist_ok=True)
        (tmp_path / "home" / "logs" / name).write_bytes(data)
    db_path = tmp_path / "home" / "airflow.db"
    with contextlib.closing(sqlite3.connect(db_path)) as connection:
        connection.execute("CREATE TABLE xcom (key TEXT, value TEXT)")
        connection.execute("CREATE TABLE trigger (id INTEGER, kwargs TEXT)")
        connection.execute("INSERT INTO xcom VALUES ('return_value', ?)", (json.dumps({"k": SECRET_VIRTUAL_KEY}),))
        encrypted = fernet.encrypt(json.dumps({"token": SECRET_PASSWORD}).encode()).decode()
        assert not secrets_in(encrypted)
        connection.execute("INSERT INTO trigger VALUES (1, ?)", (encrypted,))
        connection.commit()

    report = SearchReport()
    search_files(report, tmp_path / "home" / "logs", "logs")
    search_database(report, db_path, fernet)
    where = {hit.split(":")[0] for hit in report.hits}
    assert {str(tmp_path / "home" / "logs" / name) for name in planted} <= where, report.hits
    assert {"db xcom.value", "db trigger.kwargs (decrypted)"} <= where, report.hits
    assert "db trigger.kwargs" not in where, report.hits  # encrypted: only the decryption finds it
    assert secrets_in(f"...{MARKER.lower()}...") == [f"marker {MARKER!r}"]
    # The database file's bytes hold the plain XCom row too.
    search_files(report, tmp_path / "home", "home")
    assert any(hit.startswith(str(db_path)) for hit in report.hits), report.hits
