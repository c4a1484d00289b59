"""Answers checked where they enter: against what was asked, and against what is possible."""

from __future__ import annotations

from typing import Any

import pytest

from batch_refunds import errors
from batch_refunds.models import MAX_PLAUSIBLE_YEN, CreateRefund, Payment
from batch_refunds.smartpay.wire import MAX_EPOCH_MS

from .clients import client_for
from .server import HostileServer
from .shapes import ORDER_ID, PAYMENT_ID, REFUND_ID, order_json, payment_json, refund_json

BODY = CreateRefund(payment_id=PAYMENT_ID, amount=1980, reference="RET-000001")
KEY = "br-hostile-row2"


# --- the id asked for ------------------------------------------------------------------------


async def test_an_order_answered_under_another_id_is_a_mismatch(hostile: HostileServer) -> None:
    """GET /orders/A answered with order B: AnswerMismatch naming both, after one request."""
    hostile.answer("GET /orders/{id}", order_json(id="order_test_other"))
    async with client_for(hostile) as client:
        with pytest.raises(errors.AnswerMismatch) as caught:
            await client.get_order(ORDER_ID)
    assert caught.value.code == "answer.mismatch"
    assert caught.value.message == (
        f"asked for order {ORDER_ID}; the answer is order order_test_other"
    )
    assert len(hostile.requests_to("GET /orders/{id}")) == 1


async def test_a_payment_answered_under_another_id_is_a_mismatch(hostile: HostileServer) -> None:
    """GET /payments/A answered with payment B is an AnswerMismatch."""
    hostile.answer("GET /payments/{id}", payment_json(id="payment_test_other"))
    async with client_for(hostile) as client:
        with pytest.raises(errors.AnswerMismatch, match="the answer is payment payment_test_other"):
            await client.get_payment(PAYMENT_ID)


async def test_a_refund_answered_under_another_id_is_a_mismatch(hostile: HostileServer) -> None:
    """GET /refunds/A answered with refund B is an AnswerMismatch."""
    hostile.answer("GET /refunds/{id}", refund_json(id="refund_test_other"))
    async with client_for(hostile) as client:
        with pytest.raises(errors.AnswerMismatch, match="the answer is refund refund_test_other"):
            await client.get_refund(REFUND_ID)


async def test_the_asked_for_objects_come_back_as_they_are(hostile: HostileServer) -> None:
    """Answers that match what was asked pass every check unchanged."""
    hostile.answer("GET /orders/{id}", order_json())
    hostile.answer("GET /payments/{id}", payment_json(refunds=[refund_json()]))
    hostile.answer("GET /refunds/{id}", refund_json())
    async with client_for(hostile) as client:
        order = await client.get_order(ORDER_ID)
        payment = await client.get_payment(PAYMENT_ID)
        refund = await client.get_refund(REFUND_ID)
    assert (order.id, payment.id, refund.id) == (ORDER_ID, PAYMENT_ID, REFUND_ID)
    assert payment.refunds == (refund,)


async def test_an_expanded_payment_of_another_order_is_a_mismatch(hostile: HostileServer) -> None:
    """An order whose expanded payment says it belongs to another order is an AnswerMismatch."""
    hostile.answer("GET /orders/{id}", order_json(payments=[payment_json(order="order_test_x")]))
    async with client_for(hostile) as client:
        with pytest.raises(errors.AnswerMismatch, match="says it belongs to order order_test_x"):
            await client.get_order(ORDER_ID)


async def test_a_listed_refund_of_another_payment_is_a_mismatch(hostile: HostileServer) -> None:
    """A refund object on a payment's refunds that names another payment is an AnswerMismatch."""
    stray = refund_json(payment="payment_test_x")
    hostile.answer("GET /payments/{id}", payment_json(refunds=[stray]))
    async with client_for(hostile) as client:
        with pytest.raises(errors.AnswerMismatch, match="is a refund of payment payment_test_x"):
            await client.get_payment(PAYMENT_ID)


