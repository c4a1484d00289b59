"""``reconciliation.xlsx``: sheets ``Summary``, ``Rows`` and ``Refunds``, for finance in Excel.

Written with XlsxWriter in ``constant_memory`` mode: each row goes to disk as soon as the
next one starts, so a 50,000-row report holds one row of cells at a time. It takes about
two thirds of the CPU time openpyxl's write-only mode took with lxml (half without), and
less memory (``bench/bench_report.py``). The mode writes every string inline and rows
strictly in order, which is how this file is built anyway.

Every cell goes in through a typed method (``write_string``/``write_number``), never the
generic ``write``: that one would turn text starting with ``=`` into a formula and text
starting with ``http://`` into a link, and a report must render whatever Smartpay said.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from datetime import tzinfo
from typing import Any, BinaryIO

from xlsxwriter import Workbook

from batch_refunds.report.cells import neutralise
from batch_refunds.report.model import (
    REFUND_AMOUNT_COLUMNS,
    REFUND_COLUMNS,
    ROW_AMOUNT_COLUMNS,
    Cell,
    RunReport,
    refund_cells,
    refunds_in_order,
    report_row_cells,
    rows_in_order,
)
from batch_refunds.report.summary import flatten, summary_dict
from batch_refunds.report.zones import shown_time

SUMMARY_SHEET = "Summary"
ROWS_SHEET = "Rows"
REFUNDS_SHEET = "Refunds"
SUMMARY_COLUMNS = ("field", "value")
CREATOR = "batch-refunds"

Value = Cell | float  # a Summary value may be a duration in seconds

YEN_FORMAT = "#,##0"  # thousands separators on screen; the cell still holds the integer
TIME_FIELDS = frozenset({"started_at", "finished_at"})
"""Shown in the report's zone; ``summary.json`` keeps them in UTC."""
SUMMARY_AMOUNT_FIELDS = frozenset(
    {"totals.requested", "totals.already_refunded", "totals.refunded"}
)

MIN_WIDTH = 8
MAX_WIDTH = 70  # a sha256 (64 hex digits) fits; longer messages wrap out of sight
FILTER_BUTTON_WIDTH = 3  # the autofilter arrow covers the end of a header
WIDTH_SAMPLE_ROWS = 1_000  # widths are cosmetic; scanning 50,000 rows for them is not free
DIGIT_PX = 7
"""Pixels of a digit in the default font (Calibri 11). A width given in pixels is stored as
``pixels / DIGIT_PX`` characters, exactly the number computed here; XlsxWriter's
``set_column`` would instead add Excel's cell padding to it."""
REPLACEMENT = "\ufffd"
# The C0 controls XML 1.0 cannot hold (tab, LF and CR it can). They become U+FFFD rather
# than XlsxWriter's _xHHHH_ escapes, which a reader other than Excel shows as typed.
_ILLEGAL = re.compile(r"[\000-\010\013\014\016-\037]")


