"""The one exception tree of batch_refunds.

Grouped by what the caller can do about it::

    BatchRefundsError
    ├── ConfigError            misuse: bad secret, bad base URL, bad limit; fix the call
    │   └── LiveKeyNotAllowed  a live key without ``RunOptions.allow_live``: real money
    ├── JournalBusy            another run holds the journal; try again once it has ended
    ├── InboxBusy              another pass holds the inbox folder; the next pass will do
    ├── InputFileError         the spreadsheet as a whole can't be read (row errors are values,
    │                          not exceptions: see ``intake``)
    ├── JournalUnwritable      the journal's writer failed (disk full, I/O error): no intent
    │                          can be made durable, so nothing more may be sent
    └── SmartpayError          anything that came from talking to Smartpay
        ├── ApiRefused         the server said no (4xx); retrying the same request won't help
        │   ├── BadRequest         400 request.invalid / request.malformed
        │   ├── Unauthorized       401 (its body has no errorCode)
        │   ├── Forbidden          403, e.g. amount.insufficient
        │   ├── NotFound           404 order.not-found / payment.not-found / refund.not-found
        │   │   └── EndpointNotFound   any other 404 (no errorCode, an HTML page, an unknown
        │   │                          code): no such route, so the API prefix is wrong
        │   └── IdempotencyMismatch 422: a key was reused with a different body
        ├── ApiUnavailable     we don't know / try later; safe to retry with the same key
        │   ├── ConnectionFailed   could not connect, or the connection broke mid-request
        │   ├── RequestTimedOut    no complete answer within the timeout
        │   ├── Conflict           409: the first request with this key is still in flight
        │   ├── RateLimited        429; carries ``retry_after_s`` when the server sent one
        │   ├── ServerError        5xx
        │   └── AbandonedAtStop    the run was asked to stop and the answer did not come
        │                          within the grace period: the request was cancelled
        └── UnusableAnswer     an answer came but cannot be believed: the outcome is unknown
            ├── MalformedAnswer    answer.malformed: not JSON, or not the shape Smartpay documents
            ├── AnswerTooLarge     answer.too-large: the body passed ``max_response_bytes``
            ├── AnswerMismatch     answer.mismatch: about another object than the one asked
            │                      for, or a refund other than the one requested
            ├── ImplausibleAnswer  answer.implausible: an amount or time no payment can have
            └── EndlessList        answer.endless-list: a page token repeated, or a list went
                                   on past ``max_list_pages`` / ``max_list_items``

Behaviour is keyed on the HTTP status, never on an invented errorCode; the one reading of
errorCode is the 404 split above, on Smartpay's three documented codes. Every error carries
what a report line needs (status, errorCode, message) and never the secret.

An ``UnusableAnswer`` is neither a refusal nor a reason to retry: the client checked the
answer where it entered (against the request and against what is possible) and found it
wanting, so a POST may or may not have made its refund. It is never retried by the client
(a replayed key would only repeat the same answer) and must never mark a refund refused:
the caller leaves it unknown and looks it up before sending again. Its ``code`` is the
class's own (``answer.*``); ``status`` is the HTTP status the answer came with.

``CONFIGURATION_ERRORS`` (``Unauthorized``, ``EndpointNotFound``) are the answers that say the
tool is misconfigured, not that one row is wrong: every request would fail the same way, so a
caller stops and has the key or the API prefix fixed. Their messages name the likely cause.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar


class BatchRefundsError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(BatchRefundsError):
    """The tool was called wrongly: a bad secret, URL, limit or option.

    ``option`` names the ``RunOptions`` field at fault when there is one (``"out_dir"``), so
    a front end can point at its own control for it (a flag, a form field)."""

    def __init__(self, message: str, *, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class LiveKeyNotAllowed(ConfigError):
    """A run would send refunds with a ``sk_live_`` key, and the caller did not say it may."""


class JournalBusy(BatchRefundsError):
    """Another run holds the journal's lock: nothing was started. Not a misconfiguration:
    the same call succeeds once that run has ended."""


class InboxBusy(BatchRefundsError):
    """Another pass holds the inbox folder's lock: nothing was touched. The next pass (the
    next cron call) does the work once that one has ended."""


class InputFileError(BatchRefundsError):
    """The input file as a whole cannot be used (unreadable, no header, no id column)."""

    def __init__(self, message: str, *, code: str = "input.file") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class JournalUnwritable(BatchRefundsError):
    """The journal could not commit a write; ``message`` says why (never the secret: the
    journal holds none). Every later write fails the same way."""

    code = "journal.unwritable"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SmartpayError(BatchRefundsError):
    """Something went wrong talking to Smartpay.

    ``status`` is the HTTP status (``None`` when no response arrived), ``error_code``
    Smartpay's ``errorCode`` (or ``None``), ``method`` and ``path`` the request that failed.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        details: Sequence[Any] = (),
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_code = error_code
        self.details = tuple(details)
        self.method = method
        self.path = path

    @property
    def code(self) -> str:
        """A stable code for reports: Smartpay's errorCode, else ``http.<status>``/the class."""
        if self.error_code:
            return self.error_code
        if self.status is not None:
            return f"http.{self.status}"
        return _NO_RESPONSE_CODES.get(type(self).__name__, "network.error")

    def __str__(self) -> str:
        where = f" ({self.method} {self.path})" if self.method and self.path else ""
        status = f"{self.status} " if self.status is not None else ""
        code = f"{self.error_code}: " if self.error_code else ""
        return f"{status}{code}{self.message}{where}"


