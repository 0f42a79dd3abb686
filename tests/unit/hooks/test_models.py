"""The wire models: tolerant of absent fields, keeping unknown ones; the batch's own error lines."""

from __future__ import annotations

from airflow_provider_bifrost.hooks.models import Batch
from airflow_provider_bifrost.outcome.status import BatchState


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


def test_progress_counts_what_is_done_whatever_the_providers_counts_mean() -> None:
    openai = Batch.model_validate(
        {"id": "b", "status": "in_progress", "request_counts": {"total": 10, "completed": 4, "failed": 2}}
    )
    gemini = Batch.model_validate(  # completed = total - pending: the failed ones are in it already
        {"id": "g", "status": "in_progress", "request_counts": {"total": 10, "completed": 6, "failed": 2, "pending": 4}}
    )
    assert openai.progress_line() == "b in_progress: 6/10 done (60%), 2 failed"
    assert gemini.progress_line() == "g in_progress: 6/10 done (60%), 2 failed"
