"""The seed format: what it loads, and how a bad seed is refused whole."""

from __future__ import annotations

import json
import random
from importlib import resources
from typing import Any

import pytest

from batch_refunds.sandbox import SeedError, load_seed
from batch_refunds.sandbox.state import SandboxState


def _state() -> SandboxState:
    return SandboxState(rng=random.Random(0), now_ms=lambda: 1_764_000_000_000)


def test_seed_builds_orders_payments_and_prior_refunds() -> None:
    """Amounts default sensibly, statuses follow captures and refunds, ids are kept."""
    state = _state()
    counts = load_seed(
        state,
        {
            "orders": [
                {"id": "order_test_A", "payments": [{"amount": 1000}, {"amount": 2000}]},
                {"id": "order_test_B", "amount": 5000},
                {
                    "payments": [
                        {
                            "id": "payment_test_C",
                            "amount": 800,
                            "refunds": [
                                {"amount": 800, "reference": "CS-9"},
                                {"amount": 800, "status": "failed"},
                            ],
                        }
                    ]
                },
            ]
        },
    )
    assert counts == {"orders": 3, "payments": 3, "refunds": 2}
    assert state.orders["order_test_A"].amount == 3000
    assert state.orders["order_test_A"].status == "succeeded"
    assert state.orders["order_test_B"].status == "requires_capture"
    assert state.orders["order_test_B"].payment_ids == []
    assert state.payments["payment_test_C"].status == "refunded"
    assert state.remaining("payment_test_C") == 0


@pytest.mark.parametrize(
    ("seed", "where"),
    [
        ([], "orders"),
        ({"orders": [{"id": "ord_1"}]}, "orders[0].id"),
        ({"orders": [{"payments": [{"amount": 10.5}]}]}, "orders[0].payments[0].amount"),
        ({"orders": [{"amount": 100, "payments": [{"amount": 200}]}]}, "orders[0]"),
        (
            {"orders": [{"payments": [{"amount": 100, "refunds": [{"amount": 101}]}]}]},
            "orders[0].payments[0].refunds[0]",
        ),
        (
            {"orders": [{"id": "order_test_X"}, {"id": "order_test_X"}]},
            "orders[1].id",
        ),
        ({"orders": [{"status": "shipped"}]}, "orders[0].status"),
    ],
)
def test_bad_seeds_are_refused_naming_the_entry(seed: Any, where: str) -> None:
    """A malformed seed raises SeedError whose message points at the offending entry."""
    state = _state()
    with pytest.raises(SeedError) as caught:
        load_seed(state, seed)
    assert where in str(caught.value)


def test_a_bad_seed_adds_nothing() -> None:
    """Format problems are found before anything is loaded."""
    state = _state()
    with pytest.raises(SeedError):
        load_seed(state, {"orders": [{"amount": 100}, {"payments": [{"amount": -1}]}]})
    with pytest.raises(SeedError):
        load_seed(
            state,
            {
                "orders": [
                    {"amount": 100},
                    {"payments": [{"amount": 5, "refunds": [{"amount": 6}]}]},
                ]
            },
        )
    assert state.orders == {}


def test_the_shipped_example_seed_covers_every_case() -> None:
    """example_seed.json loads: a plain, split, partly and fully refunded, and uncaptured order."""
    seed = json.loads(
        (resources.files("batch_refunds.sandbox") / "example_seed.json").read_text("utf-8")
    )
    state = _state()
    assert load_seed(state, seed) == {"orders": 5, "payments": 5, "refunds": 2}
    left = {
        o.reference: sum(state.remaining(p) for p in o.payment_ids) for o in state.orders.values()
    }
    assert left == {
        "ORD-0001": 12_800,
        "ORD-0002": 48_000,
        "ORD-0003": 4_000,
        "ORD-0004": 0,
        "ORD-0005": 0,
    }
    assert state.orders["order_test_Example0005"].status == "requires_capture"