# --- the refund asked for --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"amount": 1}, "¥1, not ¥1,980"),
        ({"amount": 19800}, "¥19,800, not ¥1,980"),
        ({"payment": "payment_test_other"}, "payment payment_test_other, not payment_test_p1"),
        ({"currency": "USD"}, "currency USD, not JPY"),
        ({"reference": "RET-999999"}, "reference 'RET-999999', not 'RET-000001'"),
    ],
)
async def test_a_created_refund_unlike_the_request_is_a_mismatch_never_a_refusal(
    hostile: HostileServer, change: dict[str, Any], said: str
) -> None:
    """POST /refunds answered with another amount, payment, currency or reference: an
    AnswerMismatch (the refund may exist), not an ApiRefused nor a Refund, sent only once."""
    hostile.answer("POST /refunds", refund_json(**change))
    async with client_for(hostile) as client:
        with pytest.raises(errors.AnswerMismatch) as caught:
            await client.create_refund(BODY, idempotency_key=KEY)
    assert not isinstance(caught.value, errors.ApiRefused | errors.ApiUnavailable)
    assert isinstance(caught.value, errors.UnusableAnswer)
    assert said in caught.value.message
    assert caught.value.message.startswith("asked for a refund of ¥1,980 from payment_test_p1")
    assert len(hostile.requests_to("POST /refunds")) == 1


async def test_a_created_refund_may_spell_the_currency_in_lower_case(
    hostile: HostileServer,
) -> None:
    """Smartpay accepts "jpy" for JPY, so an answer spelling it so is the refund asked for."""
    hostile.answer("POST /refunds", refund_json(currency="jpy"))
    async with client_for(hostile) as client:
        refund = await client.create_refund(BODY, idempotency_key=KEY)
    assert (refund.amount, refund.currency) == (1980, "jpy")


async def test_a_created_refund_without_a_reference_is_still_the_one_asked_for(
    hostile: HostileServer,
) -> None:
    """An answer that leaves the reference out (null) is not a mismatch: only a different one is."""
    hostile.answer("POST /refunds", refund_json(reference=None))
    async with client_for(hostile) as client:
        refund = await client.create_refund(BODY, idempotency_key=KEY)
    assert refund.reference is None


@pytest.mark.parametrize("status", ["pending", "failed", "succeeded"])
async def test_a_created_refund_is_returned_whatever_its_status(
    hostile: HostileServer, status: str
) -> None:
    """A matching refund comes back with Smartpay's status as sent (pending too): the engine
    decides what it means."""
    hostile.answer("POST /refunds", refund_json(status=status))
    async with client_for(hostile) as client:
        refund = await client.create_refund(BODY, idempotency_key=KEY)
    assert refund.status == status
    assert refund.succeeded is (status == "succeeded")


# --- what is possible ------------------------------------------------------------------------

HUGE = 10**20


@pytest.mark.parametrize(
    ("route", "call", "answer"),
    [
        ("GET /orders/{id}", "order", order_json(amount=HUGE)),
        ("GET /orders/{id}", "order", order_json(amount=-1)),
        ("GET /orders/{id}", "order", order_json(payments=[payment_json(amount=HUGE)])),
        ("GET /payments/{id}", "payment", payment_json(amount=0)),
        ("GET /payments/{id}", "payment", payment_json(amount=1980.5)),
        ("GET /payments/{id}", "payment", payment_json(amount=MAX_PLAUSIBLE_YEN + 1)),
        ("GET /payments/{id}", "payment", payment_json(refunds=[refund_json(amount=HUGE)])),
        ("GET /payments/{id}", "payment", payment_json(createdAt=HUGE)),
        ("GET /payments/{id}", "payment", payment_json(createdAt=-1)),
        ("GET /refunds/{id}", "refund", refund_json(amount=-1980)),
        ("GET /refunds/{id}", "refund", refund_json(amount=0)),
        ("POST /refunds", "create", refund_json(amount=HUGE)),
        ("POST /refunds", "create", refund_json(amount=10**4000)),
    ],
)
async def test_an_impossible_amount_or_time_is_implausible_never_an_overflow(
    hostile: HostileServer, route: str, call: str, answer: dict[str, Any]
) -> None:
    """Amounts outside whole yen 0/1..MAX_PLAUSIBLE_YEN and times outside 1970–9999 are an
    ImplausibleAnswer with a short message, never a number passed on (or an OverflowError)."""
    hostile.answer(route, answer)
    async with client_for(hostile) as client:
        with pytest.raises(errors.ImplausibleAnswer) as caught:
            await _call(client, call)
    assert caught.value.code == "answer.implausible"
    assert len(caught.value.message) < 200
    assert len(hostile.received) == 1  # never retried: a replay would say the same


