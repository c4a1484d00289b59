"""Bytes on disk → rows of cells, plus what was detected on the way.

Text files go through the ``csv`` module, Excel workbooks through ``python-calamine``; the
measurements behind both choices are in ``bench/bench_intake.py``. Every failure of a foreign
reader is translated into ``InputFileError`` here and nowhere else.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import itertools
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from pathlib import Path
from typing import cast

from batch_refunds.errors import ConfigError, InputFileError
from batch_refunds.intake.cells import UnreadCell
from batch_refunds.intake.columns import HEADER_SEARCH_ROWS, count_known, find_header
from batch_refunds.intake.extent import sheet_extent
from batch_refunds.intake.formulas import unread_cells
from batch_refunds.intake.limits import (
    MAX_CELL_CHARS,
    MAX_LINE_CHARS,
    MAX_ROWS,
    MAX_SNIFF_CHARS,
)

Cell = str | int | float | bool | date | time | timedelta | UnreadCell | None
"""What a cell holds: always ``str`` from text files, typed values from Excel (an
``UnreadCell`` where the workbook holds a formula without a value, or an error)."""
Row = Sequence[Cell]

EXCEL_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"})
DELIMITERS = (",", ";", "\t")

_ZIP_MAGIC = b"PK\x03\x04"  # xlsx, xlsm, ods
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # xls
_SCAN_CHUNK = 1 << 20
# Bytes decoded at a time: fewer characters than MAX_LINE_CHARS, which _Lines relies on.
# (At 512 KiB the peak memory of a million-row file grew by 10 MB: the allocator then
# keeps such buffers on its heap.)
_DECODE_CHUNK = 1 << 18
_SNIFF_LINES = HEADER_SEARCH_ROWS + 5


@dataclass(slots=True)
class Table:
    """A sheet or text file, positioned just below its header row.

    ``rows`` yields ``(row number as a person sees it, cells)`` and can be consumed once.
    """

    format: str
    encoding: str | None
    delimiter: str | None
    sheet: str | None
    sheet_names: tuple[str, ...]
    header_row: int
    header: Row
    rows: Iterator[tuple[int, Row]]
    unread: Mapping[tuple[int, int], UnreadCell] = field(default_factory=dict)
    """Workbook cells read as ``""`` that are not empty, by (row, column index)."""
    grid: list[list[Cell]] | None = None

    def mark_unread(self, columns: Collection[int]) -> int:
        """Put the ``unread`` cells of these columns into the rows not yet read; return how
        many. Rows and cells the reader dropped (all of them unread formulas) come back."""
        if self.grid is None:
            return 0
        marked = 0
        for (row, column), cell in sorted(self.unread.items()):
            if column not in columns or row <= self.header_row:
                continue
            while len(self.grid) < row:
                self.grid.append([])
            cells = self.grid[row - 1]
            if len(cells) <= column:
                cells.extend([""] * (column + 1 - len(cells)))
            cells[column] = cell
            marked += 1
        return marked


def read_table(
    path: Path,
    *,
    sheet: str | None = None,
    encoding: str | None = None,
    explicit: Mapping[str, str] | None = None,
) -> Table:
    """Open ``path`` and find its header; raise ``InputFileError`` if that is impossible.

    Text is anything that is not a workbook (``.csv``, ``.tsv``, ``.txt``, or no suffix).
    ``explicit`` (a ``columns.explicit_lookup``) makes headers the caller named count as
    known when looking for the header row.
    """
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except FileNotFoundError:
        raise InputFileError(f"No such file: {path}", code="input.not_found") from None
    except IsADirectoryError:
        raise InputFileError(f"{path} is a folder, not a file.") from None
    except OSError as exc:
        raise InputFileError(f"The file {path} cannot be opened ({exc.strerror}).") from None
    if not head.strip():
        with path.open("rb") as f:
            if not f.read(_SCAN_CHUNK).strip():
                raise InputFileError("The file is empty.", code="input.empty")
    suffix = path.suffix.lower()
    # The content decides, not the name: a workbook saved as ".csv" is still a workbook.
    if head.startswith((_ZIP_MAGIC, _OLE_MAGIC)):
        return _read_excel(path, sheet, explicit)
    if suffix in EXCEL_SUFFIXES:
        raise InputFileError(
            "The name says Excel, but the content is not a workbook.",
            code="input.unreadable",
        )
    if sheet is not None:
        raise ConfigError("--sheet applies to Excel workbooks only, not to text files.")
    return _read_text(path, head, encoding, explicit, prefer_tab=suffix == ".tsv")


# --- text -------------------------------------------------------------------------------


def _read_text(
    path: Path,
    head: bytes,
    encoding: str | None,
    explicit: Mapping[str, str] | None,
    *,
    prefer_tab: bool,
) -> Table:
    codec, too_long = _choose_encoding(path, head, encoding)
    if too_long is not None:
        raise InputFileError(
            f"Line {too_long:,} is longer than {MAX_LINE_CHARS:,} characters; a refund file has "
            "short lines. Check that this is the right file and that it is text.",
            code="input.line_too_long",
        )
    # Every line is known to be short, so iterating the file (at C speed) is bounded too.
    with _open_text(path, codec) as f:
        sample = _sample(f)
    delimiter, header_index = _sniff(sample, explicit, prefer_tab=prefer_tab)
    return Table(
        format="tsv" if delimiter == "\t" else "csv",
        encoding=codec,
        delimiter=delimiter,
        sheet=None,
        sheet_names=(),
        header_row=header_index + 1,
        header=_header_cells(sample, delimiter, header_index),
        rows=_text_rows(path, codec, delimiter, header_index),
    )


def _choose_encoding(path: Path, head: bytes, override: str | None) -> tuple[str, int | None]:
    """The codec, and the number of the first line longer than ``MAX_LINE_CHARS`` (or None)."""
    if override is not None:
        try:
            codec = codecs.lookup(override).name
        except LookupError:
            raise ConfigError(f"--encoding: unknown encoding {override!r}.") from None
        if (scanned := _decode(path, codec)) is None:
            raise InputFileError(
                f"The text is not readable as {override}; check --encoding.", code="input.encoding"
            )
        return codec, scanned.too_long
    if head.startswith(codecs.BOM_UTF8):
        codec = "utf-8-sig"
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        codec = "utf-16"
    else:
        # Japanese Excel saves "CSV" as CP932. Not shift_jis: that codec rejects ① and the
        # other NEC/IBM extensions CP932 has and Windows users type every day.
        for codec in ("utf-8", "cp932"):
            if (scanned := _decode(path, codec)) is not None:
                return codec, scanned.too_long
        raise InputFileError(
            "The text is neither UTF-8 nor CP932 (Shift-JIS); "
            "save it as CSV UTF-8 or pass --encoding.",
            code="input.encoding",
        )
    if (scanned := _decode(path, codec)) is None:
        raise InputFileError(f"The text is not valid {codec}.", code="input.encoding")
    return codec, scanned.too_long


def _decode(path: Path, codec: str) -> _Lines | None:
    """Decode the whole file in chunks, keeping nothing, so the choice never fails half-way;
    ``None`` when it is not ``codec``. On the way, the lines are measured."""
    decoder = codecs.getincrementaldecoder(codec)(errors="strict")
    lines = _Lines()
    try:
        with path.open("rb") as f:
            while chunk := f.read(_DECODE_CHUNK):
                lines.add(decoder.decode(chunk))
            lines.add(decoder.decode(b"", final=True))
    except UnicodeError:
        return None
    if lines.too_long_at is not None:
        lines.too_long = _line_number(path, codec, lines.too_long_at)
    return lines


class _Lines:
    """Line lengths, measured chunk by chunk as ``newline=""`` splits lines (at ``\\r``,
    ``\\n`` and ``\\r\\n``) with two searches per chunk: a line inside one chunk is shorter
    than the chunk, so only the line running across chunk edges needs adding up."""

    __slots__ = ("_offset", "_run", "too_long", "too_long_at")

    def __init__(self) -> None:
        self.too_long_at: int | None = None
        """Where (in characters) the first line longer than ``MAX_LINE_CHARS`` starts."""
        self.too_long: int | None = None
        """That line's number, worked out by ``_decode`` when there is one."""
        self._offset = 0  # characters before the text added next
        self._run = 0  # characters of the line that text continues

    def add(self, text: str) -> None:
        if self.too_long_at is not None or not text:
            return
        first = min((i for i in (text.find("\n"), text.find("\r")) if i >= 0), default=-1)
        if first < 0:
            self._run += len(text)
        elif self._run + first <= MAX_LINE_CHARS:
            self._run = len(text) - max(text.rfind("\n"), text.rfind("\r")) - 1
        else:
            self._run += first
        if self._run > MAX_LINE_CHARS:
            self.too_long_at = self._offset + (first if first >= 0 else len(text)) - self._run
        self._offset += len(text)


