"""Cells as a person sees them, and the cells a workbook holds no value for.

``cell_text`` is the text of a cell as Excel or an editor shows it; ``KeptCells`` keeps the
rows a report will show. ``UnreadCell`` marks a cell whose value the workbook does not hold,
so that no one reads it as blank.

``python-calamine`` gives ``""`` both for an empty cell and for a formula that was never
calculated (a workbook written by a program and never opened in Excel) or that shows an
error such as ``#DIV/0!``. An empty amount means "refund everything that remains", so such
a cell must never pass for an empty one: ``formulas`` finds them in the sheet's XML, and the
reader puts an ``UnreadCell`` in their place.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date, time

from batch_refunds.intake.limits import MAX_AMOUNT_CHARS
from batch_refunds.models import Yen
from batch_refunds.money import YenParseError, parse_yen


class UnreadCell:
    """A formula without a calculated value (``error`` is None), an error value, or (with
    ``empty``) a formula Excel calculated to empty text — blank to a person, but in the amount
    column a blank means "refund everything", which no formula should decide."""

    __slots__ = ("empty", "error", "formula")

    def __init__(
        self, formula: str | None, error: str | None = None, *, empty: bool = False
    ) -> None:
        self.formula = formula
        self.error = error
        self.empty = empty

    def __str__(self) -> str:
        """What the cell holds, as far as anyone can tell: ``#DIV/0!`` or ``=B2*2``."""
        if self.error is not None:
            return self.error
        return f"={self.formula}" if self.formula else "=…"

    def __repr__(self) -> str:
        return f"UnreadCell({self.formula!r}, {self.error!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, UnreadCell):
            return NotImplemented
        return (self.formula, self.error) == (other.formula, other.error)

    def __hash__(self) -> int:
        return hash((self.formula, self.error))

    @property
    def message(self) -> str:
        """Why the row can't be used, and what to do about it."""
        if self.empty:
            return (
                f"The amount is the formula {self}, which gives an empty cell, and an empty "
                "amount refunds everything that remains. Type the amount; leave the cell truly "
                "empty only if a full refund is meant."
            )
        if self.error is not None:
            return (
                f"The cell shows the error {self.error}, not a value; fix the formula (or type "
                "the value) and save the file again."
            )
        return (
            f"The cell holds the formula {self} but no calculated value (the file was written "
            "by a program and never opened in Excel). Open it in Excel and save it, or type "
            "the value."
        )


def cell_text(cell: object) -> str:
    """A cell as the text a person sees: stripped, Excel numbers without a spurious ``.0``."""
    if isinstance(cell, str):
        return cell.strip()
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "TRUE" if cell else "FALSE"
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, date | time):
        return cell.isoformat()
    return str(cell)


def parse_amount(value: str | int | float) -> Yen:
    """``money.parse_yen``, after refusing text too long to be an amount (``MAX_AMOUNT_CHARS``):
    Python will not turn more than 4,300 digits into a number, and no amount is that long."""
    if isinstance(value, str) and len(value) > MAX_AMOUNT_CHARS:
        raise YenParseError(
            value,
            f"This cell has {len(value):,} characters, too many for an amount in yen "
            f"(at most {MAX_AMOUNT_CHARS}).",
        )
    return parse_yen(value)


class KeptCells(Mapping[int, tuple[str, ...]]):
    """Row number → that row's cells as a person sees them, cut or padded to the header.

    It holds the reader's own row lists (one pointer per row, nothing copied) and renders a
    row's text only when it is asked for. Rows that were blank or total lines are absent.
    """

    __slots__ = ("_count", "_cut", "_first", "_rows", "_width")

    def __init__(
        self, first: int, rows: Sequence[Sequence[object] | None], width: int, *, cut: bool = True
    ) -> None:
        self._first = first
        self._rows = rows
        self._width = width
        self._cut = cut
        self._count = sum(1 for cells in rows if cells is not None)

    def uncut(self) -> KeptCells:
        """The same rows with every cell a row has, padded to the header but never cut: a
        row wider than its header (an unquoted ``1,500``) written back must stay as wide."""
        return KeptCells(self._first, self._rows, self._width, cut=False)

    def __getitem__(self, row: int) -> tuple[str, ...]:
        i = row - self._first
        cells = self._rows[i] if 0 <= i < len(self._rows) else None
        if cells is None:
            raise KeyError(row)
        width = self._width
        shown = tuple(map(cell_text, cells[:width] if self._cut else cells))
        return shown + ("",) * (width - len(shown)) if len(shown) < width else shown

    def __iter__(self) -> Iterator[int]:
        first = self._first
        return (first + i for i, cells in enumerate(self._rows) if cells is not None)

    def __len__(self) -> int:
        return self._count
