"""The public entry: a spreadsheet path → typed refund requests plus row errors.

Never sends anything anywhere. Only a file that can't be used as a whole raises
(``InputFileError``, with a stable ``code``); every row problem is a ``RowError`` value.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from batch_refunds.intake.columns import ColumnMap, map_columns
from batch_refunds.intake.read import Table, read_table
from batch_refunds.intake.scan import scan_rows
from batch_refunds.intake.totals import total_notes
from batch_refunds.intake.validate import RowValidator
from batch_refunds.models import RefundRequest, RowError


@dataclass(frozen=True, slots=True)
class Detection:
    """What the loader worked out about the file, for a person to check."""

    format: str
    """``csv``, ``tsv``, ``xlsx``, ``xlsm``, ``xlsb``, ``xls`` or ``ods``."""
    encoding: str | None
    """Python codec name for text files (``utf-8``, ``utf-8-sig``, ``utf-16``, ``cp932``)."""
    delimiter: str | None
    sheet: str | None
    sheet_names: tuple[str, ...]
    header_row: int
    """The header's row number as a person sees it (1-based)."""
    columns: tuple[tuple[str, str], ...]
    """(header as written, canonical column) for every recognised column."""
    ignored_columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LoadResult:
    """Everything below the header, accounted for.

    Every row below the header is exactly one of: a request, an invalid row (one or more
    ``errors`` share its row number), a skipped blank row, or a skipped total line, so
    ``total_rows == len(requests) + len(invalid_rows) + skipped_blank_rows
    + skipped_total_rows``.
    """

    requests: tuple[RefundRequest, ...]
    errors: tuple[RowError, ...]
    detected: Detection
    warnings: tuple[str, ...]
    total_rows: int
    skipped_blank_rows: int
    skipped_total_rows: int = 0
    total_line_rows: tuple[int, ...] = ()
    """Row numbers of the skipped total lines (合計, Total, …)."""

    @property
    def invalid_rows(self) -> tuple[int, ...]:
        """Row numbers with at least one error, ascending."""
        return tuple(sorted({e.row for e in self.errors}))

    @property
    def full_refund_count(self) -> int:
        """Valid rows that leave the amount blank: refund everything that remains."""
        return sum(1 for r in self.requests if r.amount is None)

    @property
    def requested_yen(self) -> int:
        """The sum of the amounts written on valid rows (full refunds are not included)."""
        return sum(r.amount for r in self.requests if r.amount is not None)


def load_requests(
    path: str | Path,
    *,
    sheet: str | None = None,
    encoding: str | None = None,
    allow_duplicate_rows: bool = False,
) -> LoadResult:
    """Read a CSV/TSV/Excel file of refunds and validate every row.

    ``sheet`` picks an Excel sheet (default: the first), ``encoding`` overrides detection
    for text files, ``allow_duplicate_rows`` keeps identical rows as separate requests.
    Raises ``InputFileError`` for an unreadable file, a missing header or id column, and
    ``ConfigError`` for a misused option (``--sheet`` on a CSV, an unknown encoding).
    """
    table = read_table(Path(path), sheet=sheet, encoding=encoding)
    columns = map_columns(table.header, header_row=table.header_row)
    used = {i for _, i in columns.indices} | {i for _, i in columns.metadata}
    marked = table.mark_unread(used)
    text = table.delimiter is not None
    validator = RowValidator(columns, check_width=text, unread_cells=marked > 0)
    scan = scan_rows(
        table.rows, validator, allow_duplicate_rows=allow_duplicate_rows, text_cells=text
    )
    requests = tuple(scan.requests)
    errors = tuple(scan.errors)
    invalid_rows = sorted({e.row for e in errors})
    totals = total_notes(scan.total_lines, requests, invalid_rows, table.header_row + 1)
    return LoadResult(
        requests=requests,
        errors=errors,
        detected=_detection(table, columns),
        warnings=(*_warnings(table, columns), *totals),
        total_rows=scan.total_rows,
        skipped_blank_rows=scan.blank_rows,
        skipped_total_rows=len(scan.total_lines),
        total_line_rows=tuple(line.row for line in scan.total_lines),
    )


def _detection(table: Table, columns: ColumnMap) -> Detection:
    return Detection(
        format=table.format,
        encoding=table.encoding,
        delimiter=table.delimiter,
        sheet=table.sheet,
        sheet_names=table.sheet_names,
        header_row=table.header_row,
        columns=columns.headers,
        ignored_columns=columns.ignored,
    )


def _warnings(table: Table, columns: ColumnMap) -> tuple[str, ...]:
    warnings: list[str] = []
    if columns.ignored:
        listed = ", ".join(f'"{name}"' for name in columns.ignored)
        warnings.append(f"Ignored columns (not used for refunds): {listed}.")
    if len(table.sheet_names) > 1:
        warnings.append(
            f'The workbook has {len(table.sheet_names)} sheets; only "{table.sheet}" was read '
            "(choose another with --sheet)."
        )
    return tuple(warnings)
