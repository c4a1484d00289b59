"""Well-formed Smartpay objects to script answers with; override any field by keyword.

``order_json(payments=[payment_json(), …])`` nests expanded payments; ``page_json(items,
next_token)`` is one page of a list. Ids and amounts fit one another by default: order
``order_test_o1`` (¥5,000) with payment ``payment_test_p1`` (¥5,000), refund
``refund_test_r1`` (¥1,980 on that payment).
"""

from __future__ import annotations

from typing import Any

ORDER_ID = "order_test_o1"
PAYMENT_ID = "payment_test_p1"
REFUND_ID = "refund_test_r1"
CREATED_AT_MS = 1_764_000_000_000


def refund_json(**fields: Any) -> dict[str, Any]:
    return {
        "id": REFUND_ID,
        "object": "refund",
        "amount": 1980,
        "currency": "JPY",
        "payment": PAYMENT_ID,
        "reason": "requested_by_customer",
        "status": "succeeded",
        "reference": "RET-000001",
        "metadata": {},
        "test": True,
        "createdAt": CREATED_AT_MS,
        **fields,
    }


def payment_json(**fields: Any) -> dict[str, Any]:
    return {
        "id": PAYMENT_ID,
        "object": "payment",
        "amount": 5000,
        "currency": "JPY",
        "order": ORDER_ID,
        "status": "processed",
        "refunds": [],
        "test": True,
        "createdAt": CREATED_AT_MS,
        **fields,
    }


def order_json(**fields: Any) -> dict[str, Any]:
    return {
        "id": ORDER_ID,
        "object": "order",
        "amount": 5000,
        "currency": "JPY",
        "status": "succeeded",
        "payments": [payment_json()],
        "test": True,
        "createdAt": CREATED_AT_MS,
        **fields,
    }


def page_json(items: list[dict[str, Any]], next_token: str | None = None) -> dict[str, Any]:
    return {
        "object": "collection",
        "nextPageToken": next_token,
        "maxResults": 100,
        "results": len(items),
        "data": items,
    }
