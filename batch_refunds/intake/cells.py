"""A cell whose value the workbook does not hold, marked so that no one reads it as blank.

``python-calamine`` gives ``""`` both for an empty cell and for a formula that was never
calculated (a workbook written by a program and never opened in Excel) or that shows an
error such as ``#DIV/0!``. An empty amount means "refund everything that remains", so such
a cell must never pass for an empty one: ``formulas`` finds them in the sheet's XML, and the
reader puts an ``UnreadCell`` in their place.
"""

from __future__ import annotations


class UnreadCell:
    """A formula without a calculated value (``error`` is None), or an error value."""

    __slots__ = ("error", "formula")

    def __init__(self, formula: str | None, error: str | None = None) -> None:
        self.formula = formula
        self.error = error

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
