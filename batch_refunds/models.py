"""Frozen value types shared by every layer: what a row asks for, what Smartpay holds.

Pure: no I/O, no third-party imports. Money is ``int`` yen everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

Yen = int
"""Whole Japanese yen. JPY has no minor units, so an ``int`` is exact."""

CURRENCY = "JPY"

MAX_PLAUSIBLE_YEN: Yen = 10_000_000_000
"""The largest amount an answer from Smartpay may state: ¥10 billion.

A BNPL payment is a shopper's purchase, normally thousands to hundreds of thousands of yen;
¥10 billion is tens of thousands of times beyond any of them, so no real order, payment or
refund comes near it. It is also far below anything that overflows: 900,000 amounts at this
maximum still add up exactly in a double (2**53, what Excel and JSON readers hold) and
922 million of them in SQLite's 64-bit integers. An answer above it is a broken answer, not
money to move or record.
"""


class Reason(StrEnum):
    """Why a refund is made; the only two values Smartpay accepts."""

    REQUESTED_BY_CUSTOMER = "requested_by_customer"
    FRAUDULENT = "fraudulent"


# --- What the spreadsheet asks for -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RefundRequest:
    """One valid input row: refund ``amount`` yen (``None``: all that remains).

    ``row`` is the line number a person sees in Excel or an editor (header line counted,
    1-based). At least one of ``order_id``, ``payment_id`` and ``shop_order`` is set.
    ``shop_order`` is the shop's own order number as typed (the order's ``reference`` in
    Smartpay); a row with only that is resolved to an order through the order list.
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
    shop_order: str | None = None

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
    replayed: bool = False
    """The answer to a create that Smartpay replayed, at its first try, from an earlier
    request with the same idempotency key: that earlier request made it, not this call (a
    replay after one of the call's own tries went unanswered is that try's result)."""

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    @property
    def failed(self) -> bool:
        """Smartpay says it moved no money. Any status other than this and ``succeeded``
        (``pending``, or one nobody has documented) means it may still go through."""
        return self.status == "failed"


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


# --- What a run did with each row ---------------------------------------------------------


class Mode(StrEnum):
    """What a run may do: ``RUN`` sends refunds, ``PLAN`` only reads (GET requests)."""

    RUN = "run"
    PLAN = "plan"


class Status(StrEnum):
    """The terminal status of one input row in a report."""

    REFUNDED = "refunded"  # this run refunded the whole request
    ALREADY_REFUNDED = "already_refunded"  # an earlier run, or a refund with this reference, did
    PLANNED = "planned"  # plan only: this is what run would send
    INVALID = "invalid"  # input error; nothing sent
    REJECTED = "rejected"  # the API or a pre-check refused for a reason a retry won't fix
    HELD = "held"  # nothing sent: what Smartpay holds disagrees with the file; a person decides
    FAILED = "failed"  # couldn't be completed (network, 5xx, 429, stopped); re-running is safe


@dataclass(frozen=True, slots=True)
class RowOutcome:
    """One line of the reconciliation report: what happened to one input data row.

    The two amounts never overlap: ``already_refunded`` is what existed for the row before
    this run acted (earlier runs, or refunds already under its reference), ``refunded_amount``
    what this run's own refund requests created. ``refund_ids`` lists both.
    """

    row: int
    status: Status
    order_id: str | None = None
    payment_ids: tuple[str, ...] = ()
    currency: str = CURRENCY
    requested_amount: Yen | None = None  # None: the row asked for everything that remains
    refundable_before: Yen | None = None  # None: not known (never fetched, or the row was invalid)
    refunded_amount: Yen = 0  # created by this run
    refund_ids: tuple[str, ...] = ()
    error_code: str | None = None
    message: str | None = None
    reference: str | None = None
    attempts: int = 0  # refund POSTs sent for this row in this run, retries included
    already_refunded: Yen = 0  # existed for this row before this run acted
    shop_order: str | None = None  # the shop's own order number, as the row typed it

    @property
    def requested_yen(self) -> Yen:
        """What the row asks for in yen: the amount written, or for a blank amount what was
        already refunded for it plus what remained when it was planned. An invalid row asks
        for nothing (its amount could not be read). The one definition of "requested"."""
        if self.status is Status.INVALID:
            return 0
        if self.requested_amount is not None:
            return self.requested_amount
        return self.already_refunded + (self.refundable_before or 0)


@dataclass(frozen=True, slots=True)
class RefundRecord:
    """One refund created (or confirmed) for a row, for the report's Refunds sheet."""

    refund_id: str
    row: int
    order_id: str | None
    payment_id: str
    amount: Yen
    reference: str | None
    created_at: int  # ms since the epoch, Smartpay's clock


@dataclass(frozen=True, slots=True)
class RequestCounts:
    """HTTP requests a run made: all of them, the retried ones, the ones answered 429."""

    total: int = 0
    retried: int = 0
    rate_limited: int = 0


@dataclass(frozen=True, slots=True)
class RunSummary:
    """Everything ``summary.json`` says about a run. Times are ISO-8601 UTC strings."""

    run_id: str
    mode: str  # "run" or "plan"
    input_path: str
    input_sha256: str
    rows: int
    counts: tuple[tuple[Status, int], ...]
    requested_total: Yen
    refunded_total: Yen  # created by this run: the sum of the Refunds sheet
    started_at: str
    finished_at: str
    duration_s: float
    requests: RequestCounts
    exit_code: int
    already_refunded_total: Yen = 0  # existed before this run for the rows of its file
    warnings: tuple[str, ...] = ()  # what intake noticed about the file, for a person to read
    stop_reason: str | None = None  # why the run ended before every row was tried
    key_mode: str | None = None  # "test" or "live", from the secret key's prefix
    api_base_url: str | None = None  # the API prefix talked to (never carries credentials)
    timezone: str = "UTC"  # the zone the report's human-facing times are shown in


@dataclass(frozen=True, slots=True)
class InputLayout:
    """How a run's input file was written, so that rows of it can be written back the same
    way (``needs_attention.csv``): its format, text encoding and delimiter (text files), the
    sheet read (workbooks) and the header row's cells as written."""

    format: str  # csv, tsv, xlsx, xlsm, xlsb, xls or ods
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    header: tuple[str, ...] = ()
