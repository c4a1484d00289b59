"""POST /refunds: what creates a refund, what is refused, and with which status and code."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Wire


def _payment(wire: Wire, amount: int = 5000) -> str:
    order = wire.server.state.add_order(amount=amount)
    return wire.server.state.add_payment(order.id, amount).id


async def test_create_answers_200_with_the_refund(wire: Wire) -> None:
    """A valid refund is created and returned with 200 (not 201), lowercase jpy accepted."""
    payment = _payment(wire)
    reply = await wire.post(
        "/refunds",
        {
            "payment": payment,
            "amount": 1200,
            "currency": "jpy",
            "reason": "requested_by_customer",
            "reference": "RET-000123",
            "description": "サイズ交換",
            "metadata": {"row": "7"},
        },
    )
    assert reply.status == 200
    assert reply.body["object"] == "refund"
    assert reply.body["amount"] == 1200
    assert reply.body["currency"] == "JPY"
    assert reply.body["reference"] == "RET-000123"
    assert reply.body["description"] == "サイズ交換"
    assert reply.body["metadata"] == {"row": "7"}
    assert [r.id for r in wire.server.state.refunds_for_payment(payment)] == [reply.body["id"]]


async def test_over_refund_is_403_amount_insufficient(wire: Wire) -> None:
    """Asking for more than remains is 403 amount.insufficient and creates nothing."""
    payment = _payment(wire, 5000)
    assert (await wire.refund(payment, 3000)).status == 200
    reply = await wire.refund(payment, 2001)
    assert reply.status == 403
    assert reply.body["errorCode"] == "amount.insufficient"
    assert len(wire.server.state.refunds_for_payment(payment)) == 1


async def test_full_refund_turns_the_payment_refunded_and_closes_it(wire: Wire) -> None:
    """Refunding the rest flips the payment to "refunded"; any further refund is 403."""
    payment = _payment(wire, 5000)
    await wire.refund(payment, 1000)
    assert (await wire.get(f"/payments/{payment}")).body["status"] == "processed"
    assert (await wire.refund(payment, 4000)).status == 200
    assert (await wire.get(f"/payments/{payment}")).body["status"] == "refunded"
    reply = await wire.refund(payment, 1)
    assert reply.status == 403
    assert reply.body["errorCode"] == "amount.insufficient"


async def test_failed_refunds_do_not_count_against_the_remaining_amount(wire: Wire) -> None:
    """Only succeeded refunds reduce what can still be refunded."""
    payment = _payment(wire, 5000)
    wire.server.state.add_refund(payment, 5000, status="failed")
    assert (await wire.refund(payment, 5000)).status == 200


async def test_unknown_payment_is_404_payment_not_found(wire: Wire) -> None:
    """A refund for a payment that doesn't exist is 404 payment.not-found."""
    reply = await wire.refund("payment_test_Missing", 100)
    assert reply.status == 404
    assert reply.body["errorCode"] == "payment.not-found"


async def test_json_nulls_count_as_absent(wire: Wire) -> None:
    """Optional fields sent as null (as the Python SDK does) are accepted and stored as absent."""
    payment = _payment(wire)
    reply = await wire.post(
        "/refunds",
        {
            "payment": payment,
            "amount": 100,
            "currency": "JPY",
            "reason": "fraudulent",
            "reference": None,
            "description": None,
            "lineItems": None,
            "metadata": None,
        },
    )
    assert reply.status == 200
    assert reply.body["reference"] is None
    assert reply.body["lineItems"] == []
    assert reply.body["metadata"] == {}


BASE: dict[str, Any] = {"amount": 100, "currency": "JPY", "reason": "requested_by_customer"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": 10.5}, "amount"),
        ({"amount": 100.0}, "amount"),
        ({"amount": "100"}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": None}, "amount"),
        ({"currency": "USD"}, "currency"),
        ({"currency": None}, "currency"),
        ({"reason": "changed_mind"}, "reason"),
        ({"reference": "x" * 256}, "reference"),
        ({"description": 5}, "description"),
        ({"lineItems": "li_test_1"}, "lineItems"),
        ({"metadata": {f"k{i}": "v" for i in range(21)}}, "metadata"),
        ({"metadata": {"k" * 41: "v"}}, "metadata"),
        ({"metadata": {"k": "v" * 201}}, "metadata"),
        ({"metadata": {"k": 1}}, "metadata"),
        ({"payment": None}, "payment"),
    ],
)
async def test_invalid_bodies_are_400_request_invalid(
    wire: Wire, change: dict[str, Any], field: str
) -> None:
    """Each documented limit is enforced with 400 request.invalid naming the field."""
    body = {"payment": _payment(wire), **BASE, **change}
    reply = await wire.post("/refunds", body)
    assert reply.status == 400
    assert reply.body["errorCode"] == "request.invalid"
    assert any(f"payload.{field}" in d for d in reply.body["details"])
    assert wire.server.state.all_refunds() == []


async def test_limits_at_their_edges_are_accepted(wire: Wire) -> None:
    """255-char strings and 20 metadata keys of 40/200 chars are still valid."""
    body = {
        "payment": _payment(wire),
        **BASE,
        "reference": "r" * 255,
        "description": "d" * 255,
        "metadata": {f"{i:02d}".ljust(40, "k"): "v" * 200 for i in range(20)},
    }
    assert (await wire.post("/refunds", body)).status == 200


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b""])
async def test_malformed_bodies_are_400_request_malformed(wire: Wire, raw: bytes) -> None:
    """A body that is not a JSON object is 400 request.malformed."""
    async with wire.session.post(
        f"{wire.server.base_url}/refunds",
        data=raw,
        headers={**wire.auth(), "Content-Type": "application/json"},
    ) as response:
        assert response.status == 400
        assert (await response.json())["errorCode"] == "request.malformed"
