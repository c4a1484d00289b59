"""``batch-refunds validate``: check a spreadsheet and say what would be refunded. No network."""

from __future__ import annotations

import argparse
import sys
import unicodedata
from pathlib import Path
from typing import Any, TextIO

from batch_refunds.cli.common import add_input_options, load_options
from batch_refunds.errors import ConfigError, InputFileError
from batch_refunds.intake import LoadResult, load_requests
from batch_refunds.models import RowError
from batch_refunds.money import format_yen
from batch_refunds.text import terminal_safe

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_UNREADABLE = 2

ERRORS_SHOWN = 20
INVALID_ROWS_FILE = "invalid_rows.csv"  # report.invalid_rows.INVALID_ROWS_FILE

_ENCODINGS = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 with BOM",
    "utf-16": 'UTF-16 ("Unicode text")',
    "cp932": "CP932 (Shift-JIS, Japanese Excel)",
}
_DELIMITERS = {",": "comma-separated", ";": "semicolon-separated", "\t": "tab-separated"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check a refund spreadsheet without sending anything",
        description="Check a CSV/Excel refund file and report what it asks for. "
        "Exit 0: every row is valid; 1: some rows are invalid; 2: the file can't be used.",
    )
    add_input_options(parser)
    parser.add_argument(
        "--out", metavar="DIR", type=Path, help=f"write every row error to DIR/{INVALID_ROWS_FILE}"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        result = load_requests(args.input, **load_options(args))
    except (InputFileError, ConfigError) as exc:
        print(terminal_safe(f"Cannot use {args.input}: {exc}"), file=sys.stderr)
        return EXIT_UNREADABLE
    print_summary(result, args.input, sys.stdout)
    if args.out is not None:
        written = write_invalid_rows(result, args.out)
        print(terminal_safe(f"\nEvery row error was written to {written}"))
    return EXIT_INVALID if result.errors else EXIT_VALID


def print_summary(result: LoadResult, path: Path, out: TextIO) -> None:
    """The human report: what was detected, the counts, and the first errors.

    Everything taken from the file (headers, values, the notes and messages that quote
    them) goes through ``terminal_safe``: a cell must not be able to drive the terminal."""
    d = result.detected
    p = out.write
    p(f"Checked {terminal_safe(str(path))} (nothing was sent to Smartpay)\n\n")
    if d.encoding is not None:
        delimiter = _DELIMITERS.get(d.delimiter or "", repr(d.delimiter))
        encoding = _ENCODINGS.get(d.encoding, d.encoding)
        p(f"  Format       {d.format.upper()}, {encoding}, {delimiter}\n")
    else:
        p(f'  Format       {d.format.upper()}, sheet "{terminal_safe(d.sheet or "")}"\n')
    p(f"  Header       row {d.header_row}\n")
    headers = [(_quoted(terminal_safe(header)), name) for header, name in d.columns]
    width = max(_width(header) for header, _ in headers) + 1
    for i, (header, name) in enumerate(headers):
        label = "Columns" if i == 0 else ""
        chosen = "  (--column)" if name in d.explicit_columns else ""
        p(f"  {label:<12} {_pad(header, width)} → {name}{chosen}\n")
    invalid = len(result.invalid_rows)
    p("\n")
    p(f"  Rows below the header   {result.total_rows:>9,}\n")
    p(f"    valid                 {len(result.requests):>9,}\n")
    p(f"    invalid               {invalid:>9,}\n")
    p(f"    blank (skipped)       {result.skipped_blank_rows:>9,}\n")
    if result.skipped_total_rows:
        p(f"    total lines (skipped) {result.skipped_total_rows:>9,}\n")
    p(f"  Full refunds (blank amount)  {result.full_refund_count:>4,}\n")
    p(f"  Amount requested        {format_yen(result.requested_yen):>9}")
    if result.full_refund_count:
        rows = _plural(result.full_refund_count, "full-refund row")
        p(f", plus everything that remains for the {rows}")
    p("\n")
    for warning in result.warnings:
        p(f"\nNote: {terminal_safe(warning)}\n")
    if result.errors:
        _print_errors(result, out)
    if not result.total_rows - result.skipped_blank_rows - result.skipped_total_rows:
        p("\nNo refund rows below the header.\n")
    elif not result.errors:
        p(f"\nAll {len(result.requests):,} rows are valid.\n")
    else:
        ready = len(result.requests)
        p(f"\n{_plural(invalid, 'row')} to fix; {ready:,} ready.\n")


def _print_errors(result: LoadResult, out: TextIO) -> None:
    shown = [_shown(e) for e in result.errors[:ERRORS_SHOWN]]
    more = len(result.errors) - len(shown)
    out.write(f"\nErrors ({len(shown)} of {len(result.errors):,}")
    out.write("; --out DIR writes them all to a CSV)\n" if more else ")\n")
    col_w = max(_width(e.column or "") for e in shown) + 2
    val_w = min(max(_width(_quoted(e.value)) for e in shown), 24) + 2
    row_w = len(f"row {max(e.row for e in shown)}") + 2
    for e in shown:
        out.write(
            f"  {_pad(f'row {e.row}', row_w)}{_pad(e.column or '', col_w)}"
            f"{_pad(_clip(_quoted(e.value), 24), val_w)}{e.message}\n"
        )


def _shown(e: RowError) -> RowError:
    """The error as it may be printed: its column (a header), value and message come from
    the file."""
    return RowError(
        e.row,
        terminal_safe(e.column) if e.column else e.column,
        terminal_safe(e.value),
        e.code,
        terminal_safe(e.message),
    )


def write_invalid_rows(result: LoadResult, directory: Path) -> Path:
    """Write ``invalid_rows.csv`` (row, column, value, code, message) into ``directory``."""
    # Imported here: the report package loads XlsxWriter, which validate needs only for --out.
    from batch_refunds.report.invalid_rows import write_invalid_rows as write

    return write(result.errors, directory)


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _quoted(value: str) -> str:
    return f'"{value}"'


def _clip(text: str, limit: int) -> str:
    return text if _width(text) <= limit else text[: limit - 2] + '…"'


def _width(text: str) -> int:
    """Terminal columns: Japanese full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(width - _width(text), 1)
