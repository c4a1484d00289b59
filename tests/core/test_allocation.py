"""Remaining amounts and the split of a row across payments."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batch_refunds.allocation import Part, Shortfall, allocate, remaining
from batch_refunds.models import Refund


def refund(amount: int, status: str = "succeeded") -> Refund:
    return Refund("refund_test_1", "payment_test_1", amount, "JPY", status, 0)


def test_remaining_counts_only_succeeded_refunds() -> None:
    """Failed refunds give nothing back; succeeded ones reduce what remains."""
    assert remaining(1000, [refund(300), refund(200, "failed")]) == 700


def test_remaining_never_goes_below_zero() -> None:
    """Over-refunded data (never expected) still reads as nothing left."""
    assert remaining(100, [refund(300)]) == 0


def test_one_payment_covers_the_request() -> None:
    """A request within the first payment's remainder is one part."""
    assert allocate(500, [("p1", 1000), ("p2", 1000)]) == (Part("p1", 500),)


def test_split_in_payment_order_skipping_empty_ones() -> None:
    """A larger request takes each payment's remainder in order, skipping exhausted ones."""
    got = allocate(1500, [("p0", 0), ("p1", 1000), ("p2", 1000)])
    assert got == (Part("p1", 1000), Part("p2", 500))


def test_blank_amount_takes_everything_left() -> None:
    """A full-refund row takes every payment's remainder."""
    assert allocate(None, [("p1", 0), ("p2", 700)]) == (Part("p2", 700),)


def test_more_than_remains_is_a_shortfall() -> None:
    """Asking for more than the whole order holds sends nothing."""
    assert allocate(2001, [("p1", 1000), ("p2", 1000)]) == Shortfall(2001, 2000)


def test_full_refund_of_an_exhausted_order_is_a_shortfall() -> None:
    """Nothing left and a blank amount: a shortfall of zero, not an empty success."""
    assert allocate(None, [("p1", 0)]) == Shortfall(0, 0)


def test_non_positive_request_is_a_programming_error() -> None:
    """Intake never lets 0 through; the allocator refuses it loudly."""
    with pytest.raises(ValueError, match="positive"):
        allocate(0, [("p1", 10)])


@given(
    st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=5),
    st.integers(min_value=1, max_value=5 * 10**6),
)
def test_allocation_sums_exactly_and_respects_remainders(
    remainders: list[int], requested: int
) -> None:
    """Parts sum to the request and never exceed a payment's remainder."""
    available = [(f"p{i}", r) for i, r in enumerate(remainders)]
    got = allocate(requested, available)
    if requested > sum(remainders):
        assert got == Shortfall(requested, sum(remainders))
        return
    assert isinstance(got, tuple)
    assert sum(p.amount for p in got) == requested
    limits = dict(available)
    assert all(0 < p.amount <= limits[p.payment_id] for p in got)
