"""SmartpayClient against aioresponses: exact failure sequences, retries, pacing, events."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aioresponses import CallbackResult, aioresponses
from yarl import URL

from batch_refunds import __version__, errors
from batch_refunds.api import SmartpayApi
from batch_refunds.models import CreateRefund, Payment
from batch_refunds.smartpay import ClientConfig, SmartpayClient
from batch_refunds.smartpay.ceiling import CRUISE_MARGIN
from batch_refunds.smartpay.events import (
    RequestFinished,
    RequestRetried,
    RequestStarted,
    Throttled,
    log_event,
)
from batch_refunds.smartpay.pacing import JITTER_ALLOWANCE_S

from .client_fakes import BASE, SECRET, CompatResponse, FakeTime, Recorder

REFUNDS = f"{BASE}/refunds"
KEY = "br-run1-row2-payment_test_p1"
BODY = CreateRefund(payment_id="payment_test_p1", amount=1980, reference="RET-000001")


def refund_json(refund_id: str = "refund_test_r1", amount: int = 1980) -> dict[str, Any]:
    return {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "currency": "JPY",
        "payment": "payment_test_p1",
        "reason": "requested_by_customer",
        "status": "succeeded",
        "reference": "RET-000001",
        "metadata": {},
        "test": True,
        "createdAt": 1_764_000_000_000,
    }


def make_client(
    time: FakeTime,
    hook: Callable[[Any], None] = lambda event: None,
    *,
    random: Callable[[], float] = lambda: 1.0,
    **settings: Any,
) -> SmartpayClient:
    settings.setdefault("rate_per_second", 1000.0)
    config = ClientConfig(SECRET, base_url=BASE, **settings)
    return SmartpayClient(
        config,
        hook=hook,
        clock=time.clock,
        sleep=time.sleep,
        random=random,
        wall_clock=lambda: 1445412480.0,
    )


def calls(mocked: aioresponses, method: str, url: str) -> list[Any]:
    return list(mocked.requests.get((method, URL(url)), []))


@pytest.fixture
def mocked(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr("aioresponses.core.ClientResponse", CompatResponse)
    with aioresponses() as m:
        yield m


async def test_503_503_200_makes_one_refund_under_one_key(
    mocked: aioresponses, fake_time: FakeTime, recorder: Recorder
) -> None:
    """Two 503s then 200: one refund returned, all three tries carry the same key and auth."""
    mocked.post(REFUNDS, status=503, payload={"statusCode": 503, "message": "busy"})
    mocked.post(REFUNDS, status=503, body="<html>bad gateway</html>")
    mocked.post(REFUNDS, payload=refund_json())
    async with make_client(fake_time, recorder) as client:
        refund = await client.create_refund(BODY, idempotency_key=KEY)
    assert refund.id == "refund_test_r1"
    tries = calls(mocked, "POST", REFUNDS)
    assert len(tries) == 3
    for call in tries:
        headers = call.kwargs["headers"]
        assert headers["Idempotency-Key"] == KEY
        assert headers["Authorization"] == f"Basic {SECRET}"
        assert headers["User-Agent"] == f"batch-refunds/{__version__}"
        assert call.kwargs["json"]["amount"] == 1980
    assert fake_time.sleeps == [0.5, 1.0]  # full jitter drawn at its top: base·2^(n-1)
    retried = recorder.of(RequestRetried)
    assert [(e.attempt, e.error_code) for e in retried] == [(1, "http.503"), (2, "http.503")]


async def test_events_trace_each_try(
    mocked: aioresponses, fake_time: FakeTime, recorder: Recorder
) -> None:
    """A retried call reports started, finished (with status), retried, started, finished."""
    mocked.get(f"{REFUNDS}/refund_test_r1", status=500)
    mocked.get(f"{REFUNDS}/refund_test_r1", payload=refund_json())
    async with make_client(fake_time, recorder) as client:
        await client.get_refund("refund_test_r1")
    kinds = [(type(e).__name__, getattr(e, "attempt", None)) for e in recorder.events]
    assert kinds == [
        ("RequestStarted", 1),
        ("RequestFinished", 1),
        ("RequestRetried", 1),
        ("RequestStarted", 2),
        ("RequestFinished", 2),
    ]
    finished = recorder.of(RequestFinished)
    assert [(e.status, e.error_code) for e in finished] == [(500, "http.500"), (200, None)]


async def test_429_retry_after_delays_the_next_request(
    mocked: aioresponses, fake_time: FakeTime, recorder: Recorder
) -> None:
    """429 with Retry-After: 2 on the very first request → the retry starts 2 s later on the
    injected clock, and with nothing yet let through to measure, the pace halves."""
    mocked.post(REFUNDS, status=429, headers={"Retry-After": "2"})
    mocked.post(REFUNDS, payload=refund_json())
    async with make_client(fake_time, recorder, rate_per_second=8.0) as client:
        await client.create_refund(BODY, idempotency_key=KEY)
        assert client.pacer.rate_per_second == pytest.approx(4.0 * (1 - CRUISE_MARGIN))
    first, second = (e.at for e in recorder.of(RequestStarted))
    assert second - first == pytest.approx(2.0)
    [throttled] = recorder.of(Throttled)
    assert throttled.pause_s == 2.0
    assert throttled.rate_per_second == pytest.approx(4.0 * (1 - CRUISE_MARGIN))


async def test_429_pauses_the_whole_client(
    mocked: aioresponses, fake_time: FakeTime, recorder: Recorder
) -> None:
    """A 429 on one request holds back a different, later request for Retry-After."""
    mocked.get(f"{REFUNDS}/refund_test_r1", status=429, headers={"Retry-After": "3"})
    mocked.get(f"{REFUNDS}/refund_test_r2", payload=refund_json("refund_test_r2"))
    async with make_client(fake_time, recorder, max_attempts=1) as client:
        with pytest.raises(errors.RateLimited) as caught:
            await client.get_refund("refund_test_r1")
        assert caught.value.retry_after_s == 3.0
        await client.get_refund("refund_test_r2")
    first, second = (e.at for e in recorder.of(RequestStarted))
    assert second - first >= 3.0


async def test_429_http_date_is_read_against_the_server_date(
    mocked: aioresponses, fake_time: FakeTime
) -> None:
    """Retry-After as an HTTP-date waits until that date by the server's own Date header."""
    headers = {
        "Retry-After": "Wed, 21 Oct 2015 07:28:05 GMT",
        "Date": "Wed, 21 Oct 2015 07:28:00 GMT",
    }
    mocked.get(f"{REFUNDS}/refund_test_r1", status=429, headers=headers)
    mocked.get(f"{REFUNDS}/refund_test_r1", payload=refund_json())
    async with make_client(fake_time) as client:
        await client.get_refund("refund_test_r1")
    assert fake_time.sleeps == [5.0]