def write_xlsx(report: RunReport, stream: BinaryIO) -> None:
    """Write the workbook to ``stream`` (left open).

    XlsxWriter keeps each sheet's rows in a named temporary file until ``close`` assembles
    the archive, and leaves those files behind if anything fails before that; they live in
    a directory of our own, removed however this ends. (On Windows a row file XlsxWriter
    still holds open can't be deleted; the error the write stopped for matters more, so a
    failed clean-up never replaces it.)
    """
    with tempfile.TemporaryDirectory(
        prefix="batch-refunds-xlsx-", ignore_cleanup_errors=True
    ) as scratch:
        book = Workbook(
            stream,
            {
                "constant_memory": True,
                "tmpdir": scratch,
                # Belt and braces: only typed writes are used, which never convert.
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        book.set_properties({"title": f"Reconciliation {report.summary.run_id}", "author": CREATOR})
        formats = _Formats(book)
        _write_summary(book.add_worksheet(SUMMARY_SHEET), formats, report)
        _write_table(
            book.add_worksheet(ROWS_SHEET),
            formats,
            report.row_columns,
            ROW_AMOUNT_COLUMNS,
            [report_row_cells(report, outcome) for outcome in rows_in_order(report)],
        )
        _write_table(
            book.add_worksheet(REFUNDS_SHEET),
            formats,
            REFUND_COLUMNS,
            REFUND_AMOUNT_COLUMNS,
            [refund_cells(refund, report.zone) for refund in refunds_in_order(report)],
        )
        book.close()  # only now is anything written to ``stream``


class _Formats:
    """The workbook's two cell formats (XlsxWriter formats belong to one workbook)."""

    def __init__(self, book: Any) -> None:
        self.bold = book.add_format({"bold": True})
        self.yen = book.add_format({"num_format": YEN_FORMAT})


def _write_summary(sheet: Any, formats: _Formats, report: RunReport) -> None:
    lines = [
        (field, _summary_value(_shown(field, value, report.zone)))
        for field, value in flatten(summary_dict(report.summary))
    ]
    amount_rows = {i for i, (field, _) in enumerate(lines) if field in SUMMARY_AMOUNT_FIELDS}
    _write_table(sheet, formats, SUMMARY_COLUMNS, frozenset(), lines, amount_rows=amount_rows)


def _write_table(
    sheet: Any,
    formats: _Formats,
    columns: Sequence[str],
    amount_columns: frozenset[str],
    lines: Sequence[Sequence[Value]],
    *,
    amount_rows: frozenset[int] | set[int] = frozenset(),
) -> None:
    """Header bold, frozen and filterable; amount cells integers shown as ``#,##0``."""
    amount_at = frozenset(i for i, name in enumerate(columns) if name in amount_columns)
    widths = _widths(columns, lines[:WIDTH_SAMPLE_ROWS], amount_at)
    for position, width in enumerate(widths):
        sheet.set_column_pixels(position, position, width * DIGIT_PX)
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, len(lines), len(columns) - 1)
    bold = formats.bold
    for position, name in enumerate(columns):
        sheet.write_string(0, position, _text(name), bold)
    all_amounts = frozenset(range(len(columns)))
    write_string = sheet.write_string
    write_number = sheet.write_number
    yen = formats.yen
    for index, line in enumerate(lines, start=1):
        money = all_amounts if index - 1 in amount_rows else amount_at
        for position, value in enumerate(line):
            if value is None:
                continue
            if type(value) is str:
                write_string(index, position, _text(value))
            elif position in money:
                write_number(index, position, value, yen)
            elif type(value) is int or type(value) is float:
                write_number(index, position, value)
            elif isinstance(value, str):  # a str enum (``Mode``, ``Status``): its text
                write_string(index, position, _text(str(value)))
            else:
                raise TypeError(f"cell of unexpected type {type(value).__name__}: {value!r}")


def _shown(field: str, value: object, zone: tzinfo) -> object:
    return shown_time(value, zone) if field in TIME_FIELDS and isinstance(value, str) else value


def _summary_value(value: object) -> Value:
    if isinstance(value, str):
        return neutralise(value)
    if value is None or isinstance(value, int | float):
        return value
    raise TypeError(f"summary value of unexpected type {type(value).__name__}")


def _text(value: str) -> str:
    # Most cells hold no control character; the search is cheaper than the substitution.
    return _ILLEGAL.sub(REPLACEMENT, value) if _ILLEGAL.search(value) else value


def _widths(
    columns: Sequence[str], lines: Sequence[Sequence[Value]], amount_at: frozenset[int]
) -> list[int]:
    """Fit the longest value (CJK counted double), within [MIN_WIDTH, MAX_WIDTH]."""
    widths = [len(name) + FILTER_BUTTON_WIDTH for name in columns]
    for line in lines:
        for position, value in enumerate(line):
            if value is None:
                continue
            yen = isinstance(value, int) and position in amount_at
            shown = f"{value:,}" if yen else str(value)
            widths[position] = max(widths[position], _display_width(shown))
    return [min(MAX_WIDTH, max(MIN_WIDTH, w + 1)) for w in widths]


def _display_width(text: str) -> int:
    # UTF-8 length is a C-speed proxy for "wide" characters: CJK takes 3 bytes and 2 columns.
    extra = len(text.encode("utf-8")) - len(text)
    return len(text) + extra // 2
