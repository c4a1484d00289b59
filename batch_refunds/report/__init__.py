"""The reconciliation report a run leaves behind: CSV and workbook for finance, JSON for tools.

``write_report`` renders a :class:`RunReport` (plain value objects; this package knows
nothing of the journal, HTTP or the CLI) into ``out_dir``::

    reconciliation.csv    one line per input row (UTF-8 with BOM, CRLF)
    reconciliation.xlsx   sheets Summary, Rows, Refunds
    summary.json          counts, totals, timings, request counts, the API and its mode
    needs_attention.csv   the input's own rows that did not end refunded (see
                          ``needs_attention``), when there are any and the input's layout
                          is known

Every text cell is neutralised against formula injection (see ``cells``); every file
appears atomically (see ``atomic``), and ``summary.json`` is renamed into place last.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from batch_refunds.report import needs_attention
from batch_refunds.report.atomic import Render, write_atomically
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

REPORT_NAMES = (SUMMARY_NAME, CSV_NAME, XLSX_NAME, *needs_attention.ALL_NAMES)
"""Every file a report may consist of: a folder holding any of them holds a report."""


def write_report(report: RunReport, out_dir: Path) -> ReportPaths:
    """Write the report files into ``out_dir`` (created if missing) and say where.

    Nothing is renamed into place until all of them rendered: if any fails, the previous
    report (or none) stays as it was and no temporary file is left behind.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = ReportPaths.in_directory(out_dir)
    files: list[tuple[Path, Render]] = [
        (paths.csv, lambda stream: write_csv(report, stream)),
        (paths.xlsx, lambda stream: write_xlsx(report, stream)),
    ]
    layout = report.layout
    if layout is not None and layout.header and needs_attention.attention_rows(report):
        attention = out_dir / needs_attention.file_name(layout)
        render: Render = (
            (lambda stream: needs_attention.write_workbook(report, layout, stream))
            if attention.suffix == ".xlsx"
            else (lambda stream: needs_attention.write_text(report, layout, stream))
        )
        files.append((attention, render))
        paths = replace(paths, needs_attention=attention)
    files.append((paths.summary, lambda stream: write_summary(report.summary, stream)))
    write_atomically(files)
    return paths
