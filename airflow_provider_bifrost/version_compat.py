"""
Which Airflow this runs on, and what the provider does when a feature it uses is newer than that.

The provider supports Airflow 3.2+ (CI tests the floor and the newest pinned release). Features
that need 3.3 degrade on 3.2 and say so once per process (:func:`warn_once`):

- trigger ``on_kill``: a killed deferred task does not cancel its batch (a running one still does);
- ``ResumableJobMixin``: no task state store, so a submitted job's id is not saved for a retry
  (``BifrostCreateBatchOperator`` then finds its batch by its tag).

Version checks live here only, as ``AIRFLOW_V_3_3_PLUS``-style flags (as Airflow's own providers do).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import airflow

# Re-exported: the task SDK has them from 3.2 on, and the provider imports them from here.
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)
from packaging.version import Version

log = logging.getLogger(__name__)

# By release number only: 3.3.0rc1 and 3.3.0.dev0 count as 3.3.
#: Trigger ``on_kill`` (a killed deferred task runs it) and ``ResumableJobMixin``.
AIRFLOW_V_3_3_PLUS = Version(airflow.__version__).release >= (3, 3)

_warned: set[str] = set()


def warn_once(feature: str, message: str) -> None:
    """
    Log ``message`` as a warning the first time ``feature`` degrades in this process; then stay quiet.

    :param feature: a key for the feature, e.g. ``"trigger-on-kill"``.
    :param message: what does not work on this Airflow, and what does instead.
    """
    if feature not in _warned:
        _warned.add(feature)
        log.warning("%s (Airflow %s)", message, airflow.__version__)


# mypy checks against the newest Airflow (the main lock); the stand-in runs on older ones.
if TYPE_CHECKING or AIRFLOW_V_3_3_PLUS:
    from airflow.sdk import ResumableJobMixin
else:

    class ResumableJobMixin:
        """
        Airflow < 3.3 stand-in for ``airflow.sdk.ResumableJobMixin``: the same hooks, no crash recovery.

        ``execute_resumable`` submits, polls and returns the result, as the real mixin does with
        ``durable=False``; a retry after a worker crash submits a new job instead of reconnecting.
        """

        external_id_key: str = "remote_job_id"

        def __init__(self, *, durable: bool = True, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.durable = durable

        def execute_resumable(self, context: Any) -> Any:
            if self.durable:
                warn_once(
                    "resumable-job",
                    "ResumableJobMixin's task state store needs Airflow 3.3+: the submitted job's id is not "
                    "saved for a retry to reconnect to",
                )
            external_id = self.submit_job(context)
            self.poll_until_complete(external_id, context)
            return self.get_job_result(external_id, context)

        def submit_job(self, context: Any) -> Any:
            raise NotImplementedError

        def get_job_status(self, external_id: Any, context: Any) -> str:
            raise NotImplementedError

        def is_job_active(self, status: str) -> bool:
            raise NotImplementedError

        def is_job_succeeded(self, status: str) -> bool:
            raise NotImplementedError

        def poll_until_complete(self, external_id: Any, context: Any) -> None:
            raise NotImplementedError

        def get_job_result(self, external_id: Any, context: Any) -> Any:
            raise NotImplementedError


__all__ = [
    "AIRFLOW_V_3_3_PLUS",
    "AirflowException",
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "ResumableJobMixin",
    "TaskDeferred",
    "warn_once",
]
