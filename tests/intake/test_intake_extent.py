"""A workbook sheet's grid is checked before the Excel reader builds it.

Everything here calls ``sheet_extent`` (pure Python) or the reader on small sheets only; the
one test that lets the reader near a hostile workbook runs it in a subprocess, so that a
regression aborting the interpreter fails that test instead of killing pytest.
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batch_refunds.errors import InputFileError
from batch_refunds.intake import extent, load_requests
from batch_refunds.intake.extent import (
    Extent,
    column_letters,
    letters_up_to,
    numbers_up_to,
    sheet_extent,
)
from batch_refunds.intake.limits import MAX_ROWS, MAX_SHEET_CELLS, MAX_SHEET_COLUMNS

_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_HEAD = (
    '<row r="1"><c r="A1" t="inlineStr"><is><t>order_id</t></is></c>'
    '<c r="B1" t="inlineStr"><is><t>amount</t></is></c></row>'
    '<row r="2"><c r="A2" t="inlineStr"><is><t>order_test_A1</t></is></c>'
    '<c r="B2" t="n"><v>100</v></c></row>'
)


def workbook(path: Path, cells: str, *, sheet_xml: str | None = None, head: str = "") -> Path:
    """A minimal .xlsx whose one sheet "S" holds ``cells`` inside <sheetData> (or the whole
    ``sheet_xml``), ``head`` before it."""
    sheet = sheet_xml or (
        f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{_NS}">{head}'
        f"<sheetData>{cells}</sheetData></worksheet>"
    )
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="xml" ContentType="application/xml"/>'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/></Types>',
        )
        z.writestr(
            "_rels/.rels",
            '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            f'package/2006/relationships"><Relationship Id="rId1" Type="{rel}/officeDocument" '
            'Target="xl/workbook.xml"/></Relationships>',
        )
        z.writestr(
            "xl/workbook.xml",
            f'<?xml version="1.0"?><workbook xmlns="{_NS}" xmlns:r="{rel}"><sheets>'
            '<sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            f'package/2006/relationships"><Relationship Id="rId1" Type="{rel}/worksheet" '
            'Target="worksheets/sheet1.xml"/></Relationships>',
        )
        z.writestr("xl/worksheets/sheet1.xml", sheet)
    return path


_FAR = '<row r="1048576"><c r="XFD1048576" t="n"><v>2</v></c></row>'
HOSTILE = {
    "as Excel writes it": _FAR,
    "single quotes": "<row r='1048576'><c r='XFD1048576' t='n'><v>2</v></c></row>",
    "spaces around =": '<row r="3"><c r = "XFD1048576" t="n"><v>2</v></c></row>',
    "a tab before r": '<row r="3"><c\tr="XFD1048576" t="n"><v>2</v></c></row>',
    "r not first, no space": '<row r="3"><c t="n"r="XFD1048576"><v>2</v></c></row>',
    "lower case": '<row r="3"><c r="xfd1048576" t="n"><v>2</v></c></row>',
    "a second r": '<row r="3"><c r="A3" r="XFD1048576" t="n"><v>2</v></c></row>',
    "leading zeros": '<row r="3"><c r="XFD0001048576" t="n"><v>2</v></c></row>',
    "a row number only": '<row r="1048576"><c t="n"><v>2</v></c></row><row r="3">'
    '<c r="ZZ3"><v>1</v></c></row>',
    "cells counted by <c/>": '<row r="3">' + "<c/>" * 16_000 + '<c t="n"><v>2</v></c></row>'
    '<row r="900000"><c r="A900000"><v>1</v></c></row>',
    "rows counted by <row/>": "<row/>" * 5_000 + '<row><c r="A1"/><c><v>1</v></c></row>'
    '<row r="6000"><c r="ZZZ6000"><v>1</v></c></row>',
    "a prefixed cell": f'<row r="3"><y:c xmlns:y="{_NS}" r="XFD1048576"><v>2</v></y:c></row>',
    "prefixed cells counted": f'<row r="3" xmlns:y="{_NS}">'
    + "<y:c/>" * 16_000
    + '<y:c><y:v>2</y:v></y:c></row><row r="900000"><c r="A900000"><v>1</v></c></row>',
    "a > inside a value": '<row r="3"><c foo="a>b" r="XFD1048576"><v>2</v></c></row>',
    "a row beyond Excel's": '<row r="1048577"><c r="A1048577"><v>2</v></c></row>',
    "a column beyond XFD": '<row r="3"><c r="XFE3"><v>2</v></c></row>',
}


@pytest.mark.parametrize("cells", list(HOSTILE.values()), ids=list(HOSTILE))
def test_a_sheet_reaching_past_the_grid_bound_is_refused(tmp_path: Path, cells: str) -> None:
    """However the reference is spelled, or counted, a cell that makes the grid exceed
    MAX_SHEET_CELLS, MAX_ROWS or MAX_SHEET_COLUMNS is refused (input.too_big), naming it."""
    path = workbook(tmp_path / "h.xlsx", _HEAD + cells)
    with pytest.raises(InputFileError) as caught:
        sheet_extent(path, "S")
    assert caught.value.code == "input.too_big"
    assert re.search(r"has a cell at [A-Z]+[0-9]+", caught.value.message)
    assert f"at most {MAX_SHEET_CELLS:,} cells" in caught.value.message


def test_a_dimension_that_lies_does_not_hide_a_far_cell(tmp_path: Path) -> None:
    """<dimension ref="A1:B2"> above a cell at XFD1048576: the cell, not the claim, counts."""
    path = workbook(tmp_path / "d.xlsx", _HEAD + _FAR, head='<dimension ref="A1:B2"/>')
    with pytest.raises(InputFileError, match="XFD1048576"):
        sheet_extent(path, "S")


def test_an_inflated_dimension_alone_is_not_refused(tmp_path: Path) -> None:
    """Excel's used range can reach far because of formatting; the reader places only cells,
    so a big <dimension> over a small sheet reads."""
    path = workbook(tmp_path / "d.xlsx", _HEAD, head='<dimension ref="A1:XFD1048576"/>')
    found = sheet_extent(path, "S")
    assert found is not None
    assert found.cells <= MAX_SHEET_CELLS
    assert [r.amount for r in load_requests(path).requests] == [100]


def test_a_far_empty_styled_cell_takes_no_place(tmp_path: Path) -> None:
    """<c r="XFD1048576" s="1"/> holds no value: the reader skips it, and so does the check
    (the sheet then goes the exact way, and is read)."""
    cells = _HEAD + '<row r="1048576"><c r="XFD1048576" s="1"/></row>'
    path = workbook(tmp_path / "e.xlsx", cells)
    assert sheet_extent(path, "S") == Extent(2, 2)
    assert [r.amount for r in load_requests(path).requests] == [100]


def test_a_far_self_closing_error_cell_does_not_grow_the_grid(tmp_path: Path) -> None:
    """An error cell the reader drops (<c r="A9999999" t="e"/>) is not put back at row
    9,999,999 by the formula check."""
    cells = _HEAD + '<row r="9999999"><c r="A9999999" t="e"/></row>'
    path = workbook(tmp_path / "f.xlsx", cells)
    result = load_requests(path)
    assert [r.amount for r in result.requests] == [100]
    assert result.total_rows == 1


def test_a_sheet_within_the_bounds_is_read(tmp_path: Path) -> None:
    """A sheet as programs write it passes the fast check, with the grid it allows."""
    path = workbook(tmp_path / "ok.xlsx", _HEAD, head='<dimension ref="A1:B2"/>')
    found = sheet_extent(path, "S")
    assert found is not None
    assert found.rows * found.columns <= MAX_SHEET_CELLS
    assert found.rows >= 2
    assert found.columns >= 2


def test_a_wider_cell_further_down_widens_the_fast_check(tmp_path: Path) -> None:
    """A column used only far down the sheet is allowed for (another fast pass), not
    refused and not sent the slow way."""
    rows = "".join(
        f'<row r="{i}"><c r="A{i}" t="inlineStr"><is><t>{"x" * 200}</t></is></c></row>'
        for i in range(3, 40_000)
    )
    cells = _HEAD + rows + '<row r="40000"><c r="AB40000"><v>1</v></c></row>'
    path = workbook(tmp_path / "w.xlsx", cells)
    calls: list[int] = []
    real = extent._exact

    def counting(*args: object) -> Extent:
        calls.append(1)
        return real(*args)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(extent, "_exact", counting)
        found = sheet_extent(path, "S")
    assert found is not None
    assert found.columns >= 28
    assert found.rows >= 40_000
    assert calls == []


def test_a_prefixed_worksheet_is_checked(tmp_path: Path) -> None:
    """<x:worksheet> with <x:c> cells: a far cell is refused, a normal sheet reads."""

    def sheet(cells: str) -> str:
        return (
            f'<?xml version="1.0"?><x:worksheet xmlns:x="{_NS}"><x:sheetData>{cells}'
            "</x:sheetData></x:worksheet>"
        )

    near = '<x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>order_id</x:t></x:is></x:c></x:row>'
    path = workbook(tmp_path / "p.xlsx", "", sheet_xml=sheet(near))
    assert sheet_extent(path, "S") is not None
    far = near + '<x:row r="3"><x:c r="XFD1048576"><x:v>1</x:v></x:c></x:row>'
    path = workbook(tmp_path / "q.xlsx", "", sheet_xml=sheet(far))
    with pytest.raises(InputFileError, match="XFD1048576"):
        sheet_extent(path, "S")
    counted = near + '<x:row r="3">' + "<x:c/>" * 16_000 + "<x:c><x:v>1</x:v></x:c></x:row>"
    counted += '<x:row r="900000"><x:c r="A900000"><x:v>1</x:v></x:c></x:row>'
    path = workbook(tmp_path / "r.xlsx", "", sheet_xml=sheet(counted))
    with pytest.raises(InputFileError, match="A900000"):
        sheet_extent(path, "S")


def test_utf16_sheet_xml_is_refused(tmp_path: Path) -> None:
    """XML whose tags are not ASCII bytes would pass the byte patterns unseen: refused."""
    xml = f'<?xml version="1.0" encoding="UTF-16"?><worksheet xmlns="{_NS}"><sheetData>'
    xml += _FAR + "</sheetData></worksheet>"
    path = tmp_path / "u.xlsx"
    workbook(path, "", sheet_xml="placeholder")
    with zipfile.ZipFile(path) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    parts["xl/worksheets/sheet1.xml"] = xml.encode("utf-16")
    with zipfile.ZipFile(path, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    with pytest.raises(InputFileError, match="not in UTF-8"):
        sheet_extent(path, "S")


def test_part_names_differing_only_in_case_are_refused(tmp_path: Path) -> None:
    """The reader finds parts whatever their case: two such names could hide a sheet."""
    path = workbook(tmp_path / "c.xlsx", _HEAD)
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("xl/worksheets/Sheet1.xml", "<worksheet/>")
    with pytest.raises(InputFileError, match="two parts named"):
        sheet_extent(path, "S")


def test_a_relationship_in_another_case_is_followed(tmp_path: Path) -> None:
    """A target written SHEET1.xml is the part sheet1.xml, as the reader takes it."""
    path = workbook(tmp_path / "c.xlsx", _HEAD + _FAR)
    with zipfile.ZipFile(path) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    rels = "xl/_rels/workbook.xml.rels"
    parts[rels] = parts[rels].replace(b"sheet1.xml", b"SHEET1.xml")
    with zipfile.ZipFile(path, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    with pytest.raises(InputFileError, match="XFD1048576"):
        sheet_extent(path, "S")


def test_the_data_is_inflated_to_its_end_whatever_size_is_declared(tmp_path: Path) -> None:
    """The reader inflates all the compressed data; so does the check, even when the
    archive declares a smaller size."""
    path = workbook(tmp_path / "s.xlsx", _HEAD + _FAR)
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("xl/worksheets/sheet1.xml")
        whole = z.read(info)
    info.file_size = 10
    with path.open("rb") as f:
        assert b"".join(extent._inflated(f, info)) == whole


def test_xlsx_without_a_part_for_the_sheet_is_refused(tmp_path: Path) -> None:
    """A sheet listed in the workbook with no part behind it can't be checked: refused."""
    path = workbook(tmp_path / "m.xlsx", _HEAD)
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist() if n != "xl/worksheets/sheet1.xml"}
    with zipfile.ZipFile(path, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    with pytest.raises(InputFileError) as caught:
        sheet_extent(path, "S")
    assert caught.value.code == "input.unreadable"


def test_the_hostile_workbook_is_refused_in_a_subprocess(tmp_path: Path) -> None:
    """openpyxl's one cell at XFD1048576 (a few KB): validate exits 2 with the message, where
    the reader alone aborted the process asking for 512 GB."""
    from openpyxl import Workbook

    path = tmp_path / "hostile.xlsx"
    book = Workbook()
    sheet = book.active
    sheet.append(["order_id", "amount"])
    sheet.append(["order_test_A1", 100])
    sheet["XFD1048576"] = "x"
    book.save(path)
    assert path.stat().st_size < 10_000
    done = subprocess.run(
        [sys.executable, "-m", "batch_refunds", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "has a cell at XFD1048576" in done.stderr
    assert "Traceback" not in done.stderr


# --- the regular expressions and the re-enactment ------------------------------------------


@given(st.integers(min_value=1, max_value=20_000_000), st.integers(min_value=0, max_value=10**9))
def test_numbers_up_to_matches_exactly_one_to_the_limit(limit: int, number: int) -> None:
    """numbers_up_to(n) matches 1…n written plainly, nothing else (no 0, no leading zero)."""
    pattern = re.compile(b"(?:" + numbers_up_to(limit) + b")")
    for n in (number, limit, limit + 1, limit - 1, number % (limit + 2)):
        assert (pattern.fullmatch(str(n).encode()) is not None) == (1 <= n <= limit)
    assert pattern.fullmatch(b"0" + str(limit).encode()) is None


@given(st.integers(min_value=1, max_value=MAX_SHEET_COLUMNS), st.integers(1, 20_000))
def test_letters_up_to_matches_exactly_the_columns_to_the_limit(limit: int, column: int) -> None:
    """letters_up_to(n) matches the column letters of 1…n, upper case, nothing else."""
    pattern = re.compile(b"(?:" + letters_up_to(limit) + b")")
    for c in (column, limit, limit + 1, max(limit - 1, 1)):
        letters = column_letters(c).encode()
        assert (pattern.fullmatch(letters) is not None) == (c <= limit)
    assert pattern.fullmatch(column_letters(limit).lower().encode()) is None


def test_column_letters() -> None:
    """1 → A, 26 → Z, 27 → AA, 16384 → XFD."""
    assert [column_letters(n) for n in (1, 26, 27, 702, 703, 16_384)] == [
        "A", "Z", "AA", "ZZ", "AAA", "XFD",
    ]  # fmt: skip


_SPELLINGS = st.sampled_from(['r="{}"', "r='{}'", 'r = "{}"', '\tr="{}"', 'r="{}" r="{}"'])


@st.composite
def _cells_xml(draw: st.DrawFn) -> str:
    """A small sheet in any of the spellings the reader accepts: refs in every form or none,
    self-closing cells and rows, rows without r."""
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        cells = []
        for _ in range(draw(st.integers(0, 5))):
            ref = ""
            if draw(st.booleans()):
                where = f"{column_letters(draw(st.integers(1, 30)))}{draw(st.integers(1, 40))}"
                other = f"{column_letters(draw(st.integers(1, 30)))}{draw(st.integers(1, 40))}"
                ref = " " + draw(_SPELLINGS).format(where, other)
            if draw(st.booleans()):
                cells.append(f"<c{ref}/>")
            else:
                cells.append(f'<c{ref} t="n"><v>{draw(st.integers(1, 9))}</v></c>')
        row_ref = f' r="{draw(st.integers(1, 40))}"' if draw(st.booleans()) else ""
        if not cells and draw(st.booleans()):
            rows.append(f"<row{row_ref}/>")
        else:
            rows.append(f"<row{row_ref}>{''.join(cells)}</row>")
    return "".join(rows)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_cells_xml())
def test_the_check_never_underestimates_the_readers_grid(cells: str) -> None:
    """For any small sheet the reader accepts, its grid fits in the extent found, by the fast
    check and by the exact re-enactment alike (the reader itself is the oracle)."""
    import tempfile

    import python_calamine

    with tempfile.TemporaryDirectory() as folder:
        path = workbook(Path(folder) / "p.xlsx", cells)
        try:
            grid = (
                python_calamine.CalamineWorkbook.from_path(str(path))
                .get_sheet_by_name("S")
                .to_python(skip_empty_area=False)
            )
        except python_calamine.CalamineError:
            return  # the reader refuses it (row 0 and the like): nothing to build
        rows = len(grid)
        columns = max((len(row) for row in grid), default=0)
        found = sheet_extent(path, "S")
        assert found is not None
        assert rows <= found.rows
        assert columns <= found.columns or rows == 0
        with zipfile.ZipFile(path) as z:
            data = z.read("xl/worksheets/sheet1.xml")
        exact = extent._exact([data], "S")
        assert rows <= exact.rows
        assert columns <= exact.columns or rows == 0


def test_max_rows_is_excels_and_the_cell_bound_allows_it_for_narrow_sheets() -> None:
    """Ten columns of 1,048,576 rows are over the bound; nine are within it."""
    assert MAX_ROWS == 1_048_576
    assert MAX_ROWS * 9 <= MAX_SHEET_CELLS < MAX_ROWS * 10
