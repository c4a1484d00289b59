"""``reconciliation.csv``: one line per input row, for Excel (Japanese locale included).

UTF-8 *with* a BOM: without it, Japanese Excel opens UTF-8 as Shift_JIS and garbles every
Japanese message. Lines end in CRLF, as RFC 4180 and Excel's own "Save as CSV" do; the
file is opened with ``newline=""`` so a line break inside a quoted message stays a bare
``\\n`` and isn't doubled into ``\\r\\r\\n`` on Windows.
"""

from __future__ import annotations

import csv
import io
from typing import BinaryIO

from batch_refunds.report.model import RunReport, report_row_cells, rows_in_order

ENCODING = "utf-8-sig"  # writes the BOM before the first byte
LINE_TERMINATOR = "\r\n"


def write_csv(report: RunReport, stream: BinaryIO) -> None:
    """Write the CSV to ``stream`` (left open): header, then one line per row, by row number."""
    text = io.TextIOWrapper(stream, encoding=ENCODING, newline="")
    try:
        writer = csv.writer(text, lineterminator=LINE_TERMINATOR)
        writer.writerow(report.row_columns)
        writer.writerows(report_row_cells(report, outcome) for outcome in rows_in_order(report))
        text.flush()
    finally:
        text.detach()  # hand the stream back open: the caller fsyncs and closes it
