"""Row identities, idempotency keys and derived references."""

from __future__ import annotations

from batch_refunds import identity as ids
from batch_refunds.models import RefundRequest


def req(row: int, order: str = "order_test_a", amount: int | None = 100, ref: str | None = None):
    return RefundRequest(row=row, order_id=order, payment_id=None, amount=amount, reference=ref)


def test_identity_ignores_the_line_number() -> None:
    """A row keeps its identity when a cumulative file moves it to another line."""
    assert ids.row_identity(req(2), 1) == ids.row_identity(req(900), 1)


def test_identity_distinguishes_what_a_row_asks_for() -> None:
    """Order, amount, blank amount and reference each change the identity."""
    base = ids.row_identity(req(2), 1)
    others = {
        ids.row_identity(req(2, order="order_test_b"), 1),
        ids.row_identity(req(2, amount=101), 1),
        ids.row_identity(req(2, amount=None), 1),
        ids.row_identity(req(2, ref="RET-1"), 1),
        ids.row_identity(req(2), 2),
    }
    assert base not in others
    assert len(others) == 5


def test_occurrences_count_identical_rows_in_file_order() -> None:
    """The n-th identical row gets occurrence n; different rows start at 1."""
    rows = [req(2), req(3, amount=5), req(4), req(5), req(6, amount=5)]
    assert ids.occurrences(rows) == [1, 1, 2, 3, 2]


def test_key_depends_on_row_payment_generation_and_ordinal_not_amount() -> None:
    """Same row and payment, same key whatever the amount (a re-run whose split changed still
    sends the key Smartpay knows); another payment, generation or ordinal, another key."""
    identity = ids.row_identity(req(2), 1)
    key = ids.idempotency_key(identity, "payment_test_x")
    assert key == ids.idempotency_key(identity, "payment_test_x", 0, 0)
    assert key.startswith("br2-")
    others = {
        ids.idempotency_key(identity, "payment_test_y"),
        ids.idempotency_key(identity, "payment_test_x", generation=1),
        ids.idempotency_key(identity, "payment_test_x", ordinal=1),
        ids.idempotency_key(ids.row_identity(req(2), 2), "payment_test_x"),
    }
    assert key not in others
    assert len(others) == 4


def test_derived_reference_is_short_and_stable() -> None:
    """A row without a reference gets a stable one that fits Smartpay's 255-char limit."""
    identity = ids.row_identity(req(2), 1)
    ref = ids.derived_reference(identity)
    assert ref == ids.derived_reference(identity)
    assert ref.startswith("br-")
    assert len(ref) <= 255
