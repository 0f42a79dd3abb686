"""Run the emulator on a loopback port: in a thread of this process, or as a child process."""

from __future__ import annotations

import functools
import os
import queue
import re
import socket
import subprocess as sp
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn

from airflow_provider_bifrost.testing.emulator.app import create_app
from airflow_provider_bifrost.testing.emulator.control import EmulatorClient
from airflow_provider_bifrost.testing.emulator.middleware import FaultMiddleware
from airflow_provider_bifrost.testing.emulator.state import EmulatorConfig, EmulatorState

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[3])


class _Server(uvicorn.Server):
    """
    A uvicorn server that reports when it accepts connections, and closes the emulator's state when it stops:
    stopped by SIGTERM, uvicorn raises the signal again once it has shut down, which ends the process before
    the code after ``run()`` does.
    """

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None], on_stop: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_ready = on_ready
        self._on_stop = on_stop

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._on_ready()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().shutdown(sockets)
        finally:
            self._on_stop()


def _bind(host: str, port: int) -> tuple[socket.socket, str]:
    """A bound socket (port 0: a free port) and the URL it serves."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_host, bound_port = sock.getsockname()[:2]
    return sock, f"http://{f'[{bound_host}]' if ':' in bound_host else bound_host}:{bound_port}"


def _server(
    state: EmulatorState,
    log_level: str,
    on_ready: Callable[[], None],
    *,
    own_logging: bool,
) -> _Server:
    """A uvicorn server of the emulator; ``own_logging``: install uvicorn's logging config
    (a process of its own) rather than leave the host process's logging alone (a thread)."""
    # FaultMiddleware outermost: its `send` must be uvicorn's own (see middleware._transport).
    app = FaultMiddleware(create_app(state), state)
    config = uvicorn.Config(
        app,
        log_level=log_level,
        log_config=uvicorn.config.LOGGING_CONFIG if own_logging else None,
        access_log=False,
        lifespan="off",
        proxy_headers=False,
        timeout_graceful_shutdown=2,
    )
    return _Server(config, on_ready, state.close)


def serve(
    config: EmulatorConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    log_level: str = "info",
    on_ready: Callable[[str], None] = print,
) -> None:
    """Run the emulator in the calling (main) thread until SIGINT/SIGTERM.

    :param config: emulator configuration.
    :param host: interface to listen on.
    :param port: port (0: a free one).
    :param log_level: uvicorn log level.
    :param on_ready: called with the base URL once connections are accepted.
    """
    state = EmulatorState(config)
    sock, url = _bind(host, port)
    try:
        _server(state, log_level, lambda: on_ready(url), own_logging=True).run(sockets=[sock])
    finally:
        sock.close()
        state.close()


@contextmanager
def run_emulator(
    config: EmulatorConfig | None = None,
    *,
    subprocess: bool = False,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = 30.0,
    log_level: str = "warning",
) -> Iterator[EmulatorClient]:
    """Start an emulator, yield its :class:`EmulatorClient` (``.url`` is the base URL), stop it on exit.

    :param config: initial configuration (change it later with ``client.configure(...)``).
    :param subprocess: run it as a child process (``python -m airflow_provider_bifrost.testing.emulator``)
        instead of a thread of this process (a separate GIL: best for benchmarks).
    :param host: interface to listen on.
    :param port: port (0: a free one).
    :param startup_timeout: seconds to wait for the emulator to accept connections.
    :param log_level: uvicorn log level.
    """
    start = _in_subprocess if subprocess else _in_thread
    with start(config, host, port, startup_timeout, log_level) as url, EmulatorClient(url) as client:
        client.health()
        yield client


@contextmanager
def _in_thread(
    config: EmulatorConfig | None,
    host: str,
    port: int,
    timeout: float,
    log_level: str,
) -> Iterator[str]:
    state = EmulatorState(config)
    ready = threading.Event()
    server = _server(state, log_level, ready.set, own_logging=False)
    sock, url = _bind(host, port)
    run = functools.partial(server.run, sockets=[sock])
    thread = threading.Thread(target=run, name="bifrost-emulator", daemon=True)
    thread.start()
    try:
        if not ready.wait(timeout):
            raise RuntimeError(f"the Bifrost emulator did not start within {timeout} s")
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
        state.close()


@contextmanager
def _in_subprocess(
    config: EmulatorConfig | None,
    host: str,
    port: int,
    timeout: float,
    log_level: str,
) -> Iterator[str]:
    command = [sys.executable, "-m", "airflow_provider_bifrost.testing.emulator"]
    command += ["--host", host, "--port", str(port), "--log-level", log_level]
    python_path = os.pathsep.join(filter(None, [_PACKAGE_ROOT, os.environ.get("PYTHONPATH")]))
    process = sp.Popen(command, stdout=sp.PIPE, text=True, env={**os.environ, "PYTHONPATH": python_path})
    try:
        url = _read_url(process, timeout)
        if config is not None:
            with EmulatorClient(url) as client:
                client.configure(**config.model_dump(mode="json"))
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except sp.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _read_url(process: sp.Popen[str], timeout: float) -> str:
    """The URL the child prints when ready."""
    found: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            match = re.search(r"http://\S+", line)
            if match:
                found.put(match.group(0))
                return
        found.put(None)

    threading.Thread(target=read, name="bifrost-emulator-stdout", daemon=True).start()
    try:
        url = found.get(timeout=timeout)
    except queue.Empty:
        url = None
    if url is None:
        raise RuntimeError(f"the Bifrost emulator process did not start (exit code {process.poll()})")
    return url
