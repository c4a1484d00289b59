"""The store's bookkeeping, checked against arbitrary sequences of refund attempts."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batch_refunds.sandbox.state import Claim, RefundRefused, SandboxState


def _state(now: list[int]) -> SandboxState:
    return SandboxState(rng=random.Random(0), now_ms=lambda: now[0])


@given(
    amount=st.integers(min_value=1, max_value=100_000),
    attempts=st.lists(st.integers(min_value=1, max_value=120_000), max_size=25),
)
def test_refunds_never_exceed_the_payment(amount: int, attempts: list[int]) -> None:
    """Whatever is asked, succeeded refunds never pass the payment; "refunded" iff none left."""
    state = _state([0])
    order = state.add_order(amount=amount)
    payment = state.add_payment(order.id, amount)
    accepted = 0
    for ask in attempts:
        if ask > amount - accepted:
            with pytest.raises(RefundRefused) as refused:
                state.add_refund(payment.id, ask)
            assert (refused.value.status, refused.value.code) == (403, "amount.insufficient")
        else:
            state.add_refund(payment.id, ask)
            accepted += ask
    assert state.remaining(payment.id) == amount - accepted >= 0
    assert (payment.status == "refunded") == (accepted == amount)


def test_payments_cannot_exceed_their_order() -> None:
    """Captures beyond the order amount are a programming error in a seed or test."""
    state = _state([0])
    order = state.add_order(amount=1000)
    state.add_payment(order.id, 600)
    with pytest.raises(ValueError, match="more than the order"):
        state.add_payment(order.id, 401)


def test_claims_cover_new_in_flight_mismatch_replay_and_expiry() -> None:
    """claim_key's answers follow the key's life: reserved, finished, reused, expired."""
    now = [0]
    state = _state(now)
    assert state.claim_key("s", "k", "body-a")[0] is Claim.NEW
    assert state.claim_key("s", "k", "body-a")[0] is Claim.IN_FLIGHT
    assert state.claim_key("s", "k", "body-b")[0] is Claim.MISMATCH
    state.store_response("s", "k", 200, {"id": "refund_test_1"})
    claim, record = state.claim_key("s", "k", "body-a")
    assert claim is Claim.REPLAY
    assert record.body == {"id": "refund_test_1"}
    assert state.claim_key("other-api-key", "k", "body-b")[0] is Claim.NEW
    now[0] = 6 * 60 * 60 * 1000
    assert state.claim_key("s", "k", "body-b")[0] is Claim.NEW


def test_release_forgets_only_unfinished_reservations() -> None:
    """A released reservation frees the key; a stored answer survives release."""
    state = _state([0])
    state.claim_key("s", "a", "x")
    state.release_key("s", "a")
    assert state.claim_key("s", "a", "y")[0] is Claim.NEW
    state.store_response("s", "a", 200, {})
    state.release_key("s", "a")
    assert state.claim_key("s", "a", "y")[0] is Claim.REPLAY
