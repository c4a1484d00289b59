"""What is retried and how long to wait: the policy as a table and small pure functions.

===========================================  =========================  ==========================
outcome                                      GET / POST with a key      POST without a key
===========================================  =========================  ==========================
could not connect / connect timed out        retried                    retried (nothing was sent)
connection broke, read or total timeout      retried                    never (it may have landed)
409 Conflict (same key still in flight)      retried                    never
429 Too Many Requests                        retried, whole client      never
                                             pauses for ``Retry-After``
5xx                                          retried                    never
400, 401, 403, 404, 422, any other 4xx       never                      never
===========================================  =========================  ==========================

A 404 is ``NotFound`` only with Smartpay's ``order.not-found``, ``payment.not-found`` or
``refund.not-found``; any other 404 is ``EndpointNotFound`` (the API prefix is wrong).

Retries stop at ``max_attempts`` tries or when the next wait would carry the call past
``max_retry_time_s``, whichever comes first; the last error is then raised. That budget
counts the call's own tries and waits, not time spent queued for the pace or a free slot. Waits are
exponential backoff with full jitter (a uniform draw in ``[0, min(cap, base·2^(n-1))]``),
except that a ``Retry-After`` (seconds or HTTP-date) is used instead, capped by
``retry_after_cap_s``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

from batch_refunds.errors import (
    OBJECT_NOT_FOUND_CODES,
    REFUSED_BY_STATUS,
    ApiRefused,
    ApiUnavailable,
    Conflict,
    EndpointNotFound,
    RateLimited,
    ServerError,
    SmartpayError,
)

RETRIED_STATUSES = "409, 429, 5xx"
NEVER_RETRIED_STATUSES = "400, 401, 403, 404, 422 and every other 4xx"


def error_class_for(status: int, error_code: str | None = None) -> type[SmartpayError]:
    """The error class a non-2xx answer becomes; the class alone decides whether it is retried.

    Only the HTTP status decides, except that a 404 is Smartpay's "no such object" only with
    one of its object-not-found codes; any other 404 means the URL leads nowhere.
    """
    if status == 429:
        return RateLimited
    if status == 409:
        return Conflict
    if 500 <= status <= 599:
        return ServerError
    if status == 404 and error_code not in OBJECT_NOT_FOUND_CODES:
        return EndpointNotFound
    if status in REFUSED_BY_STATUS:
        return REFUSED_BY_STATUS[status]
    if 400 <= status <= 499:
        return ApiRefused
    # 1xx/3xx: redirects are not followed (a POST must not wander), so this is a surprise.
    return SmartpayError


def error_for_status(
    status: int,
    message: str,
    *,
    error_code: str | None = None,
    details: Sequence[Any] = (),
    method: str | None = None,
    path: str | None = None,
    retry_after_s: float | None = None,
) -> SmartpayError:
    """The error a non-2xx answer becomes (its class from ``error_class_for``)."""
    kind = error_class_for(status, error_code)
    kw: dict[str, Any] = {
        "status": status,
        "error_code": error_code,
        "details": details,
        "method": method,
        "path": path,
    }
    if kind is RateLimited:
        return RateLimited(message, retry_after_s=retry_after_s, **kw)
    return kind(message, **kw)


def is_retryable(error: SmartpayError, *, replay_safe: bool, request_sent: bool) -> bool:
    """Whether another try may help and cannot do harm.

    ``replay_safe``: a GET, or a POST carrying an ``Idempotency-Key`` (the server answers a
    repeat with the first result). ``request_sent``: the request may have reached the server;
    false only when the connection was never made.
    """
    if not isinstance(error, ApiUnavailable):
        return False
    return replay_safe or not request_sent


def backoff_s(attempt: int, *, base_s: float, cap_s: float, random: Callable[[], float]) -> float:
    """Full-jitter exponential backoff before try ``attempt + 1`` (``attempt`` counts from 1)."""
    # Exponent bounded so a large attempt number can't overflow before the cap applies.
    ceiling = min(cap_s, base_s * 2.0 ** min(attempt - 1, 64))
    return random() * ceiling


def parse_retry_after(value: str | None, *, now_epoch_s: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` (delta-seconds or HTTP-date).

    ``None`` when absent or unreadable; a date in the past means 0.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        when = _http_date_epoch_s(text)
        if when is None:
            return None
        seconds = when - now_epoch_s
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def retry_after_from(headers: Mapping[str, str], *, now_epoch_s: float) -> float | None:
    """A response's ``Retry-After`` in seconds, an HTTP-date read against its ``Date``.

    The date is on the server's clock, and ours may be minutes off; ``now_epoch_s`` is used
    only when the response carries no readable ``Date``.
    """
    server_now = _http_date_epoch_s(headers.get("Date", ""))
    return parse_retry_after(
        headers.get("Retry-After"),
        now_epoch_s=now_epoch_s if server_now is None else server_now,
    )


def _http_date_epoch_s(text: str) -> float | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # HTTP-dates are GMT even when they fail to say so
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def retry_delay_s(
    attempt: int,
    *,
    retry_after_s: float | None,
    retry_after_cap_s: float,
    base_s: float,
    cap_s: float,
    random: Callable[[], float],
) -> float:
    """How long to wait after try ``attempt`` failed: the server's word, else backoff."""
    if retry_after_s is not None:
        return min(retry_after_s, retry_after_cap_s)
    return backoff_s(attempt, base_s=base_s, cap_s=cap_s, random=random)


def within_budget(
    *, attempt: int, max_attempts: int, elapsed_s: float, delay_s: float, max_retry_time_s: float
) -> bool:
    """Whether a try number ``attempt + 1`` after ``delay_s`` stays within both bounds."""
    return attempt < max_attempts and elapsed_s + delay_s <= max_retry_time_s