async def test_retry_after_is_capped(mocked: aioresponses, fake_time: FakeTime) -> None:
    """A Retry-After of an hour is honoured only up to retry_after_cap_s."""
    mocked.get(f"{REFUNDS}/refund_test_r1", status=503, headers={"Retry-After": "3600"})
    mocked.get(f"{REFUNDS}/refund_test_r1", payload=refund_json())
    async with make_client(fake_time, retry_after_cap_s=5.0) as client:
        await client.get_refund("refund_test_r1")
    assert fake_time.sleeps == [5.0]


async def test_429_without_retry_after_backs_off(
    mocked: aioresponses, fake_time: FakeTime, recorder: Recorder
) -> None:
    """With no Retry-After, a 429 pauses the client for the jittered backoff instead."""
    mocked.get(f"{REFUNDS}/refund_test_r1", status=429)
    mocked.get(f"{REFUNDS}/refund_test_r1", payload=refund_json())
    async with make_client(fake_time, recorder, random=lambda: 0.5) as client:
        await client.get_refund("refund_test_r1")
    [throttled] = recorder.of(Throttled)
    assert throttled.pause_s == 0.25
    assert fake_time.sleeps == [0.25]


async def test_403_is_forbidden_and_never_retried(
    mocked: aioresponses, fake_time: FakeTime
) -> None:
    """403 amount.insufficient → Forbidden with Smartpay's code and message, after one try."""
    mocked.post(
        REFUNDS,
        status=403,
        payload={
            "statusCode": 403,
            "errorCode": "amount.insufficient",
            "message": "The refund amount exceeds the remaining amount",
            "details": [],
        },
        repeat=True,
    )
    async with make_client(fake_time) as client:
        with pytest.raises(errors.Forbidden) as caught:
            await client.create_refund(BODY, idempotency_key=KEY)
    error = caught.value
    assert (error.status, error.error_code, error.code) == (
        403,
        "amount.insufficient",
        "amount.insufficient",
    )
    assert error.message == "The refund amount exceeds the remaining amount"
    assert (error.method, error.path) == ("POST", "/refunds")
    assert len(calls(mocked, "POST", REFUNDS)) == 1
    assert fake_time.sleeps == []


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, errors.BadRequest),
        (401, errors.Unauthorized),
        (404, errors.NotFound),
        (422, errors.IdempotencyMismatch),
    ],
)
async def test_refusals_are_raised_after_one_try(
    mocked: aioresponses, fake_time: FakeTime, status: int, kind: type[errors.ApiRefused]
) -> None:
    """400, 401, 404 and 422 are raised as their class straight away, with no retry."""
    mocked.post(REFUNDS, status=status, payload={"statusCode": status}, repeat=True)
    async with make_client(fake_time) as client:
        with pytest.raises(kind):
            await client.create_refund(BODY, idempotency_key=KEY)
    assert len(calls(mocked, "POST", REFUNDS)) == 1


