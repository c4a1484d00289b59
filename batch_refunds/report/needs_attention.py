"""``needs_attention.csv`` (or ``.xlsx``): the input's own rows that did not end refunded.

Finance fixes these rows and feeds the file back in, so it is written the way the input
was: its header row as written, then every cell of each such row (a row wider than its
header stays as wide, so a split ``1,500`` is still refused, never read as ¥1), in the
input's format — a text file in its encoding and with its delimiter, a workbook as
``.xlsx`` on a sheet of the same name. Title rows above the header are not repeated. Text
cells are neutralised like the report's (``cells``): a cell the input held as ``=…`` or
``-…`` comes back with a leading ``'``.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from typing import BinaryIO

from xlsxwriter import Workbook

from batch_refunds.models import InputLayout, Status
from batch_refunds.report.cells import neutralise
from batch_refunds.report.model import RunReport, rows_in_order

STEM = "needs_attention"
ATTENTION = frozenset({Status.INVALID, Status.REJECTED, Status.HELD, Status.FAILED})
"""Rows that did not end refunded, already refunded or (in a plan) planned."""
WORKBOOK_FORMATS = frozenset({"xlsx", "xlsm", "xlsb", "xls", "ods"})
DEFAULT_SHEET = "Refunds"
LINE_TERMINATOR = "\r\n"
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_PLAIN_WHOLE = re.compile(r"[1-9][0-9]{0,14}|0")


def file_name(layout: InputLayout) -> str:
    """``needs_attention.csv``; ``.tsv`` for a TSV, ``.xlsx`` for any workbook."""
    if layout.format in WORKBOOK_FORMATS:
        return f"{STEM}.xlsx"
    return f"{STEM}.tsv" if layout.format == "tsv" else f"{STEM}.csv"


ALL_NAMES = (f"{STEM}.csv", f"{STEM}.tsv", f"{STEM}.xlsx")


def attention_rows(report: RunReport) -> list[int]:
    """The row numbers to write: those whose status asks a person to act."""
    return [o.row for o in rows_in_order(report) if o.status in ATTENTION]


def _lines(report: RunReport, layout: InputLayout) -> list[list[str]]:
    width = len(layout.header)
    lines = [[neutralise(cell) for cell in layout.header]]
    for row in attention_rows(report):
        cells = list(report.input_cells.get(row, ()))
        cells += [""] * (width - len(cells))
        lines.append([neutralise(cell) for cell in cells])
    return lines


def write_text(report: RunReport, layout: InputLayout, stream: BinaryIO) -> None:
    """The rows as the input's text file was written: its encoding (UTF-8 with a BOM when
    unknown, as Excel reads it) and delimiter, CRLF line ends."""
    encoding = layout.encoding or "utf-8-sig"
    text = io.TextIOWrapper(stream, encoding=encoding, newline="", errors="strict")
    try:
        writer = csv.writer(text, delimiter=layout.delimiter or ",",
                            lineterminator=LINE_TERMINATOR)  # fmt: skip
        writer.writerows(_lines(report, layout))
        text.flush()
    finally:
        text.detach()


def write_workbook(report: RunReport, layout: InputLayout, stream: BinaryIO) -> None:
    """The rows as an ``.xlsx`` with one sheet named as the one read. A cell holding a plain
    whole number (``1500``, no leading zero) is written as a number, as Excel would hold it;
    everything else as text (typed writes only: nothing becomes a formula or a link)."""
    with tempfile.TemporaryDirectory(
        prefix="batch-refunds-xlsx-", ignore_cleanup_errors=True
    ) as scratch:
        book = Workbook(stream, {"constant_memory": True, "tmpdir": scratch,
                                 "strings_to_formulas": False, "strings_to_urls": False,
                                 "strings_to_numbers": False})  # fmt: skip
        sheet = book.add_worksheet(_sheet_name(layout.sheet))
        for index, line in enumerate(_lines(report, layout)):
            for position, cell in enumerate(line):
                if not cell:
                    continue
                if index and _PLAIN_WHOLE.fullmatch(cell):
                    sheet.write_number(index, position, int(cell))
                else:
                    sheet.write_string(index, position, cell)
        book.close()


def _sheet_name(name: str | None) -> str:
    """A name Excel accepts: at most 31 characters, none of ``[]:*?/\\``."""
    cleaned = _SHEET_FORBIDDEN.sub("_", name or "").strip("'")[:31]
    return cleaned or DEFAULT_SHEET
