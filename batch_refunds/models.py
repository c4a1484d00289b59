"""Frozen value types shared by every layer: what a row asks for, what Smartpay holds.

Pure: no I/O, no third-party imports. Money is ``int`` yen everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

Yen = int
"""Whole Japanese yen. JPY has no minor units, so an ``int`` is exact."""

CURRENCY = "JPY"


class Reason(StrEnum):
    """Why a refund is made; the only two values Smartpay accepts."""

    REQUESTED_BY_CUSTOMER = "requested_by_customer"
    FRAUDULENT = "fraudulent"


# --- What the spreadsheet asks for -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RefundRequest:
    """One valid input row: refund ``amount`` yen (``None``: all that remains).

    ``row`` is the line number a person sees in Excel or an editor (header line counted,
    1-based). At least one of ``order_id`` and ``payment_id`` is set.
    """

    row: int
    order_id: str | None
    payment_id: str | None
    amount: Yen | None
    currency: str = CURRENCY
    reason: Reason = Reason.REQUESTED_BY_CUSTOMER
    description: str | None = None
    reference: str | None = None
    line_items: tuple[str, ...] = ()
    metadata: tuple[tuple[str, str], ...] = ()

    @property
    def is_full_refund(self) -> bool:
        """True when the row leaves the amount blank: refund everything that remains."""
        return self.amount is None


@dataclass(frozen=True, slots=True)
class RowError:
    """Why one input row can't be used. ``code`` is stable (``input.amount``, ...)."""

    row: int
    column: str | None
    value: str
    code: str
    message: str


# --- What Smartpay holds ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Refund:
    """A refund object. ``created_at`` is milliseconds since the epoch, as Smartpay sends it."""

    id: str
    payment_id: str
    amount: Yen
    currency: str
    status: str
    created_at: int
    reason: str | None = None
    reference: str | None = None
    description: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()
    test: bool = True

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


RefundRefs = tuple["Refund | str", ...] | None
"""A payment's ``refunds``: refund objects, bare ids, or ``None`` when the field was absent."""


@dataclass(frozen=True, slots=True)
class Payment:
    """One capture of an order. ``refunds`` is ``None`` when Smartpay did not send the field."""

    id: str
    order_id: str
    amount: Yen
    currency: str
    status: str
    created_at: int
    reference: str | None = None
    refunds: RefundRefs = None
    test: bool = True


@dataclass(frozen=True, slots=True)
class Order:
    """An order; ``payments`` holds ids, or payment objects when fetched with ``expand=all``."""

    id: str
    amount: Yen
    currency: str
    status: str
    created_at: int
    reference: str | None = None
    payments: tuple[Payment | str, ...] = ()
    test: bool = True


@dataclass(frozen=True, slots=True)
class CreateRefund:
    """The body of ``POST /refunds``."""

    payment_id: str
    amount: Yen
    currency: str = CURRENCY
    reason: Reason = Reason.REQUESTED_BY_CUSTOMER
    reference: str | None = None
    description: str | None = None
    line_items: tuple[str, ...] = ()
    metadata: tuple[tuple[str, str], ...] = field(default=())