async def test_401_never_shows_the_secret(mocked: aioresponses, fake_time: FakeTime) -> None:
    """An Unauthorized error has a useful message and neither its str nor repr holds the key."""
    body = {"statusCode": 401, "scheme": "Basic", "realm": "smartpay"}
    mocked.get(f"{REFUNDS}/refund_test_r1", status=401, payload=body)
    async with make_client(fake_time) as client:
        with pytest.raises(errors.Unauthorized) as caught:
            await client.get_refund("refund_test_r1")
    assert str(caught.value) == (
        "401 the secret key (sk_test_***) was not accepted by https://api.smartpay.test/v1: "
        "a test key against the live API or the other way round, or a key mistyped or revoked; "
        "set the right key in SMARTPAY_SECRET_KEY (or pass --secret-file) "
        "(GET /refunds/refund_test_r1)"
    )
    assert caught.value.code == "http.401"
    assert SECRET not in repr(caught.value)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("<html><body><h1>404 Not Found</h1>nginx</body></html>", "text/html"),
        ('{"statusCode": 404}', "application/json"),
        ('{"statusCode": 404, "errorCode": "resource.not-found"}', "application/json"),
    ],
)
async def test_a_404_from_no_smartpay_route_is_endpoint_not_found(
    mocked: aioresponses, fake_time: FakeTime, body: str, content_type: str
) -> None:
    """A proxy's HTML page, a JSON 404 without errorCode or with an unknown one: raised after one
    try as EndpointNotFound, whose message blames the API prefix and shows it."""
    mocked.post(REFUNDS, status=404, body=body, content_type=content_type, repeat=True)
    async with make_client(fake_time) as client:
        with pytest.raises(errors.EndpointNotFound) as caught:
            await client.create_refund(BODY, idempotency_key=KEY)
    assert caught.value.status == 404
    assert caught.value.message.startswith(
        "nothing answers like Smartpay under the API prefix https://api.smartpay.test/v1"
    )
    assert "SMARTPAY_API_PREFIX" in caught.value.message
    assert len(calls(mocked, "POST", REFUNDS)) == 1
    assert fake_time.sleeps == []


