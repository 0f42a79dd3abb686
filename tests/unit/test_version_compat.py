"""version_compat: the version flags, and the 3.3-only features degrading with one warning on older Airflow."""

from __future__ import annotations

from typing import Any

import airflow
import pytest
from packaging.version import Version

from airflow_provider_bifrost import version_compat
from airflow_provider_bifrost.triggers.bifrost import BifrostBatchTrigger
from airflow_provider_bifrost.version_compat import AIRFLOW_V_3_3_PLUS, ResumableJobMixin

older_than_3_3 = pytest.mark.skipif(AIRFLOW_V_3_3_PLUS, reason="the degraded path runs on Airflow < 3.3 only")


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(version_compat, "_warned", set())


def test_flags_follow_the_installed_airflow() -> None:
    release = Version(airflow.__version__).release
    assert AIRFLOW_V_3_3_PLUS is (release >= (3, 3))


def test_warn_once_warns_once_per_feature(caplog: pytest.LogCaptureFixture) -> None:
    for _ in range(3):
        version_compat.warn_once("a", "feature a degrades")
    version_compat.warn_once("b", "feature b degrades")
    messages = [r.getMessage() for r in caplog.records if r.name == version_compat.__name__]
    assert messages == [
        f"feature a degrades (Airflow {airflow.__version__})",
        f"feature b degrades (Airflow {airflow.__version__})",
    ]


def trigger_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "cancel_on_kill" in r.getMessage()]


@older_than_3_3
def test_cancel_on_kill_warns_once_that_a_deferred_kill_leaves_the_batch(caplog: pytest.LogCaptureFixture) -> None:
    BifrostBatchTrigger("batch_1")
    assert trigger_warnings(caplog) == []
    BifrostBatchTrigger("batch_1", cancel_on_kill=True)
    BifrostBatchTrigger("batch_2", cancel_on_kill=True)
    (warning,) = trigger_warnings(caplog)
    assert "only Airflow 3.3+ tells the trigger" in warning


@pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="Airflow 3.3+ runs the trigger's on_kill")
def test_cancel_on_kill_does_not_warn_on_3_3(caplog: pytest.LogCaptureFixture) -> None:
    BifrostBatchTrigger("batch_1", cancel_on_kill=True)
    assert trigger_warnings(caplog) == []


class Job(ResumableJobMixin):
    """The mixin's hooks, recording what was called."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calls: list[str] = []

    def submit_job(self, context: Any) -> str:
        self.calls.append("submit")
        return "job_1"

    def get_job_status(self, external_id: Any, context: Any) -> str:
        raise AssertionError("the stand-in never reconnects")

    def is_job_active(self, status: str) -> bool:
        raise AssertionError("the stand-in never reconnects")

    def is_job_succeeded(self, status: str) -> bool:
        raise AssertionError("the stand-in never reconnects")

    def poll_until_complete(self, external_id: Any, context: Any) -> None:
        self.calls.append(f"poll {external_id}")

    def get_job_result(self, external_id: Any, context: Any) -> Any:
        self.calls.append(f"result {external_id}")
        return {"id": external_id}


@older_than_3_3
def test_resumable_stand_in_submits_polls_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    job = Job()
    assert job.durable is True and job.external_id_key == "remote_job_id"
    assert job.execute_resumable({}) == {"id": "job_1"}
    assert job.execute_resumable({}) == {"id": "job_1"}
    assert job.calls == ["submit", "poll job_1", "result job_1"] * 2
    (warning,) = [r.getMessage() for r in caplog.records if r.name == version_compat.__name__]
    assert "task state store needs Airflow 3.3+" in warning
    assert Job(durable=False).durable is False
