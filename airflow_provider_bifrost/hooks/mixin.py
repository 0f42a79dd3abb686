"""
``BifrostHookMixin``: ``self.hook`` for the operators and the sensor, the hook imported on first use.

Light on purpose: DAG files import the operator and sensor modules, which subclass this, so importing
it must not import the hook's HTTP client, models or results parsers (``tests/unit/test_import_cost.py``).
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_bifrost.hooks.bifrost import BifrostHook

#: The connection id the hook, the operators and the sensor use by default.
DEFAULT_CONN_NAME = "bifrost_default"


class BifrostHookMixin:
    """For operators and sensors: ``self.hook``, the :class:`BifrostHook` of ``bifrost_conn_id``, built once."""

    bifrost_conn_id: str

    @cached_property
    def hook(self) -> BifrostHook:
        """The hook for ``bifrost_conn_id`` (its module is imported here, at run time, not at DAG parsing)."""
        from airflow_provider_bifrost.hooks.bifrost import BifrostHook

        return BifrostHook(self.bifrost_conn_id)