async def test_a_404_naming_the_object_keeps_smartpays_message(
    mocked: aioresponses, fake_time: FakeTime
) -> None:
    """404 payment.not-found is a plain NotFound about that payment, with Smartpay's words."""
    mocked.post(
        REFUNDS,
        status=404,
        payload={
            "statusCode": 404,
            "errorCode": "payment.not-found",
            "message": "Payment payment_test_p1 not found",
        },
    )
    async with make_client(fake_time) as client:
        with pytest.raises(errors.NotFound) as caught:
            await client.create_refund(BODY, idempotency_key=KEY)
    assert type(caught.value) is errors.NotFound
    assert caught.value.message == "Payment payment_test_p1 not found"


ORDERS_PROBE = f"{BASE}/orders?expand=no&maxResults=1"


async def test_check_access_retries_like_any_get_then_returns(
    mocked: aioresponses, fake_time: FakeTime
) -> None:
    """check_access is one GET /orders?maxResults=1: a 503 is retried, an empty list passes."""
    mocked.get(ORDERS_PROBE, status=503)
    mocked.get(ORDERS_PROBE, payload={"object": "collection", "data": []})
    async with make_client(fake_time) as client:
        await client.check_access()
    assert len(calls(mocked, "GET", ORDERS_PROBE)) == 2
    assert len(fake_time.sleeps) == 1


@pytest.mark.parametrize("payload", [{"object": "order", "id": "x"}, {"results": 0}, []])
async def test_check_access_refuses_a_200_that_is_no_order_list(
    mocked: aioresponses, fake_time: FakeTime, payload: Any
) -> None:
    """A 200 whose body is not a collection (some other service under that prefix) is an
    error, not a pass."""
    mocked.get(ORDERS_PROBE, payload=payload)
    async with make_client(fake_time) as client:
        with pytest.raises(errors.SmartpayError, match="unexpected response"):
            await client.check_access()


async def test_an_echoed_secret_is_scrubbed(mocked: aioresponses, fake_time: FakeTime) -> None:
    """If a server quotes the Authorization header back, the error text still hides the key."""
    mocked.get(
        f"{REFUNDS}/refund_test_r1",
        status=400,
        payload={"statusCode": 400, "errorCode": "request.invalid", "message": f"bad {SECRET}"},
    )
    async with make_client(fake_time) as client:
        with pytest.raises(errors.BadRequest) as caught:
            await client.get_refund("refund_test_r1")
    assert SECRET not in str(caught.value)
    assert "sk_test_***" in str(caught.value)


async def test_gives_up_after_max_attempts(mocked: aioresponses, fake_time: FakeTime) -> None:
    """Persistent 503s raise ServerError after exactly max_attempts tries."""
    mocked.get(f"{REFUNDS}/refund_test_r1", status=503, repeat=True)
    async with make_client(fake_time, max_attempts=3) as client:
        with pytest.raises(errors.ServerError):
            await client.get_refund("refund_test_r1")
    assert len(calls(mocked, "GET", f"{REFUNDS}/refund_test_r1")) == 3
    assert len(fake_time.sleeps) == 2


async def test_gives_up_when_the_time_budget_would_be_exceeded(
    mocked: aioresponses, fake_time: FakeTime
) -> None:
    """A wait that would carry the call past max_retry_time_s is not taken."""
    mocked.get(f"{REFUNDS}/refund_test_r1", status=503, repeat=True)
    budget: dict[str, Any] = {"backoff_base_s": 4.0, "backoff_cap_s": 8.0, "max_retry_time_s": 5}
    async with make_client(fake_time, max_attempts=10, **budget) as client:
        with pytest.raises(errors.ServerError):
            await client.get_refund("refund_test_r1")
    assert fake_time.sleeps == [4.0]  # the next wait (8 s) would end past 5 s
    assert len(calls(mocked, "GET", f"{REFUNDS}/refund_test_r1")) == 2


