"""Fixtures of the browser tests: a real Airflow api-server and headless Chromium.

Chromium is Debian's package (``/usr/bin/chromium``, or ``BIFROST_CHROMIUM``), driven by Playwright;
``scripts/test.sh`` installs it when it is missing and runs as root. Screenshots go to
``test-artifacts/ui/`` and their paths are listed at the end of the pytest output.
Run only these tests with ``-m ui``, or leave them out with ``-m "not ui"``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.standalone.harness import AirflowStandalone, tail

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator

    from _pytest.terminal import TerminalReporter
    from playwright.sync_api import Browser, Page, ViewportSize

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "ui"
CHROMIUM = os.environ.get("BIFROST_CHROMIUM", "/usr/bin/chromium")
# No network here: without these, Chromium's background connections (updates, sync, QUIC) misbehave.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 1400, "height": 1000}

_SCREENSHOTS = pytest.StashKey[list[Path]]()
_API_SERVER = pytest.StashKey[AirflowStandalone]()
_CALL_REPORT = pytest.StashKey[pytest.TestReport]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, object, object]:
    """Attach the api-server's log to a failed test's report, and keep the report for the fixtures."""
    report = yield
    assert isinstance(report, pytest.TestReport)
    if report.when == "call":
        item.stash[_CALL_REPORT] = report
    airflow = item.config.stash.get(_API_SERVER, None)
    if report.failed and airflow is not None and airflow.components:
        lines = [line for line in airflow.components[0].log().splitlines() if "[http.access]" not in line]
        report.sections.append(("airflow api-server log (tail, no access log)", tail("\n".join(lines), 60)))
    return report


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    """List the screenshots, so CI logs say where to look."""
    shots = terminalreporter.config.stash.get(_SCREENSHOTS, [])
    if shots:
        terminalreporter.section("UI screenshots")
        for path in shots:
            terminalreporter.write_line(str(path))


@pytest.fixture(scope="module")
def chromium_path() -> str:
    """The system Chromium; a clear failure (not a skip) when it is missing."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: the UI tests need Debian's package "
            "(`apt-get install -y chromium`, which scripts/test.sh runs when it is root), or BIFROST_CHROMIUM "
            'set to a Chromium binary. Leave these tests out with -m "not ui".',
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture(scope="module")
def airflow_ui(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowStandalone]:
    """A real ``airflow api-server`` alone (sqlite, everyone admin, connection testing enabled); its
    home (database, log) stays in pytest's temporary directory."""
    home = tmp_path_factory.mktemp("airflow-ui-home")
    (home / "dags").mkdir()
    env = {"AIRFLOW__CORE__TEST_CONNECTION": "Enabled"}
    try:
        # Well within the test's own timeout, so that a slow start fails with the harness's diagnostics.
        with AirflowStandalone(
            home / "dags", home=home, env=env, components=["api-server"], startup_timeout=100.0
        ) as airflow:
            pytestconfig.stash[_API_SERVER] = airflow
            yield airflow
    finally:
        if _API_SERVER in pytestconfig.stash:
            del pytestconfig.stash[_API_SERVER]


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Browser]:
    """Headless Chromium, driven by Playwright."""
    from playwright.sync_api import expect, sync_playwright

    # The api-server answers its first requests slowly (it loads the providers on demand).
    expect.set_options(timeout=20_000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    """``test-artifacts/ui/``, emptied: only this session's screenshots."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture
def screenshot(pytestconfig: pytest.Config, artifacts: Path) -> Callable[[Page, str], Path]:
    """``screenshot(page, name)``: save ``test-artifacts/ui/<name>.png`` and list it in the summary."""

    def take(page: Page, name: str) -> Path:
        path = artifacts / f"{name}.png"
        page.screenshot(path=str(path), full_page=True, animations="disabled")
        pytestconfig.stash.setdefault(_SCREENSHOTS, []).append(path)
        return path

    return take


@pytest.fixture
def page(
    request: pytest.FixtureRequest,
    browser: Browser,
    airflow_ui: AirflowStandalone,
    screenshot: Callable[[Page, str], Path],
) -> Iterator[Page]:
    """A fresh browser page on the api-server; on failure, a screenshot of where it stopped."""
    context = browser.new_context(base_url=airflow_ui.api_url, viewport=VIEWPORT)
    context.set_default_timeout(20_000)
    page = context.new_page()
    try:
        yield page
        report = request.node.stash.get(_CALL_REPORT, None)
        if report is not None and report.failed:
            screenshot(page, f"{request.node.name}-failure")
    finally:
        context.close()