def _line_number(path: Path, codec: str, offset: int) -> int:
    """The number of the line starting ``offset`` characters into the file (a second pass,
    only when a line is too long)."""
    decoder = codecs.getincrementaldecoder(codec)(errors="replace")
    breaks = 0
    left = offset
    cr_before = False
    with path.open("rb") as f:
        while left > 0 and (chunk := f.read(_DECODE_CHUNK)):
            text = decoder.decode(chunk)[:left]
            left -= len(text)
            breaks += text.count("\n") + text.count("\r") - text.count("\r\n")
            if cr_before and text.startswith("\n"):
                breaks -= 1  # a "\r\n" cut between two chunks
            cr_before = text.endswith("\r")
    return breaks + 1


def _open_text(path: Path, codec: str) -> io.TextIOWrapper:
    # newline="" hands "\r\n" and quoted line breaks to the csv module untouched.
    return path.open("r", encoding=codec, newline="")


def _sample(f: io.TextIOWrapper) -> list[str]:
    """The first lines, for finding the delimiter and the header: at most ``_SNIFF_LINES``
    of them and, past the first, ``MAX_SNIFF_CHARS`` characters in all."""
    sample: list[str] = []
    size = 0
    for line in itertools.islice(f, _SNIFF_LINES):
        if sample and size + len(line) > MAX_SNIFF_CHARS:
            break
        sample.append(line)
        size += len(line)
    return sample


