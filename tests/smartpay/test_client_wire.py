"""wire: Smartpay JSON → frozen models, tolerant where the docs are silent, strict on money."""

from __future__ import annotations

from typing import Any

import pytest

from batch_refunds.models import CreateRefund, Payment, Reason, Refund
from batch_refunds.smartpay import wire


def refund_json(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "refund_test_r1",
        "object": "refund",
        "amount": 1980,
        "currency": "JPY",
        "payment": "payment_test_p1",
        "reason": "requested_by_customer",
        "status": "succeeded",
        "reference": "RET-000001",
        "description": None,
        "lineItems": [],
        "metadata": {"row": "2"},
        "test": True,
        "createdAt": 1_764_000_000_000,
        "updatedAt": 1_764_000_000_000,
    }
    data.update(over)
    return data


def payment_json(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "payment_test_p1",
        "object": "payment",
        "amount": 5000,
        "currency": "JPY",
        "order": "order_test_o1",
        "status": "processed",
        "reference": None,
        "test": True,
        "createdAt": 1_763_000_000_000,
    }
    data.update(over)
    return data


def order_json(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "order_test_o1",
        "object": "order",
        "amount": 5000,
        "currency": "JPY",
        "status": "succeeded",
        "reference": "ORD-1",
        "payments": ["payment_test_p1"],
        "lineItems": [],
        "test": True,
        "createdAt": 1_763_000_000_000,
        "expiresAt": 1_763_000_600_000,
    }
    data.update(over)
    return data


def test_refund_fields_are_read() -> None:
    """A refund object becomes a Refund with int yen, ms timestamp and metadata pairs."""
    refund = wire.parse_refund(refund_json())
    assert refund == Refund(
        id="refund_test_r1",
        payment_id="payment_test_p1",
        amount=1980,
        currency="JPY",
        status="succeeded",
        created_at=1_764_000_000_000,
        reason="requested_by_customer",
        reference="RET-000001",
        description=None,
        metadata=(("row", "2"),),
        test=True,
    )
    assert refund.succeeded


def test_order_payments_as_ids_stay_ids() -> None:
    """Without expand, order.payments holds payment ids as plain strings."""
    assert wire.parse_order(order_json()).payments == ("payment_test_p1",)


def test_order_payments_as_objects_become_payments() -> None:
    """With expand=all, order.payments holds payment objects, parsed into Payment."""
    order = wire.parse_order(
        order_json(payments=[payment_json(), payment_json(id="payment_test_p2")])
    )
    assert [p.id for p in order.payments if isinstance(p, Payment)] == [
        "payment_test_p1",
        "payment_test_p2",
    ]


def test_order_without_payments_has_none() -> None:
    """An uncaptured order may send payments as [] or null or leave it out: all mean none."""
    payments: list[str] | None
    for payments in ([], None):
        assert wire.parse_order(order_json(payments=payments)).payments == ()
    data = order_json()
    del data["payments"]
    assert wire.parse_order(data).payments == ()


@pytest.mark.parametrize(
    ("refunds", "expected"),
    [
        (["refund_test_r1", "refund_test_r2"], ("refund_test_r1", "refund_test_r2")),
        ([], ()),
        (None, None),
        ({"object": "collection", "data": ["refund_test_r1"]}, ("refund_test_r1",)),
    ],
)
def test_payment_refunds_as_ids_empty_null_or_collection(refunds: Any, expected: Any) -> None:
    """payment.refunds may be ids, empty, null (→ None: unknown) or a collection object."""
    assert wire.parse_payment(payment_json(refunds=refunds)).refunds == expected


def test_payment_refunds_absent_is_none_not_empty() -> None:
    """A missing refunds field means 'unknown' (None), not 'no refunds'."""
    assert wire.parse_payment(payment_json()).refunds is None


def test_payment_refunds_as_objects_become_refunds() -> None:
    """Expanded refunds are parsed into Refund objects."""
    payment = wire.parse_payment(payment_json(refunds=[refund_json(), "refund_test_r9"]))
    assert payment.refunds is not None
    first, second = payment.refunds
    assert isinstance(first, Refund)
    assert first.amount == 1980
    assert second == "refund_test_r9"


