"""
Literals shared across the provider: the default connection, timeouts, poll settings and limits.

Imports nothing: DAG files import it (through the operator and sensor modules).
"""

from __future__ import annotations

#: The connection id the hook, the operators, the sensor and the trigger use by default.
DEFAULT_CONN_NAME = "bifrost_default"

#: Seconds allowed for each read, write and pool wait of an HTTP request (connection extra ``timeout``).
DEFAULT_TIMEOUT = 60.0
#: The most seconds a TCP connect may take, whatever the read timeout.
DEFAULT_CONNECT_TIMEOUT = 10.0
#: Retries after the first attempt of a request that is safe to repeat (connection extra ``max_retries``).
DEFAULT_MAX_RETRIES = 5

#: Seconds between two status checks of a batch being waited for.
DEFAULT_POLL_INTERVAL = 60.0
#: Seconds a task waits for a batch in all, by default: a week.
DEFAULT_WAIT_TIMEOUT = 7 * 24 * 3600
#: Transient failures in a row (network, 429, 5xx, garbled answers) after which a wait gives up.
DEFAULT_MAX_CONSECUTIVE_FAILURES = 10
#: Seconds from the start of a wait during which a 404 counts as transient: a gateway may not know a batch
#: created a moment ago (eventual consistency). After that a 404 fails the task at once.
NOT_FOUND_GRACE = 30.0

#: How long the provider may take over a batch, unless the task says otherwise.
DEFAULT_COMPLETION_WINDOW = "24h"
#: The most result items the results operator returns through XCom.
DEFAULT_MAX_XCOM_RESULTS = 1000
