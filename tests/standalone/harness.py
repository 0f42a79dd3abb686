"""A real, local Airflow for end-to-end tests: scheduler, dag-processor, api-server and triggerer.

``airflow standalone`` (3.3.2) is a thin parent that starts ``airflow scheduler``, ``airflow
dag-processor``, ``airflow api-server`` and ``airflow triggerer`` as child processes (one thread
each relaying their output) and forces the LocalExecutor and the SimpleAuthManager. It cannot
leave a component out, does not restart one that dies, and its scheduler and triggerer start log
servers listening on every interface. :class:`AirflowStandalone` therefore starts the same four
commands itself, in the same configuration, each in its own process group with its own log file:
everything listens on loopback only (``--skip-serve-logs``, api-server on 127.0.0.1), and the
triggerer can be killed and replaced like on a real deployment. ``components`` starts only some of
them (e.g. just the api-server, for the UI tests).

State is read straight from the sqlite metadata database (WAL mode, so reads never block the
components); DAG runs are created through the REST API.

Usage::

    with AirflowStandalone(DAGS, env={"AIRFLOW_CONN_X": "..."}) as airflow:
        airflow.wait_for_dag("my_dag")
        run_id = airflow.trigger_dag("my_dag", {"key": "value"})
        airflow.wait_for_run_state("my_dag", run_id, "success", timeout=120)
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import httpx

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from types import TracebackType

T = TypeVar("T")
log = logging.getLogger(__name__)

TRIGGERER_HEARTBEAT_SEC = 2
"""``[triggerer] job_heartbeat_sec`` of the components (default 5)."""
TRIGGERER_HEALTH_CHECK_THRESHOLD = 10
"""``[triggerer] triggerer_health_check_threshold`` (default 30): a triggerer silent for longer is
dead, and another one adopts its triggers."""

FINISHED_TI_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
FINISHED_RUN_STATES = frozenset({"success", "failed"})
_HEALTH_KEYS = ("metadatabase", "scheduler", "triggerer", "dag_processor")

COMPONENTS = ("scheduler", "dag-processor", "api-server", "triggerer")
"""Every component, in the order they are started."""
_COMPONENT_ARGS = {
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "api-server": ["api-server"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}
_COMPONENT_HEALTH_KEYS = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}


class AirflowWaitError(AssertionError):
    """A state was not reached (or not kept) in time; the message ends with diagnostics."""


class AirflowComponentError(RuntimeError):
    """A component could not start, or exited while it should have been running."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def tail(text: str, lines: int = 60) -> str:
    """The last ``lines`` lines of ``text``."""
    return "\n".join(text.splitlines()[-lines:])


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError as exc:
        return f"<unreadable: {exc}>"


def _airflow_command() -> list[str]:
    """The ``airflow`` CLI of the running interpreter's environment."""
    script = Path(sys.executable).with_name("airflow")
    return [str(script)] if script.exists() else [sys.executable, "-m", "airflow"]


@dataclass
class Component:
    """One Airflow component process (the leader of its own session and process group)."""

    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen[bytes]
    killed: bool = False

    @property
    def pid(self) -> int:
        """The component's pid, also its session and process group id."""
        return self.process.pid

    def alive(self) -> bool:
        """Whether the leader process still runs."""
        return self.process.poll() is None

    def log(self) -> str:
        """Everything the component wrote so far."""
        return _read(self.log_path)