class ApiRefused(SmartpayError):
    """The server answered 4xx: it understood and said no. Never retried."""


class BadRequest(ApiRefused):
    """400: the request was invalid or malformed."""


class Unauthorized(ApiRefused):
    """401: the secret key was not accepted."""


class Forbidden(ApiRefused):
    """403: e.g. ``amount.insufficient`` (more than remains, or already fully refunded)."""


class NotFound(ApiRefused):
    """404: the order, payment or refund does not exist (for this key's mode)."""


class EndpointNotFound(NotFound):
    """404 without one of Smartpay's object-not-found codes: the URL itself leads nowhere.

    An HTML error page, a JSON body without ``errorCode``, or a code such as the sandbox's
    ``resource.not-found`` all mean the path was not one of Smartpay's routes, so the API prefix
    is most likely wrong (missing or doubled ``/v1``, another host). Every request would fail
    the same way.
    """


class IdempotencyMismatch(ApiRefused):
    """422: the idempotency key was already used with a different request body."""


class ApiUnavailable(SmartpayError):
    """No usable answer: the request may or may not have taken effect. Retry with the same key."""


class ConnectionFailed(ApiUnavailable):
    """Could not connect, or the connection broke before a full response arrived."""


class RequestTimedOut(ApiUnavailable):
    """No complete response within the configured timeout."""


class Conflict(ApiUnavailable):
    """409: a request with the same idempotency key is still being processed."""


class RateLimited(ApiUnavailable):
    """429: slow down. ``retry_after_s`` is the server's ``Retry-After``, if it sent one."""

    def __init__(self, message: str, *, retry_after_s: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after_s = retry_after_s


class ServerError(ApiUnavailable):
    """5xx: the server failed; the request may or may not have taken effect."""


class AbandonedAtStop(ApiUnavailable):
    """The run was stopping and the answer did not come in time, so the request was
    cancelled: it may or may not have taken effect (``run.stopped-waiting``)."""


class UnusableAnswer(SmartpayError):
    """An answer arrived but cannot be believed; whether a POST took effect is unknown.

    Never retried by the client and never a refusal: look the refund up before sending again.
    """

    answer_code: ClassVar[str] = "answer.unusable"

    @property
    def code(self) -> str:
        return self.answer_code

    def __str__(self) -> str:
        where = f" ({self.method} {self.path})" if self.method and self.path else ""
        return f"{self.code}: {self.message}{where}"


class MalformedAnswer(UnusableAnswer):
    """The body is not JSON, or not the shape Smartpay documents (a field missing or of the
    wrong type, JSON nested too deep to read)."""

    answer_code = "answer.malformed"


class AnswerTooLarge(UnusableAnswer):
    """The body would pass ``ClientConfig.max_response_bytes``: reading stopped there.

    ``limit_bytes`` is the cap; ``declared_bytes`` the ``Content-Length`` when the server sent
    one (``None`` when it did not, or sent a wrong one and went on past the cap).
    """

    answer_code = "answer.too-large"

    def __init__(
        self, message: str, *, limit_bytes: int, declared_bytes: int | None = None, **kw: Any
    ) -> None:
        super().__init__(message, **kw)
        self.limit_bytes = limit_bytes
        self.declared_bytes = declared_bytes


class AnswerMismatch(UnusableAnswer):
    """The answer is about something other than what was asked: another order, payment or
    refund than the id requested, an object listed under a parent it does not belong to, or a
    created refund whose payment, amount, currency or reference differ from the request."""

    answer_code = "answer.mismatch"


class ImplausibleAnswer(UnusableAnswer):
    """A value no real payment can have: an amount that is not whole yen in range (see
    ``models.MAX_PLAUSIBLE_YEN``), a time outside the years 1970–9999, refunds that add up to
    more than their payment."""

    answer_code = "answer.implausible"


class EndlessList(UnusableAnswer):
    """A list walk was stopped: a page token came back a second time, or the list went on past
    ``ClientConfig.max_list_pages`` pages or ``max_list_items`` items."""

    answer_code = "answer.endless-list"


_NO_RESPONSE_CODES: Mapping[str, str] = {
    "ConnectionFailed": "network.connection",
    "RequestTimedOut": "network.timeout",
    "AbandonedAtStop": "run.stopped-waiting",
}

OBJECT_NOT_FOUND_CODES: frozenset[str] = frozenset(
    {"order.not-found", "payment.not-found", "refund.not-found"}
)
"""The errorCodes with which Smartpay says an object does not exist (a 404 that is an answer)."""

CONFIGURATION_ERRORS: tuple[type[SmartpayError], ...] = (Unauthorized, EndpointNotFound)
"""Errors that mean the key or the API prefix is wrong: stop, don't blame the row."""

REFUSED_BY_STATUS: Mapping[int, type[ApiRefused]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    422: IdempotencyMismatch,
}
