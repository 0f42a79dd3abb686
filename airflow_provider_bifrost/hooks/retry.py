"""
The retry policy of gateway requests: which failures are worth another attempt, backoff, and the one
mechanism every long-running loop uses to keep trying (:class:`FailureStreak`).

Retries (tenacity) cover connect errors, timeouts, dropped connections and HTTP 429/500/502/503/504,
with exponential backoff and jitter, honouring ``Retry-After``. Requests that are not safe to repeat
(creating a batch, uploading a file) are retried only when they certainly never reached the gateway
(connection refused, connect timeout) or were refused with 429. A stream that breaks mid-way (a
results page, a file download) and a wait on a batch count failures in a row with a
:class:`FailureStreak`: the same backoff, the budget reset by progress.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, TypeVar

import httpx
import tenacity

from airflow_provider_bifrost.constants import DEFAULT_MAX_CONSECUTIVE_FAILURES, DEFAULT_MAX_RETRIES
from airflow_provider_bifrost.exceptions import BifrostAPIError, BifrostOperationError, BifrostTransportError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
#: Failures after which the request certainly never reached the gateway.
NOT_SENT_ERRORS: tuple[type[Exception], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

T = TypeVar("T")


@dataclass
class RetryPolicy:
    """
    How often and how long to wait between attempts.

    :param max_retries: retries after the first attempt.
    :param backoff_base: seconds before the first retry; doubles each time.
    :param backoff_max: cap on one backoff wait.
    :param retry_after_max: cap on a server-requested ``Retry-After`` wait.
    :param sleep: blocking sleep (injectable for tests).
    :param asleep: async sleep (injectable for tests).
    :param rng: source of jitter.
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    retry_after_max: float = 120.0
    sleep: Callable[[float], None] = time.sleep
    asleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)

    def backoff(self, attempt: int, error: BaseException | None) -> float:
        """
        Seconds to wait after failed attempt number ``attempt`` (1-based).

        :param attempt: the attempt that just failed.
        :param error: its exception; a ``Retry-After`` it carries wins over the backoff.
        """
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return min(float(retry_after), self.retry_after_max)
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    @classmethod
    def for_polling(
        cls, poll_interval: float, max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES
    ) -> RetryPolicy:
        """
        The policy of a wait on a batch: ``max_consecutive_failures`` failed checks in a row end it, and the
        backoff between them grows from at most a second up to the poll interval.

        :param poll_interval: seconds between checks of a running batch.
        :param max_consecutive_failures: failed checks in a row that end the wait.
        """
        return cls(
            max_retries=max_consecutive_failures - 1,
            backoff_base=min(1.0, poll_interval),
            backoff_max=max(poll_interval, 1.0),
        )

    def streak(self) -> FailureStreak:
        """A new count of failures in a row, within this policy's budget (``max_retries``) and backoff."""
        return FailureStreak(self)

    def pause(self, streak: FailureStreak, what: str, error: httpx.TransportError, progress: str) -> None:
        """
        A stream broke: wait the backoff before it is resumed, or raise when the budget is spent.

        :param streak: the stream's failures in a row.
        :param what: the request, as ``METHOD /path``.
        :param error: how it broke.
        :param progress: how far it got, for the log (e.g. ``"after 1200 items"``).
        :raises BifrostTransportError: more failures in a row than ``max_retries``.
        """
        wait = streak.failed(error)
        if wait is None:
            raise transport_error(what, error) from error
        log.warning(
            "%s: stream broke %s (%s); resuming in %.1f s (attempt %d of %d)",
            what,
            progress,
            describe_failure(error),
            wait,
            streak.count + 1,
            self.max_retries + 1,
        )
        self.sleep(wait)

    def is_retryable(self, error: BaseException, *, idempotent: bool) -> bool:
        """
        Whether ``error`` is worth another attempt.

        :param error: what the attempt raised.
        :param idempotent: whether repeating the request is harmless.
        """
        if isinstance(error, BifrostOperationError):  # the gateway's own verdict: repeating cannot change it
            return False
        if isinstance(error, BifrostAPIError):
            return error.http_status in RETRYABLE_STATUS if idempotent else error.http_status == 429
        if tls_hint(error) is not None:  # an untrusted certificate or a plain-HTTP port stays so: fail at once
            return False
        if isinstance(error, NOT_SENT_ERRORS):
            return True
        return idempotent and isinstance(error, httpx.TransportError)

    def _retrying_kwargs(self, what: str, idempotent: bool) -> dict[str, object]:
        def log_retry(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            log.warning(
                "%s: %s (attempt %d of %d); retrying in %.1f s",
                what,
                describe_failure(error),
                state.attempt_number,
                self.max_retries + 1,
                wait,
            )

        return {
            "stop": tenacity.stop_after_attempt(self.max_retries + 1),
            "wait": lambda state: self.backoff(
                state.attempt_number, state.outcome.exception() if state.outcome else None
            ),
            "retry": tenacity.retry_if_exception(lambda e: self.is_retryable(e, idempotent=idempotent)),
            "before_sleep": log_retry,
            "reraise": True,
        }

    def call(self, what: str, fn: Callable[[], T], *, idempotent: bool = True) -> T:
        """
        Run ``fn`` with retries; translate a final transport failure into :class:`BifrostTransportError`.

        :param what: the request, as ``METHOD /path``, for logs and errors.
        :param fn: one attempt.
        :param idempotent: whether repeating the request is harmless.
        """
        try:
            if self.max_retries == 0:  # one attempt (a wait's status checks): nothing for tenacity to do
                return fn()
            retrying = tenacity.Retrying(sleep=self.sleep, **self._retrying_kwargs(what, idempotent))  # type: ignore[arg-type]
            return retrying(fn)
        except httpx.TransportError as exc:
            raise transport_error(what, exc) from exc

    async def acall(self, what: str, fn: Callable[[], Awaitable[T]], *, idempotent: bool = True) -> T:
        """
        Async twin of :meth:`call`.

        :param what: the request, as ``METHOD /path``, for logs and errors.
        :param fn: one attempt (a coroutine function).
        :param idempotent: whether repeating the request is harmless.
        """
        try:
            if self.max_retries == 0:  # one attempt (a wait's status checks): nothing for tenacity to do
                return await fn()
            retrying = tenacity.AsyncRetrying(sleep=self.asleep, **self._retrying_kwargs(what, idempotent))  # type: ignore[arg-type]
            return await retrying(fn)
        except httpx.TransportError as exc:
            raise transport_error(what, exc) from exc


def describe_failure(error: BaseException | None) -> str:
    """One line about a failed attempt, for logs (never includes headers)."""
    if isinstance(error, BifrostAPIError):
        return f"HTTP {error.http_status}"
    return f"{type(error).__name__}: {error}" if error else "failed"


def transport_error(what: str, exc: httpx.TransportError) -> BifrostTransportError:
    """
    A person-readable error for a request that never got a complete answer.

    :param what: the request, as ``METHOD /path``.
    :param exc: the last httpx error.
    """
    origin = ""
    try:
        url = exc.request.url
        origin = f" at {url.scheme}://{url.netloc.decode()}"
    except RuntimeError:
        pass
    reason = (str(exc) or type(exc).__name__).rstrip(".")  # httpx ends some messages with a full stop
    if (tls := tls_hint(exc)) is not None:
        hint = tls
    elif "SSL" in reason:
        hint = "The TLS handshake with the gateway failed."
    elif isinstance(exc, httpx.TimeoutException):
        hint = "The gateway did not answer in time: check it is healthy, or raise the connection's extra `timeout`."
    elif isinstance(exc, httpx.ConnectError):
        hint = "Check the connection's Gateway URL and port, and that the gateway is running and reachable."
    else:
        hint = "The connection to the gateway failed mid-request."
    return BifrostTransportError(f"Bifrost {what}{origin} failed: {type(exc).__name__}: {reason}. {hint}")


#: OpenSSL's words for a TLS client that got a plain-HTTP answer (they vary with the OpenSSL version).
_PLAIN_HTTP_ANSWER = ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST")


def tls_hint(error: BaseException | None) -> str | None:
    """
    What to do about a TLS failure that repeating cannot fix (untrusted certificate, plain HTTP on an https
    URL); None for any other error.

    :param error: what a request raised.
    """
    if not isinstance(error, httpx.ConnectError):
        return None
    reason = str(error)
    if "CERTIFICATE_VERIFY_FAILED" in reason:
        return (
            "TLS verification failed: the gateway's certificate is not trusted. If a private CA signed it, point "
            "the connection's extra `verify` at that CA bundle; if the host name does not match, use the name the "
            "certificate was issued for."
        )
    if any(marker in reason for marker in _PLAIN_HTTP_ANSWER):
        return (
            "The gateway answered in plain HTTP, not TLS: write the Gateway URL with http://, or use the port "
            "where the gateway serves https."
        )
    return None


class FailureStreak:
    """
    Failures in a row of one long-running operation (a streamed download, a wait on a batch), and the
    backoff before the next try; progress resets it.

    :param policy: the budget (``max_retries`` failures after the first) and the backoff.
    """

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.count = 0

    def failed(self, error: BaseException) -> float | None:
        """
        Count a failure; return the seconds to wait before trying again, or None when the budget is spent.

        :param error: what failed (a ``Retry-After`` it carries wins over the backoff).
        """
        self.count += 1
        if self.count > self.policy.max_retries:
            return None
        return self.policy.backoff(self.count, error)

    def reset(self) -> None:
        """Progress was made: the next failure is the first of a new streak."""
        self.count = 0


def parse_retry_after(value: str | None) -> float | None:
    """
    Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date); None if absent or bad.

    :param value: the header's value.
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
