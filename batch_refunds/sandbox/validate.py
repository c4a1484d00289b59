"""Checks on a ``POST /refunds`` body, as Smartpay documents them.

JSON ``null`` counts as absent (the official Python SDK sends ``null`` for every
argument left out). Unknown fields are ignored, as the SDKs' own schemas allow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

REASONS = ("requested_by_customer", "fraudulent")
MAX_STRING = 255
MAX_METADATA_KEYS = 20
MAX_METADATA_KEY = 40
MAX_METADATA_VALUE = 200


@dataclass(frozen=True)
class RefundBody:
    payment: str
    amount: int
    reason: str
    reference: str | None = None
    description: str | None = None
    line_items: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)


def without_nulls(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


def fingerprint(body: dict[str, Any]) -> str:
    """The identity of a request body for Idempotency-Key reuse checks.

    Nulls are dropped so that ``{"reference": null}`` and a missing reference, which
    mean the same thing, are the same request.
    """
    return json.dumps(without_nulls(body), sort_keys=True, separators=(",", ":"))


def check_refund_body(raw: dict[str, Any]) -> RefundBody | list[str]:
    """The parsed body, or the ``details`` list of a 400 request.invalid."""
    body = without_nulls(raw)
    problems: list[str] = []

    payment = body.get("payment")
    if not isinstance(payment, str) or not payment:
        problems.append("payload.payment is required and must be a payment id")

    amount = body.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        problems.append("payload.amount must be a positive integer (yen)")

    currency = body.get("currency")
    if not isinstance(currency, str) or currency.upper() != "JPY":
        problems.append("payload.currency must be JPY")

    reason = body.get("reason")
    if reason not in REASONS:
        problems.append(f"payload.reason must be one of {', '.join(REASONS)}")

    for name in ("reference", "description"):
        value = body.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_STRING):
            problems.append(f"payload.{name} must be a string of at most {MAX_STRING} characters")

    line_items = body.get("lineItems", [])
    if not isinstance(line_items, list) or not all(isinstance(li, str) for li in line_items):
        problems.append("payload.lineItems must be a list of line item ids")

    metadata = body.get("metadata", {})
    problems.extend(_metadata_problems(metadata))

    if problems:
        return problems
    assert isinstance(payment, str)
    assert isinstance(amount, int)
    assert isinstance(reason, str)
    return RefundBody(
        payment=payment,
        amount=amount,
        reason=reason,
        reference=body.get("reference"),
        description=body.get("description"),
        line_items=list(line_items),
        metadata=dict(metadata),
    )


def _metadata_problems(metadata: Any) -> list[str]:
    if not isinstance(metadata, dict):
        return ["payload.metadata must be an object"]
    problems = []
    if len(metadata) > MAX_METADATA_KEYS:
        problems.append(f"payload.metadata may have at most {MAX_METADATA_KEYS} keys")
    for key, value in metadata.items():
        if len(key) > MAX_METADATA_KEY:
            problems.append(f"payload.metadata key {key[:40]!r}… is over {MAX_METADATA_KEY} chars")
        if not isinstance(value, str) or len(value) > MAX_METADATA_VALUE:
            problems.append(
                f"payload.metadata.{key[:40]} must be a string of at most "
                f"{MAX_METADATA_VALUE} characters"
            )
    return problems