async def test_the_largest_plausible_amount_and_time_pass(hostile: HostileServer) -> None:
    """Exactly MAX_PLAUSIBLE_YEN and the last millisecond of 9999 pass; so does an order of ¥0."""
    hostile.answer(
        "GET /payments/{id}", payment_json(amount=MAX_PLAUSIBLE_YEN, createdAt=MAX_EPOCH_MS)
    )
    hostile.answer("GET /orders/{id}", order_json(amount=0, payments=[]))
    async with client_for(hostile) as client:
        payment = await client.get_payment(PAYMENT_ID)
        order = await client.get_order(ORDER_ID)
    assert (payment.amount, payment.created_at) == (MAX_PLAUSIBLE_YEN, MAX_EPOCH_MS)
    assert order.amount == 0


async def test_refunds_adding_up_to_more_than_the_payment_are_implausible(
    hostile: HostileServer,
) -> None:
    """Succeeded refunds listed on a payment that add up to more than it are an
    ImplausibleAnswer."""
    refunds = [refund_json(id=f"refund_test_{n}", amount=2000) for n in range(3)]
    hostile.answer("GET /payments/{id}", payment_json(amount=5000, refunds=refunds))
    async with client_for(hostile) as client:
        with pytest.raises(errors.ImplausibleAnswer, match="¥6,000, more than was paid"):
            await client.get_payment(PAYMENT_ID)


async def test_failed_and_repeated_refunds_do_not_count_against_the_payment(
    hostile: HostileServer,
) -> None:
    """A failed refund moves no money and a refund listed twice is one refund: neither makes the
    payment's refunds exceed it; the list is kept as sent."""
    full = refund_json(amount=5000)
    failed = refund_json(id="refund_test_f", amount=5000, status="failed")
    hostile.answer("GET /payments/{id}", payment_json(amount=5000, refunds=[full, full, failed]))
    async with client_for(hostile) as client:
        payment = await client.get_payment(PAYMENT_ID)
    assert payment.refunds is not None
    assert len(payment.refunds) == 3


# --- passed on faithfully, for the planner to refuse ----------------------------------------


async def test_a_currency_other_than_jpy_is_reported_as_sent(hostile: HostileServer) -> None:
    """An order and payment in USD come back saying USD: never silently turned into JPY."""
    hostile.answer(
        "GET /orders/{id}", order_json(currency="USD", payments=[payment_json(currency="USD")])
    )
    async with client_for(hostile) as client:
        order = await client.get_order(ORDER_ID)
    assert order.currency == "USD"
    assert isinstance(order.payments[0], Payment)
    assert order.payments[0].currency == "USD"


@pytest.mark.parametrize(
    "payments",
    [
        [PAYMENT_ID, PAYMENT_ID],
        [payment_json(), payment_json()],
        [PAYMENT_ID, payment_json()],
    ],
)
async def test_an_order_naming_one_payment_twice_keeps_both_entries(
    hostile: HostileServer, payments: list[Any]
) -> None:
    """order.payments keeps Smartpay's list as sent, a payment named twice appearing twice."""
    hostile.answer("GET /orders/{id}", order_json(payments=payments))
    async with client_for(hostile) as client:
        order = await client.get_order(ORDER_ID)
    ids = [p if isinstance(p, str) else p.id for p in order.payments]
    assert ids == [PAYMENT_ID, PAYMENT_ID]


async def _call(client: Any, call: str) -> object:
    if call == "order":
        return await client.get_order(ORDER_ID)
    if call == "payment":
        return await client.get_payment(PAYMENT_ID)
    if call == "refund":
        return await client.get_refund(REFUND_ID)
    return await client.create_refund(BODY, idempotency_key=KEY)
