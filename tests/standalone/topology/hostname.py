"""``[core] hostname_callable`` of the topology's components: every component runs on this one machine,
so each gets its own name (``worker-1``, ``triggerer-2``...) from its environment, and Airflow records it
where a real deployment records the machine's: ``task_instance.hostname``, ``job.hostname``."""

from __future__ import annotations

import os
import socket

HOSTNAME_ENV = "BIFROST_TOPOLOGY_HOSTNAME"
"""The environment variable holding the component's name."""


def hostname() -> str:
    """The component's name, or the machine's fully qualified name outside the topology."""
    return os.environ.get(HOSTNAME_ENV) or socket.getfqdn()
