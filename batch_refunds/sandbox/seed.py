"""Load a seed (orders, their payments and prior refunds) into the sandbox.

The seed format, JSON::

    {
      "orders": [
        {
          "id": "order_test_Shop1001",        optional; generated when left out
          "reference": "ORD-1001",            optional
          "description": "Linen shirt",       optional
          "amount": 12800,                     optional; defaults to the payments' total
          "status": "succeeded",               optional; "requires_capture" when no payments
          "createdAt": 1763000000000,          optional, ms; defaults to the sandbox clock
          "metadata": {"shop": "Shibuya"},     optional
          "payments": [
            {
              "id": "payment_test_Shop1001a",  optional
              "amount": 12800,                 required, yen
              "reference": "CAP-1",            optional
              "refunds": [                     optional: refunds made before the rehearsal
                {"id": "refund_test_X", "amount": 1000, "reference": "RET-000001",
                 "reason": "requested_by_customer", "status": "succeeded",
                 "description": "...", "createdAt": 1763000000000}
              ]
            }
          ]
        }
      ]
    }

Ids must look like Smartpay's (``order_test_<base62>``) so that SDKs which check id
formats accept them. Amounts are integer yen. A seed whose refunds exceed their payment
is refused with the path of the offending entry. A worked example ships beside this
module as ``example_seed.json``.
"""

from __future__ import annotations

import re
from typing import Any

from batch_refunds.sandbox.state import RefundRefused, SandboxState

ID_PATTERNS = {
    kind: re.compile(rf"^{kind}_(test|live)_[0-9a-zA-Z]+$")
    for kind in ("order", "payment", "refund")
}
ORDER_STATUSES = {
    "requires_authorization",
    "requires_capture",
    "succeeded",
    "canceled",
    "rejected",
    "failed",
    "pending",
}


class SeedError(ValueError):
    """The seed is not in the documented format; the message names the entry."""


def load_seed(state: SandboxState, seed: Any) -> dict[str, int]:
    """Add everything in ``seed`` to ``state``; returns counts of what was added.

    Checked as a whole first, so a bad seed adds nothing.
    """
    _check(seed, state)
    counts = {"orders": 0, "payments": 0, "refunds": 0}
    for order_in in seed.get("orders", []):
        payments_in = order_in.get("payments") or []
        total = sum(p["amount"] for p in payments_in)
        order = state.add_order(
            id=order_in.get("id"),
            amount=order_in.get("amount", total),
            status=order_in.get("status", "succeeded" if payments_in else "requires_capture"),
            reference=order_in.get("reference"),
            description=order_in.get("description"),
            metadata=order_in.get("metadata"),
            created_at=order_in.get("createdAt"),
        )
        counts["orders"] += 1
        for p_index, payment_in in enumerate(payments_in):
            payment = state.add_payment(
                order.id,
                payment_in["amount"],
                id=payment_in.get("id"),
                reference=payment_in.get("reference"),
                description=payment_in.get("description"),
                metadata=payment_in.get("metadata"),
                created_at=payment_in.get("createdAt", order.created_at),
            )
            counts["payments"] += 1
            for r_index, refund_in in enumerate(payment_in.get("refunds") or []):
                where = f"orders[{counts['orders'] - 1}].payments[{p_index}].refunds[{r_index}]"
                try:
                    state.add_refund(
                        payment.id,
                        refund_in["amount"],
                        id=refund_in.get("id"),
                        reason=refund_in.get("reason", "requested_by_customer"),
                        status=refund_in.get("status", "succeeded"),
                        reference=refund_in.get("reference"),
                        description=refund_in.get("description"),
                        metadata=refund_in.get("metadata"),
                        created_at=refund_in.get("createdAt", payment.created_at),
                    )
                except RefundRefused as exc:
                    raise SeedError(f"{where}: {exc.message}") from exc
                counts["refunds"] += 1
    return counts


def _check(seed: Any, state: SandboxState) -> None:
    if not isinstance(seed, dict) or not isinstance(seed.get("orders", []), list):
        raise SeedError('a seed is a JSON object with an "orders" list')
    seen: set[str] = {*state.orders, *state.payments, *state.refunds}
    for o_index, order in enumerate(seed.get("orders", [])):
        where = f"orders[{o_index}]"
        _check_entry(order, where, "order", seen)
        if "status" in order and order["status"] not in ORDER_STATUSES:
            raise SeedError(f"{where}.status: unknown order status {order['status']!r}")
        payments = order.get("payments") or []
        if not isinstance(payments, list):
            raise SeedError(f"{where}.payments must be a list")
        if "amount" in order:
            _check_yen(order["amount"], f"{where}.amount")
            if sum(p.get("amount", 0) for p in payments if isinstance(p, dict)) > order["amount"]:
                raise SeedError(f"{where}: payments total more than the order amount")
        for p_index, payment in enumerate(payments):
            p_where = f"{where}.payments[{p_index}]"
            _check_entry(payment, p_where, "payment", seen)
            _check_yen(payment.get("amount"), f"{p_where}.amount")
            refunds = payment.get("refunds") or []
            if not isinstance(refunds, list):
                raise SeedError(f"{p_where}.refunds must be a list")
            refunded = 0
            for r_index, refund in enumerate(refunds):
                r_where = f"{p_where}.refunds[{r_index}]"
                _check_entry(refund, r_where, "refund", seen)
                _check_yen(refund.get("amount"), f"{r_where}.amount")
                if refund.get("status", "succeeded") not in {"succeeded", "failed"}:
                    raise SeedError(f"{r_where}.status must be succeeded or failed")
                if refund.get("reason", "requested_by_customer") not in {
                    "requested_by_customer",
                    "fraudulent",
                }:
                    raise SeedError(f"{r_where}.reason must be requested_by_customer or fraudulent")
                if refund.get("status", "succeeded") == "succeeded":
                    refunded += refund["amount"]
                    if refunded > payment["amount"]:
                        raise SeedError(f"{r_where}: refunds exceed the payment's amount")


def _check_entry(entry: Any, where: str, kind: str, seen: set[str]) -> None:
    if not isinstance(entry, dict):
        raise SeedError(f"{where} must be an object")
    wanted = entry.get("id")
    if wanted is None:
        return
    if not isinstance(wanted, str) or not ID_PATTERNS[kind].match(wanted):
        raise SeedError(f"{where}.id {wanted!r} does not look like {kind}_test_<base62>")
    if wanted in seen:
        raise SeedError(f"{where}.id {wanted!r} is used twice or already exists")
    seen.add(wanted)


def _check_yen(value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SeedError(f"{where} must be a positive integer number of yen, got {value!r}")
