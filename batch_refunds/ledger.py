"""What the engine believes about one order's payments while it plans: pure bookkeeping.

Smartpay has no "refundable" field, so the remaining amount of a payment is derived from
the refunds we can see. Those come from Smartpay itself when it lists a payment's refunds
(``complete``: the list is the whole truth), or, when it leaves the field out, from what the
journal knows plus the payment's status — and then Smartpay's 403 ``amount.insufficient`` is
the last guard against a refund made elsewhere.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from batch_refunds.identity import MARKER_KEY
from batch_refunds.models import Payment, Refund, Yen


@dataclass(slots=True)
class PaymentView:
    """One payment, the refunds known on it, and what earlier rows of this run reserved."""

    payment: Payment
    complete: bool
    refunds: dict[str, Refund] = field(default_factory=dict)
    journal_refunds: dict[str, Yen] = field(default_factory=dict)
    reserved: Yen = 0

    @property
    def id(self) -> str:
        return self.payment.id

    def refunded(self) -> Yen:
        seen = {rid: r.amount for rid, r in self.refunds.items() if r.succeeded}
        if not self.complete:
            for rid, amount in self.journal_refunds.items():
                seen.setdefault(rid, amount)
        return sum(seen.values())

    def remaining(self) -> Yen:
        """Refundable now, less what earlier rows of this run have reserved."""
        if not self.complete and self.payment.status == "refunded":
            return 0
        return max(self.payment.amount - self.refunded() - self.reserved, 0)

    def add_refund(self, refund: Refund) -> None:
        self.refunds[refund.id] = refund


@dataclass(slots=True)
class OrderView:
    """The payments a group of rows draws from, in Smartpay's order."""

    order_id: str | None
    payments: list[PaymentView]

    def payment(self, payment_id: str) -> PaymentView | None:
        return next((p for p in self.payments if p.id == payment_id), None)

    def candidates(self, payment_id: str | None) -> list[PaymentView]:
        """The payments a row may draw from: the one it names, else all of the order's."""
        if payment_id is None:
            return list(self.payments)
        found = self.payment(payment_id)
        return [found] if found else []

    def reserve(self, parts: Iterable[tuple[str, Yen]]) -> None:
        for payment_id, amount in parts:
            view = self.payment(payment_id)
            if view is not None:
                view.reserved += amount


def marker_of(refund: Refund) -> str | None:
    return dict(refund.metadata).get(MARKER_KEY)


def belongs_to_row(refund: Refund, *, identity: str, reference: str) -> bool:
    """Whether an existing refund accounts for this row.

    A refund carrying our marker belongs to exactly the row whose identity it names, even when
    other rows share its merchant reference. A refund without the marker (made in the
    dashboard, or by another tool) with the row's reference is taken as that row's.
    """
    if not refund.succeeded or refund.reference != reference:
        return False
    marker = marker_of(refund)
    return marker is None or marker == identity


def matching_refunds(
    payments: Iterable[PaymentView], *, identity: str, reference: str
) -> list[Refund]:
    return [
        refund
        for view in payments
        for refund in view.refunds.values()
        if belongs_to_row(refund, identity=identity, reference=reference)
    ]


def refund_for_intent(
    refunds: Iterable[Refund], *, identity: str, reference: str, payment_id: str, amount: Yen
) -> Refund | None:
    """The refund that an unanswered request created, if Smartpay has it."""
    for refund in refunds:
        if (
            refund.payment_id == payment_id
            and refund.amount == amount
            and belongs_to_row(refund, identity=identity, reference=reference)
        ):
            return refund
    return None


def view_payment(
    payment: Payment, *, fetched: Mapping[str, Refund], journal_refunds: Mapping[str, Yen]
) -> PaymentView:
    """Build a view from a payment whose ``refunds`` may be objects, ids (resolved through
    ``fetched``) or absent."""
    if payment.refunds is None:
        return PaymentView(payment, complete=False, journal_refunds=dict(journal_refunds))
    view = PaymentView(payment, complete=True)
    for item in payment.refunds:
        refund = item if isinstance(item, Refund) else fetched.get(item)
        if refund is None:  # an id we could not fetch: we no longer know the whole truth
            view.complete = False
            view.journal_refunds = dict(journal_refunds)
            continue
        view.add_refund(refund)
    return view
