"""The servers behind a distributed Airflow, each a real process on loopback started and stopped here:
PostgreSQL (the metadata database and Celery's result backend) and Redis (the Celery broker).

Both are Debian's packages (``postgresql``, ``redis-server``); ``scripts/test.sh`` installs them when they
are missing and it runs as root. :func:`missing_servers` says what is missing. Each server gets its own
temporary directory (data, socket, log), listens on 127.0.0.1 on a free port, and runs in a session of its
own so that :meth:`stop` leaves nothing behind. PostgreSQL refuses to run as root: as root, it runs as the
``postgres`` user that Debian's package creates.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tests.standalone.harness import free_port, tail

if TYPE_CHECKING:
    from types import TracebackType

POSTGRES_USER = "postgres"
"""The system user PostgreSQL runs as when the tests run as root."""
DATABASE = "airflow"


def postgres_bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` that has the server, or None."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/postgres")]
    if not found:
        return None
    return max(found, key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0)


def missing_servers() -> list[str]:
    """The Debian packages this module needs and does not find: ``postgresql``, ``redis-server``."""
    missing = []
    if postgres_bin_dir() is None:
        missing.append("postgresql")
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    return missing


class ServerError(RuntimeError):
    """A server could not start."""


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log_path: Path, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise ServerError(f"{what} exited with code {process.returncode}:\n{tail(_read(log_path))}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return
        if time.monotonic() >= deadline:
            raise ServerError(
                f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s:\n{tail(_read(log_path))}"
            )
        time.sleep(0.1)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError as exc:
        return f"<unreadable: {exc}>"


def _stop(process: subprocess.Popen[bytes] | None, sig: signal.Signals, grace: float) -> None:
    """Send ``sig`` to the process, wait up to ``grace`` s, then SIGKILL its whole process group."""
    if process is None:
        return
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)


class PostgresServer:
    """A throwaway PostgreSQL server: ``initdb`` in a temporary directory, ``postgres`` on 127.0.0.1.

    Tuned for tests, not durability (``fsync=off``): the data is removed by :meth:`stop`.
    Connections are trusted from loopback only; the database :data:`DATABASE` belongs to :attr:`user`.
    """

    def __init__(self, *, max_connections: int = 300, startup_timeout: float = 60.0) -> None:
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            raise ServerError("PostgreSQL is not installed (Debian's postgresql package)")
        self.bin_dir = bin_dir
        self.max_connections = max_connections
        self.startup_timeout = startup_timeout
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="bifrost-postgres-"))
        self.data_dir = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.log_path = self.root / "postgres.log"
        as_root = os.geteuid() == 0
        self.run_as = POSTGRES_USER if as_root else None
        self.user = POSTGRES_USER if as_root else pwd.getpwuid(os.geteuid()).pw_name
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the :data:`DATABASE` database."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, *argv: str) -> None:
        result = subprocess.run(
            argv,
            user=self.run_as,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=self.startup_timeout,
            check=False,
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode(errors="replace")
            raise ServerError(f"{' '.join(argv)} failed ({result.returncode}):\n{tail(output)}")

    def start(self) -> None:
        """``initdb``, start ``postgres``, create the database."""
        try:
            self.socket_dir.mkdir()
            if self.run_as is not None:
                account = pwd.getpwnam(self.run_as)
                for path in (self.root, self.socket_dir):
                    os.chown(path, account.pw_uid, account.pw_gid)
            self._run(
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                self.user,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            )
            argv = [
                str(self.bin_dir / "postgres"),
                "-D",
                str(self.data_dir),
                "-p",
                str(self.port),
                "-k",
                str(self.socket_dir),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"max_connections={self.max_connections}",
                # A test database: speed over durability.
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
            with self.log_path.open("ab") as output:
                if self.run_as is not None:
                    os.chown(self.log_path, pwd.getpwnam(self.run_as).pw_uid, -1)
                self.process = subprocess.Popen(
                    argv,
                    user=self.run_as,
                    cwd=self.root,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            _wait_for_port(self.port, self.process, self.log_path, "postgres", self.startup_timeout)
            self._run(
                str(self.bin_dir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self.user,
                DATABASE,
            )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then remove the data."""
        _stop(self.process, signal.SIGINT, 20.0)
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        """The server's log."""
        return _read(self.log_path)

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


class RedisServer:
    """A throwaway Redis server on 127.0.0.1, in memory only (no snapshot, no append-only file)."""

    def __init__(self, *, startup_timeout: float = 30.0) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            raise ServerError("Redis is not installed (Debian's redis-server package)")
        self.executable = executable
        self.startup_timeout = startup_timeout
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="bifrost-redis-"))
        self.log_path = self.root / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL of database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start ``redis-server``; wait until it listens."""
        argv = [
            self.executable,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.root),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ]
        try:
            with self.log_path.open("ab") as output:
                self.process = subprocess.Popen(
                    argv,
                    cwd=self.root,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            _wait_for_port(self.port, self.process, self.log_path, "redis-server", self.startup_timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGTERM, then remove its directory."""
        _stop(self.process, signal.SIGTERM, 10.0)
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        """The server's log."""
        return _read(self.log_path)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


__all__ = ["DATABASE", "PostgresServer", "RedisServer", "ServerError", "missing_servers", "postgres_bin_dir"]
