"""retry: the status → error table, what is retryable, backoff, Retry-After, the budget."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batch_refunds import errors
from batch_refunds.smartpay import retry


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, errors.BadRequest),
        (401, errors.Unauthorized),
        (403, errors.Forbidden),
        (404, errors.NotFound),
        (422, errors.IdempotencyMismatch),
        (418, errors.ApiRefused),
        (409, errors.Conflict),
        (429, errors.RateLimited),
        (500, errors.ServerError),
        (502, errors.ServerError),
        (503, errors.ServerError),
        (504, errors.ServerError),
    ],
)
def test_status_maps_to_its_error_class(status: int, kind: type[errors.SmartpayError]) -> None:
    """Each HTTP status becomes exactly the error class the hierarchy promises."""
    code = "order.not-found" if status == 404 else "x.y"
    error = retry.error_for_status(status, "m", error_code=code, method="GET", path="/p")
    assert type(error) is kind
    assert (error.status, error.error_code, error.method, error.path) == (
        status,
        code,
        "GET",
        "/p",
    )


@pytest.mark.parametrize("code", ["order.not-found", "payment.not-found", "refund.not-found"])
def test_404_with_an_object_not_found_code_is_plain_not_found(code: str) -> None:
    """Smartpay's three object-not-found codes make a 404 a NotFound about that object, not a
    configuration error."""
    error = retry.error_for_status(404, "m", error_code=code)
    assert type(error) is errors.NotFound
    assert not isinstance(error, errors.CONFIGURATION_ERRORS)


@pytest.mark.parametrize("code", [None, "resource.not-found", "route.not-found", "Order.Not-Found"])
def test_any_other_404_is_endpoint_not_found(code: str | None) -> None:
    """A 404 without one of those codes (none at all, the sandbox's resource.not-found, anything
    else) is EndpointNotFound: still a NotFound, a configuration error, never retried."""
    error = retry.error_for_status(404, "m", error_code=code)
    assert type(error) is errors.EndpointNotFound
    assert isinstance(error, errors.NotFound)
    assert isinstance(error, errors.CONFIGURATION_ERRORS)
    assert not retry.is_retryable(error, replay_safe=True, request_sent=True)


def test_configuration_errors_are_the_401_and_the_endpoint_404() -> None:
    """CONFIGURATION_ERRORS holds exactly Unauthorized and EndpointNotFound."""
    assert (errors.Unauthorized, errors.EndpointNotFound) == errors.CONFIGURATION_ERRORS
    assert isinstance(retry.error_for_status(401, "m"), errors.CONFIGURATION_ERRORS)
    for status in (400, 403, 422, 429, 500):
        assert not isinstance(retry.error_for_status(status, "m"), errors.CONFIGURATION_ERRORS)


def test_redirect_is_neither_refused_nor_unavailable() -> None:
    """A 3xx (redirects are not followed) is a plain SmartpayError: not retried, not a refusal."""
    error = retry.error_for_status(302, "moved")
    assert type(error) is errors.SmartpayError


def test_rate_limited_carries_retry_after() -> None:
    """A 429 error keeps the server's Retry-After for the caller."""
    error = retry.error_for_status(429, "slow down", retry_after_s=2.0)
    assert isinstance(error, errors.RateLimited)
    assert error.retry_after_s == 2.0


@pytest.mark.parametrize("status", [409, 429, 500, 503])
def test_unavailable_statuses_are_retried_when_replay_safe(status: int) -> None:
    """409, 429 and 5xx are retried for a GET or a keyed POST."""
    error = retry.error_for_status(status, "m")
    assert retry.is_retryable(error, replay_safe=True, request_sent=True)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 418])
def test_refusals_are_never_retried(status: int) -> None:
    """4xx other than 409/429 is never retried, whatever the method."""
    error = retry.error_for_status(status, "m")
    assert not retry.is_retryable(error, replay_safe=True, request_sent=True)
    assert not retry.is_retryable(error, replay_safe=False, request_sent=False)


