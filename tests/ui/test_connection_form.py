"""The "Bifrost" connection type in Airflow's web UI, driven in headless Chromium.

One walk through the real form: the relabelled standard fields and the extra fields are shown, a
connection pointing at the emulator is saved, and the list's Test button reports the hook's own
answer: success with the right virtual key, the hook's 401 explanation with a wrong one.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import expect

from airflow_provider_bifrost.get_provider_info import get_provider_info
from airflow_provider_bifrost.hooks.bifrost import BifrostHook
from airflow_provider_bifrost.testing.emulator import EmulatorConfig, run_emulator

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from playwright.sync_api import Locator, Page, ViewportSize

    from airflow_provider_bifrost.testing.emulator import EmulatorClient

pytestmark = [pytest.mark.ui, pytest.mark.timeout(180)]

CONN_ID = "bifrost_ui_test"
VIRTUAL_KEY = "sk-bf-ui-test-key"
"""The one virtual key the emulator accepts."""
WRONG_KEY = "sk-bf-not-a-known-key"
FORM_VIEWPORT: ViewportSize = {"width": 1400, "height": 1650}
"""Tall enough for the form's longest section (the extra fields) in one screenshot."""
PROVIDER = "anthropic"
"""Chosen in the form's "Default provider" extra: the Test call must use it."""


@pytest.fixture(scope="module")
def ui_emulator() -> Iterator[EmulatorClient]:
    """A Bifrost emulator that accepts only :data:`VIRTUAL_KEY`."""
    with run_emulator(EmulatorConfig(virtual_keys={VIRTUAL_KEY: "ok"})) as emulator:
        yield emulator


def bifrost_form() -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``bifrost`` connection type's ``ui-field-behaviour`` and ``conn-fields``."""
    (conn_type,) = get_provider_info()["connection-types"]
    return conn_type["ui-field-behaviour"], conn_type["conn-fields"]


def hook_answer(monkeypatch: pytest.MonkeyPatch, **fields: Any) -> tuple[bool, str]:
    """What ``BifrostHook.test_connection`` answers, run here, for a connection of these fields."""
    monkeypatch.setenv("AIRFLOW_CONN_BIFROST_UI_EXPECTED", json.dumps({"conn_type": "bifrost", **fields}))
    return BifrostHook("bifrost_ui_expected").test_connection()


def toast(page: Page, title: str) -> Locator:
    """The notification with that title (Airflow shows the Test result as one)."""
    return page.get_by_role("status").filter(has_text=title)


def connection_row(page: Page) -> Locator:
    """The row of :data:`CONN_ID` in the connection list."""
    return page.get_by_role("row").filter(has=page.get_by_text(CONN_ID, exact=True))


def open_section(dialog: Locator, title: str) -> Locator:
    """Expand the form's section of that title; return its content."""
    button = dialog.get_by_role("button", name=title, exact=True)
    button.click()
    expect(button).to_have_attribute("aria-expanded", "true")
    # Found through the button's aria-controls: the region's aria-labelledby, an id with a space in
    # it, names nothing in Airflow 3.3.2.
    return dialog.locator(f'[id="{button.get_attribute("aria-controls")}"]')


def check_standard_fields(dialog: Locator, behaviour: dict[str, Any]) -> None:
    """Relabelled fields with their placeholders; hidden fields absent; the key field masked."""
    for field, label in behaviour["relabeling"].items():
        box = dialog.get_by_label(label, exact=True)
        expect(box).to_be_visible()
        expect(box).to_have_attribute("name", field)
        expect(box).to_have_attribute("placeholder", behaviour["placeholders"][field])
    expect(dialog.get_by_label("Port", exact=True)).to_have_attribute("placeholder", behaviour["placeholders"]["port"])
    expect(dialog.get_by_label(behaviour["relabeling"]["password"], exact=True)).to_have_attribute("type", "password")
    for field in behaviour["hidden-fields"]:
        expect(dialog.locator(f"[name={field}]")).to_have_count(0)
    for default_label in ("Host", "Login", "Password", "Schema"):
        expect(dialog.get_by_text(default_label, exact=True)).to_have_count(0)


