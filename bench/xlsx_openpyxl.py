"""The reconciliation workbook as openpyxl's write-only mode wrote it, before XlsxWriter.

Kept as the baseline of ``bench_report`` and as the reference ``tests/report`` compares the
current writer with, cell by cell. Not part of the package.

Written with openpyxl's write-only mode, which streams rows to disk instead of keeping a
cell object per value (hundreds of MB for a 50,000-row run). Its price is that column
widths, panes and styles must be set before the first row is appended. What remains is
openpyxl's own cost per cell (several microseconds), which dominates a large report.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, BinaryIO

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

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

SUMMARY_SHEET = "Summary"
ROWS_SHEET = "Rows"
REFUNDS_SHEET = "Refunds"
SUMMARY_COLUMNS = ("field", "value")
CREATOR = "batch-refunds"

Value = Cell | float  # a Summary value may be a duration in seconds

YEN_FORMAT = "#,##0"  # thousands separators on screen; the cell still holds the integer
SUMMARY_AMOUNT_FIELDS = frozenset(
    {"totals.requested", "totals.already_refunded", "totals.refunded"}
)

MIN_WIDTH = 8
MAX_WIDTH = 70  # a sha256 (64 hex digits) fits; longer messages wrap out of sight
FILTER_BUTTON_WIDTH = 3  # the autofilter arrow covers the end of a header
WIDTH_SAMPLE_ROWS = 1_000  # widths are cosmetic; scanning 50,000 rows for them is not free
REPLACEMENT = "\ufffd"
_ILLEGAL: re.Pattern[str] = ILLEGAL_CHARACTERS_RE
_ERROR_CODES = frozenset(ERROR_CODES)


def write_xlsx(report: RunReport, stream: BinaryIO) -> None:
    """Write the workbook to ``stream`` (left open)."""
    book = Workbook(write_only=True)
    book.properties.creator = CREATOR  # Excel shows it as the file's author
    book.properties.title = f"Reconciliation {report.summary.run_id}"
    _write_summary(book.create_sheet(SUMMARY_SHEET), report)
    _write_table(
        book.create_sheet(ROWS_SHEET),
        report.row_columns,
        ROW_AMOUNT_COLUMNS,
        [report_row_cells(report, outcome) for outcome in rows_in_order(report)],
    )
    _write_table(
        book.create_sheet(REFUNDS_SHEET),
        REFUND_COLUMNS,
        REFUND_AMOUNT_COLUMNS,
        [refund_cells(refund) for refund in refunds_in_order(report)],
    )
    book.save(stream)


def _write_summary(sheet: Any, report: RunReport) -> None:
    lines = [
        (field, _summary_value(value)) for field, value in flatten(summary_dict(report.summary))
    ]
    amount_rows = {i for i, (field, _) in enumerate(lines) if field in SUMMARY_AMOUNT_FIELDS}
    _write_table(sheet, SUMMARY_COLUMNS, frozenset(), lines, amount_rows=amount_rows)


def _write_table(
    sheet: Any,
    columns: Sequence[str],
    amount_columns: frozenset[str],
    lines: Sequence[Sequence[Value]],
    *,
    amount_rows: frozenset[int] | set[int] = frozenset(),
) -> None:
    """Header bold, frozen and filterable; amount cells integers shown as ``#,##0``."""
    amount_at = frozenset(i for i, name in enumerate(columns) if name in amount_columns)
    widths = _widths(columns, lines[:WIDTH_SAMPLE_ROWS], amount_at)
    for letter, width in zip(_letters(len(columns)), widths, strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for name in columns:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    yen = _YenCells(sheet)
    all_amounts = frozenset(range(len(columns)))
    for index, line in enumerate(lines):
        sheet.append(_cells(sheet, yen, line, all_amounts if index in amount_rows else amount_at))
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(lines) + 1}"


def _summary_value(value: object) -> Value:
    if isinstance(value, str):
        return neutralise(value)
    if value is None or isinstance(value, int | float):
        return value
    raise TypeError(f"summary value of unexpected type {type(value).__name__}")


class _YenCells:
    """One ``#,##0`` cell per column, refilled for every row.

    Write-only mode serialises a row inside ``append()``, so a styled cell is free to be
    reused for the next row; building 200,000 fresh styled cells for a 50,000-row report
    costs about a second, for nothing.
    """

    def __init__(self, sheet: Any) -> None:
        self._sheet = sheet
        self._by_column: dict[int, Any] = {}

    def holding(self, position: int, value: int | float) -> object:
        cell = self._by_column.get(position)
        if cell is None:
            cell = self._by_column[position] = WriteOnlyCell(self._sheet)
            cell.number_format = YEN_FORMAT
        cell.value = value
        return cell


def _cells(
    sheet: Any, yen: _YenCells, line: Sequence[Value], amount_at: frozenset[int]
) -> list[object]:
    """Plain values where openpyxl gets them right; a prepared cell object where it wouldn't."""
    cells: list[object] = list(line)
    for position, value in enumerate(line):
        if isinstance(value, str):
            if value in _ERROR_CODES or _ILLEGAL.search(value):
                cells[position] = _text(sheet, value)
        elif value is not None and position in amount_at:
            cells[position] = yen.holding(position, value)
    return cells


def _text(sheet: Any, value: str) -> object:
    # openpyxl refuses XML-illegal control characters outright, and would store "#N/A" as an
    # error value rather than text; a report must render whatever Smartpay said.
    cell = WriteOnlyCell(sheet, value=_ILLEGAL.sub(REPLACEMENT, value))
    cell.data_type = "s"
    return cell


def _letters(count: int) -> Iterable[str]:
    return (get_column_letter(i) for i in range(1, count + 1))


def _widths(
    columns: Sequence[str], lines: Sequence[Sequence[Value]], amount_at: frozenset[int]
) -> list[float]:
    """Fit the longest value (CJK counted double), within [MIN_WIDTH, MAX_WIDTH]."""
    widths = [len(name) + FILTER_BUTTON_WIDTH for name in columns]
    for line in lines:
        for position, value in enumerate(line):
            if value is None:
                continue
            yen = isinstance(value, int) and position in amount_at
            shown = f"{value:,}" if yen else str(value)
            widths[position] = max(widths[position], _display_width(shown))
    return [float(min(MAX_WIDTH, max(MIN_WIDTH, w + 1))) for w in widths]


def _display_width(text: str) -> int:
    # UTF-8 length is a C-speed proxy for "wide" characters: CJK takes 3 bytes and 2 columns.
    extra = len(text.encode("utf-8")) - len(text)
    return len(text) + extra // 2
