from __future__ import annotations

import logging

import pytest

from airflow_provider_bifrost.outcome import status as status_module
from airflow_provider_bifrost.outcome.status import BatchState, batch_state, is_success, is_terminal


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("validating", BatchState.RUNNING),
        ("in_progress", BatchState.RUNNING),
        ("finalizing", BatchState.RUNNING),
        ("cancelling", BatchState.RUNNING),
        ("completed", BatchState.SUCCEEDED),
        ("ended", BatchState.SUCCEEDED),
        ("failed", BatchState.FAILED),
        ("deleted", BatchState.FAILED),
        ("expired", BatchState.EXPIRED),
        ("cancelled", BatchState.CANCELLED),
        ("canceled", BatchState.CANCELLED),
    ],
)
def test_status_policy(status: str, state: BatchState) -> None:
    assert batch_state(status) is state
    assert is_terminal(status) is (state is not BatchState.RUNNING)
    assert is_success(status) is (state is BatchState.SUCCEEDED)


def test_unknown_status_is_running_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    assert batch_state("paused_for_unit_test") is BatchState.RUNNING
    assert not is_terminal(None)
    assert "paused_for_unit_test" in caplog.text


@pytest.mark.parametrize("status", ["paused_once_for_unit_test", None])
def test_an_unknown_status_is_logged_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, status: str | None
) -> None:
    monkeypatch.setattr(status_module, "_warned", set())
    with caplog.at_level(logging.WARNING, logger=status_module.__name__):
        for _ in range(3):
            assert batch_state(status) is BatchState.RUNNING
    assert len(caplog.records) == 1 and repr(status) in caplog.records[0].getMessage()