def check_extra_fields(extras: Locator, conn_fields: dict[str, Any]) -> None:
    """Every conn-field shown with its label and description; secrets masked; no "null" choice."""
    for name, spec in conn_fields.items():
        expect(extras.get_by_text(spec["label"], exact=True)).to_be_visible()
        expect(extras.get_by_text(spec["description"], exact=True)).to_be_visible()
        if spec["schema"].get("format") == "password":
            expect(extras.locator(f"input[name=element_{name}]")).to_have_attribute("type", "password")
    expect(extras.locator("#element_default_provider")).to_contain_text("(none)")
    expect(extras.locator("#element_default_provider")).not_to_contain_text("null")


def test_bifrost_connection_form_and_test_button(
    page: Page, ui_emulator: EmulatorClient, screenshot: Callable[[Page, str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    behaviour, conn_fields = bifrost_form()
    labels = behaviour["relabeling"]
    host, port = ui_emulator.url.rsplit(":", 1)
    fields = {"host": host, "port": int(port), "extra": {"default_provider": PROVIDER}}
    connected = hook_answer(monkeypatch, **fields, password=VIRTUAL_KEY)
    refused = hook_answer(monkeypatch, **fields, password=WRONG_KEY)
    assert connected[0] and not refused[0], (connected, refused)

    page.goto("/connections")
    list_viewport = page.viewport_size
    page.set_viewport_size(FORM_VIEWPORT)
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Connection ID").fill(CONN_ID)
    dialog.get_by_role("combobox", name="Connection Type").fill("Bifrost")
    page.get_by_role("option", name="Bifrost", exact=True).click()

    check_standard_fields(dialog, behaviour)
    # Airflow 3.3.2's Test button sends port 0 for a connection without one, which the API takes for
    # another destination and refuses ("Bad Request"): give the port in its own field.
    dialog.get_by_label(labels["host"], exact=True).fill(host)
    dialog.get_by_label("Port", exact=True).fill(port)
    dialog.get_by_label(labels["password"], exact=True).fill(VIRTUAL_KEY)
    shots = [screenshot(page, "bifrost-connection-form-standard-fields")]

    # One section open at a time: opening this one folds the standard fields.
    extras = open_section(dialog, "Extra Fields")
    check_extra_fields(extras, conn_fields)
    shots.append(screenshot(page, "bifrost-connection-form-extra-fields"))
    extras.get_by_role("combobox", name=conn_fields["default_provider"]["label"]).fill(PROVIDER)
    page.get_by_role("option", name=PROVIDER, exact=True).click()
    expect(extras.locator("#element_default_provider")).to_contain_text(PROVIDER)

    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    if list_viewport:
        page.set_viewport_size(list_viewport)
    row = connection_row(page)
    expect(row).to_contain_text(host)

    # Test with the right key: the hook's success message, after one call with the key as x-bf-vk.
    ui_emulator.clear_requests()
    row.get_by_role("button", name="Test Connection").click()
    success = toast(page, "Test Connection Successful")
    expect(success).to_contain_text(connected[1])
    expect(success).to_contain_text(f"Connected to the Bifrost gateway at {ui_emulator.url} (listed {PROVIDER}")
    shots.append(screenshot(page, "bifrost-connection-test-success"))
    (call,) = ui_emulator.requests(path_regex=r"^/v1/batches$", method="GET")
    assert (call["status"], call["query"].get("provider"), call["headers"].get("x-bf-vk")) == (
        200,
        PROVIDER,
        VIRTUAL_KEY,
    )

    # A wrong key, saved through the edit form: the Test shows the hook's 401 explanation, not the key.
    row.get_by_role("button", name="Edit Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label(labels["password"], exact=True).fill(WRONG_KEY)
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    row.get_by_role("button", name="Test Connection").click()
    failure = toast(page, "Test Connection Failed")
    expect(failure).to_contain_text(refused[1])
    expect(failure).to_contain_text("failed with HTTP 401 (virtual_key_not_found): virtual key not found")
    expect(failure).not_to_contain_text(WRONG_KEY)
    shots.append(screenshot(page, "bifrost-connection-test-wrong-key"))
    for shot in shots:
        assert shot.stat().st_size > 10_000, f"{shot} looks empty"
