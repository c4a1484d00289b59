"""Spreadsheet cell hygiene: keep a text cell from being read as a formula.

Excel (and LibreOffice, Google Sheets) evaluate a cell that starts with ``=``, ``+``,
``-`` or ``@`` as a formula, and tab/CR can smuggle one past a naive check. Anything in
a report that came from a spreadsheet or from Smartpay (references, messages, ids) is
untrusted, so every text cell goes through :func:`neutralise`. Pure: no I/O.

The full-width forms ``＝ ＋ － ＠`` (and the other compatibility forms that NFKC folds into
a trigger, such as the small ``﹦``) are triggers too. Whether Excel starts a formula at
one depends on the path the text takes: Japanese Excel folds full-width characters typed
or parsed into a General cell (``１２３`` becomes the number 123), and published accounts
disagree about ``＝`` itself. A file opened in Excel takes that path, and so does a cell a
person edits and confirms. The leading quote costs nothing where Excel would have shown
text anyway, so the doubt is resolved toward inert.
"""

from __future__ import annotations

import unicodedata

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet treat a text cell as a formula (OWASP list)."""

WIDE_TRIGGERS = ("＝", "＋", "－", "＠")
"""Full-width forms (U+FF1D, U+FF0B, U+FF0D, U+FF20) of the triggers, neutralised alike."""

QUOTE = "'"


def starts_formula(text: str) -> bool:
    """True when ``text`` begins with a trigger, or with a character NFKC folds into one."""
    if text.startswith(FORMULA_TRIGGERS):
        return True
    if not text or text[0].isascii():
        return False
    return unicodedata.normalize("NFKC", text[0]).startswith(FORMULA_TRIGGERS)


def neutralise(text: str) -> str:
    """Prefix ``'`` to text a spreadsheet would evaluate, per OWASP's CSV-injection advice.

    The quote is kept literally rather than as Excel's hidden "quote prefix" style so that
    the CSV and the workbook say the same thing, and a copy-paste out of either stays inert.
    """
    if starts_formula(text):
        return QUOTE + text
    return text


def text_cell(value: str | None) -> str | None:
    """A neutralised text cell; ``None`` and ``""`` both mean an empty cell."""
    if not value:
        return None
    return neutralise(value)
