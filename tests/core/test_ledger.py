"""What the engine believes a payment has left, and which refunds belong to a row."""

from __future__ import annotations

from batch_refunds.identity import MARKER_KEY
from batch_refunds.ledger import belongs_to_row, refund_for_intent, view_payment
from batch_refunds.models import Payment, Refund


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


def test_marker_pins_a_refund_to_one_row() -> None:
    """A refund marked for another row is not this row's, even with the same reference."""
    marked = refund("r1", 100, ref="RET-1", marker="other-row")
    assert not belongs_to_row(marked, identity="this-row", reference="RET-1")
    assert belongs_to_row(marked, identity="other-row", reference="RET-1")


def test_unmarked_refund_with_the_reference_is_taken() -> None:
    """A dashboard refund carrying the row's reference counts as the row's."""
    assert belongs_to_row(refund("r1", 100, ref="RET-1"), identity="x", reference="RET-1")
    assert not belongs_to_row(refund("r1", 100, ref="RET-2"), identity="x", reference="RET-1")


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
