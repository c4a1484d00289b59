"""Total lines (合計, 小計, ``Total:``…): recognised, skipped, and checked against the rows.

A finance sheet often ends a block with a total. It names no order, so it can refund
nothing; it is skipped with a note rather than reported as a broken row. When it holds an
amount, that amount is compared with the sum of the amounts written on the valid rows above
it (back to the previous total line): a difference usually means a row was lost or mistyped.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from batch_refunds.models import RefundRequest, Yen
from batch_refunds.money import format_yen

_LABEL = re.compile(
    r"(?:総合計|合計|小計|総計|総額|計|grandtotal|subtotal|total|totals|sum)(?:金額|額|amount)?"
)
_QUALIFIER = re.compile(r"\([^()]*\)|\[[^\[\]]*\]|【[^】]*】")
_SQUEEZE = str.maketrans("", "", " \t\u3000-_:.。")
LISTED = 5


def is_total_label(text: str) -> bool:
    """``合計``, ``小計``, ``総計``, ``計``, ``Total``, ``Subtotal``, ``Grand total``, ``Sum``,
    also with ``金額``/``額``/``amount`` after them, a ``:`` and qualifiers in brackets."""
    key = _QUALIFIER.sub("", unicodedata.normalize("NFKC", text)).casefold().translate(_SQUEEZE)
    return bool(_LABEL.fullmatch(key))


@dataclass(frozen=True, slots=True)
class TotalLine:
    """A skipped total line: its row, its label, and its amount when that reads as yen."""

    row: int
    label: str
    amount: Yen | None
    amount_shown: str
    """The amount cell as a person sees it ("" when blank)."""


def total_notes(
    lines: Sequence[TotalLine],
    requests: Sequence[RefundRequest],
    invalid_rows: Sequence[int],
    first_row: int,
) -> list[str]:
    """One note naming the skipped total lines, then a warning for each that disagrees with
    the rows above it. ``first_row`` is the first row below the header."""
    if not lines:
        return []
    rows = [line.row for line in lines]
    labels = sorted({line.label for line in lines})
    listed = [str(r) for r in rows[:LISTED]]
    if len(rows) > LISTED:
        listed.append(f"{len(rows) - LISTED} more")
    shown = listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " and " + listed[-1]
    label_text = ", ".join(labels[:LISTED])
    if len(rows) == 1:
        notes = [f"Row {shown} ({label_text}) is a total line, not a refund; it was skipped."]
    else:
        notes = [f"Rows {shown} ({label_text}) are total lines, not refunds; they were skipped."]
    request_rows = [r.row for r in requests]
    start = first_row
    for line in lines:
        if line.amount is not None:
            note = _mismatch(line, start, requests, request_rows, invalid_rows)
            if note:
                notes.append(note)
        elif line.amount_shown:
            notes.append(
                f'Row {line.row} is a total line, but its amount "{line.amount_shown}" is not '
                "a number of yen, so it could not be checked against the rows above it."
            )
        start = line.row + 1
    return notes


def _mismatch(
    line: TotalLine,
    start: int,
    requests: Sequence[RefundRequest],
    request_rows: Sequence[int],
    invalid_rows: Sequence[int],
) -> str | None:
    end = line.row - 1
    lo, hi = bisect.bisect_left(request_rows, start), bisect.bisect_right(request_rows, end)
    block = requests[lo:hi]
    written = sum(r.amount for r in block if r.amount is not None)
    if written == line.amount:
        return None
    full = sum(1 for r in block if r.amount is None)
    invalid = bisect.bisect_right(invalid_rows, end) - bisect.bisect_left(invalid_rows, start)
    assert line.amount is not None
    total = format_yen(line.amount)
    if end < start:
        return f"Row {line.row} is a total line of {total}, but no rows come before it to add up."
    span = f"row {start} holds" if start == end else f"rows {start}–{end} add up to"
    asides = []
    if invalid:
        asides.append(f"{invalid} row{' is' if invalid == 1 else 's are'} invalid")
    if full:
        asides.append(
            f"{full} {'is a full refund' if full == 1 else 'are full refunds'} "
            "with no amount written"
        )
    aside = f" ({'; '.join(asides)})" if asides else ""
    return f"Row {line.row} is a total line of {total}, but {span} {format_yen(written)}{aside}."