def _sniff(
    sample: list[str], explicit: Mapping[str, str] | None, *, prefer_tab: bool
) -> tuple[str, int]:
    """Pick the delimiter under which a header row names the most known columns."""
    order = ("\t", ",", ";") if prefer_tab else DELIMITERS
    best: tuple[int, int, str] | None = None  # (known columns, -preference, delimiter)
    for preference, delimiter in enumerate(order):
        rows = _parse_sample(sample, delimiter)
        index = find_header(rows, explicit)
        if index is None:
            continue
        known, _ = count_known(rows[index], explicit)
        candidate = (known, -preference, delimiter)
        if best is None or candidate > best:
            best = candidate
    if best is None:
        raise InputFileError(
            f"No header row in the first {HEADER_SEARCH_ROWS} lines: expected column names "
            'such as "order_id" and "amount" (or 注文ID and 返金額).',
            code="input.no_header",
        )
    delimiter = best[2]
    index = find_header(_parse_sample(sample, delimiter), explicit)
    assert index is not None
    return delimiter, index


def _parse_sample(sample: list[str], delimiter: str) -> list[list[str]]:
    """The sample's first rows under ``delimiter``, up to any line the csv module refuses."""
    rows: list[list[str]] = []
    reader = csv.reader(sample, delimiter=delimiter)
    with contextlib.suppress(csv.Error):
        rows.extend(itertools.islice(reader, HEADER_SEARCH_ROWS))
    return rows


def _header_cells(sample: list[str], delimiter: str, index: int) -> list[str]:
    return _parse_sample(sample, delimiter)[index]


def _text_rows(
    path: Path, codec: str, delimiter: str, header_index: int
) -> Iterator[tuple[int, Row]]:
    with _open_text(path, codec) as f:
        reader = csv.reader(f, delimiter=delimiter)
        try:
            for _ in itertools.islice(reader, header_index + 1):
                pass  # the title block and the header itself
            # Row numbers count records, as Excel shows them; they match an editor's line
            # numbers unless a quoted cell spans several lines.
            # zip stops at MAX_ROWS without taking a record beyond it from the reader.
            yield from zip(range(header_index + 2, MAX_ROWS + 1), reader, strict=False)
            if next(reader, None) is not None:
                raise InputFileError(
                    f"The file has more than {MAX_ROWS:,} rows (Excel's limit); line "
                    f"{reader.line_num:,} is beyond it. Split the file into smaller ones.",
                    code="input.too_many_rows",
                )
        except csv.Error as exc:
            raise _csv_error(exc, reader.line_num) from None


def _csv_error(exc: csv.Error, line: int) -> InputFileError:
    """The csv module's refusal as a message; a cell over its size limit gets its own code."""
    if "field larger than field limit" in str(exc):
        return InputFileError(
            f"Line {line:,} has a cell longer than {csv.field_size_limit():,} characters; a "
            f"cell holds at most {MAX_CELL_CHARS:,} (Excel's limit). Check for a quote (\") "
            "that is never closed.",
            code="input.cell_too_long",
        )
    return InputFileError(f"Line {line:,} cannot be read as CSV ({exc}).", code="input.unreadable")


