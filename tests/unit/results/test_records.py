"""The one rule of whether a result item succeeded, on dicts, models and decoded statuses alike."""

from __future__ import annotations

import pytest

from airflow_provider_bifrost.hooks.models import BatchResultItem


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
