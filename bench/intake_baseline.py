"""The intake benchmark's baseline: ``pandas.read_csv`` and a plain validation loop.

What a careful engineer would write without this project: pandas reads the file as text
(every cell a ``str``, blanks as ``""``), then one loop makes the checks ``validate`` makes
on such a file: blank rows skipped, an order id of the right shape, the amount in whole yen
(``¥1,500``, ``1,500`` and full-width digits accepted, a comma only between thousands,
fractions, zero, negatives and more than ¥100,000,000 refused), the reason one of the
accepted spellings, description and reference at most 255 characters and metadata values
at most 200, no control character in any of them, and no duplicate of an earlier row. Each
valid row is kept as a tuple, each problem as ``(row, column, message)``.

It stands alone (no import of ``batch_refunds``), so making the tool faster never makes
the baseline faster. ``python -m bench.intake_baseline [--no-gc] FILE`` prints the counts;
``--no-gc`` turns the cyclic garbage collector off first, as ``validate`` does while it
scans, which a plain loop would not but a tuned one might.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from decimal import Decimal, InvalidOperation

ORDER_ID = re.compile(r"order_(?:test|live)_[0-9A-Za-z]{1,100}")
GROUPED = re.compile(r"[+-]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?")
UNSAFE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069\u2028\u2029]"
)
REASONS = {
    "requested_by_customer": "requested_by_customer",
    "顧客都合": "requested_by_customer",
    "お客様都合": "requested_by_customer",
    "fraudulent": "fraudulent",
    "不正": "fraudulent",
}
MAX_YEN = 100_000_000
DECORATION = str.maketrans("", "", "¥\\円, \t\u3000")


def parse_yen(text: str) -> int:
    """Whole yen from a non-blank cell, or ``ValueError`` with the reason."""
    if text.isdigit() and text.isascii() and len(text) <= 40:  # the common case, cheaply
        value = int(text)
        if not 0 < value <= MAX_YEN:
            raise ValueError("out of range")
        return value
    if len(text) > 40:
        raise ValueError("too long for an amount")
    text = unicodedata.normalize("NFKC", text)
    if "," in text and not GROUPED.fullmatch(text.translate(str.maketrans("", "", "¥\\円 "))):
        raise ValueError("a comma here does not separate thousands")
    try:
        value = Decimal(text.translate(DECORATION))
    except InvalidOperation:
        raise ValueError("not an amount in yen") from None
    if not value.is_finite() or value != value.to_integral_value():
        raise ValueError("not a whole number of yen")
    if not 0 < value <= MAX_YEN:
        raise ValueError("out of range")
    return int(value)


def clean(text: str) -> bool:
    return text.isprintable() or UNSAFE.search(text) is None


def validate(path: str) -> tuple[list[tuple[object, ...]], list[tuple[int, str, str]], int]:
    import pandas as pd

    frame = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False)
    header = list(frame.columns)
    columns = [frame[name].tolist() for name in header]
    del frame
    at = {name: i for i, name in enumerate(header)}
    metadata = [(name.removeprefix("metadata."), at[name]) for name in header
                if name.startswith("metadata.")]  # fmt: skip
    requests: list[tuple[object, ...]] = []
    errors: list[tuple[int, str, str]] = []
    seen: set[tuple[object, ...]] = set()
    blank = 0
    for row, cells in enumerate(zip(*columns, strict=True), start=2):
        if not any(cell.strip() for cell in cells):
            blank += 1
            continue
        problems = []
        order = cells[at["order_id"]].strip()
        if not ORDER_ID.fullmatch(order):
            problems.append((row, "order_id", "not an order id"))
        text = cells[at["amount"]].strip()
        amount = None
        if text:
            try:
                amount = parse_yen(text)
            except ValueError as exc:
                problems.append((row, "amount", str(exc)))
        reason_text = cells[at["reason"]].strip()
        reason = REASONS.get(reason_text) if reason_text else "requested_by_customer"
        if reason is None:
            problems.append((row, "reason", "unknown reason"))
        description = cells[at["description"]].strip()
        reference = cells[at["reference"]].strip()
        for name, value in (("description", description), ("reference", reference)):
            if len(value) > 255:
                problems.append((row, name, "too long"))
            elif not clean(value):
                problems.append((row, name, "control character"))
        pairs = []
        for key, i in metadata:
            value = cells[i].strip()
            if value:
                if len(value) > 200 or not clean(value):
                    problems.append((row, f"metadata.{key}", "bad metadata value"))
                pairs.append((key, value))
        if problems:
            errors.extend(problems)
            continue
        key = (order, amount, reference)
        if key in seen:
            errors.append((row, "order_id", "duplicate"))
            continue
        seen.add(key)
        requests.append(
            (
                row,
                order,
                amount,
                "JPY",
                reason,
                description or None,
                reference or None,
                tuple(pairs),
            )
        )
    return requests, errors, blank


if __name__ == "__main__":
    if "--no-gc" in sys.argv:  # as validate does: a million tuples, no reference cycles
        import gc

        gc.disable()
    valid, invalid, blanks = validate(sys.argv[-1])
    print(f"{len(valid)} valid, {len(invalid)} errors, {blanks} blank")
