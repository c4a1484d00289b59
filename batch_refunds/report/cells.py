"""Spreadsheet cell hygiene: keep a text cell from being read as a formula.

Excel (and LibreOffice, Google Sheets) evaluate a cell that starts with ``=``, ``+``,
``-`` or ``@`` as a formula, and tab/CR can smuggle one past a naive check. Anything in
a report that came from a spreadsheet or from Smartpay (references, messages, ids) is
untrusted, so every text cell goes through :func:`neutralise`. Pure: no I/O.
"""

from __future__ import annotations

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet treat a text cell as a formula (OWASP list)."""

QUOTE = "'"


def neutralise(text: str) -> str:
    """Prefix ``'`` to text a spreadsheet would evaluate, per OWASP's CSV-injection advice.

    The quote is kept literally rather than as Excel's hidden "quote prefix" style so that
    the CSV and the workbook say the same thing, and a copy-paste out of either stays inert.
    """
    if text.startswith(FORMULA_TRIGGERS):
        return QUOTE + text
    return text


def text_cell(value: str | None) -> str | None:
    """A neutralised text cell; ``None`` and ``""`` both mean an empty cell."""
    if not value:
        return None
    return neutralise(value)
