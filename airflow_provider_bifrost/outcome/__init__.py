"""
How a wait on a batch ends: one policy for the trigger, the sensor and the create operator.

- :mod:`.status`: what a batch status means (running, succeeded, failed, expired, cancelled).
- :mod:`.events`: the event contract (the statuses an event carries, its payload) and settling an event
  into the task's success, failure or timeout.
- :mod:`.polling`: the poll decision, with no I/O: after each status check, end the wait or check again.

Light: the operator and sensor modules import it when a DAG file is parsed.
"""
