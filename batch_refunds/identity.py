"""Who a row is, across files and runs: identities, idempotency keys, derived references.

A row's identity is what it asks for — its order or payment id, its amount (blank counts as
"all"), its reference — plus its occurrence number among identical rows of its file. It is
never the line number: a cumulative spreadsheet that gains rows at the top must still map
each old row to the same identity, or the second upload would refund everything again.

Pure: no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from batch_refunds.models import RefundRequest

KEY_PREFIX = "br2"
"""Versioned, so a change of the derivation can never collide with earlier keys (``br1``
keys also hashed the part's amount)."""

REFERENCE_PREFIX = "br-"

MARKER_KEY = "batch_refunds_row"
"""Refund metadata key carrying the row identity, so a refund can be traced to exactly one row
even when several rows share a merchant reference."""


def _digest(*parts: str) -> str:
    # A unit separator cannot occur in ids, amounts or spreadsheet cells we accept as references,
    # so the joined text is unambiguous.
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


SHOP_PREFIX = "shop:"


def request_key(request: RefundRequest) -> tuple[str, str, str, str]:
    """What makes two rows identical: order, payment, amount (``all`` when blank), reference.

    A row that names its order only by the shop's order number stands in the order slot as
    ``shop:<number as typed>``: the number the person wrote, never the Smartpay order it
    resolves to, so the identity is the same before and after resolution and whatever the
    order list says tomorrow. A row with a Smartpay id keeps the identity it always had
    (a shop number beside the id is checked against the order, not part of who the row is),
    so adding a shop-number column to a sheet changes no row's identity."""
    amount = "all" if request.amount is None else str(request.amount)
    order = request.order_id or ""
    if not order and not request.payment_id and request.shop_order:
        order = SHOP_PREFIX + request.shop_order
    return (order, request.payment_id or "", amount, request.reference or "")


def occurrences(requests: Iterable[RefundRequest]) -> list[int]:
    """The 1-based occurrence number of each request among identical requests before it."""
    seen: dict[tuple[str, str, str, str], int] = {}
    numbers: list[int] = []
    for request in requests:
        key = request_key(request)
        seen[key] = seen.get(key, 0) + 1
        numbers.append(seen[key])
    return numbers


def row_identity(request: RefundRequest, occurrence: int) -> str:
    """A stable 32-hex-digit identity for the ``occurrence``-th row asking exactly this."""
    if occurrence < 1:
        raise ValueError(f"occurrence must be >= 1, got {occurrence}")
    return _digest("row", *request_key(request), str(occurrence))[:32]


def derived_reference(identity: str) -> str:
    """The reference sent for a row that has none, so Smartpay's records can be matched later."""
    return f"{REFERENCE_PREFIX}{identity[:24]}"


def idempotency_key(identity: str, payment_id: str, generation: int = 0, ordinal: int = 0) -> str:
    """The ``Idempotency-Key`` for one part of a row's plan: the row, the payment, and how
    many of the row's own refunds on that payment were known when it was planned.

    Not the part's amount: a re-run whose split across payments came out differently (a lost
    journal, refunds Smartpay did not list) must send the same key for the same payment, so
    that Smartpay replays, or refuses, instead of refunding again. ``ordinal`` makes a second
    refund of the row on one payment (the rest, after the first was found) a request of its
    own. ``generation`` counts the row's earlier plans that Smartpay refused outright
    (nothing was refunded by them): a new plan after such a refusal must not be answered with
    the stored refusal. An unanswered request is never re-planned: it is resent with its own
    key, as the journal holds it.
    """
    digest = _digest("part", identity, payment_id, str(generation), str(ordinal))
    return f"{KEY_PREFIX}-{digest[:40]}"