async def test_broken_connection_on_get_is_retried(
    mocked: aioresponses, fake_time: FakeTime
) -> None:
    """A dropped connection on a GET is retried and the answer returned."""
    url = f"{REFUNDS}/refund_test_r1"
    mocked.get(url, exception=aiohttp.ServerDisconnectedError())
    mocked.get(url, payload=refund_json())
    async with make_client(fake_time) as client:
        assert (await client.get_refund("refund_test_r1")).id == "refund_test_r1"


async def test_broken_connection_on_keyed_post_is_retried_with_the_same_key(
    mocked: aioresponses, fake_time: FakeTime
) -> None:
    """A POST whose connection broke after sending is retried, because its key makes it safe."""
    mocked.post(REFUNDS, exception=aiohttp.ClientPayloadError("cut"))
    mocked.post(REFUNDS, payload=refund_json())
    async with make_client(fake_time) as client:
        await client.create_refund(BODY, idempotency_key=KEY)
    keys = {c.kwargs["headers"]["Idempotency-Key"] for c in calls(mocked, "POST", REFUNDS)}
    assert keys == {KEY}


async def test_timeout_becomes_request_timed_out(mocked: aioresponses, fake_time: FakeTime) -> None:
    """A timeout is retried, then raised as RequestTimedOut chained to the original exception."""
    url = f"{REFUNDS}/refund_test_r1"
    mocked.get(url, exception=TimeoutError(), repeat=True)
    async with make_client(fake_time, max_attempts=2) as client:
        with pytest.raises(errors.RequestTimedOut) as caught:
            await client.get_refund("refund_test_r1")
    assert isinstance(caught.value.__cause__, TimeoutError)
    assert caught.value.code == "network.timeout"
    assert str(caught.value) == "timed out waiting for the response (GET /refunds/refund_test_r1)"
    assert len(calls(mocked, "GET", url)) == 2


async def test_unkeyed_post_is_not_retried_once_it_may_have_landed(
    mocked: aioresponses, fake_time: FakeTime
) -> None:
    """Without a key, a POST that broke after sending is raised, never sent twice."""
    mocked.post(REFUNDS, exception=aiohttp.ServerDisconnectedError(), repeat=True)
    async with make_client(fake_time) as client:
        with pytest.raises(errors.ConnectionFailed):
            await client._answer("POST", "/refunds", body={"payment": "p"})
    assert len(calls(mocked, "POST", REFUNDS)) == 1


async def test_unkeyed_post_is_retried_when_it_never_left(
    mocked: aioresponses, fake_time: FakeTime
) -> None:
    """Without a key, a POST that timed out while connecting may be tried again."""
    mocked.post(REFUNDS, exception=aiohttp.ConnectionTimeoutError())
    mocked.post(REFUNDS, payload=refund_json())
    async with make_client(fake_time) as client:
        data = (await client._answer("POST", "/refunds", body={"payment": "p"})).data
    assert data["id"] == "refund_test_r1"
    assert len(calls(mocked, "POST", REFUNDS)) == 2


async def test_non_json_success_is_an_error_not_a_retry(
    mocked: aioresponses, fake_time: FakeTime
) -> None:
    """A 200 whose body isn't JSON is a MalformedAnswer (neither refused nor unavailable)."""
    mocked.get(f"{REFUNDS}/refund_test_r1", body="<html>portal</html>", repeat=True)
    async with make_client(fake_time) as client:
        with pytest.raises(errors.MalformedAnswer, match="not JSON") as caught:
            await client.get_refund("refund_test_r1")
    assert not isinstance(caught.value, errors.ApiRefused | errors.ApiUnavailable)
    assert len(calls(mocked, "GET", f"{REFUNDS}/refund_test_r1")) == 1


async def test_unexpected_shape_is_reported(mocked: aioresponses, fake_time: FakeTime) -> None:
    """A 200 with a body that isn't a refund is a MalformedAnswer naming the wrong field."""
    mocked.get(f"{REFUNDS}/refund_test_r1", payload={**refund_json(), "amount": "1980"})
    async with make_client(fake_time) as client:
        with pytest.raises(errors.MalformedAnswer, match=r"unexpected response: refund\.amount"):
            await client.get_refund("refund_test_r1")


