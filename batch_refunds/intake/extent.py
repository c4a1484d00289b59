"""The grid an ``.xlsx``/``.xlsm`` sheet makes the Excel reader build, found before it does.

``python-calamine`` reads a sheet into one dense grid from its first to its farthest cell,
allocated in one go: a 2 KB workbook with one cell at XFD1048576 asks for 17 billion cells
and aborts the process (the reader is in Rust; nothing can catch that). It places cells by
their ``r`` attribute, or by counting ``<c>`` and ``<row>`` elements that have none (every
``<c/>`` moves the next cell one column on), and it ignores the sheet's ``<dimension>``, so
that cannot be trusted: the sheet's XML itself is read here first.

Most sheets are written the same way by every program (Excel, LibreOffice, openpyxl,
xlsxwriter): each ``<c>`` has ``r`` as its first attribute, so no cell is placed by
counting. Three regular expressions check that form, that every ``r`` however spelled stays
inside a grid of at most ``MAX_SHEET_CELLS``, and that no cell is written with another
namespace prefix: about 0.35 s for the 76 MB of a 200,000-row sheet of inline text, the
next chunk inflated in a thread meanwhile. Anything else, from a cell without ``r`` to a
far one, sends the sheet through an exact re-enactment of how the reader places cells,
slower (several seconds for such a sheet) but equally sure. The compressed bytes are
inflated here, not through ``zipfile``, which would stop at the size the archive declares,
where the reader goes on to the end of the data.
"""

from __future__ import annotations

import contextlib
import queue
import re
import struct
import threading
import zipfile
import zlib
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from xml.etree import ElementTree

from batch_refunds.errors import InputFileError
from batch_refunds.intake.limits import (
    MAX_ROWS,
    MAX_SHEET_CELLS,
    MAX_SHEET_COLUMNS,
    MAX_SHEET_XML_BYTES,
)
from batch_refunds.intake.parts import sheet_part

_CHUNK = 1 << 22
_READ = 1 << 18  # compressed bytes per read: small reads keep zlib's unconsumed tail short
_MAX_TAG_BYTES = 1 << 20
_LOCAL_HEADER = struct.Struct("<4s22xHH")
_DIMENSION = re.compile(
    rb"<(?:[\w.-]+:)?dimension\s+ref\s*=\s*[\"'](?:[A-Z]+[0-9]+:)?([A-Z]+)[0-9]+"
)
_ROOT = re.compile(rb"<([^?!/\s>][^\s>/]*)")
_ENCODING = re.compile(rb"^\s*<\?xml[^>]*\sencoding\s*=\s*[\"']([^\"']*)[\"']")
_ASCII_ENCODINGS = frozenset({b"utf-8", b"utf8", b"us-ascii", b"ascii"})
# For the exact re-enactment: where a <c>, <row> or </row> tag starts (any prefix), and
# the whole tag: its attributes (quoted values hold no "<") and whether it closes itself.
_TAG = re.compile(rb"<(?:/(?:[^\s/>:<]+:)*row|(?:[^\s/>:<]+:)*(?:c|row))(?=[\s/>])")
_FULL_TAG = re.compile(
    rb"<(?:(/)(?:[^\s/>:<]+:)*(row)\s*>|(?:[^\s/>:<]+:)*(c|row)(?=[\s/>])"
    rb"""((?:\s*[^\s=/>"'<]+\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(/?)>)"""
)
_R_ATTRIBUTE = re.compile(rb"""(?<![^\s"'])r\s*=\s*(?:"([^"<]*)"|'([^'<]*)')""")
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_COLUMNS: dict[bytes, int] = {}
_LETTERS = re.compile(rb"\sr=\"([A-Z]{1,3})[1-9]")
_ATTEMPTS = 3
_NARROW_COLUMNS = MAX_SHEET_CELLS // MAX_ROWS


@dataclass(frozen=True, slots=True)
class Extent:
    """How far a sheet's cells reach: its last row (as Excel numbers rows) and its number of
    columns from A. An upper bound: empty cells and the like are counted too."""

    rows: int
    columns: int

    @property
    def cells(self) -> int:
        return self.rows * self.columns