class AirflowStandalone:
    """A throwaway Airflow 3 (sqlite, LocalExecutor, SimpleAuthManager with everyone admin) on loopback.

    A subclass can use another metadata database: it overrides :meth:`query` (rows as dicts, ``?``
    placeholders), :attr:`db_errors`, :attr:`transient_db_errors` and :attr:`heartbeat_age_sql`.

    :param dags_folder: the DAGs folder.
    :param env: extra environment of every component (connections ``AIRFLOW_CONN_*``, settings).
    :param home: the AIRFLOW_HOME (default: a new temporary directory, removed by :meth:`stop`
        unless ``keep_home``).
    :param keep_home: keep the temporary AIRFLOW_HOME (database, logs) after :meth:`stop`.
    :param startup_timeout: seconds to wait for the database migration and for every component
        to be healthy.
    :param components: the components to start (default: all of :data:`COMPONENTS`); without the
        api-server, :meth:`start` does not wait for health.
    """

    db_errors: tuple[type[Exception], ...] = (sqlite3.Error,)
    """What a failing :meth:`query` raises."""
    transient_db_errors: tuple[type[Exception], ...] = (sqlite3.OperationalError,)
    """Query errors that :meth:`wait_for` retries (e.g. "database is locked")."""
    heartbeat_age_sql = "(julianday('now') - julianday(latest_heartbeat)) * 86400.0"
    """Seconds since a job's ``latest_heartbeat``, by the database's clock."""

    def __init__(
        self,
        dags_folder: Path,
        *,
        env: Mapping[str, str] | None = None,
        home: Path | None = None,
        keep_home: bool = False,
        startup_timeout: float = 240.0,
        components: Iterable[str] = COMPONENTS,
    ) -> None:
        chosen = set(components)
        if unknown := chosen - set(COMPONENTS):
            raise ValueError(f"unknown component(s) {sorted(unknown)}; known: {', '.join(COMPONENTS)}")
        self.wanted = [name for name in COMPONENTS if name in chosen]
        self.dags_folder = dags_folder.resolve()
        self._remove_home = home is None and not keep_home
        self.home = (home or Path(tempfile.mkdtemp(prefix="bifrost-standalone-"))).resolve()
        self.db_path = self.home / "airflow.db"
        self.component_logs = self.home / "components"
        self.startup_timeout = startup_timeout
        self.port = free_port()
        self.api_url = f"http://127.0.0.1:{self.port}"
        self.components: list[Component] = []
        self._http = httpx.Client(base_url=self.api_url, timeout=30.0)
        self.env = self._environment(env or {})

    # -- lifecycle ---------------------------------------------------------------------------

    def _environment(self, extra: Mapping[str, str]) -> dict[str, str]:
        """The components' environment: this process's, minus its Airflow and pytest settings."""
        inherited = {
            key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "_AIRFLOW", "PYTEST_"))
        }
        bin_dir = str(Path(sys.executable).parent)
        settings = {
            "PATH": os.pathsep.join([bin_dir, inherited.get("PATH", os.defpath)]),
            "PYTHONUNBUFFERED": "1",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.db_path}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            # Look for DAG files often (default every 300 s); one parsing process is enough.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            # A killed triggerer is declared dead, and its triggers adopted, within seconds.
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": str(TRIGGERER_HEARTBEAT_SEC),
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(TRIGGERER_HEALTH_CHECK_THRESHOLD),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
        }
        return {**inherited, **settings, **extra}

    def start(self) -> None:
        """Migrate the database, start the components, wait until they are healthy."""
        self.component_logs.mkdir(parents=True, exist_ok=True)
        try:
            self._migrate()
            for name in self.wanted:
                self._start_component(name, _COMPONENT_ARGS[name])
            if "api-server" in self.wanted:
                self.wait_healthy(self.startup_timeout)
        except BaseException:
            self.stop()
            raise

    def _migrate(self) -> None:
        log_path = self.component_logs / "db-migrate.log"
        with log_path.open("wb") as output:
            result = subprocess.run(
                [*_airflow_command(), "db", "migrate"],
                env=self.env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=self.startup_timeout,
                check=False,
            )
        if result.returncode != 0:
            raise AirflowComponentError(f"airflow db migrate failed ({result.returncode}):\n{tail(_read(log_path))}")

    def _start_component(self, name: str, args: list[str], env: Mapping[str, str] | None = None) -> Component:
        """Start ``airflow <args>`` as the component ``name`` (made unique: ``triggerer-2``...), with
        ``env`` added to the components' environment."""
        taken = {component.name for component in self.components}
        unique, n = name, 1
        while unique in taken:
            n += 1
            unique = f"{name}-{n}"
        argv = [*_airflow_command(), *args]
        log_path = self.component_logs / f"{unique}.log"
        with log_path.open("ab") as output:
            process = subprocess.Popen(
                argv,
                env={**self.env, **(env or {})},
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own session and group: find and kill it with its children
            )
        component = Component(unique, argv, log_path, process)
        self.components.append(component)
        return component

    def stop(self, grace: float = 10.0) -> None:
        """Stop every component (SIGTERM, then SIGKILL to its process group and to every process
        left in its session); remove the home if it was created here and not kept."""
        running = [component for component in self.components if component.alive()]
        for component in running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(component.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for component in running:
            try:
                component.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("airflow %s did not exit within %.0f s of SIGTERM: killing it", component.name, grace)
        for component in self.components:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(component.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                component.process.wait(5)
        self._kill_leftovers()
        self._http.close()
        if self._remove_home:
            shutil.rmtree(self.home, ignore_errors=True)

    def _kill_leftovers(self) -> None:
        """SIGKILL any process left in the components' sessions (e.g. a task runner in a group of its own)."""
        for _ in range(3):
            pids = self.find_processes()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)

    def __enter__(self) -> AirflowStandalone:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- processes ---------------------------------------------------------------------------

    def find_processes(self, cmdline_contains: str | None = None) -> list[int]:
        """Pids of the live processes of the components: every process of their sessions (each
        component starts one, which its children, grandchildren and orphans keep), optionally
        only those whose command line (as set by setproctitle) contains ``cmdline_contains``."""
        sessions = {component.pid for component in self.components}
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            stat = _stat(pid)
            if stat is None or stat.state == "Z" or stat.session not in sessions:
                continue
            if cmdline_contains is not None:
                try:
                    cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    continue
                if cmdline_contains not in cmdline:
                    continue
            found.append(pid)
        return found

    def component(self, name: str) -> Component:
        """The component of that unique name (``scheduler``, ``triggerer``, ``triggerer-2``...)."""
        for component in self.components:
            if component.name == name:
                return component
        raise KeyError(name)

    @property
    def triggerer_components(self) -> list[Component]:
        """Every triggerer started so far, oldest first (killed ones included)."""
        return [c for c in self.components if c.name == "triggerer" or c.name.startswith("triggerer-")]

    def check_components(self) -> None:
        """Raise :class:`AirflowComponentError` if a component exited without being killed here."""
        for component in self.components:
            if not component.killed and not component.alive():
                raise AirflowComponentError(
                    f"airflow {component.name} exited with code {component.process.returncode}:\n"
                    f"{tail(component.log())}"
                )

    def kill_task_process(self, dag_id: str, run_id: str, task_id: str) -> list[int]:
        """``kill -9`` the process running a task's current try (its title is ``airflow worker -- <ti id>``);
        the pids killed."""
        return self.signal_task_process(dag_id, run_id, task_id, signal.SIGKILL)

    def signal_task_process(self, dag_id: str, run_id: str, task_id: str, signum: int) -> list[int]:
        """Send ``signum`` to the process running a task's current try (e.g. SIGSTOP to freeze it mid-call,
        then SIGKILL); the pids signalled."""
        ti = self.task_instance(dag_id, run_id, task_id)
        assert ti is not None, f"no task instance {dag_id}.{task_id} in {run_id}"
        pids = self.find_processes(f"airflow worker -- {uuid.UUID(str(ti['id']))}")
        assert pids, f"no process runs {task_id} ({ti['id']})\n{self.diagnostics(dag_id, run_id)}"
        for pid in pids:
            os.kill(pid, signum)
        return pids

    def kill_triggerer(self, timeout: float = 30.0) -> list[int]:
        """``kill -9`` the running triggerer and every process of its session (its trigger runner):
        a crash, nothing cleaned up, its job row keeps ``running``. Returns the pids killed."""
        running = [c for c in self.triggerer_components if c.alive() and not c.killed]
        if not running:
            raise AirflowComponentError("no running triggerer to kill")
        return self.kill_component(running[-1], timeout)

    def kill_component(self, component: Component, timeout: float = 30.0) -> list[int]:
        """``kill -9`` a component and every process of its session (e.g. a worker's task processes, in
        process groups of their own): a crash, nothing cleaned up. Returns the pids killed."""
        pids = [pid for pid in self.find_processes() if (stat := _stat(pid)) and stat.session == component.pid]
        component.killed = True
        os.killpg(component.pid, signal.SIGKILL)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        component.process.wait(timeout)
        self.wait_for(
            lambda: not any(_alive(pid) for pid in pids),
            timeout=timeout,
            what=f"the killed {component.name}'s processes {pids} to be gone",
        )
        return pids

    def start_triggerer(self, timeout: float = 120.0) -> int:
        """Start another ``airflow triggerer``; wait until it heartbeats. Returns its job id."""
        known = {job["id"] for job in self.triggerer_jobs()}
        component = self._start_component("triggerer", ["triggerer", "--skip-serve-logs"])

        def new_job() -> int | None:
            for job in self.triggerer_jobs():
                if job["id"] not in known and job["alive"]:
                    job_id: int = job["id"]
                    return job_id
            return None

        job_id = self.wait_for(new_job, timeout=timeout, what=f"the new triggerer ({component.name}) to heartbeat")
        return job_id

    # -- REST API ----------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``GET /api/v2/monitor/health`` (empty if the api-server does not answer yet)."""
        try:
            response = self._http.get("/api/v2/monitor/health", timeout=5.0)
        except httpx.HTTPError:
            return {}
        if response.status_code != 200:
            return {}
        result: dict[str, Any] = response.json()
        return result

    def is_healthy(self, keys: Iterable[str] = _HEALTH_KEYS) -> bool:
        """Whether the health endpoint reports every one of ``keys`` healthy."""
        health = self.health()
        return all(health.get(key, {}).get("status") == "healthy" for key in keys)

    def wait_healthy(self, timeout: float = 180.0) -> None:
        """Wait until the api-server answers and reports the database and every started component healthy."""
        keys = ["metadatabase", *(_COMPONENT_HEALTH_KEYS[n] for n in self.wanted if n in _COMPONENT_HEALTH_KEYS)]
        self.wait_for(
            lambda: self.is_healthy(keys), timeout=timeout, what=f"{', '.join(keys)} to be healthy", interval=1.0
        )

    def trigger_dag(self, dag_id: str, conf: Mapping[str, Any] | None = None, run_id: str | None = None) -> str:
        """Create a manual DAG run through the REST API; returns its run id."""
        body = {
            "dag_run_id": run_id or f"standalone__{uuid.uuid4().hex[:12]}",
            "logical_date": None,
            "conf": dict(conf or {}),
        }
        response = self._http.post(f"/api/v2/dags/{dag_id}/dagRuns", json=body)
        if response.status_code != 200:
            raise AirflowComponentError(f"triggering {dag_id} failed: HTTP {response.status_code}: {response.text}")
        created: str = response.json()["dag_run_id"]
        return created

    def unpause(self, dag_id: str) -> None:
        """Unpause a DAG through the REST API."""
        response = self._http.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        response.raise_for_status()

    # -- metadata database -------------------------------------------------------------------

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read-only query on the metadata database, as dicts."""
        with contextlib.closing(sqlite3.connect(self.db_path, timeout=30.0)) as connection:
            connection.row_factory = sqlite3.Row
            return [dict(row) for row in connection.execute(sql, tuple(params))]

    def import_errors(self) -> dict[str, str]:
        """The DAG files that failed to import, with their stack traces."""
        return {
            row["filename"]: row["stacktrace"] for row in self.query("SELECT filename, stacktrace FROM import_error")
        }

    def wait_for_dag(self, dag_id: str, timeout: float = 120.0) -> None:
        """Wait until the dag-processor has serialized ``dag_id``; unpause it if needed. Fails at once
        on an import error."""

        def parsed() -> bool:
            if errors := self.import_errors():
                raise AirflowWaitError(f"DAG import errors:\n{json.dumps(errors, indent=1)}")
            rows = self.query(
                "SELECT d.is_paused FROM dag d JOIN serialized_dag s ON s.dag_id = d.dag_id "
                "WHERE d.dag_id = ? AND NOT d.is_stale",
                (dag_id,),
            )
            return bool(rows)

        self.wait_for(parsed, timeout=timeout, what=f"DAG {dag_id} to be parsed")
        if self.query("SELECT is_paused FROM dag WHERE dag_id = ?", (dag_id,))[0]["is_paused"]:
            self.unpause(dag_id)

    def dag_run_state(self, dag_id: str, run_id: str) -> str | None:
        """The run's state (None: no such run)."""
        rows = self.query("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", (dag_id, run_id))
        return rows[0]["state"] if rows else None

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any] | None:
        """The task instance row (unmapped), or None."""
        rows = self.query(
            "SELECT * FROM task_instance WHERE dag_id = ? AND run_id = ? AND task_id = ? AND map_index = -1",
            (dag_id, run_id, task_id),
        )
        return rows[0] if rows else None

    def task_state(self, dag_id: str, run_id: str, task_id: str) -> str | None:
        """The task instance's state (None: not created yet, or no state)."""
        row = self.task_instance(dag_id, run_id, task_id)
        return row["state"] if row else None

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """``{task_id: state}`` of a run."""
        rows = self.query("SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?", (dag_id, run_id))
        return {row["task_id"]: row["state"] for row in rows}

    def triggers(self, classpath: str | None = None) -> list[dict[str, Any]]:
        """Trigger rows (``id``, ``classpath``, ``triggerer_id``, ``created_date``) with the task
        deferred on them (``dag_id``, ``run_id``, ``task_id``, None for asset triggers)."""
        sql = (
            "SELECT t.id, t.classpath, t.triggerer_id, t.created_date, ti.dag_id, ti.run_id, ti.task_id "
            "FROM trigger t LEFT JOIN task_instance ti ON ti.trigger_id = t.id"
        )
        if classpath is None:
            return self.query(sql)
        return self.query(sql + " WHERE t.classpath = ?", (classpath,))

    def trigger_of(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any] | None:
        """The trigger the task instance is deferred on, or None."""
        for trigger in self.triggers():
            if (trigger["dag_id"], trigger["run_id"], trigger["task_id"]) == (dag_id, run_id, task_id):
                return trigger
        return None

    def triggerer_jobs(self) -> list[dict[str, Any]]:
        """Triggerer job rows, oldest first, each with ``alive``: running, not ended, and a
        heartbeat fresher than the health-check threshold (by the database's clock)."""
        rows = self.query(
            "SELECT id, state, start_date, end_date, latest_heartbeat, hostname, "
            f"{self.heartbeat_age_sql} AS heartbeat_age "
            "FROM job WHERE job_type = 'TriggererJob' ORDER BY id"
        )
        for row in rows:
            age = row["heartbeat_age"]
            row["alive"] = (
                row["state"] == "running"
                and row["end_date"] is None
                and age is not None
                and age < TRIGGERER_HEALTH_CHECK_THRESHOLD
            )
        return rows

    # -- waiting -----------------------------------------------------------------------------

    def wait_for(
        self,
        predicate: Callable[[], T | None],
        *,
        timeout: float,
        what: str,
        interval: float = 0.5,
        dag_id: str | None = None,
        run_id: str | None = None,
    ) -> T:
        """Poll ``predicate`` until it returns a truthy value, and return it. Raises
        :class:`AirflowWaitError` with diagnostics after ``timeout`` seconds, and
        :class:`AirflowComponentError` as soon as a component exits unexpectedly."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while True:
            self.check_components()
            value: T | None
            try:
                value = predicate()
            except self.transient_db_errors as exc:  # e.g. "database is locked": try again
                value, last_error = None, exc
            if value:
                return value
            if time.monotonic() >= deadline:
                detail = f" (last error: {last_error})" if last_error else ""
                raise AirflowWaitError(
                    f"timed out after {timeout:.0f} s waiting for {what}{detail}\n{self.diagnostics(dag_id, run_id)}"
                )
            time.sleep(interval)

    def assert_stays(
        self,
        predicate: Callable[[], bool],
        *,
        duration: float,
        what: str,
        interval: float = 0.5,
        dag_id: str | None = None,
        run_id: str | None = None,
    ) -> None:
        """Check ``predicate`` stays true for ``duration`` seconds (polled); fail as soon as it is not."""
        deadline = time.monotonic() + duration
        while True:
            if not predicate():
                raise AirflowWaitError(f"expected {what} for {duration:.0f} s\n{self.diagnostics(dag_id, run_id)}")
            if time.monotonic() >= deadline:
                return
            time.sleep(interval)

    def wait_for_task_state(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        state: str,
        timeout: float = 120.0,
    ) -> dict[str, Any]:
        """Wait until the task instance is in ``state``; returns its row. Fails at once if it
        finishes in another state."""

        def reached() -> dict[str, Any] | None:
            row = self.task_instance(dag_id, run_id, task_id)
            current = row["state"] if row else None
            if current == state:
                return row
            if current in FINISHED_TI_STATES:
                raise AirflowWaitError(
                    f"task {task_id} ended {current}, expected {state}\n{self.diagnostics(dag_id, run_id)}"
                )
            return None

        what = f"task {dag_id}.{task_id} of {run_id} to be {state}"
        return self.wait_for(reached, timeout=timeout, what=what, dag_id=dag_id, run_id=run_id)

    def wait_for_run_state(self, dag_id: str, run_id: str, state: str, timeout: float = 120.0) -> None:
        """Wait until the DAG run is in ``state``; fails at once if it finishes in another state."""

        def reached() -> bool:
            current = self.dag_run_state(dag_id, run_id)
            if current != state and current in FINISHED_RUN_STATES:
                raise AirflowWaitError(
                    f"run {run_id} ended {current}, expected {state}\n{self.diagnostics(dag_id, run_id)}"
                )
            return current == state

        what = f"run {dag_id}/{run_id} to be {state}"
        self.wait_for(reached, timeout=timeout, what=what, dag_id=dag_id, run_id=run_id)

    # -- logs and diagnostics ----------------------------------------------------------------

    def triggerer_log(self) -> str:
        """The output of every triggerer started so far, in order."""
        return "\n".join(f"===== {c.name} =====\n{c.log()}" for c in self.triggerer_components)

    def task_logs(self, dag_id: str, run_id: str, task_id: str | None = None) -> dict[Path, str]:
        """The task log files of a run (trigger logs included), by path."""
        run_dir = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
        pattern = f"task_id={task_id}/**/*" if task_id else "**/*"
        return {path: _read(path) for path in sorted(run_dir.glob(pattern)) if path.is_file()}

    def diagnostics(self, dag_id: str | None = None, run_id: str | None = None, lines: int = 40) -> str:
        """What to read when a wait fails: database rows, and the tails of the component logs and
        of the run's task logs."""
        parts = ["===== components ====="]
        for component in self.components:
            status = "running" if component.alive() else f"exited {component.process.returncode}"
            parts.append(f"{component.name}: pid {component.pid}, {status}{' (killed)' if component.killed else ''}")
        with contextlib.suppress(*self.db_errors):
            parts.append("===== database =====")
            if dag_id and run_id:
                parts.append(f"dag_run: {self.dag_run_state(dag_id, run_id)}")
                parts.extend(
                    f"task_instance: {row}"
                    for row in self.query(
                        "SELECT task_id, state, try_number, trigger_id, next_method, hostname, pid "
                        "FROM task_instance WHERE dag_id = ? AND run_id = ?",
                        (dag_id, run_id),
                    )
                )
            parts.extend(f"trigger: {row}" for row in self.triggers())
            parts.extend(f"triggerer job: {row}" for row in self.triggerer_jobs())
            parts.extend(f"import error: {name}\n{trace}" for name, trace in self.import_errors().items())
        for component in self.components:
            parts.append(f"===== {component.name} log ({component.log_path}) =====\n{tail(component.log(), lines)}")
        if dag_id and run_id:
            for path, text in self.task_logs(dag_id, run_id).items():
                parts.append(f"===== task log {path.relative_to(self.home)} =====\n{tail(text, lines)}")
        return "\n".join(parts)


class _Stat(NamedTuple):
    state: str
    ppid: int
    pgrp: int
    session: int


def _stat(pid: int) -> _Stat | None:
    """Fields of ``/proc/<pid>/stat`` (None: no such process)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return _Stat(fields[0], int(fields[1]), int(fields[2]), int(fields[3]))
    except (OSError, IndexError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live (non-zombie) process."""
    stat = _stat(pid)
    return stat is not None and stat.state != "Z"


__all__ = [
    "COMPONENTS",
    "FINISHED_RUN_STATES",
    "FINISHED_TI_STATES",
    "TRIGGERER_HEALTH_CHECK_THRESHOLD",
    "AirflowComponentError",
    "AirflowStandalone",
    "AirflowWaitError",
    "Component",
    "free_port",
    "tail",
]
