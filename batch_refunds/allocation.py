"""How much a payment has left to refund, and how a row's amount is split across payments.

Pure: no I/O. Money is ``int`` yen.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from batch_refunds.models import Refund, Yen


@dataclass(frozen=True, slots=True)
class Part:
    """One refund to create: ``amount`` yen from ``payment_id``."""

    payment_id: str
    amount: Yen


@dataclass(frozen=True, slots=True)
class Shortfall:
    """The request asks for more than remains; nothing should be sent."""

    requested: Yen
    available: Yen


def remaining(payment_amount: Yen, refunds: Iterable[Refund]) -> Yen:
    """What is left to refund: the payment's amount less its succeeded refunds, never below 0.

    Smartpay publishes no "refundable" field, so this is the only way to know it.
    """
    refunded = sum(refund.amount for refund in refunds if refund.succeeded)
    return max(payment_amount - refunded, 0)


def allocate(
    requested: Yen | None, available: Sequence[tuple[str, Yen]]
) -> tuple[Part, ...] | Shortfall:
    """Split ``requested`` yen (``None``: everything) across payments, in the order given.

    Each payment gives all it has left before the next is touched (the order's payments in
    the order Smartpay lists them), so the split is predictable from the spreadsheet alone.
    Payments with nothing left are skipped. Asking for more than all of them hold is a
    ``Shortfall``; asking for everything when nothing remains is a ``Shortfall`` of 0 too.
    """
    total = sum(amount for _, amount in available if amount > 0)
    if requested is None:
        if total == 0:
            return Shortfall(requested=0, available=0)
        return tuple(Part(pid, amount) for pid, amount in available if amount > 0)
    if requested <= 0:
        raise ValueError(f"requested must be a positive number of yen, got {requested}")
    if requested > total:
        return Shortfall(requested=requested, available=total)
    parts: list[Part] = []
    left = requested
    for payment_id, amount in available:
        if left == 0:
            break
        if amount <= 0:
            continue
        take = min(amount, left)
        parts.append(Part(payment_id, take))
        left -= take
    return tuple(parts)
