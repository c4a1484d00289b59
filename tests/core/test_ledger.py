"""What the engine believes a payment has left, and which refunds belong to a row."""

from __future__ import annotations

import dataclasses

from batch_refunds.identity import MARKER_KEY, derived_reference
from batch_refunds.ledger import (
    own_refunds,
    reference_books,
    refund_for_intent,
    strays,
    unlike_refund_for_intent,
    view_payment,
)
from batch_refunds.models import Payment, Refund

GONE = "a" * 32  # the identity of a row no longer in the file


def payment(refunds, status: str = "processed", amount: int = 1000) -> Payment:
    return Payment("payment_test_1", "order_test_1", amount, "JPY", status, 0, refunds=refunds)


def refund(rid: str, amount: int, ref: str | None = None, marker: str | None = None) -> Refund:
    meta = ((MARKER_KEY, marker),) if marker else ()
    return Refund(
        rid, "payment_test_1", amount, "JPY", "succeeded", 0, reference=ref, metadata=meta
    )


def test_objects_are_the_whole_truth() -> None:
    """With refund objects listed, remaining is amount minus them; the journal is not needed."""
    view = view_payment(
        payment((refund("r1", 300),)), fetched={}, journal_refunds={"r9": refund("r9", 999)}
    )
    assert view.complete
    assert view.remaining() == 700


def test_ids_are_resolved_through_fetched_refunds() -> None:
    """Refund ids count with the amounts fetched for them."""
    view = view_payment(payment(("r1", "r2")), fetched={"r1": refund("r1", 100),
                        "r2": refund("r2", 250)}, journal_refunds={})  # fmt: skip
    assert view.remaining() == 650


def test_absent_refunds_fall_back_to_the_journal() -> None:
    """Without a refunds field, what the journal refunded is subtracted."""
    view = view_payment(payment(None), fetched={}, journal_refunds={"r1": refund("r1", 400)})
    assert not view.complete
    assert view.remaining() == 600


def test_absent_refunds_on_a_refunded_payment_leave_nothing() -> None:
    """A payment Smartpay marks refunded has nothing left, whatever the journal says."""
    view = view_payment(payment(None, status="refunded"), fetched={}, journal_refunds={})
    assert view.remaining() == 0


def test_reservations_reduce_what_later_rows_see() -> None:
    """Parts planned for earlier rows of the run are not offered again."""
    view = view_payment(payment(()), fetched={}, journal_refunds={})
    view.reserved += 900
    assert view.remaining() == 100


def lookup(refund_: Refund, *, identity: str, reference: str) -> Refund | None:
    return refund_for_intent(
        [refund_], identity=identity, reference=reference, payment_id="payment_test_1",
        amount=refund_.amount,
    )  # fmt: skip


def test_marker_pins_a_refund_to_one_row() -> None:
    """A refund marked for another row is not this row's, even with the same reference."""
    marked = refund("r1", 100, ref="RET-1", marker="other-row")
    assert lookup(marked, identity="this-row", reference="RET-1") is None
    assert lookup(marked, identity="other-row", reference="RET-1") == marked


def test_unmarked_refund_with_the_reference_may_answer_the_request() -> None:
    """A refund without the marker but with the row's reference may be the lost answer
    (Smartpay could drop metadata); another reference never is."""
    assert lookup(refund("r1", 100, ref="RET-1"), identity="x", reference="RET-1") is not None
    assert lookup(refund("r1", 100, ref="RET-2"), identity="x", reference="RET-1") is None


def test_intent_lookup_needs_payment_amount_and_reference() -> None:
    """An unanswered request is matched only by a refund of the same part."""
    refunds = [refund("r1", 100, ref="RET-1", marker="x"), refund("r2", 200, ref="RET-1")]
    found = refund_for_intent(
        refunds, identity="x", reference="RET-1", payment_id="payment_test_1", amount=200
    )
    assert found is not None
    assert found.id == "r2"
    assert (
        refund_for_intent(
            refunds, identity="x", reference="RET-1", payment_id="payment_test_2", amount=100
        )
        is None
    )