def sheet_extent(path: Path, sheet: str) -> Extent | None:
    """The extent of the sheet named ``sheet`` in the workbook at ``path``, or ``None`` when
    the workbook is not Office Open XML (``.ods``, ``.xlsb``).

    Raises ``InputFileError`` when the grid would pass ``MAX_ROWS``, ``MAX_SHEET_COLUMNS`` or
    ``MAX_SHEET_CELLS``, or when the XML can't be checked.
    """
    try:
        with zipfile.ZipFile(path) as book:
            part = sheet_part(book, sheet)
            if part is None:
                return None
            info = book.getinfo(part)
        with path.open("rb") as f:
            return _part_extent(f, info, sheet)
    except InputFileError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, KeyError, OSError,
            ElementTree.ParseError, ValueError) as exc:  # fmt: skip
        raise InputFileError(
            f"The workbook cannot be checked before it is read ({exc}).", code="input.unreadable"
        ) from None


# --- reading a part ---------------------------------------------------------------------


def _inflated(f: BinaryIO, info: zipfile.ZipInfo) -> Generator[bytes, None, None]:
    """The member's bytes as stored, inflated to the end of its data whatever size the
    archive declares, and refused past ``MAX_SHEET_XML_BYTES``."""
    if info.flag_bits & 0x1:
        raise InputFileError(
            "The workbook is encrypted (password-protected); save a copy without a password.",
            code="input.unreadable",
        )
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ValueError(f"compression method {info.compress_type}")
    f.seek(info.header_offset)
    signature, name_length, extra_length = _LOCAL_HEADER.unpack(f.read(_LOCAL_HEADER.size))
    if signature != b"PK\x03\x04":
        raise ValueError(f"no local header for {info.filename}")
    f.seek(info.header_offset + _LOCAL_HEADER.size + name_length + extra_length)
    left = info.compress_size
    inflate = zlib.decompressobj(-zlib.MAX_WBITS) if info.compress_type else None
    total = 0
    while left > 0:
        data = f.read(min(left, _READ))
        if not data:
            raise EOFError(f"{info.filename} ends early")
        left -= len(data)
        while data:
            if inflate is None:
                out, data = data, b""
            else:
                out = inflate.decompress(data, _CHUNK)
                data = inflate.unconsumed_tail
            total += len(out)
            if total > MAX_SHEET_XML_BYTES:
                raise InputFileError(
                    f"The sheet's XML is larger than {MAX_SHEET_XML_BYTES >> 20:,} MB once "
                    "unpacked; this is not a refund file Excel made.",
                    code="input.too_big",
                )
            if out:
                yield out
            if inflate is not None and inflate.eof:
                return


def _complete(chunks: Iterable[bytes]) -> Generator[bytes, None, None]:
    """The chunks re-cut so that none ends inside a tag: each regular expression below sees
    whole tags. A tag longer than ``_MAX_TAG_BYTES`` is refused."""
    tail = b""
    for chunk in chunks:
        buf = tail + chunk if tail else chunk
        cut = buf.rfind(b"<")
        if cut < 0 or buf.find(b">", cut) >= 0:
            cut = len(buf)
        if len(buf) - cut > _MAX_TAG_BYTES:
            raise InputFileError(
                f"The sheet's XML has a tag longer than {_MAX_TAG_BYTES >> 20} MB; this is not "
                "a refund file Excel made.",
                code="input.too_big",
            )
        if cut:
            yield buf[:cut]
        tail = buf[cut:]
    if tail:
        yield tail


def _part_extent(f: BinaryIO, info: zipfile.ZipInfo, sheet: str) -> Extent:
    """The fast check, with the columns the sheet seems to use, then with more if a wider
    cell turns up further down; the exact re-enactment for anything else."""
    columns = 0
    for _ in range(_ATTEMPTS):
        with contextlib.closing(_complete(_prefetched(_inflated(f, info)))) as chunks:
            first = next(chunks, b"")
            _check_encoding(first)
            root = _ROOT.search(first)
            if root is None:
                break
            columns = columns or _likely_columns(first)
            checks = _Checks(columns, root.group(1).rpartition(b":")[0])
            failed = next((c for c in _chained(first, chunks) if not checks.clean(c)), None)
        if failed is None:
            return Extent(checks.rows, checks.columns)
        wider = _widest(failed)
        if not columns < wider <= MAX_SHEET_COLUMNS:
            break
        columns = wider
    with contextlib.closing(_complete(_inflated(f, info))) as chunks:
        return _exact(chunks, sheet)