async def test_replay_is_reported_in_the_finished_event(
    mocked: aioresponses, fake_time: FakeTime, recorder: Recorder
) -> None:
    """An Idempotency-Replayed: true answer is flagged on RequestFinished."""
    mocked.post(REFUNDS, payload=refund_json(), headers={"Idempotency-Replayed": "true"})
    async with make_client(fake_time, recorder) as client:
        await client.create_refund(BODY, idempotency_key=KEY)
    [finished] = recorder.of(RequestFinished)
    assert finished.replayed is True


async def test_get_order_sends_expand(mocked: aioresponses, fake_time: FakeTime) -> None:
    """expand=True asks for expand=all (payment objects); expand=False for expand=no."""
    order = {
        "id": "order_test_o1",
        "object": "order",
        "amount": 5000,
        "currency": "JPY",
        "status": "succeeded",
        "createdAt": 1,
        "payments": [
            {
                "id": "payment_test_p1",
                "object": "payment",
                "amount": 5000,
                "currency": "JPY",
                "order": "order_test_o1",
                "status": "processed",
                "createdAt": 1,
            }
        ],
    }
    mocked.get(f"{BASE}/orders/order_test_o1?expand=all", payload=order)
    mocked.get(f"{BASE}/orders/order_test_o1?expand=no", payload={**order, "payments": ["p"]})
    async with make_client(fake_time) as client:
        expanded = await client.get_order("order_test_o1")
        plain = await client.get_order("order_test_o1", expand=False)
    assert isinstance(expanded.payments[0], Payment)
    assert plain.payments == ("p",)


async def test_ids_are_quoted_into_the_path(mocked: aioresponses, fake_time: FakeTime) -> None:
    """An id like '../refunds' stays one path segment instead of reaching another route."""
    mocked.get(f"{BASE}/orders/..%2Frefunds?expand=all", status=404, payload={"statusCode": 404})
    async with make_client(fake_time) as client:
        with pytest.raises(errors.NotFound) as caught:
            await client.get_order("../refunds")
    assert caught.value.path == "/orders/..%2Frefunds"


async def test_bad_arguments_fail_before_any_request(fake_time: FakeTime) -> None:
    """An empty id or idempotency key is a ValueError, raised without touching the network."""
    async with make_client(fake_time) as client:
        with pytest.raises(ValueError, match="order_id"):
            await client.get_order(" ")
        with pytest.raises(ValueError, match="idempotency_key"):
            await client.create_refund(BODY, idempotency_key="")
        with pytest.raises(ValueError, match="page_size"):
            await anext(client.list_refunds(page_size=0))


async def test_list_refunds_follows_page_tokens(mocked: aioresponses, fake_time: FakeTime) -> None:
    """list_refunds yields every refund across pages, fetching the next page by its token."""
    mocked.get(
        f"{REFUNDS}?maxResults=2",
        payload={
            "object": "collection",
            "data": [refund_json("refund_test_r3"), refund_json("refund_test_r2")],
            "nextPageToken": "t2",
        },
    )
    mocked.get(
        f"{REFUNDS}?maxResults=2&pageToken=t2",
        payload={"object": "collection", "data": [refund_json("refund_test_r1")]},
    )
    async with make_client(fake_time) as client:
        ids = [r.id async for r in client.list_refunds(page_size=2)]
    assert ids == ["refund_test_r3", "refund_test_r2", "refund_test_r1"]


async def test_list_refunds_stops_on_a_repeated_token(
    mocked: aioresponses, fake_time: FakeTime
) -> None:
    """A server that hands back the same token twice raises instead of looping forever."""
    page = {"object": "collection", "data": [], "nextPageToken": "same"}
    mocked.get(f"{REFUNDS}?maxResults=100", payload=page)
    mocked.get(f"{REFUNDS}?maxResults=100&pageToken=same", payload=page, repeat=True)
    async with make_client(fake_time) as client:
        with pytest.raises(errors.EndlessList, match="page token 'same' a second time"):
            _ = [r async for r in client.list_refunds()]


