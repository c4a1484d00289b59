"""Turn stored records into the JSON objects Smartpay sends, and error bodies.

``payment_refunds`` picks how ``payment.refunds`` appears, because Smartpay's own
shape is unconfirmed (only the Node SDK's types declare it): ``"auto"`` gives refund
objects under ``expand=all`` and ids otherwise, ``"objects"``/``"ids"`` force one form,
``"absent"`` leaves the field out. A client has to cope with all of them.
"""

from __future__ import annotations

from typing import Any, Literal

from batch_refunds.sandbox.state import OrderRec, PaymentRec, RefundRec, SandboxState

PaymentRefunds = Literal["auto", "objects", "ids", "absent"]
PAYMENT_REFUNDS_MODES: tuple[PaymentRefunds, ...] = ("auto", "objects", "ids", "absent")


def refund_json(refund: RefundRec) -> dict[str, Any]:
    return {
        "id": refund.id,
        "object": "refund",
        "amount": refund.amount,
        "currency": refund.currency,
        "payment": refund.payment_id,
        "reason": refund.reason,
        "status": refund.status,
        "reference": refund.reference,
        "description": refund.description,
        "lineItems": list(refund.line_items),
        "metadata": dict(refund.metadata),
        "test": True,
        "createdAt": refund.created_at,
        "updatedAt": refund.updated_at,
    }


def payment_json(
    state: SandboxState, payment: PaymentRec, *, expand: bool, mode: PaymentRefunds
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": payment.id,
        "object": "payment",
        "amount": payment.amount,
        "currency": payment.currency,
        "order": payment.order_id,
        "status": payment.status,
        "reference": payment.reference,
        "description": payment.description,
        "metadata": dict(payment.metadata),
        "lineItems": [],
        "test": True,
        "createdAt": payment.created_at,
        "updatedAt": payment.updated_at,
    }
    as_objects = mode == "objects" or (mode == "auto" and expand)
    if mode != "absent":
        refunds = state.refunds_for_payment(payment.id)
        body["refunds"] = [refund_json(r) if as_objects else r.id for r in refunds]
    return body


def order_json(
    state: SandboxState, order: OrderRec, *, expand: bool, mode: PaymentRefunds
) -> dict[str, Any]:
    payments: list[Any] = [
        payment_json(state, state.payments[p], expand=True, mode=mode) if expand else p
        for p in order.payment_ids
    ]
    return {
        "id": order.id,
        "object": "order",
        "amount": order.amount,
        "currency": order.currency,
        "status": order.status,
        "reference": order.reference,
        "description": order.description,
        "metadata": dict(order.metadata),
        "lineItems": [dict(li) if expand else li["id"] for li in order.line_items],
        "payments": payments,
        "discounts": [],
        "shippingInfo": None,
        "test": True,
        "createdAt": order.created_at,
        "updatedAt": order.updated_at,
        "expiresAt": order.expires_at,
    }


def collection_json(
    data: list[dict[str, Any]],
    *,
    page_token: str | None,
    next_page_token: str | None,
    max_results: int,
) -> dict[str, Any]:
    return {
        "object": "collection",
        "pageToken": page_token,
        "nextPageToken": next_page_token,
        "maxResults": max_results,
        "results": len(data),
        "data": data,
    }


def error_json(
    status: int, code: str, message: str, details: list[str] | None = None
) -> dict[str, Any]:
    return {"statusCode": status, "errorCode": code, "message": message, "details": details or []}


def unauthorized_json(realm: str) -> dict[str, Any]:
    # Smartpay's 401 is the odd one out: no errorCode, no message.
    return {"statusCode": 401, "scheme": "Basic", "realm": realm}
