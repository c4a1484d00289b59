"""The reconciliation report a run leaves behind: CSV and workbook for finance, JSON for tools.

``write_report`` renders a :class:`RunReport` (plain value objects; this package knows
nothing of the journal, HTTP or the CLI) into ``out_dir``::

    reconciliation.csv    one line per input row (UTF-8 with BOM, CRLF)
    reconciliation.xlsx   sheets Summary, Rows, Refunds
    summary.json          counts, totals, timings, request counts

Every text cell is neutralised against formula injection (see ``cells``); every file
appears atomically (see ``atomic``), and ``summary.json`` is renamed into place last.
"""

from __future__ import annotations

from pathlib import Path

from batch_refunds.report.atomic import write_atomically
from batch_refunds.report.csv_file import write_csv
from batch_refunds.report.model import (
    CSV_NAME,
    REFUND_COLUMNS,
    ROW_COLUMNS,
    SUMMARY_NAME,
    XLSX_NAME,
    ReportPaths,
    RunReport,
)
from batch_refunds.report.summary import summary_dict, write_summary
from batch_refunds.report.xlsx_file import write_xlsx

__all__ = [
    "CSV_NAME",
    "REFUND_COLUMNS",
    "ROW_COLUMNS",
    "SUMMARY_NAME",
    "XLSX_NAME",
    "ReportPaths",
    "RunReport",
    "summary_dict",
    "write_report",
]


def write_report(report: RunReport, out_dir: Path) -> ReportPaths:
    """Write the three report files into ``out_dir`` (created if missing) and say where.

    Nothing is renamed into place until all three rendered: if any fails, the previous
    report (or none) stays as it was and no temporary file is left behind.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = ReportPaths.in_directory(out_dir)
    write_atomically(
        [
            (paths.csv, lambda stream: write_csv(report, stream)),
            (paths.xlsx, lambda stream: write_xlsx(report, stream)),
            (paths.summary, lambda stream: write_summary(report.summary, stream)),
        ]
    )
    return paths