async def test_requests_start_evenly_through_the_client(
    mocked: aioresponses, fake_time: FakeTime, recorder: Recorder
) -> None:
    """Five concurrent calls at 2/s start half a second (plus allowance) apart."""
    mocked.get(f"{REFUNDS}/refund_test_r1", payload=refund_json(), repeat=True)
    async with make_client(fake_time, recorder, rate_per_second=2.0) as client:
        await asyncio.gather(*(client.get_refund("refund_test_r1") for _ in range(5)))
    starts = [e.at for e in recorder.of(RequestStarted)]
    assert [b - a for a, b in itertools.pairwise(starts)] == pytest.approx(
        [0.5 * (1 + JITTER_ALLOWANCE_S)] * 4
    )


async def test_in_flight_never_exceeds_the_cap_through_the_client(
    mocked: aioresponses, fake_time: FakeTime
) -> None:
    """With max_in_flight=2, no more than two requests are ever open, and two are."""
    gate = asyncio.Event()
    open_now = 0
    peak = 0

    async def slow(url: URL, **kwargs: Any) -> CallbackResult:
        nonlocal open_now, peak
        open_now += 1
        peak = max(peak, open_now)
        await gate.wait()
        open_now -= 1
        return CallbackResult(payload=refund_json())

    mocked.get(f"{REFUNDS}/refund_test_r1", callback=slow, repeat=True)
    async with make_client(fake_time, max_in_flight=2) as client:
        tasks = [asyncio.create_task(client.get_refund("refund_test_r1")) for _ in range(6)]
        for _ in range(50):
            await asyncio.sleep(0)
        assert open_now == 2
        gate.set()
        await asyncio.gather(*tasks)
    assert peak == 2