def test_reference_book_counts_only_refunds_no_row_of_the_file_made() -> None:
    """Under a shared reference, refunds marked for a row of the file are that row's; the
    dashboard's (no marker) and an old row version's (marker not in the file) are unclaimed."""
    view = view_payment(
        payment((refund("r1", 100, "R", marker="in-file"), refund("r2", 200, "R"),
                 refund("r3", 300, "R", marker="gone"), refund("r4", 900, "OTHER"))),
        fetched={}, journal_refunds={},
    )  # fmt: skip
    books = reference_books([view], [("R", 1000, False)], file_identities={"in-file"})
    book = books["R"]
    assert [u.refund.id for u in book.unclaimed] == ["r2", "r3"]
    assert (book.held_total, book.asked, book.exceeds) == (600, 1000, False)
    assert set(books) == {"R"}  # OTHER is no row's reference


def test_reference_book_is_taken_oldest_first_and_never_twice() -> None:
    """Rows take unclaimed yen in file order, oldest refund first, each yen once."""
    view = view_payment(
        payment((Refund("new", "payment_test_1", 300, "JPY", "succeeded", 20, reference="R"),
                 Refund("old", "payment_test_1", 200, "JPY", "succeeded", 10, reference="R"))),
        fetched={}, journal_refunds={},
    )  # fmt: skip
    book = reference_books([view], [("R", 250, False), ("R", 900, False)], file_identities=())["R"]
    assert book.take(250) == (250, ("old", "new"))
    assert book.take(900) == (250, ("new",))
    assert book.take(None) == (0, ())


def test_reference_book_sees_when_more_exists_than_the_file_asks() -> None:
    """More under the reference than the file's rows ask for it in total: exceeds."""
    view = view_payment(payment((refund("r1", 1000, "R"),)), fetched={}, journal_refunds={})
    asked_less = reference_books([view], [("R", 500, False), ("R", 400, False)], file_identities=())
    assert asked_less["R"].exceeds
    asked_all = reference_books([view], [("R", 500, False), ("R", None, False)], file_identities=())
    assert not asked_all["R"].exceeds  # a full-refund row asks for everything


def test_a_derived_reference_needs_no_book() -> None:
    """br-… references are unique to their row: an unmarked refund under one is that row's."""
    view = view_payment(payment((refund("r1", 100, "br-abc"),)), fetched={}, journal_refunds={})
    assert reference_books([view], [("br-abc", 500, True)], file_identities=()) == {}
    assert [r.id for r in own_refunds([view], identity="x", reference="br-abc", derived=True)] == [
        "r1"
    ]


def test_a_refund_for_a_row_without_reference_that_left_the_file_is_a_stray() -> None:
    """Marker of a row not in the file, and the reference derived from that marker: a stray.
    Failed ones, dashboard ones (no marker), the file's own rows' and those under a merchant
    reference are not."""
    mine = "b" * 32
    failed = Refund("r5", "payment_test_1", 50, "JPY", "failed", 0,
                    reference=derived_reference(GONE), metadata=((MARKER_KEY, GONE),))  # fmt: skip
    view = view_payment(
        payment((
            refund("r1", 100, derived_reference(GONE), GONE),
            refund("r2", 200, "RMA-1", GONE),
            refund("r3", 300, derived_reference(mine), mine),
            refund("r4", 400, derived_reference(GONE)),
            failed,
        )),
        fetched={}, journal_refunds={},
    )  # fmt: skip
    assert [r.id for r in strays([view], file_identities={mine})] == ["r1"]
    assert strays([view], file_identities={mine, GONE}) == []


def test_an_unlike_refund_is_one_with_the_marks_but_not_the_amount_or_currency() -> None:
    """A refund with an intent's marker, reference and payment but another amount or currency
    is unlike it; one the journal already holds for the row, a failed one, one without the
    marker or with another reference is not."""

    def unlike(*refunds: Refund, known: tuple[str, ...] = ()) -> str | None:
        found = unlike_refund_for_intent(
            refunds, identity="row-A", reference="R", payment_id="payment_test_1",
            amount=1000, known=known,
        )  # fmt: skip
        return None if found is None else found.id

    assert unlike(refund("r1", 1, "R", "row-A")) == "r1"
    usd = dataclasses.replace(refund("r2", 1000, "R", "row-A"), currency="USD")
    assert unlike(usd) == "r2"
    assert unlike(refund("r1", 1, "R", "row-A"), known=("r1",)) is None
    assert unlike(dataclasses.replace(refund("r1", 1, "R", "row-A"), status="failed")) is None
    assert unlike(refund("r1", 1, "R", None), refund("r3", 1, "S", "row-A")) is None
    assert unlike(refund("r4", 1000, "R", "row-A")) is None  # that one is exactly as asked
