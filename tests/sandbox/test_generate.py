"""The data generator: realistic, repeatable, and its returns CSV matches the orders."""

from __future__ import annotations

import csv
import random
from pathlib import Path

from batch_refunds.sandbox import load_seed
from batch_refunds.sandbox.generate import CSV_HEADER, generate, write_returns_csv
from batch_refunds.sandbox.state import SandboxState

NOW_MS = 1_764_000_000_000


def test_same_seed_same_data_and_different_seed_different_data() -> None:
    """generate() is a pure function of (n, random_seed, now_ms)."""
    assert generate(50, random_seed=7, now_ms=NOW_MS) == generate(50, random_seed=7, now_ms=NOW_MS)
    assert generate(50, random_seed=7, now_ms=NOW_MS) != generate(50, random_seed=8, now_ms=NOW_MS)


def test_csv_rows_match_the_loaded_state(tmp_path: Path) -> None:
    """Every CSV row names a real order; amounts never exceed what remains on it."""
    seed, rows = generate(300, random_seed=11, now_ms=NOW_MS)
    state = SandboxState(rng=random.Random(0), now_ms=lambda: NOW_MS)
    load_seed(state, seed)
    path = tmp_path / "returns.csv"
    write_returns_csv(path, rows)
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == CSV_HEADER
        read = list(reader)
    assert len(read) == 300
    assert [r["reference"] for r in read[:2]] == ["RET-000001", "RET-000002"]
    for row in read:
        order = state.orders[row["order_id"]]
        remaining = sum(state.remaining(p) for p in order.payment_ids)
        if row["amount"]:
            assert 0 < int(row["amount"]) <= remaining
        assert row["reason"] in {"requested_by_customer", "fraudulent"}
    blank = [r for r in read if not r["amount"]]
    refundable_blank = [
        r
        for r in blank
        if sum(state.remaining(p) for p in state.orders[r["order_id"]].payment_ids) > 0
    ]
    assert refundable_blank, "some rows ask to refund everything that remains"


def test_the_mix_looks_like_a_real_shop() -> None:
    """¥1,980–¥98,000 orders; split captures, partial and full refunds, uncaptured ones."""
    seed, _ = generate(1000, random_seed=3, now_ms=NOW_MS)
    state = SandboxState(rng=random.Random(0), now_ms=lambda: NOW_MS)
    load_seed(state, seed)
    orders = list(state.orders.values())
    assert all(1_980 <= o.amount <= 98_000 for o in orders)
    assert all(isinstance(o.amount, int) for o in orders)
    uncaptured = [o for o in orders if not o.payment_ids]
    split = [o for o in orders if len(o.payment_ids) > 1]
    touched = [o for o in orders if any(state.payments[p].refund_ids for p in o.payment_ids)]
    full = [
        o
        for o in orders
        if o.payment_ids and all(state.payments[p].status == "refunded" for p in o.payment_ids)
    ]
    assert all(o.status == "requires_capture" for o in uncaptured)
    assert 20 <= len(uncaptured) <= 90
    assert 120 <= len(split) <= 260
    assert 120 <= len(touched) <= 260
    assert 10 <= len(full) <= 60
    assert all(o.created_at < NOW_MS for o in orders)
    assert all(r.created_at < NOW_MS for r in state.all_refunds())


def test_zero_orders_is_an_empty_seed_and_csv(tmp_path: Path) -> None:
    """generate(0) is valid: no orders, a header-only CSV."""
    seed, rows = generate(0, random_seed=1)
    assert seed == {"orders": []}
    path = tmp_path / "r.csv"
    write_returns_csv(path, rows)
    assert path.read_text(encoding="utf-8").splitlines() == [",".join(CSV_HEADER)]