def _prefetched(chunks: Iterator[bytes]) -> Generator[bytes, None, None]:
    """``chunks``, inflated one ahead in a thread: zlib works without the GIL, so the next
    chunk unpacks while the regular expressions search this one."""
    ahead: queue.Queue[tuple[bytes | None, BaseException | None]] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def produce() -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    try:
                        ahead.put((chunk, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ahead.put((None, None))
        except BaseException as exc:  # handed to the consumer below
            ahead.put((None, exc))

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    try:
        while True:
            chunk, error = ahead.get()
            if error is not None:
                raise error
            if chunk is None:
                return
            yield chunk
    finally:
        stop.set()
        worker.join()


def _likely_columns(head: bytes) -> int:
    """How many columns the fast check allows: the widest the sheet's first part uses or its
    ``<dimension>`` declares. Only a guess: a wider cell later means another try. At least
    ``_NARROW_COLUMNS``, which allow ``MAX_ROWS`` rows all the same."""
    declared = _DIMENSION.search(head)
    columns = max(_NARROW_COLUMNS, _widest(head))
    if declared:
        columns = max(columns, _column_number(declared.group(1)))
    return min(columns, MAX_SHEET_COLUMNS)


def _widest(chunk: bytes) -> int:
    """The widest column any plainly written ``r`` in ``chunk`` names."""
    letters = max(set(_LETTERS.findall(chunk)), key=_column_number, default=b"")
    return _column_number(letters)


def _chained(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _check_encoding(head: bytes) -> None:
    """Refuse XML in an encoding whose tags are not ASCII bytes (UTF-16): it would pass the
    byte patterns here unseen."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    declared = _ENCODING.match(text)
    if (text and not text.startswith(b"<")) or (
        declared and declared.group(1).lower() not in _ASCII_ENCODINGS
    ):
        raise InputFileError(
            "The sheet's XML is not in UTF-8, as Excel writes it; open the file in Excel and "
            "save it again.",
            code="input.unreadable",
        )


class _Checks:
    """The fast check of a chunk: does every ``<c>`` start with ``r`` (so none is placed by
    counting, and rows do not matter), is every ``r`` anywhere inside the grid, and is no
    ``c`` element written with another namespace prefix (the reader would take it too)?"""

    def __init__(self, columns: int, prefix: bytes = b"") -> None:
        self.columns = columns
        self.rows = min(MAX_ROWS, MAX_SHEET_CELLS // columns)
        inside = rb"(?:" + letters_up_to(columns) + rb")?(?:" + numbers_up_to(self.rows) + rb")"
        checks = [
            rb"<c(?=[\s/>])(?! r=\")",
            # Any attribute named r, however spelled; the literal r first keeps it fast.
            rb"r(?<![\w:.-]r)\s*+=\s*+(?!\"" + inside + rb"\")[\"']",
        ]
        if prefix:  # <x:worksheet>: its cells are <x:c>, and any other prefix is suspect
            p = re.escape(prefix)
            checks += [
                rb"<" + p + rb":c(?=[\s/>])(?! r=\")",
                rb"(?<!<" + p + rb")(?<!/" + p + rb"):c[\s/>]",
            ]
        else:
            checks.append(rb":c[\s/>]")
        self._checks = tuple(map(re.compile, checks))

    def clean(self, chunk: bytes) -> bool:
        return not any(check.search(chunk) for check in self._checks)


# --- the exact re-enactment -------------------------------------------------------------


def _exact(chunks: Iterable[bytes], sheet: str) -> Extent:
    """Place every cell as the reader does and return the farthest place, refusing as soon
    as one is out of bounds. A ``<row>`` with ``r`` sets the row, ``</row>`` moves to the
    next; a ``<c>`` with ``r`` is placed there, one without takes the next column. A
    self-closing ``<c/>`` holds no value, so it takes no place in the grid, but it still
    moves the next cell on. A tag that can't be read is refused: its cell could be anywhere.
    """
    row = column = 0  # 0-based, as the reader counts
    rows = columns = 0
    for chunk in chunks:
        tags = _FULL_TAG.findall(chunk)
        if len(tags) != len(_TAG.findall(chunk)):
            raise InputFileError(
                "The sheet's XML has a cell the check can't read; open the file in Excel and "
                "save it again.",
                code="input.unreadable",
            )
        for closing, _, name, attributes, empty in tags:
            if closing:  # </row>
                row, column = row + 1, 0
                continue
            refs = [d or s for d, s in _R_ATTRIBUTE.findall(attributes)]
            if name == b"row":
                for ref in refs:
                    place = _reference(ref, need_column=False)
                    if place is not None:
                        row = place[0]  # the last one, as the reader takes it
                if empty:
                    row, column = row + 1, 0
                continue
            at = (row, column)
            if refs:  # several r attributes: the farthest of them, row and column
                places = [p for p in map(_reference, refs) if p is not None]
                if places:
                    at = (max(p[0] for p in places), max(p[1] for p in places))
            if not empty:
                if at[0] >= rows:
                    rows = at[0] + 1
                if at[1] >= columns:
                    columns = at[1] + 1
                if rows * columns > MAX_SHEET_CELLS or columns > MAX_SHEET_COLUMNS:
                    _refuse(rows, columns, at, sheet)
            column = at[1] + 1
    if rows > MAX_ROWS:
        _refuse(rows, columns, (rows - 1, 0), sheet)
    return Extent(rows, columns)


def _reference(ref: bytes, *, need_column: bool = True) -> tuple[int, int] | None:
    """``b"B3"`` → ``(2, 1)`` (0-based), as the reader reads it; ``None`` for what the reader
    refuses (it then fails with an error of its own, before building anything)."""
    digits = ref.lstrip(_ALPHABET)
    letters = ref[: len(ref) - len(digits)]
    digits = digits.lstrip(b"0")[:12]  # more digits are out of bounds anyway
    if not digits.isdigit() or (need_column and not letters):
        return None
    column = _COLUMNS.get(letters)
    if column is None:
        column = _column_number(letters)
        if len(_COLUMNS) < 1 << 16:
            _COLUMNS[letters] = column
    return int(digits) - 1, column - 1


def _refuse(rows: int, columns: int, at: tuple[int, int], sheet: str) -> None:
    cell = f"{column_letters(at[1] + 1)}{at[0] + 1}"
    raise InputFileError(
        f'Sheet "{sheet}" has a cell at {cell}, so reading it means a grid of {rows:,} rows '
        f"× {columns:,} columns ({rows * columns:,} cells), and at most "
        f"{MAX_SHEET_CELLS:,} cells ({MAX_ROWS:,} rows, {MAX_SHEET_COLUMNS:,} columns) are "
        "read. In Excel, Ctrl+End goes to the last cell: delete the rows and columns beyond "
        "your data and save the file again.",
        code="input.too_big",
    )


# --- references ---------------------------------------------------------------------------


def column_letters(number: int) -> str:
    """``1`` → ``"A"``, ``27`` → ``"AA"``, ``16384`` → ``"XFD"``."""
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters.upper()[:8]:  # more letters are out of bounds anyway
        number = number * 26 + letter - 64
    return number


def numbers_up_to(limit: int) -> bytes:
    """A regular expression for the whole numbers 1…``limit``, without leading zeros."""
    digits = str(limit).encode()
    length = len(digits)
    parts = [b"[1-9][0-9]{0,%d}" % (length - 2)] if length > 1 else []
    for i, digit in enumerate(digits):
        low = ord("1") if i == 0 else ord("0")
        if digit - 1 >= low:
            rest = length - i - 1
            tail = b"[0-9]{%d}" % rest if rest else b""
            parts.append(digits[:i] + b"[%c-%c]" % (low, digit - 1) + tail)
    parts.append(digits)
    return b"|".join(parts)


def letters_up_to(limit: int) -> bytes:
    """A regular expression for the column letters ``A``… up to column ``limit``."""
    letters = column_letters(limit).encode()
    parts = [b"[A-Z]{%d}" % k for k in range(1, len(letters))]
    for i, letter in enumerate(letters):
        if letter > ord("A"):
            rest = len(letters) - i - 1
            tail = b"[A-Z]{%d}" % rest if rest else b""
            parts.append(letters[:i] + b"[A-%c]" % (letter - 1) + tail)
    parts.append(letters)
    return b"|".join(parts)
