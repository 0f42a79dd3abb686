"""A distributed Airflow on one machine: PostgreSQL, Redis, CeleryExecutor, two workers, two triggerers.

:class:`AirflowTopology` extends :class:`~tests.standalone.harness.AirflowStandalone` (same components, same
loopback-only settings, same waits and diagnostics) into the shape teams run in production:

- PostgreSQL as the metadata database (and Celery's result backend), Redis as the Celery broker: real
  servers (:mod:`tests.standalone.topology.servers`), started before the components and stopped after them;
- the scheduler, the dag-processor and the api-server;
- ``airflow celery worker`` twice (``worker-1``, ``worker-2``) and ``airflow triggerer`` twice
  (``triggerer-1``, ``triggerer-2``), each in its own session and process group with its own log.

Each component has a role name, and reports it as its hostname (``[core] hostname_callable``,
:mod:`tests.standalone.topology.hostname`): ``task_instance.hostname`` tells which worker ran a try, and
``job.hostname`` which triggerer a trigger's ``triggerer_id`` is. A killed worker or triggerer can be started
again under the same role (:meth:`AirflowTopology.restore`).

Usage::

    with AirflowTopology(DAGS, env={...}) as airflow:
        airflow.wait_for_dag("my_dag")
        run_id = airflow.trigger_dag("my_dag")
        airflow.wait_for_run_state("my_dag", run_id, "success")
        print(airflow.task_instance("my_dag", run_id, "task")["hostname"])  # worker-1 or worker-2
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.standalone.harness import AirflowComponentError, AirflowStandalone, Component, tail
from tests.standalone.topology.hostname import HOSTNAME_ENV
from tests.standalone.topology.servers import PostgresServer, RedisServer

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

REPO_ROOT = Path(__file__).resolve().parents[3]
HOSTNAME_CALLABLE = "tests.standalone.topology.hostname.hostname"
WORKER_READY = "ready."
"""What a Celery worker logs once it consumes its queue (``celery@worker-1 ready.``)."""
TASK_INSTANCE_HEARTBEAT_TIMEOUT = 30
"""``[scheduler] task_instance_heartbeat_timeout`` (default 300 s): a task whose worker died is failed (and
retried) this long after its last heartbeat."""

_SERVICES = ("scheduler", "dag-processor", "api-server")
_SERVICE_ARGS = {
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "api-server": ["api-server"],
}


class AirflowTopology(AirflowStandalone):
    """Airflow on PostgreSQL and Redis with the CeleryExecutor, ``workers`` Celery workers and ``triggerers``
    triggerers, all on loopback.

    :param dags_folder: the DAGs folder.
    :param env: extra environment of every component.
    :param workers: how many Celery workers (roles ``worker-1``...).
    :param triggerers: how many triggerers (roles ``triggerer-1``...).
    :param worker_concurrency: task slots of each worker (``[celery] worker_concurrency``).
    :param triggerer_capacity: triggers one triggerer runs at most (``[triggerer] capacity``).
    :param keep_home: keep the AIRFLOW_HOME (component and task logs) after :meth:`stop`.
    :param startup_timeout: seconds for the migration, and for the components to be healthy.
    """

    db_errors: tuple[type[Exception], ...] = ()  # set in __init__: psycopg2 is imported only here
    transient_db_errors: tuple[type[Exception], ...] = ()
    heartbeat_age_sql = "EXTRACT(EPOCH FROM (now() - latest_heartbeat))::float8"

    def __init__(
        self,
        dags_folder: Path,
        *,
        env: Mapping[str, str] | None = None,
        workers: int = 2,
        triggerers: int = 2,
        worker_concurrency: int = 4,
        triggerer_capacity: int = 1000,
        keep_home: bool = False,
        startup_timeout: float = 240.0,
    ) -> None:
        import psycopg2

        self.db_errors = (psycopg2.Error,)
        self.transient_db_errors = (psycopg2.OperationalError,)
        self.postgres = PostgresServer()
        self.redis = RedisServer()
        self.worker_roles = [f"worker-{n}" for n in range(1, workers + 1)]
        self.triggerer_roles = [f"triggerer-{n}" for n in range(1, triggerers + 1)]
        self.worker_concurrency = worker_concurrency
        self.triggerer_capacity = triggerer_capacity
        self.roles: dict[str, str] = {}
        """Role (``worker-1``...) of every component started, by component name."""
        self.startup_seconds: float | None = None
        """How long :meth:`start` took: servers, migration, every component healthy and ready."""
        super().__init__(dags_folder, env=env, keep_home=keep_home, startup_timeout=startup_timeout)
        self.wanted = [*_SERVICES, *self.triggerer_roles, *self.worker_roles]

    # -- lifecycle ---------------------------------------------------------------------------

    def _environment(self, extra: Mapping[str, str]) -> dict[str, str]:
        python_path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
        settings = {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.postgres.url,
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CELERY__BROKER_URL": self.redis.url,
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{self.postgres.url}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
            # Every worker slot can be busy, and 40 runs of one DAG at once (defaults: 32 and 16).
            "AIRFLOW__CORE__PARALLELISM": str(2 * self.worker_concurrency * len(self.worker_roles)),
            "AIRFLOW__CORE__MAX_ACTIVE_RUNS_PER_DAG": "64",
            "AIRFLOW__TRIGGERER__CAPACITY": str(self.triggerer_capacity),
            # A task whose worker died is noticed in seconds, not 5 minutes.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(TASK_INSTANCE_HEARTBEAT_TIMEOUT),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            # Each component reports its role as its hostname; the callable lives in this repository's tests.
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": HOSTNAME_CALLABLE,
            "PYTHONPATH": python_path,
        }
        return super()._environment({**settings, **extra})

    def start(self) -> None:
        """Start PostgreSQL and Redis, migrate the database, start every component, and wait until the
        services are healthy, both triggerers heartbeat and both workers consume their queue."""
        started = time.monotonic()
        self.component_logs.mkdir(parents=True, exist_ok=True)
        try:
            self.postgres.start()
            self.redis.start()
            self._migrate()
            for role in self.wanted:
                self._start_role(role)
            self.wait_healthy(self.startup_timeout)
            self.wait_complete(self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started

    def _start_role(self, role: str) -> Component:
        if role in _SERVICES:
            args = _SERVICE_ARGS[role]
        elif role in self.triggerer_roles:
            args = ["triggerer", "--skip-serve-logs"]
        elif role in self.worker_roles:
            args = [
                "celery",
                "worker",
                "--celery-hostname",
                role,
                "--concurrency",
                str(self.worker_concurrency),
                "--pid",
                str(self.home / f"{role}.pid"),
                "--skip-serve-logs",
                "--without-mingle",
                "--without-gossip",
            ]
        else:
            raise ValueError(f"unknown role {role!r}")
        component = self._start_component(role, args, env={HOSTNAME_ENV: role})
        self.roles[component.name] = role
        return component

    def __enter__(self) -> AirflowTopology:
        self.start()
        return self

    def stop(self, grace: float = 10.0) -> None:
        """Stop the components, then Redis and PostgreSQL."""
        try:
            super().stop(grace)
        finally:
            self.redis.stop()
            self.postgres.stop()

    # -- roles -------------------------------------------------------------------------------

    def live_component(self, role: str) -> Component | None:
        """The running (not killed) component of that role, if any."""
        for component in reversed(self.components):
            if self.roles.get(component.name) == role and component.alive() and not component.killed:
                return component
        return None

    def missing_roles(self) -> list[str]:
        """Roles that have no running component (killed ones)."""
        return [role for role in self.wanted if self.live_component(role) is None]

    def kill_role(self, role: str, timeout: float = 30.0) -> list[int]:
        """``kill -9`` the component of that role (``worker-1``, ``triggerer-2``...) and every process of its
        session: for a worker, its Celery pool, the task supervisors and the task processes. Returns the pids."""
        component = self.live_component(role)
        if component is None:
            raise AirflowComponentError(f"no running {role} to kill")
        return self.kill_component(component, timeout)

    def restore(self, timeout: float = 180.0) -> list[str]:
        """Start again every role whose component was killed; wait until it is ready. Returns the roles."""
        missing = self.missing_roles()
        for role in missing:
            self._start_role(role)
        if missing:
            self.wait_complete(timeout)
        return missing

    def wait_complete(self, timeout: float = 180.0) -> None:
        """Wait until every triggerer role heartbeats and every worker role consumes its queue."""

        def complete() -> bool:
            alive_triggerers = {job["hostname"] for job in self.triggerer_jobs() if job["alive"]}
            if not set(self.triggerer_roles) <= alive_triggerers:
                return False
            return all(
                (component := self.live_component(role)) is not None and f"@{role} {WORKER_READY}" in component.log()
                for role in self.worker_roles
            )

        what = f"triggerers {', '.join(self.triggerer_roles)} and workers {', '.join(self.worker_roles)} to be ready"
        self.wait_for(complete, timeout=timeout, what=what, interval=1.0)

    # -- metadata database -------------------------------------------------------------------

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read-only query on the PostgreSQL metadata database, as dicts (``?`` placeholders)."""
        import psycopg2
        import psycopg2.extras

        statement = sql.replace("%", "%%").replace("?", "%s")
        with contextlib.closing(psycopg2.connect(self.postgres.url, connect_timeout=10)) as connection:
            connection.autocommit = True
            with connection.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
                cursor.execute(statement, tuple(params))
                return [dict(row) for row in cursor.fetchall()]

    # -- diagnostics -------------------------------------------------------------------------

    def diagnostics(self, dag_id: str | None = None, run_id: str | None = None, lines: int = 40) -> str:
        """The standalone diagnostics, with the roles and the servers' logs."""
        roles = ", ".join(f"{name}={role}" for name, role in self.roles.items())
        return (
            f"{super().diagnostics(dag_id, run_id, lines)}\n===== roles =====\n{roles}\n"
            f"===== postgres log =====\n{tail(self.postgres.log(), lines)}\n"
            f"===== redis log =====\n{tail(self.redis.log(), lines)}"
        )


__all__ = ["TASK_INSTANCE_HEARTBEAT_TIMEOUT", "AirflowTopology"]