# --- Excel ------------------------------------------------------------------------------


def _read_excel(path: Path, sheet: str | None, explicit: Mapping[str, str] | None) -> Table:
    grid, name, names, unread = _load_sheet(path, sheet)
    index = find_header(grid, explicit)
    if index is None:
        others = ", ".join(f'"{n}"' for n in names if n != name)
        hint = f" The workbook also has {others}; choose one with --sheet." if others else ""
        raise InputFileError(
            f'Sheet "{name}": no header row in the first {HEADER_SEARCH_ROWS} rows; expected '
            f'column names such as "order_id" and "amount" (or 注文ID and 返金額).{hint}',
            code="input.no_header",
        )
    suffix = path.suffix.lower().lstrip(".")
    return Table(
        format=suffix if f".{suffix}" in EXCEL_SUFFIXES else "xlsx",
        encoding=None,
        delimiter=None,
        sheet=name,
        sheet_names=names,
        header_row=index + 1,
        header=grid[index],
        # The grid starts at A1 (skip_empty_area=False), so list index + 1 is the sheet row.
        rows=_grid_rows(grid, index + 1),
        unread=unread,
        grid=grid,
    )


def _grid_rows(grid: list[list[Cell]], start: int) -> Iterator[tuple[int, Row]]:
    # The body runs on the first next(), after any mark_unread has appended dropped rows.
    for i in range(start, len(grid)):
        yield i + 1, grid[i]


def _is_zip(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == _ZIP_MAGIC


def _load_sheet(
    path: Path, sheet: str | None
) -> tuple[list[list[Cell]], str, tuple[str, ...], dict[tuple[int, int], UnreadCell]]:
    """The sheet's cells, its name, every sheet's name, and its unread cells.

    The unread cells are looked for in a thread while calamine reads the sheet: calamine
    releases the GIL, so the formula scan costs little wall time.
    """
    import python_calamine

    try:
        book = python_calamine.CalamineWorkbook.from_path(str(path))
        names = tuple(book.sheet_names)
        if sheet is not None and sheet not in names:
            listed = ", ".join(f'"{n}"' for n in names)
            raise InputFileError(
                f'No sheet named "{sheet}"; the workbook has {listed}.', code="input.sheet"
            )
        if not names:
            raise InputFileError("The workbook has no sheets.", code="input.empty")
        name = sheet if sheet is not None else names[0]
        zipped = _is_zip(path)
        # The reader builds the whole grid at once: its size is checked before it may.
        extent = sheet_extent(path, name) if zipped else None
        scan = _Background(path, name) if zipped else None
        # Typed as our Cell: mark_unread later puts UnreadCell values into these lists.
        grid = cast(
            "list[list[Cell]]", book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        )
        # The XML of .xlsx/.xlsm is at hand to check; .xls keeps a formula's last result.
        unread = scan.result() if scan is not None else {}
        if extent is not None:  # cells the reader would not place (<c r="A9999999"/>) go
            unread = {
                (row, column): cell
                for (row, column), cell in unread.items()
                if row <= extent.rows and column < extent.columns
            }
    except InputFileError:
        raise
    except (python_calamine.CalamineError, OSError, ValueError) as exc:
        raise InputFileError(
            f"The file cannot be read as a workbook ({exc}).", code="input.unreadable"
        ) from None
    except BaseException as exc:
        # A malformed file can make the Rust reader panic, surfacing as pyo3's PanicException,
        # which derives from BaseException; anything else (KeyboardInterrupt) passes through.
        if type(exc).__name__ != "PanicException":
            raise
        raise InputFileError(
            "The file cannot be read as a workbook (it is damaged).",
            code="input.unreadable",
        ) from None
    return grid, name, names, unread


class _Background:
    """``unread_cells(path, name)`` in a thread; ``result`` waits and re-raises its error."""

    def __init__(self, path: Path, name: str) -> None:
        self._result: dict[tuple[int, int], UnreadCell] = {}
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(path, name), daemon=True)
        self._thread.start()

    def _run(self, path: Path, name: str) -> None:
        try:
            self._result = unread_cells(path, name)
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc

    def result(self) -> dict[tuple[int, int], UnreadCell]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result