async def test_a_failing_hook_does_not_fail_the_call(
    mocked: aioresponses, fake_time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    """A broken event hook is logged; the refund it was reporting on is still returned."""

    def broken(event: Any) -> None:
        raise RuntimeError("progress bar fell over")

    mocked.post(REFUNDS, payload=refund_json())
    async with make_client(fake_time, broken) as client:
        refund = await client.create_refund(BODY, idempotency_key=KEY)
    assert refund.id == "refund_test_r1"
    assert "event hook failed" in caplog.text


async def test_the_secret_never_reaches_the_log(
    mocked: aioresponses, fake_time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    """With DEBUG logging of every event, retries and failures, the key appears nowhere."""
    caplog.set_level(logging.DEBUG)
    mocked.post(REFUNDS, status=503)
    mocked.post(REFUNDS, status=401, payload={"statusCode": 401})
    async with make_client(fake_time, log_event) as client:
        logging.getLogger("test").debug("client %r config %r", client, client.config)
        with pytest.raises(errors.Unauthorized) as caught:
            await client.create_refund(BODY, idempotency_key=KEY)
        logging.getLogger("test").exception("failed", exc_info=caught.value)
    assert "RequestRetried" in caplog.text
    assert SECRET not in caplog.text


async def test_client_must_be_opened(fake_time: FakeTime) -> None:
    """Using a client outside `async with` (no session) is a clear RuntimeError."""
    client = make_client(fake_time)
    with pytest.raises(RuntimeError, match="async with"):
        await client.get_refund("refund_test_r1")


async def test_a_given_session_is_used_and_left_open(
    mocked: aioresponses, fake_time: FakeTime
) -> None:
    """A caller's ClientSession is used for requests and not closed by the client."""
    mocked.get(f"{REFUNDS}/refund_test_r1", payload=refund_json())
    async with aiohttp.ClientSession() as session:
        config = ClientConfig(SECRET, base_url=BASE)
        async with SmartpayClient(config, session=session, clock=fake_time.clock) as client:
            await client.get_refund("refund_test_r1")
        assert not session.closed


def test_client_satisfies_the_engine_protocol() -> None:
    """SmartpayClient type-checks as batch_refunds.api.SmartpayApi and hides the key in repr."""
    client: SmartpayApi = SmartpayClient(ClientConfig(SECRET))
    assert "sk_test_***" in repr(client)
    assert SECRET not in repr(client)


def test_config_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no config given, the client reads SMARTPAY_SECRET_KEY and SMARTPAY_API_PREFIX."""
    monkeypatch.setenv("SMARTPAY_SECRET_KEY", SECRET)
    monkeypatch.setenv("SMARTPAY_API_PREFIX", "http://127.0.0.1:1/v1")
    assert SmartpayClient().config.base_url == "http://127.0.0.1:1/v1"


async def test_queue_time_does_not_use_up_the_retry_budget(
    mocked: aioresponses, fake_time: FakeTime
) -> None:
    """Waiting 10 s for its pace slot doesn't stop a request from retrying on a 5 s budget."""
    mocked.get(f"{REFUNDS}/refund_test_r1", payload=refund_json())
    mocked.get(f"{REFUNDS}/refund_test_r2", status=503)
    mocked.get(f"{REFUNDS}/refund_test_r2", payload=refund_json("refund_test_r2"))
    slow: dict[str, Any] = {
        "rate_per_second": 0.1,
        "min_rate_per_second": 0.1,
        "max_retry_time_s": 5.0,
    }
    async with make_client(fake_time, **slow) as client:
        first, second = await asyncio.gather(
            client.get_refund("refund_test_r1"), client.get_refund("refund_test_r2")
        )
    assert (first.id, second.id) == ("refund_test_r1", "refund_test_r2")
    assert fake_time.now - 100.0 >= 20.0  # two pace waits of 10 s, neither charged to the budget


async def test_error_without_a_body_message_uses_the_reason_phrase(
    mocked: aioresponses, fake_time: FakeTime
) -> None:
    """A 503 whose body is a proxy's HTML page reads '503 Service Unavailable', not the HTML."""
    mocked.get(
        f"{REFUNDS}/refund_test_r1",
        status=503,
        body="<html><body>upstream went away</body></html>",
        content_type="text/html",
        reason="Service Unavailable",
    )
    async with make_client(fake_time, max_attempts=1) as client:
        with pytest.raises(errors.ServerError) as caught:
            await client.get_refund("refund_test_r1")
    assert str(caught.value) == "503 Service Unavailable (GET /refunds/refund_test_r1)"


async def test_a_stopping_run_does_not_retry(mocked: aioresponses, fake_time: FakeTime) -> None:
    """Once the run is stopping, a failed try is not retried (no backoff sleep): the call
    fails at once with that try's error, so the run ends within one request's time."""
    url = f"{REFUNDS}/refund_test_r1"
    mocked.get(url, exception=aiohttp.ServerDisconnectedError())
    mocked.get(url, payload=refund_json())
    config = ClientConfig(SECRET, base_url=BASE, rate_per_second=1000.0)
    async with SmartpayClient(
        config, clock=fake_time.clock, sleep=fake_time.sleep, should_stop=lambda: True
    ) as client:
        with pytest.raises(errors.ConnectionFailed):
            await client.get_refund("refund_test_r1")
    assert len(calls(mocked, "GET", url)) == 1


async def test_list_orders_stops_on_a_repeated_token(
    mocked: aioresponses, fake_time: FakeTime
) -> None:
    """The order list handing back the same token twice raises instead of looping forever."""
    orders = REFUNDS.replace("/refunds", "/orders")
    page = {"object": "collection", "data": [], "nextPageToken": "same"}
    mocked.get(f"{orders}?maxResults=100&expand=no", payload=page)
    mocked.get(f"{orders}?maxResults=100&expand=no&pageToken=same", payload=page, repeat=True)
    async with make_client(fake_time) as client:
        with pytest.raises(errors.EndlessList, match="page token 'same' a second time"):
            _ = [o async for o in client.list_orders()]
