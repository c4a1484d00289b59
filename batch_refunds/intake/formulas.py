"""Find the cells of an ``.xlsx`` sheet that ``python-calamine`` reads as ``""`` but are not
empty: formulas without a calculated value, and error values such as ``#DIV/0!``.

python-calamine (0.9) exposes only cell values, and for both kinds it gives ``""``, the same
as for an empty cell. So the sheet's XML is read here: a formula is ``<c r="B2"><f>…</f>``,
its calculated value a non-empty ``<v>`` (``t="str"`` with an empty ``<v></v>`` is a formula
that calculated to empty text, which is what a person sees in Excel). A workbook written by
a program (openpyxl, a script) and never opened in Excel has ``<f>`` and no value.

On a sheet without formulas this is one pass of ``bytes.find`` over the decompressed XML,
about 0.2 s for 200,000 rows; ``read`` runs it in a thread while calamine (which releases
the GIL) reads the same sheet in about 1.1 s, so it adds little wall time. The detailed pass
runs only when a formula tag or an error cell is present.
"""

from __future__ import annotations

import html
import re
import zipfile
import zlib
from pathlib import Path
from xml.etree import ElementTree

from batch_refunds.errors import InputFileError
from batch_refunds.intake.cells import UnreadCell
from batch_refunds.intake.parts import sheet_part

_CHUNK = 1 << 22
_TAG_END = frozenset(b" />\t\r\n")
_CELL_REF = re.compile(rb"""\sr\s*=\s*["']([A-Za-z]{1,3})([0-9]{1,7})["']""")
_CELL_TYPE = re.compile(rb"""\st\s*=\s*["']([A-Za-z]+)["']""")
_ERROR_TYPES = (b' t="e"', b" t='e'")


def unread_cells(path: Path, sheet: str) -> dict[tuple[int, int], UnreadCell]:
    """``(row, column)`` → ``UnreadCell`` for the sheet named ``sheet``; rows count from 1 as
    Excel shows them, columns from 0. Empty for a workbook that is not Office Open XML."""
    try:
        with zipfile.ZipFile(path) as book:
            part = sheet_part(book, sheet)
            if part is None:
                return {}
            with book.open(part) as f:
                prefix = _namespace_prefix(f.read(4096))
            if not _has_formula_tag(book, part, prefix):
                return {}
            data = book.read(part)
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, KeyError, OSError,
            ElementTree.ParseError, ValueError) as exc:  # fmt: skip
        raise InputFileError(
            f"The workbook cannot be checked for formulas ({exc}).", code="input.unreadable"
        ) from None
    return _scan(data, prefix)


def _namespace_prefix(head: bytes) -> bytes:
    """``b"x:"`` when the root element is written ``<x:worksheet …>``, else ``b""``."""
    for match in re.finditer(rb"<([^?!/\s>][^\s>/]*)", head):
        name = match.group(1)
        return name.rsplit(b":", 1)[0] + b":" if b":" in name else b""
    return b""


def _has_formula_tag(book: zipfile.ZipFile, part: str, prefix: bytes) -> bool:
    """Whether a ``<f`` element (or an error cell) appears anywhere in the sheet's XML."""
    needle = b"<" + prefix + b"f"
    keep = len(needle)
    with book.open(part) as f:
        tail = b""
        while chunk := f.read(_CHUNK):
            buf = tail + chunk
            if any(t in buf for t in _ERROR_TYPES):
                return True
            pos = buf.find(needle)
            while 0 <= pos < len(buf) - keep:
                if buf[pos + keep] in _TAG_END:
                    return True
                pos = buf.find(needle, pos + 1)
            tail = buf[-(keep + 8) :]
    return False


def _scan(data: bytes, prefix: bytes) -> dict[tuple[int, int], UnreadCell]:
    p = re.escape(prefix)
    value = re.compile(rb"<" + p + rb"v(?:\s[^>]*)?>([^<]*)</" + p + rb"v>")
    formula = re.compile(rb"<" + p + rb"f(?:\s[^>]*)?(?:/>|>([^<]*)</" + p + rb"f>)")
    cell_open = b"<" + prefix + b"c"
    cell_close = b"</" + prefix + b"c>"
    found: dict[tuple[int, int], UnreadCell] = {}
    starts: set[int] = set()
    for needle in (b"<" + prefix + b"f", *_ERROR_TYPES):
        pos = data.find(needle)
        while pos >= 0:
            if needle[0:1] == b"<" and data[pos + len(needle) : pos + len(needle) + 1] not in (
                b" ",
                b">",
                b"/",
                b"\t",
                b"\r",
                b"\n",
            ):
                pos = data.find(needle, pos + 1)
                continue
            start = _cell_start(data, cell_open, pos)
            end = data.find(cell_close, pos)
            if start < 0 or end < 0:
                break
            if needle[0:1] != b"<" and b">" in data[start:pos]:
                pos = data.find(needle, pos + 1)  # not an attribute of this <c>
                continue
            if start not in starts:
                starts.add(start)
                _one_cell(data[start:end], value, formula, found)
            pos = data.find(needle, end)
    return found


def _cell_start(data: bytes, cell_open: bytes, pos: int) -> int:
    """Where the ``<c …>`` element enclosing ``pos`` starts (not ``<col`` or ``<cfRule``)."""
    start = data.rfind(cell_open, 0, pos)
    while start >= 0 and data[start + len(cell_open)] not in _TAG_END:
        start = data.rfind(cell_open, 0, start)
    return start


def _one_cell(
    cell: bytes,
    value: re.Pattern[bytes],
    formula: re.Pattern[bytes],
    found: dict[tuple[int, int], UnreadCell],
) -> None:
    start_tag = cell[: cell.find(b">") + 1]
    kind_match = _CELL_TYPE.search(start_tag)
    kind = kind_match.group(1) if kind_match else b"n"
    value_match = value.search(cell)
    cached = value_match.group(1) if value_match else None
    formula_match = formula.search(cell)
    empty = False
    if kind == b"e":
        error = html.unescape(cached.decode()) if cached else "#VALUE!"
    elif formula_match is None or (cached is not None and cached):
        return  # a value
    elif cached is not None and kind == b"str":
        error, empty = None, True  # the empty text a formula calculated: blank, unless amount
    else:
        error = None
    ref = _CELL_REF.search(start_tag)
    if ref is None:
        raise InputFileError(
            "The workbook has formula or error cells without a cell reference, so they can't "
            "be placed; open it in Excel and save it again.",
            code="input.formula",
        )
    text = formula_match.group(1) if formula_match else None
    shown = html.unescape(text.decode()) if text else None
    found[(int(ref.group(2)), _column_index(ref.group(1)))] = UnreadCell(shown, error, empty=empty)


def _column_index(letters: bytes) -> int:
    index = 0
    for letter in letters.upper():
        index = index * 26 + letter - 64
    return index - 1
