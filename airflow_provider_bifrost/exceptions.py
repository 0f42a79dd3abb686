"""
Every exception this provider raises: one tree under :class:`BifrostError` (an ``AirflowException``).

:class:`BifrostAPIError` and its subclasses are answers from the gateway (or a proxy in front of it);
their message names the HTTP status, the method and path, and Bifrost's error type, code and message.
Errors that retrying cannot change (a bad request, 401, 402, 403, 404, a bad parameter) are also
``AirflowFailException``: they fail the task at once instead of burning its retries; the others (5xx, 429,
network) are plain ``AirflowException``, which Airflow retries.
No message ever contains a credential: requests are described by method and path only. Turning a
response into one of these is the HTTP layer's job (:func:`airflow_provider_bifrost.hooks.http.api_error`).
"""

from __future__ import annotations

from airflow_provider_bifrost.providers import BATCH_PROVIDERS
from airflow_provider_bifrost.version_compat import AirflowException, AirflowFailException


class BifrostError(AirflowException):
    """Base class of every error this provider raises."""


class BifrostConfigError(BifrostError, AirflowFailException, ValueError):
    """
    A connection or parameter is invalid; raised before any request is made.

    It fails the task without retries (an ``AirflowFailException``): a retry with the same input can only
    fail the same way. Fix the connection or the task, then clear it.
    """


class BifrostTransportError(BifrostError):
    """The gateway could not be reached, or the connection failed, after every retry."""


class BifrostStorageError(BifrostError):
    """Object storage failed for a cause that may pass (no credentials, access denied, unreachable): retried."""


class BifrostResultsNotReadyError(BifrostError):
    """The gateway has no results for a batch yet (e.g. Bedrock writes them after the job ends): try again later."""


class BifrostProtocolError(BifrostError):
    """The gateway answered, but not with what the batch API documents (shape, paging, truncation)."""


class BifrostAPIError(BifrostError):
    """
    The gateway answered with an HTTP error.

    :param status_code: the HTTP status (kept as ``http_status``).
    :param method: the request method.
    :param path: the request path, without query string.
    :param error_type: Bifrost's error type (top-level ``type`` or ``error.type``), if any.
    :param error_code: Bifrost's ``error.code``, if any.
    :param api_message: Bifrost's ``error.message``, or an excerpt of a non-JSON body.
    :param retry_after: seconds the server asked the client to wait, if it said.
    """

    #: What a person can do about this class of error; appended to the message.
    hint: str = ""

    def __init__(
        self,
        status_code: int,
        method: str,
        path: str,
        *,
        error_type: str | None = None,
        error_code: str | None = None,
        api_message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.http_status = status_code
        self.method = method
        self.path = path
        self.error_type = error_type
        self.error_code = error_code
        self.api_message = api_message
        self.retry_after = retry_after
        super().__init__(self._describe())

    def _describe(self) -> str:
        # The codes go in parentheses: Airflow's CLI prints messages as rich markup, where [code] vanishes.
        tags = [t for t in (self.error_type, self.error_code) if t]
        detail = f" ({'/'.join(dict.fromkeys(tags))})" if tags else ""
        text = f"Bifrost {self.method} {self.path} failed with HTTP {self.http_status}{detail}: "
        text += self.api_message or "(no error message in the response)"
        return f"{text}. {self._hint()}" if self._hint() else text

    def _hint(self) -> str:
        return self.hint


class BifrostBadRequestError(BifrostAPIError, AirflowFailException):
    """400, 413, 422 and other client errors: the request itself is wrong; it fails the task without retries."""

    hint = "Check the task's parameters."


class BifrostUnsupportedOperationError(BifrostBadRequestError):
    """The provider does not support this operation (``unsupported_operation``)."""

    def _hint(self) -> str:
        return f"Bifrost has batch support only for: {', '.join(sorted(BATCH_PROVIDERS))}."


class BifrostOperationError(BifrostBadRequestError):
    """
    The gateway's own verdict on the operation, sent as HTTP 500 with ``is_bifrost_error: true``: a create
    request the provider's rules refuse, results that do not exist. Repeating the request cannot change it,
    so it is never retried.
    """

    #: What to do about the gateway's known verdicts, by a phrase of its message.
    HINTS = (
        ("endpoint is required", "Set endpoint, e.g. endpoint='/v1/chat/completions'."),
        ("requests array is required", "This provider takes inline requests only: pass requests=[...]."),
        (
            "role_arn",
            "The gateway needs an IAM role for Bedrock batch jobs: pass extra_body={'role_arn': "
            "'arn:aws:iam::<account>:role/<role>'}, or have the gateway's admin set it on its Bedrock key.",
        ),
        ("output_s3_uri", "Pass where Bedrock writes the results: extra_body={'output_s3_uri': 's3://bucket/out/'}."),
        (
            "output_file_id is empty",
            "The batch has no output file: it has not finished, or every request failed (its error file has them).",
        ),
        ("not yet completed", "Its results do not exist yet: wait for the batch to finish."),
    )

    def _hint(self) -> str:
        message = (self.api_message or "").lower()
        for phrase, hint in self.HINTS:
            if phrase in message:
                return f"The gateway refused the operation, so it is not retried. {hint}"
        return "The gateway refused the operation, so it is not retried: check the task's parameters."


class BifrostAuthenticationError(BifrostAPIError, AirflowFailException):
    """401: no credentials, or wrong ones; it fails the task without retries."""

    hint = (
        "Check the connection's credentials: the virtual key (password, or extra `virtual_key` when a "
        "login is set), the gateway login/password, or extra `auth_token`."
    )


class BifrostPermissionError(BifrostAPIError, AirflowFailException):
    """403 (blocked key, model or provider) or 402 (budget exhausted); it fails the task without retries."""

    hint = "The gateway's governance refused this request: ask its admin to allow this key, model or provider."


class BifrostBudgetExceededError(BifrostPermissionError):
    """402: the virtual key's budget is used up."""

    hint = "The virtual key's budget is used up: raise it in the gateway or use another key."


class BifrostNotFoundError(BifrostAPIError, AirflowFailException):
    """
    404: no such batch or file for this provider (or a wrong gateway URL); it fails the task without retries.
    A wait forgives it for a short grace after the batch was created (``constants.NOT_FOUND_GRACE``).
    """

    hint = "Check the id, the provider it belongs to, and the connection's gateway URL."


class BifrostRateLimitError(BifrostAPIError):
    """429: rate, request or token limit reached."""

    hint = "Rate limited by the gateway or the provider; retried with backoff where safe."


class BifrostServerError(BifrostAPIError):
    """5xx: the gateway, the provider or a proxy failed or is unavailable."""
