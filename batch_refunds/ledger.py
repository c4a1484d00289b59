"""What the engine believes about one order's payments while it plans: pure bookkeeping.

Smartpay has no "refundable" field, so the remaining amount of a payment is derived from
the refunds we can see. Those come from Smartpay itself when it lists a payment's refunds
(``complete``: the list is the whole truth), or, when it leaves the field out, from what the
journal knows plus the payment's status — and then Smartpay's 403 ``amount.insufficient`` is
the last guard against a refund made elsewhere.

**A reference names refunds.** The refunds under one reference on one order together stand
for what the file asks for that reference. A refund belongs to a row when it carries the
row's marker (``batch_refunds_row`` = the row's identity). Refunds under the reference that
no row of the current file made — made in the dashboard, or for an earlier version of a row
whose amount was since corrected — are *unclaimed*: they count towards the file's rows of
that reference, in file order, before anything is sent (a ``ReferenceBook``). When they add
up to more than the file asks for the reference, nothing more can make the order match the
file (refunds are final), so those rows are held for a person.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from batch_refunds.identity import MARKER_KEY, derived_reference
from batch_refunds.models import CURRENCY, Payment, Refund, Yen


@dataclass(slots=True)
class PaymentView:
    """One payment, the refunds known on it, and what earlier rows of this run reserved."""

    payment: Payment
    complete: bool
    refunds: dict[str, Refund] = field(default_factory=dict)
    journal_refunds: dict[str, Refund] = field(default_factory=dict)
    reserved: Yen = 0

    @property
    def id(self) -> str:
        return self.payment.id

    def known_refunds(self) -> dict[str, Refund]:
        """Smartpay's list when it is complete; else what it showed plus what the journal knows."""
        if self.complete:
            return self.refunds
        return {**self.journal_refunds, **self.refunds}

    def refunded(self) -> Yen:
        return sum(r.amount for r in self.known_refunds().values() if r.succeeded)

    def remaining(self) -> Yen:
        """Refundable now, less what earlier rows of this run have reserved."""
        if not self.complete and self.payment.status == "refunded":
            return 0
        return max(self.payment.amount - self.refunded() - self.reserved, 0)

    def add_refund(self, refund: Refund) -> None:
        self.refunds[refund.id] = refund


@dataclass(slots=True)
class OrderView:
    """The payments a group of rows draws from, in Smartpay's order (ids distinct: the
    planner refuses an order that lists one twice)."""

    order_id: str | None
    payments: list[PaymentView]
    _by_id: dict[str, PaymentView] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Looked up once per part: a dict keeps an order of 200,000 payments linear.
        self._by_id = {p.id: p for p in self.payments}

    def payment(self, payment_id: str) -> PaymentView | None:
        return self._by_id.get(payment_id)

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


def own_refunds(
    payments: Iterable[PaymentView], *, identity: str, reference: str, derived: bool
) -> list[Refund]:
    """The succeeded refunds this very row made: its marker, or, for a row whose reference was
    derived from its identity (``br-…``, unique to it), that reference without a marker."""
    found = []
    for view in payments:
        for refund in view.known_refunds().values():
            if not refund.succeeded or refund.reference != reference:
                continue
            marker = marker_of(refund)
            if marker == identity or (marker is None and derived):
                found.append(refund)
    return found


@dataclass(slots=True)
class Unclaimed:
    """A refund no row of the file made, and the yen of it not yet counted for a row."""

    refund: Refund
    left: Yen


@dataclass(slots=True)
class ReferenceBook:
    """The refunds under one reference on one order, set against what the file asks for it.

    ``held`` is every succeeded refund under the reference; ``unclaimed`` those that no row of
    the file made, each with the yen not yet counted for a row. ``asked`` is the sum of the
    file's amounts for the reference (``None`` when a row asks for everything).
    """

    reference: str
    held: tuple[Refund, ...]
    unclaimed: list[Unclaimed]
    asked: Yen | None

    @property
    def held_total(self) -> Yen:
        return sum(r.amount for r in self.held)

    @property
    def exceeds(self) -> bool:
        """More is refunded under the reference than the file asks: nothing can fix that."""
        return self.asked is not None and self.held_total > self.asked

    def take(self, wanted: Yen | None) -> tuple[Yen, tuple[str, ...]]:
        """Count unclaimed refunds towards a row wanting ``wanted`` yen (``None``: all of
        them), oldest first; returns the yen counted and the ids of the refunds used."""
        taken = 0
        used: list[str] = []
        for entry in self.unclaimed:
            if entry.left <= 0:
                continue
            if wanted is not None and taken >= wanted:
                break
            share = entry.left if wanted is None else min(entry.left, wanted - taken)
            entry.left -= share
            taken += share
            used.append(entry.refund.id)
        return taken, tuple(used)


