"""Apache Airflow provider for the Bifrost LLM gateway's batch API."""

from __future__ import annotations

__version__ = "0.1.0"
