"""Whole runs against the hostile server: orders and refunds that cannot be right.

Each test scripts the wire answers of one misbehaviour from issue 8's table and drives a real
run (the harness of ``tests/run``, its API prefix pointed at the hostile server), so the
client's parsing and checks and the planner's refusals are proven together.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from batch_refunds.models import Status
from tests.conftest import MakeSandbox
from tests.run.conftest import Harness, statuses

from .server import HostileServer, Received, Reply
from .shapes import ORDER_ID, PAYMENT_ID, order_json, page_json, payment_json, refund_json


@pytest.fixture
async def harness(make_sandbox: MakeSandbox, tmp_path: Path) -> Harness:
    server = await make_sandbox()
    return Harness(server=server, tmp=tmp_path, journal_path=tmp_path / "journal.sqlite3")


def created(status: str = "succeeded") -> Callable[[Received], dict[str, Any]]:
    """A POST /refunds answer that is exactly the refund asked for, with ``status``."""

    def answer(got: Received) -> dict[str, Any]:
        body = got.body
        return refund_json(
            id=f"refund_test_made{got.number}", payment=body["payment"], amount=body["amount"],
            currency=body["currency"], reference=body.get("reference"),
            metadata=body.get("metadata", {}), status=status,
        )  # fmt: skip

    return answer


def script_world(hostile: HostileServer, order: Any) -> None:
    """The access check's list, ``order`` for GET /orders/{id}, an exact refund for every
    POST (so a row that should send nothing shows up as a POST, not as a 418)."""
    hostile.answer("GET /orders", page_json([]))
    hostile.answer("GET /orders/{id}", order)
    hostile.answer("POST /refunds", created())


TEN_THOUSAND = payment_json(amount=10_000)


@pytest.mark.parametrize(
    ("order", "payment", "code"),
    [
        (order_json(currency="USD", amount=10_000, payments=[TEN_THOUSAND]), None,
         "order.currency"),
        (order_json(amount=10_000, payments=[TEN_THOUSAND, TEN_THOUSAND]), None,
         "order.duplicate-payments"),
        (order_json(amount=10_000, payments=[PAYMENT_ID, PAYMENT_ID]), TEN_THOUSAND,
         "order.duplicate-payments"),
        (order_json(amount=10_000, payments=[PAYMENT_ID]), payment_json(amount=10_000,
         currency="USD"), "payment.currency"),
        (order_json(amount=10_000, payments=[PAYMENT_ID]), payment_json(amount=10_000,
         order="order_test_else"), "answer.mismatch"),
    ],
    ids=["usd", "payment-twice-objects", "payment-twice-ids", "payment-usd", "other-order"],
)  # fmt: skip
async def test_an_order_that_cannot_be_right_is_rejected_before_any_arithmetic(
    harness: Harness, hostile: HostileServer, order: Any, payment: Any, code: str
) -> None:
    """An order in USD, listing a payment twice (objects or ids), or with a payment in USD
    or of another order: the row is rejected with a code and no refund is sent."""
    script_world(hostile, order)
    if payment is not None:
        hostile.answer("GET /payments/{id}", payment)
    result = await harness.run(harness.write([(ORDER_ID, None, None, "X")]),
                               base_url=hostile.base_url)  # fmt: skip
    assert [(o.status, o.error_code) for o in result.outcomes] == [(Status.REJECTED, code)]
    assert hostile.requests_to("POST /refunds") == []


async def test_an_order_answered_under_another_id_sends_nothing(
    harness: Harness, hostile: HostileServer
) -> None:
    """GET /orders/A answered with order B (and B's payment): the row fails with
    answer.mismatch and B's payment is never refunded."""
    other = payment_json(id="payment_test_other", order="order_test_other")
    script_world(hostile, order_json(id="order_test_other", payments=[other]))
    result = await harness.run(harness.write([(ORDER_ID, None, 1000, "X")]),
                               base_url=hostile.base_url)  # fmt: skip
    assert [(o.status, o.error_code) for o in result.outcomes] == [
        (Status.FAILED, "answer.mismatch")
    ]
    assert hostile.requests_to("POST /refunds") == []


def _listed(refund: dict[str, Any], listed: str, hostile: HostileServer) -> dict[str, Any]:
    """The order whose payment shows ``refund`` as an object, as an id (answered by
    GET /refunds/{id}) or not at all (found by the GET /refunds scan)."""
    payment = payment_json()
    if listed == "objects":
        payment["refunds"] = [refund]
    elif listed == "ids":
        payment["refunds"] = [refund["id"]]
        hostile.answer("GET /refunds/{id}", refund)
    else:
        del payment["refunds"]
        hostile.answer("GET /refunds", page_json([refund]))
    return order_json(payments=[payment])


@pytest.mark.parametrize("listed", ["objects", "ids", "absent"])
async def test_a_pending_refund_later_listed_succeeded_is_found_not_sent_again(
    harness: Harness, hostile: HostileServer, listed: str
) -> None:
    """A refund answered pending, later listed succeeded with the row's marker: the re-run
    records it and sends no second refund, however the payment lists its refunds."""
    script_world(hostile, order_json(payments=[payment_json()]))
    hostile.answer("GET /refunds", page_json([]))
    hostile.answer("POST /refunds", created("pending"))
    path = harness.write([(ORDER_ID, None, 1000, "P-1")])
    first = await harness.run(path, base_url=hostile.base_url)
    assert [(o.status, o.error_code) for o in first.outcomes] == [(Status.FAILED, "refund.pending")]
    assert first.outcomes[0].refunded_amount == 0
    (post,) = hostile.requests_to("POST /refunds")

    made = created("succeeded")(post)
    hostile.answer("GET /orders/{id}", _listed(made, listed, hostile))
    again = await harness.run(path, base_url=hostile.base_url)
    assert statuses(again) == [Status.ALREADY_REFUNDED]
    assert again.outcomes[0].refund_ids == (made["id"],)
    assert len(hostile.requests_to("POST /refunds")) == 1


def unlike(**changes: Any) -> Callable[[Received], dict[str, Any]]:
    """A POST /refunds answer carrying the row's marks but ``changes`` to what was asked."""

    def answer(got: Received) -> dict[str, Any]:
        return {**created()(got), **changes}

    return answer


@pytest.mark.parametrize(
    ("changes", "shown"),
    [
        ({"amount": 1}, "with ¥1, not ¥1,000"),
        ({"amount": 4000}, "with ¥4,000, not ¥1,000"),
        ({"payment": "payment_test_other"}, "with payment payment_test_other, not payment_test_p1"),
        ({"test": False}, "says test: false, but the key is a test key"),
    ],
    ids=["one-yen", "four-times", "other-payment", "live-refund-for-a-test-key"],
)
async def test_a_refund_answered_unlike_the_request_is_held_never_sent_again(
    harness: Harness, hostile: HostileServer, changes: dict[str, Any], shown: str
) -> None:
    """A POST answered with another amount or payment, or as a live refund to a test key:
    that run fails the row, and every later run whose lookup finds no exact refund holds it
    saying what differed; it is never sent again nor counted as refunded."""
    script_world(hostile, order_json(payments=[payment_json()]))
    hostile.answer("POST /refunds", unlike(**changes))
    path = harness.write([(ORDER_ID, None, 1000, "M-1")])
    first = await harness.run(path, base_url=hostile.base_url)
    assert [(o.status, o.error_code) for o in first.outcomes] == [
        (Status.FAILED, "answer.mismatch")
    ]
    (post,) = hostile.requests_to("POST /refunds")
    answered = unlike(**changes)(post)
    if "amount" in changes:  # the refund made shows on the payment, unlike the intent
        hostile.answer("GET /orders/{id}", order_json(payments=[payment_json(refunds=[answered])]))
    for _ in range(2):
        again = await harness.run(path, base_url=hostile.base_url)
        (row,) = again.outcomes
        assert (row.status, row.error_code) == (Status.HELD, "hold.answer-mismatch")
        assert shown in (row.message or "")
        assert "¥1,000 from payment_test_p1" in (row.message or "")
        assert (row.refunded_amount, row.already_refunded) == (0, 0)
        assert again.summary.exit_code == 1
    assert len(hostile.requests_to("POST /refunds")) == 1


async def test_an_unlike_answer_whose_exact_refund_turns_up_is_settled(
    harness: Harness, hostile: HostileServer
) -> None:
    """After a POST answered with ¥1, a re-run that finds the refund exactly as asked (amount,
    payment, reference, marker) records it: already refunded, not held, nothing sent."""
    script_world(hostile, order_json(payments=[payment_json()]))
    hostile.answer("POST /refunds", unlike(amount=1))
    path = harness.write([(ORDER_ID, None, 1000, "M-1")])
    await harness.run(path, base_url=hostile.base_url)
    (post,) = hostile.requests_to("POST /refunds")
    exact = created()(post)
    hostile.answer("GET /orders/{id}", order_json(payments=[payment_json(refunds=[exact])]))
    again = await harness.run(path, base_url=hostile.base_url)
    assert [(o.status, o.refund_ids) for o in again.outcomes] == [
        (Status.ALREADY_REFUNDED, (exact["id"],))
    ]
    assert len(hostile.requests_to("POST /refunds")) == 1


async def test_a_refund_fetched_by_id_that_is_another_payments_is_not_believed(
    harness: Harness, hostile: HostileServer
) -> None:
    """A payment lists a refund id whose GET /refunds/{id} is a refund of another payment:
    the row fails with answer.mismatch (looked up again next run) and nothing is sent."""
    script_world(hostile, order_json(payments=[payment_json(refunds=["refund_test_r1"])]))
    hostile.answer("GET /refunds/{id}", refund_json(payment="payment_test_other"))
    result = await harness.run(harness.write([(ORDER_ID, None, None, "F-1")]),
                               base_url=hostile.base_url)  # fmt: skip
    (row,) = result.outcomes
    assert (row.status, row.error_code) == (Status.FAILED, "answer.mismatch")
    assert "is a refund of payment payment_test_other" in (row.message or "")
    assert hostile.requests_to("POST /refunds") == []


@pytest.mark.parametrize(
    ("changes", "shown"),
    [({"amount": 1}, "of 1 JPY"), ({"currency": "USD"}, "of 1,000 USD")],
    ids=["amount", "currency"],
)
async def test_an_unanswered_requests_refund_with_another_amount_or_currency_is_held(
    harness: Harness, hostile: HostileServer, changes: dict[str, Any], shown: str
) -> None:
    """A POST left unanswered; the re-run finds a refund with the row's marker and reference
    but another amount or currency: the row is held naming both, never counted nor re-sent."""
    script_world(hostile, order_json(payments=[payment_json()]))
    hostile.answer("POST /refunds", Reply.hang_up())
    path = harness.write([(ORDER_ID, None, 1000, "L-1")])
    first = await harness.run(path, base_url=hostile.base_url, max_attempts=1)
    assert [o.status for o in first.outcomes] == [Status.FAILED]
    (post,) = hostile.requests_to("POST /refunds")
    found = {**created()(post), **changes}
    hostile.answer("GET /orders/{id}", order_json(payments=[payment_json(refunds=[found])]))
    again = await harness.run(path, base_url=hostile.base_url)
    (row,) = again.outcomes
    assert (row.status, row.error_code) == (Status.HELD, "hold.answer-mismatch")
    assert shown in (row.message or "")
    assert "asked for 1,000 JPY" in (row.message or "")
    assert (row.refunded_amount, row.already_refunded) == (0, 0)
    assert len(hostile.requests_to("POST /refunds")) == 1
