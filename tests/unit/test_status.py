from __future__ import annotations

import pytest

from airflow_provider_bifrost.hooks.models import Batch, BatchResultItem
from airflow_provider_bifrost.hooks.status import BatchState, batch_state, is_success, is_terminal


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


def test_batch_model_tolerates_absent_and_keeps_unknown_fields() -> None:
    batch = Batch.model_validate({"id": "b1", "status": "completed", "shiny_new_field": {"x": 1}})
    assert batch.request_counts.total == 0
    assert batch.to_dict()["shiny_new_field"] == {"x": 1}
    assert batch.state is BatchState.SUCCEEDED


def test_batch_error_messages() -> None:
    batch = Batch.model_validate(
        {
            "id": "b1",
            "status": "failed",
            "errors": {"object": "list", "data": [{"code": "invalid_json", "message": "bad line", "line": 3}]},
        }
    )
    assert batch.error_messages() == ["invalid_json (line 3): bad line"]


@pytest.mark.parametrize(
    ("item", "ok"),
    [
        ({"custom_id": "a", "response": {"status_code": 200, "body": {}}}, True),
        ({"custom_id": "a", "response": {"status_code": 400, "body": {}}}, False),
        ({"custom_id": "a", "result": {"type": "succeeded", "message": {}}}, True),
        ({"custom_id": "a", "result": {"type": "errored"}, "error": {"code": "x", "message": "y"}}, False),
        ({"custom_id": "a"}, False),
    ],
)
def test_result_item_success(item: dict[str, object], ok: bool) -> None:
    assert BatchResultItem.model_validate(item).succeeded is ok
