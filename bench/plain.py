"""What every baseline loop does per row, written the way a script author would.

A baseline must do the same HTTP work as the tool on the same ``--generate`` file, or the
ratio measures the data rather than the code: GET the order (``expand=all``), work out
what each payment has left from its refunds, and POST one refund per payment needed
(usually one), or nothing for an order with nothing left. No journal, no checks beyond
that, no retries: the cost of doing it carelessly, which is the floor the tool is held to.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

KEY = "sk_test_BenchmarkKey0001"
HEADERS = {"Authorization": f"Basic {KEY}", "Content-Type": "application/json"}


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(row number, cells) for each line of the returns CSV, the header as row 1."""
    with path.open(encoding="utf-8", newline="") as handle:
        yield from enumerate(csv.DictReader(handle), start=2)


def plan_refunds(order: dict[str, Any], amount_text: str) -> list[tuple[str, int]]:
    """(payment id, yen) to POST for one row; empty if the order has nothing to give."""
    left = []
    for payment in order.get("payments") or []:
        if isinstance(payment, dict):
            refunded = sum(r["amount"] for r in payment.get("refunds") or [] if isinstance(r, dict))
            left.append((payment["id"], payment["amount"] - refunded))
    total = sum(yen for _, yen in left)
    wanted = total if not amount_text.strip() else int(amount_text)
    if wanted <= 0 or wanted > total:
        return []
    plan = []
    for payment_id, yen in left:
        take = min(yen, wanted)
        if take > 0:
            plan.append((payment_id, take))
            wanted -= take
        if wanted == 0:
            break
    return plan


def refund_body(payment_id: str, amount: int, cells: dict[str, str]) -> dict[str, Any]:
    return {
        "payment": payment_id,
        "amount": amount,
        "currency": "JPY",
        "reason": cells.get("reason") or "requested_by_customer",
        "reference": cells.get("reference") or None,
        "description": cells.get("description") or None,
    }
