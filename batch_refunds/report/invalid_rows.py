"""``invalid_rows.csv``: the rows a spreadsheet got wrong, for ``validate --out`` and the
console's download alike (row, column, value, code, message)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path

from batch_refunds.models import RowError
from batch_refunds.report.cells import neutralise

INVALID_ROWS_FILE = "invalid_rows.csv"
HEADER = ("row", "column", "value", "code", "message")


def invalid_rows_text(errors: Iterable[RowError]) -> str:
    """The file's text. Its text cells are neutralised as the reconciliation report's are: a
    value such as ``=HYPERLINK(…)`` came from the file and must not become a formula."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for e in errors:
        writer.writerow((e.row, *map(neutralise, (e.column or "", e.value, e.code, e.message))))
    return out.getvalue()


def write_invalid_rows(errors: Iterable[RowError], directory: Path) -> Path:
    """Write ``invalid_rows.csv`` into ``directory``, UTF-8 with a BOM so that Excel shows
    Japanese values correctly when the file is double-clicked."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / INVALID_ROWS_FILE
    target.write_text(invalid_rows_text(errors), encoding="utf-8-sig", newline="")
    return target