def reference_books(
    payments: Iterable[PaymentView],
    rows: Iterable[tuple[str, Yen | None, bool]],
    *,
    file_identities: Collection[str],
) -> dict[str, ReferenceBook]:
    """A book for each reference of ``rows`` (reference, amount, derived) under which the
    order holds refunds that no row of the file made; references without such refunds need
    none. A derived reference is unique to its row, so a refund under it is that row's."""
    asked: dict[str, Yen | None] = {}
    derived_references = set()
    for reference, amount, derived in rows:
        before = asked.get(reference, 0)
        asked[reference] = None if before is None or amount is None else before + amount
        if derived:
            derived_references.add(reference)
    by_reference: dict[str, list[Refund]] = {}
    for view in payments:
        for refund in view.known_refunds().values():
            if refund.succeeded and refund.reference in asked:
                by_reference.setdefault(refund.reference, []).append(refund)
    books: dict[str, ReferenceBook] = {}
    for reference, held in by_reference.items():
        held.sort(key=lambda r: (r.created_at, r.id))
        if reference in derived_references:
            continue
        unclaimed = [Unclaimed(r, r.amount) for r in held if marker_of(r) not in file_identities]
        if unclaimed:
            books[reference] = ReferenceBook(reference, tuple(held), unclaimed, asked[reference])
    return books


def strays(payments: Iterable[PaymentView], *, file_identities: Collection[str]) -> list[Refund]:
    """Succeeded refunds this tool made for a row that had no reference of its own and is not
    in the file: its marker names no row of the file, and its reference is the one derived
    from that marker (``br-…``).

    Such a row may be a row of this file as it was before a person changed it — a reference
    added, an amount corrected, a column this version newly reads — and then its identity
    changed with it, so nothing else ties the two. A row with a merchant reference has the
    reference rule instead: a refund under its reference is counted, whoever made it.
    """
    found = []
    for view in payments:
        for refund in view.known_refunds().values():
            marker = marker_of(refund)
            if (
                refund.succeeded
                and marker is not None
                and marker not in file_identities
                and refund.reference == derived_reference(marker)
            ):
                found.append(refund)
    return sorted(found, key=lambda r: (r.created_at, r.id))


def refund_for_intent(
    refunds: Iterable[Refund], *, identity: str, reference: str, payment_id: str, amount: Yen
) -> Refund | None:
    """The refund that an unanswered request created, if Smartpay has it, whatever its status
    (a pending one is still in flight: the caller must neither count it nor send again).
    A succeeded one is preferred over any other with the same marks."""
    found: Refund | None = None
    for refund in refunds:
        if (
            refund.payment_id == payment_id
            and refund.amount == amount
            and refund.currency.upper() == CURRENCY
            and refund.reference == reference
            and marker_of(refund) in (None, identity)
        ):
            if refund.succeeded:
                return refund
            found = found or refund
    return found


def unlike_refund_for_intent(
    refunds: Iterable[Refund],
    *,
    identity: str,
    reference: str,
    payment_id: str,
    amount: Yen,
    known: Collection[str],
) -> Refund | None:
    """A refund that carries an unanswered request's marks (this row's marker, its reference,
    its payment) but another amount or currency: the request may have made it, so it can be
    neither counted as asked nor ignored by sending again. Refunds in ``known`` (ids the
    journal already holds for the row), and failed ones (they moved no money), are not it."""
    for refund in refunds:
        if (
            refund.id not in known
            and not refund.failed
            and refund.payment_id == payment_id
            and refund.reference == reference
            and marker_of(refund) == identity
            and (refund.amount != amount or refund.currency.upper() != CURRENCY)
        ):
            return refund
    return None


def pending_message(refund: Refund) -> str:
    """Why a row whose refund Smartpay holds as neither succeeded nor failed sends nothing."""
    return (
        f"Smartpay answered refund {refund.id} as {refund.status!r}: it may still go through, "
        "so nothing more is sent for this row; a re-run looks it up first"
    )


def view_payment(
    payment: Payment, *, fetched: Mapping[str, Refund], journal_refunds: Mapping[str, Refund]
) -> PaymentView:
    """Build a view from a payment whose ``refunds`` may be objects, ids (resolved through
    ``fetched``) or absent; ``journal_refunds`` are the refunds the journal knows on it."""
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