def test_unkeyed_post_is_retried_only_if_nothing_was_sent() -> None:
    """Without an idempotency key, only a failure before sending (connect) may be retried."""
    broke = errors.ConnectionFailed("reset")
    assert not retry.is_retryable(broke, replay_safe=False, request_sent=True)
    assert retry.is_retryable(broke, replay_safe=False, request_sent=False)
    for status in (409, 429, 503):
        error = retry.error_for_status(status, "m")
        assert not retry.is_retryable(error, replay_safe=False, request_sent=True)


def test_backoff_doubles_up_to_the_cap() -> None:
    """With the jitter draw at its maximum the wait is base·2^(n-1), capped."""
    waits = [retry.backoff_s(n, base_s=0.5, cap_s=3.0, random=lambda: 1.0) for n in range(1, 6)]
    assert waits == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_backoff_has_full_jitter() -> None:
    """The wait is the draw times the ceiling, so a zero draw retries at once."""
    assert retry.backoff_s(3, base_s=0.5, cap_s=8.0, random=lambda: 0.0) == 0.0
    assert retry.backoff_s(3, base_s=0.5, cap_s=8.0, random=lambda: 0.25) == 0.5


@given(
    attempt=st.integers(min_value=1, max_value=10_000),
    base=st.floats(min_value=0.001, max_value=10),
    extra=st.floats(min_value=0, max_value=100),
    draw=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_backoff_stays_within_zero_and_cap(
    attempt: int, base: float, extra: float, draw: float
) -> None:
    """For any attempt, however large, the wait is between 0 and the cap."""
    cap = base + extra
    assert 0.0 <= retry.backoff_s(attempt, base_s=base, cap_s=cap, random=lambda: draw) <= cap


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("2", 2.0),
        (" 1.5 ", 1.5),
        ("0", 0.0),
        ("-3", 0.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_retry_after_seconds_or_http_date(header: str | None, seconds: float | None) -> None:
    """Retry-After is read as seconds or as an HTTP-date relative to now; junk is ignored."""
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert retry.parse_retry_after(header, now_epoch_s=now) == seconds


def test_retry_after_date_is_read_on_the_server_clock() -> None:
    """An HTTP-date Retry-After counts from the response's Date, not from our own clock."""
    headers = {
        "Retry-After": "Wed, 21 Oct 2015 07:28:05 GMT",
        "Date": "Wed, 21 Oct 2015 07:28:00 GMT",
    }
    assert retry.retry_after_from(headers, now_epoch_s=0.0) == 5.0
    no_date = {"Retry-After": "Wed, 21 Oct 2015 07:28:05 GMT", "Date": "yesterday"}
    assert retry.retry_after_from(no_date, now_epoch_s=1445412480.0) == 5.0
    assert retry.retry_after_from({}, now_epoch_s=0.0) is None


def test_delay_prefers_retry_after_up_to_the_cap() -> None:
    """The server's Retry-After is used instead of backoff, but never above the ceiling."""
    kw = {"retry_after_cap_s": 10.0, "base_s": 0.5, "cap_s": 8.0, "random": lambda: 1.0}
    assert retry.retry_delay_s(1, retry_after_s=2.0, **kw) == 2.0  # type: ignore[arg-type]
    assert retry.retry_delay_s(1, retry_after_s=600.0, **kw) == 10.0  # type: ignore[arg-type]
    assert retry.retry_delay_s(3, retry_after_s=None, **kw) == 2.0  # type: ignore[arg-type]


def test_budget_bounds_attempts_and_time() -> None:
    """Another try needs both an attempt left and the wait to fit in the time budget."""
    assert retry.within_budget(
        attempt=2, max_attempts=3, elapsed_s=5, delay_s=4, max_retry_time_s=10
    )
    assert not retry.within_budget(
        attempt=3, max_attempts=3, elapsed_s=0, delay_s=0, max_retry_time_s=10
    )
    assert not retry.within_budget(
        attempt=1, max_attempts=3, elapsed_s=7, delay_s=4, max_retry_time_s=10
    )
