"""The sandbox's in-memory store: orders, payments, refunds, idempotency records, counters.

Pure bookkeeping, no HTTP: the aiohttp layer (``app``) decides what to do and this module
keeps the books consistent (a refund never exceeds what remains on its payment; a payment
turns ``refunded`` once nothing remains).
"""

from __future__ import annotations

import random
import string
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

BASE62 = string.digits + string.ascii_letters
ID_LENGTH = 22
IDEMPOTENCY_TTL_MS = 6 * 60 * 60 * 1000
# An order stays payable for 30 days in the sandbox's world; only ``expiresAt`` shows it.
ORDER_EXPIRY_MS = 30 * 24 * 60 * 60 * 1000


class RefundRefused(Exception):
    """A refund the books cannot take: ``code`` is the Smartpay errorCode to answer with."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class OrderRec:
    id: str
    amount: int
    currency: str
    status: str
    reference: str | None
    description: str | None
    metadata: dict[str, str]
    line_items: list[dict[str, Any]]
    payment_ids: list[str]
    created_at: int
    updated_at: int
    expires_at: int


@dataclass
class PaymentRec:
    id: str
    order_id: str
    amount: int
    currency: str
    status: str
    reference: str | None
    description: str | None
    metadata: dict[str, str]
    refund_ids: list[str]
    created_at: int
    updated_at: int


@dataclass
class RefundRec:
    id: str
    payment_id: str
    amount: int
    currency: str
    reason: str
    status: str
    reference: str | None
    description: str | None
    line_items: list[str]
    metadata: dict[str, str]
    created_at: int
    updated_at: int


class Claim(Enum):
    """What ``SandboxState.claim_key`` found for an Idempotency-Key."""

    NEW = "new"  # the key is now reserved for this request
    REPLAY = "replay"  # a finished response is stored: send it again
    IN_FLIGHT = "in_flight"  # the first request with this key has not finished
    MISMATCH = "mismatch"  # the key was first used with a different body


@dataclass
class IdempotencyRecord:
    fingerprint: str
    received_ms: int
    status: int | None = None  # None while the first request is still being processed
    body: dict[str, Any] | None = None


@dataclass
class Stats:
    """Counters the admin endpoint reports and tests inspect."""

    requests: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    refunds_created: int = 0
    replays: int = 0
    rate_limited: int = 0
    injected_failures: int = 0
    dropped: int = 0


class SandboxState:
    """Everything the sandbox knows. ``now_ms`` stamps every change."""

    def __init__(self, *, rng: random.Random, now_ms: Any) -> None:
        self._rng = rng
        self._now_ms = now_ms
        self.orders: dict[str, OrderRec] = {}
        self._orders_by_time: list[OrderRec] = []  # GET /orders, rebuilt when orders change
        self.payments: dict[str, PaymentRec] = {}
        self.refunds: dict[str, RefundRec] = {}  # insertion order is creation order
        self.idempotency: dict[tuple[str, str], IdempotencyRecord] = {}
        self.stats = Stats()

    # ---- ids -------------------------------------------------------------------------
    def new_id(self, kind: str) -> str:
        suffix = "".join(self._rng.choice(BASE62) for _ in range(ID_LENGTH))
        return f"{kind}_test_{suffix}"

    def _unused(self, kind: str, wanted: str | None, table: dict[str, Any]) -> str:
        if wanted is not None:
            if wanted in table:
                raise ValueError(f"duplicate {kind} id {wanted!r}")
            return wanted
        while True:
            candidate = self.new_id(kind)
            if candidate not in table:
                return candidate

    # ---- building the world (tests, seeds, generator) ---------------------------------
    def add_order(
        self,
        *,
        amount: int,
        id: str | None = None,
        status: str = "succeeded",
        reference: str | None = None,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
        line_items: list[dict[str, Any]] | None = None,
        created_at: int | None = None,
    ) -> OrderRec:
        """Add an order; payments are added separately with ``add_payment``."""
        _check_amount("order amount", amount)
        now = self._now_ms() if created_at is None else created_at
        order_id = self._unused("order", id, self.orders)
        if line_items is None:
            line_items = [
                {
                    "id": self.new_id("li"),
                    "object": "lineItem",
                    "kind": "product",
                    "name": description or "Item",
                    "amount": amount,
                    "currency": "JPY",
                    "quantity": 1,
                }
            ]
        order = OrderRec(
            id=order_id,
            amount=amount,
            currency="JPY",
            status=status,
            reference=reference,
            description=description,
            metadata=dict(metadata or {}),
            line_items=line_items,
            payment_ids=[],
            created_at=now,
            updated_at=now,
            expires_at=now + ORDER_EXPIRY_MS,
        )
        self.orders[order_id] = order
        return order

    def add_payment(
        self,
        order_id: str,
        amount: int,
        *,
        id: str | None = None,
        reference: str | None = None,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
        created_at: int | None = None,
    ) -> PaymentRec:
        """Capture ``amount`` yen of an order (one payment = one capture)."""
        _check_amount("payment amount", amount)
        order = self.orders.get(order_id)
        if order is None:
            raise KeyError(f"no order {order_id!r}")
        captured = sum(self.payments[p].amount for p in order.payment_ids)
        if captured + amount > order.amount:
            raise ValueError(
                f"payments on {order_id} would total ¥{captured + amount:,}, "
                f"more than the order's ¥{order.amount:,}"
            )
        now = self._now_ms() if created_at is None else created_at
        payment = PaymentRec(
            id=self._unused("payment", id, self.payments),
            order_id=order_id,
            amount=amount,
            currency="JPY",
            status="processed",
            reference=reference,
            description=description,
            metadata=dict(metadata or {}),
            refund_ids=[],
            created_at=now,
            updated_at=now,
        )
        self.payments[payment.id] = payment
        order.payment_ids.append(payment.id)
        if order.status in {"requires_authorization", "requires_capture"}:
            order.status = "succeeded"
        order.updated_at = max(order.updated_at, now)
        return payment

    def add_refund(
        self,
        payment_id: str,
        amount: int,
        *,
        id: str | None = None,
        reason: str = "requested_by_customer",
        status: str = "succeeded",
        reference: str | None = None,
        description: str | None = None,
        line_items: list[str] | None = None,
        metadata: dict[str, str] | None = None,
        created_at: int | None = None,
    ) -> RefundRec:
        """Record a refund, enforcing what Smartpay enforces.

        Raises ``RefundRefused`` (404 payment.not-found, 403 amount.insufficient).
        A ``failed`` refund moves no money, so it is not checked against what remains.
        """
        payment = self.payments.get(payment_id)
        if payment is None:
            raise RefundRefused(404, "payment.not-found", f"Payment {payment_id} not found")
        _check_amount("refund amount", amount)
        if status == "succeeded":
            left = self.remaining(payment_id)
            if left == 0:
                raise RefundRefused(
                    403, "amount.insufficient", f"Payment {payment_id} is fully refunded"
                )
            if amount > left:
                raise RefundRefused(
                    403,
                    "amount.insufficient",
                    f"Refund amount {amount} exceeds the refundable amount {left}",
                )
        now = self._now_ms() if created_at is None else created_at
        refund = RefundRec(
            id=self._unused("refund", id, self.refunds),
            payment_id=payment_id,
            amount=amount,
            currency="JPY",
            reason=reason,
            status=status,
            reference=reference,
            description=description,
            line_items=list(line_items or []),
            metadata=dict(metadata or {}),
            created_at=now,
            updated_at=now,
        )
        self.refunds[refund.id] = refund
        payment.refund_ids.append(refund.id)
        if self.remaining(payment_id) == 0:
            payment.status = "refunded"
        payment.updated_at = max(payment.updated_at, now)
        return refund

    # ---- questions ----------------------------------------------------------------------
    def remaining(self, payment_id: str) -> int:
        """Yen still refundable on a payment: its amount less its succeeded refunds."""
        payment = self.payments[payment_id]
        refunded = sum(
            self.refunds[r].amount
            for r in payment.refund_ids
            if self.refunds[r].status == "succeeded"
        )
        return payment.amount - refunded

    def refunds_for_payment(self, payment_id: str) -> list[RefundRec]:
        return [self.refunds[r] for r in self.payments[payment_id].refund_ids]

    def all_refunds(self) -> list[RefundRec]:
        """Every refund, oldest first."""
        return list(self.refunds.values())

    def requests_served(self, method: str, route: str, status: int | None = None) -> int:
        """How many requests hit ``method route`` (e.g. ``"POST", "/v1/refunds"``)."""
        return sum(
            n
            for (m, r, s), n in self.stats.requests.items()
            if m == method and r == route and (status is None or s == status)
        )

    # ---- idempotency --------------------------------------------------------------------
    def claim_key(self, scope: str, key: str, fingerprint: str) -> tuple[Claim, IdempotencyRecord]:
        """Look up ``key`` (within one API key's ``scope``), reserving it if unused or expired.

        A key lives 6 hours from its first receipt; after that it is forgotten and a
        resend is a new request, as Smartpay documents.
        """
        now = self._now_ms()
        record = self.idempotency.get((scope, key))
        if record is not None and now - record.received_ms >= IDEMPOTENCY_TTL_MS:
            record = None
        if record is None:
            record = IdempotencyRecord(fingerprint=fingerprint, received_ms=now)
            self.idempotency[(scope, key)] = record
            return Claim.NEW, record
        if record.fingerprint != fingerprint:
            return Claim.MISMATCH, record
        if record.status is None:
            return Claim.IN_FLIGHT, record
        return Claim.REPLAY, record

    def store_response(self, scope: str, key: str, status: int, body: dict[str, Any]) -> None:
        record = self.idempotency[(scope, key)]
        record.status = status
        record.body = body

    def release_key(self, scope: str, key: str) -> None:
        """Forget a reservation whose request ended before changing anything."""
        record = self.idempotency.get((scope, key))
        if record is not None and record.status is None:
            del self.idempotency[(scope, key)]

    # ---- pagination ---------------------------------------------------------------------
    def newest_first(self, kind: str, before: int | None = None) -> Iterator[tuple[int, Any]]:
        """(position, record) pairs, newest first, from just below ``before``; positions are
        cursors, stable while nothing older than the cursor is added. Refunds are listed in
        creation order; orders by ``createdAt`` (a seed may give any), ties by insertion."""
        if kind == "refunds":
            items: list[Any] = list(self.refunds.values())
        else:
            if len(self._orders_by_time) != len(self.orders):
                self._orders_by_time = sorted(self.orders.values(), key=lambda o: o.created_at)
            items = self._orders_by_time
        start = len(items) if before is None else min(before, len(items))
        for index in range(start - 1, -1, -1):
            yield index, items[index]


def _check_amount(what: str, amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValueError(f"{what} must be a positive integer number of yen, got {amount!r}")
