"""Object shapes: orders, payments and refunds exactly as Smartpay renders them."""

from __future__ import annotations

import re

import aiohttp
import pytest

from .conftest import MakeSandbox, Wire

ORDER_FIELDS = {
    "id", "object", "amount", "currency", "status", "reference", "description", "metadata",
    "lineItems", "payments", "discounts", "shippingInfo", "test", "createdAt", "updatedAt",
    "expiresAt",
}  # fmt: skip
PAYMENT_FIELDS = {
    "id", "object", "amount", "currency", "order", "status", "reference", "description",
    "metadata", "lineItems", "refunds", "test", "createdAt", "updatedAt",
}  # fmt: skip
REFUND_FIELDS = {
    "id", "object", "amount", "currency", "payment", "reason", "status", "reference",
    "description", "lineItems", "metadata", "test", "createdAt", "updatedAt",
}  # fmt: skip


async def test_order_has_smartpay_fields_and_id_format(wire: Wire) -> None:
    """GET /orders/{id} returns every documented order field, ids and all."""
    order = wire.server.state.add_order(amount=12_800, reference="ORD-1", description="Coat")
    wire.server.state.add_payment(order.id, 12_800)
    reply = await wire.get(f"/orders/{order.id}")
    assert reply.status == 200
    assert set(reply.body) == ORDER_FIELDS
    assert re.fullmatch(r"order_test_[0-9A-Za-z]+", reply.body["id"])
    assert reply.body["object"] == "order"
    assert reply.body["currency"] == "JPY"
    assert reply.body["amount"] == 12_800
    assert reply.body["status"] == "succeeded"
    assert reply.body["test"] is True
    assert reply.body["createdAt"] == wire.server.clock.now_ms()
    assert reply.body["expiresAt"] > reply.body["createdAt"]


async def test_expand_all_turns_payment_ids_into_payment_objects(wire: Wire) -> None:
    """Without expand the order lists payment ids; with expand=all, full payment objects."""
    order = wire.server.state.add_order(amount=3000)
    first = wire.server.state.add_payment(order.id, 1000)
    second = wire.server.state.add_payment(order.id, 2000)
    plain = await wire.get(f"/orders/{order.id}", expand="no")
    assert plain.body["payments"] == [first.id, second.id]
    expanded = await wire.get(f"/orders/{order.id}", expand="all")
    payments = expanded.body["payments"]
    assert [p["id"] for p in payments] == [first.id, second.id]
    assert all(set(p) == PAYMENT_FIELDS for p in payments)
    assert [p["amount"] for p in payments] == [1000, 2000]
    assert all(p["order"] == order.id for p in payments)


async def test_payment_and_refund_shapes(wire: Wire) -> None:
    """A payment and a refund carry exactly their documented fields and links."""
    order = wire.server.state.add_order(amount=5000)
    payment = wire.server.state.add_payment(order.id, 5000)
    refund = wire.server.state.add_refund(payment.id, 700, reference="RET-1")
    got_payment = await wire.get(f"/payments/{payment.id}")
    assert set(got_payment.body) == PAYMENT_FIELDS
    assert got_payment.body["status"] == "processed"
    got_refund = await wire.get(f"/refunds/{refund.id}")
    assert set(got_refund.body) == REFUND_FIELDS
    assert got_refund.body["payment"] == payment.id
    assert got_refund.body["amount"] == 700
    assert got_refund.body["reference"] == "RET-1"
    assert got_refund.body["status"] == "succeeded"


@pytest.mark.parametrize(
    ("mode", "expand", "expected"),
    [
        ("auto", "all", "objects"),
        ("auto", "no", "ids"),
        ("objects", "no", "objects"),
        ("ids", "all", "ids"),
        ("absent", "all", "absent"),
    ],
)
async def test_payment_refunds_rendering_follows_the_knob(
    make_sandbox: MakeSandbox,
    session: aiohttp.ClientSession,
    sandbox_key: str,
    mode: str,
    expand: str,
    expected: str,
) -> None:
    """payment.refunds holds refund objects, refund ids, or is left out, as configured."""
    server = await make_sandbox(payment_refunds=mode)
    wire = Wire(session, server, sandbox_key)
    order = server.state.add_order(amount=5000)
    payment = server.state.add_payment(order.id, 5000)
    refund = server.state.add_refund(payment.id, 500)
    body = (await wire.get(f"/payments/{payment.id}", expand=expand)).body
    if expected == "absent":
        assert "refunds" not in body
    elif expected == "ids":
        assert body["refunds"] == [refund.id]
    else:
        assert [r["id"] for r in body["refunds"]] == [refund.id]
        assert body["refunds"][0]["amount"] == 500


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/orders/order_test_Nope", "order.not-found"),
        ("/payments/payment_test_Nope", "payment.not-found"),
        ("/refunds/refund_test_Nope", "refund.not-found"),
    ],
)
async def test_unknown_ids_are_404_with_error_body(wire: Wire, path: str, code: str) -> None:
    """Unknown objects answer 404 with {statusCode, errorCode, message, details}."""
    reply = await wire.get(path)
    assert reply.status == 404
    assert reply.body["statusCode"] == 404
    assert reply.body["errorCode"] == code
    assert isinstance(reply.body["message"], str)
    assert reply.body["details"] == []


async def test_sdk_query_parameters_are_ignored(wire: Wire) -> None:
    """?dev-lang=…&sdk-version=… (sent by every SDK) change nothing."""
    order = wire.server.state.add_order(amount=1000)
    plain = await wire.get(f"/orders/{order.id}")
    tagged = await wire.get(f"/orders/{order.id}", **{"dev-lang": "python", "sdk-version": "0.8.1"})
    assert tagged.status == 200
    assert tagged.body == plain.body


async def test_unknown_route_is_a_json_404(wire: Wire) -> None:
    """A path the sandbox doesn't serve answers 404 with a JSON error body."""
    reply = await wire.get("/customers/x")
    assert reply.status == 404
    assert reply.body["statusCode"] == 404


async def test_wrong_method_is_a_json_405(wire: Wire) -> None:
    """A known path with an unserved method answers 405 with a JSON error body."""
    async with wire.session.delete(
        f"{wire.server.base_url}/refunds", headers=wire.auth()
    ) as response:
        assert response.status == 405
        assert (await response.json())["statusCode"] == 405


async def test_text_is_sent_as_raw_utf8_not_escaped(wire: Wire) -> None:
    """Japanese text arrives as UTF-8 bytes, as a Node server would send it, not \\u escapes."""
    order = wire.server.state.add_order(amount=1980, description="有田焼 茶碗")
    async with wire.session.get(
        f"{wire.server.base_url}/orders/{order.id}", headers=wire.auth()
    ) as response:
        raw = await response.read()
    assert "有田焼 茶碗".encode() in raw
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
