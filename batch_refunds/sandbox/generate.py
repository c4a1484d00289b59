"""Realistic orders plus a matching returns spreadsheet, for demos and rehearsals.

``generate(n, random_seed=S)`` returns a seed (the format ``seed.py`` documents, ids
fixed) and the rows of a returns CSV naming those orders, by Smartpay id or by the shop's
own order number (each order's ``reference``, ``ORD-2026-00001`` style). Same seed, same
output.

The mix, per order: about 5% never captured (``requires_capture``, no payment), about
3% already fully refunded, about 15% partly refunded, about 20% of the captured ones
split over 2–3 payments (partial captures). Every order gets one returns row, so the
uncaptured and fully refunded ones are rows a refund tool must decline; about a third
of the rest leave ``amount`` blank (refund whatever remains).
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from batch_refunds.sandbox.state import BASE62, ID_LENGTH

CSV_HEADER = ("order_id", "amount", "reason", "reference", "description")
SHOP_CSV_HEADER = ("shop_order", "amount", "reason", "reference", "description")
DAY_MS = 24 * 60 * 60 * 1000
MIN_YEN = 1_980
MAX_YEN = 98_000

PRODUCTS = (
    "リネンシャツ",
    "ウールコート",
    "Ceramic mug set",
    "レザースニーカー",
    "Bluetooth speaker",
    "有田焼 茶碗",
    "Cotton tote bag",
    "ダウンジャケット",
    "Espresso grinder",
    "デニムパンツ",
    "Silk scarf",
    "加湿器",
)
RETURN_NOTES = (
    "サイズ交換",
    "イメージと違う",
    "Damaged in transit",
    "Changed mind",
    "Wrong colour sent",
    "初期不良",
    "Late delivery",
    "",
)


@dataclass(frozen=True)
class ReturnRow:
    order_id: str
    shop_order: str  # the order's reference: the shop's own order number
    amount: int | None  # None: refund everything that remains
    reason: str
    reference: str
    description: str


def generate(
    n: int, *, random_seed: int | None = None, now_ms: int = 1_764_000_000_000
) -> tuple[dict[str, Any], list[ReturnRow]]:
    """``n`` orders (as a seed) and one returns row per order."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = random.Random(random_seed)
    orders: list[dict[str, Any]] = []
    rows: list[ReturnRow] = []
    manual_refunds = 0
    year = datetime.fromtimestamp(now_ms / 1000, UTC).year
    for index in range(n):
        amount = _price(rng)
        created = now_ms - rng.randrange(1, 60) * DAY_MS - rng.randrange(DAY_MS)
        product = rng.choice(PRODUCTS)
        order: dict[str, Any] = {
            "id": _id(rng, "order"),
            "reference": f"ORD-{year}-{index + 1:05d}",
            "description": product,
            "amount": amount,
            "createdAt": created,
            "metadata": {"shop": rng.choice(("Shibuya", "Umeda", "online"))},
        }
        kind = rng.random()
        if kind < 0.05:
            order["status"] = "requires_capture"
            order["payments"] = []
            remaining = 0
        else:
            parts = _split(rng, amount, rng.choice((2, 3)) if rng.random() < 0.20 else 1)
            payments: list[dict[str, Any]] = [
                {"id": _id(rng, "payment"), "amount": part, "createdAt": created + 60_000 * (i + 1)}
                for i, part in enumerate(parts)
            ]
            remaining = amount
            if kind < 0.08:
                for payment in payments:
                    manual_refunds += 1
                    payment["refunds"] = [
                        _prior(rng, payment, payment["amount"], manual_refunds, now_ms)
                    ]
                remaining = 0
            elif kind < 0.23:
                payment = rng.choice(payments)
                part = _round_down(rng.randint(1, payment["amount"] - 1))
                if part > 0:
                    manual_refunds += 1
                    payment["refunds"] = [_prior(rng, payment, part, manual_refunds, now_ms)]
                    remaining -= part
            order["payments"] = payments
        orders.append(order)
        rows.append(
            ReturnRow(
                order_id=order["id"],
                shop_order=order["reference"],
                amount=_row_amount(rng, remaining),
                reason="fraudulent" if rng.random() < 0.02 else "requested_by_customer",
                reference=f"RET-{index + 1:06d}",
                description=rng.choice(RETURN_NOTES),
            )
        )
    return {"orders": orders}, rows


def write_returns_csv(path: Path, rows: list[ReturnRow], *, shop_numbers: bool = False) -> None:
    """The returns CSV; ``shop_numbers`` names each order by the shop's own order number
    (a ``shop_order`` column) instead of its Smartpay id, as finance sheets usually do."""
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(SHOP_CSV_HEADER if shop_numbers else CSV_HEADER)
        for row in rows:
            amount = "" if row.amount is None else str(row.amount)
            order = row.shop_order if shop_numbers else row.order_id
            writer.writerow((order, amount, row.reason, row.reference, row.description))


def _id(rng: random.Random, kind: str) -> str:
    return f"{kind}_test_" + "".join(rng.choice(BASE62) for _ in range(ID_LENGTH))


def _price(rng: random.Random) -> int:
    # Shop prices: mostly whole hundreds, a fair share ending in 80 (¥1,980, ¥12,480).
    hundreds = rng.randint(MIN_YEN // 100 + 1, MAX_YEN // 100)
    return hundreds * 100 - (20 if rng.random() < 0.4 else 0)


def _split(rng: random.Random, amount: int, parts: int) -> list[int]:
    """``amount`` in ``parts`` positive captures (multiples of 10 except the last)."""
    cuts = sorted(rng.sample(range(10, amount, 10), parts - 1)) if parts > 1 else []
    bounds = [0, *cuts, amount]
    return [bounds[i + 1] - bounds[i] for i in range(parts)]


def _round_down(yen: int) -> int:
    return yen - yen % 10 if yen >= 10 else yen


def _prior(
    rng: random.Random, payment: dict[str, Any], amount: int, n: int, now_ms: int
) -> dict[str, Any]:
    return {
        "id": _id(rng, "refund"),
        "amount": amount,
        "reference": f"CS-{n:05d}",
        "reason": "requested_by_customer",
        "status": "succeeded",
        "description": "Refunded by customer service",
        # Never in the future of the sandbox clock, or "newest first" would look odd.
        "createdAt": min(payment["createdAt"] + rng.randrange(1, 5) * DAY_MS, now_ms - 1000),
    }


def _row_amount(rng: random.Random, remaining: int) -> int | None:
    if remaining == 0 or rng.random() < 0.33:
        return None
    if rng.random() < 0.3:
        return remaining
    return max(1, _round_down(rng.randint(1, remaining)))