def test_links_may_be_expanded_objects() -> None:
    """refund.payment and payment.order may arrive as objects; their ids are kept."""
    assert wire.parse_refund(refund_json(payment=payment_json())).payment_id == "payment_test_p1"
    assert wire.parse_payment(payment_json(order=order_json())).order_id == "order_test_o1"


@pytest.mark.parametrize("amount", [1980.0, "1980", None, True])
def test_amount_must_be_whole_yen(amount: object) -> None:
    """Money is never guessed: a float, string, null or bool amount is a WireError."""
    with pytest.raises(wire.WireError, match=r"refund\.amount"):
        wire.parse_refund(refund_json(amount=amount))


def test_missing_id_is_an_error() -> None:
    """An object without its id can't be used for anything."""
    data = refund_json()
    del data["id"]
    with pytest.raises(wire.WireError, match=r"refund\.id"):
        wire.parse_refund(data)


def test_wrong_object_kind_is_an_error() -> None:
    """A payment body where a refund was expected is refused, not half-parsed."""
    with pytest.raises(wire.WireError, match="expected object 'refund'"):
        wire.parse_refund(payment_json())


def test_non_object_body_is_an_error() -> None:
    """A JSON array or string where an object was expected is a WireError."""
    with pytest.raises(wire.WireError, match="expected a JSON object, got list"):
        wire.parse_order([])


def test_test_flag_falls_back_to_the_id_mode() -> None:
    """Without a test field, a *_live_* id means live mode and anything else test mode."""
    live = refund_json(id="refund_live_r1")
    del live["test"]
    assert wire.parse_refund(live).test is False
    assert wire.parse_refund(refund_json(test=False)).test is False


@pytest.mark.parametrize("token", [None, "", "absent"])
def test_last_page_has_no_next_token(token: str | None) -> None:
    """nextPageToken null, empty or absent all mean the last page."""
    page: dict[str, Any] = {"object": "collection", "data": [refund_json()], "maxResults": 20}
    if token != "absent":
        page["nextPageToken"] = token
    refunds, next_token = wire.parse_refund_page(page)
    assert [r.id for r in refunds] == ["refund_test_r1"]
    assert next_token is None


def test_page_with_next_token() -> None:
    """A page with nextPageToken hands the token on."""
    page = {"object": "collection", "data": [], "nextPageToken": "tok2"}
    assert wire.parse_refund_page(page) == ((), "tok2")


def test_error_body_fields() -> None:
    """Smartpay's error body yields (errorCode, message, details)."""
    body = {
        "statusCode": 403,
        "errorCode": "amount.insufficient",
        "message": "Insufficient amount",
        "details": [{"field": "amount"}],
    }
    assert wire.parse_error_body(body) == (
        "amount.insufficient",
        "Insufficient amount",
        ({"field": "amount"},),
    )


def test_401_body_has_no_error_code() -> None:
    """The 401 body carries scheme and realm only: no code, no message."""
    assert wire.parse_error_body({"statusCode": 401, "scheme": "Basic", "realm": "x"}) == (
        None,
        None,
        (),
    )
    assert wire.parse_error_body("<html>") == (None, None, ())


def test_refund_body_leaves_out_what_is_unset() -> None:
    """Optional fields that are None or empty are omitted rather than sent as null."""
    body = wire.refund_body(CreateRefund(payment_id="payment_test_p1", amount=500))
    assert body == {
        "payment": "payment_test_p1",
        "amount": 500,
        "currency": "JPY",
        "reason": "requested_by_customer",
    }


def test_refund_body_carries_every_field_in_smartpay_names() -> None:
    """Set fields are sent with Smartpay's camelCase names and JSON shapes."""
    body = wire.refund_body(
        CreateRefund(
            payment_id="payment_test_p1",
            amount=500,
            reason=Reason.FRAUDULENT,
            reference="RET-1",
            description="damaged",
            line_items=("li_test_1",),
            metadata=(("row", "7"),),
        )
    )
    assert body["reason"] == "fraudulent"
    assert body["reference"] == "RET-1"
    assert body["description"] == "damaged"
    assert body["lineItems"] == ["li_test_1"]
    assert body["metadata"] == {"row": "7"}
