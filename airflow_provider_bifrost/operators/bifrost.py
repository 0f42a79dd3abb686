"""
The provider's operators, from the one module DAG files import them from (the path the README documents).

- :class:`BifrostCreateBatchOperator` (:mod:`.create`): submit a batch, optionally wait for it.
- :class:`BifrostBatchResultsOperator` (:mod:`.results`): export every result of a finished batch.
- :class:`BifrostBatchJobOperator` (:mod:`.job`): a job of any size, split into batches, exported as one.
"""

from __future__ import annotations

from airflow_provider_bifrost.operators.create import BifrostCreateBatchOperator
from airflow_provider_bifrost.operators.job import BifrostBatchJobOperator
from airflow_provider_bifrost.operators.results import BifrostBatchResultsOperator

__all__ = ["BifrostBatchJobOperator", "BifrostBatchResultsOperator", "BifrostCreateBatchOperator"]
