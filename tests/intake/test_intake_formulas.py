"""Workbook cells calamine reads as "" but that are not empty: never a blank (full) amount."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import Workbook

from batch_refunds.errors import InputFileError
from batch_refunds.intake import load_requests
from batch_refunds.intake.formulas import unread_cells

SHEET = "xl/worksheets/sheet1.xml"


def _book(path: Path, rows: list[list[object]]) -> Path:
    """Save rows with openpyxl, which writes formulas ("=…") without a calculated value."""
    book = Workbook()
    sheet = book.active
    sheet.title = "Refunds"
    for row in rows:
        sheet.append(row)
    book.save(path)
    # With lxml installed openpyxl writes the empty value as <v></v>, without it as <v/>;
    # the tests below edit the latter.
    return _edit(path, lambda xml: xml.replace("<v></v>", "<v/>"))


def _edit(path: Path, change: Callable[[str], str]) -> Path:
    """Rewrite the sheet's XML, as another program (or Excel) would have written it."""
    with zipfile.ZipFile(path) as src:
        parts = {info.filename: src.read(info) for info in src.infolist()}
    parts[SHEET] = change(parts[SHEET].decode()).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in parts.items():
            out.writestr(name, data)
    return path


HEADER = ["order_id", "amount", "reference"]


def test_a_formula_amount_without_a_value_is_a_row_error(tmp_path: Path) -> None:
    """=1000+500 never calculated: input.formula on that row, not a full refund."""
    path = _book(
        tmp_path / "f.xlsx",
        [HEADER, ["order_test_A1", "=1000+500", "R1"], ["order_test_A2", 700, "R2"]],
    )
    result = load_requests(path)
    assert [(r.row, r.amount) for r in result.requests] == [(3, 700)]
    [error] = result.errors
    assert (error.row, error.column, error.code, error.value) == (
        2,
        "amount",
        "input.formula",
        "=1000+500",
    )
    assert "never opened in Excel" in error.message
    assert result.full_refund_count == 0


def test_a_formula_id_without_a_value_is_a_formula_error_not_a_missing_id(tmp_path: Path) -> None:
    """An uncalculated id is reported as the formula it is."""
    path = _book(tmp_path / "f.xlsx", [HEADER, ['=CONCAT("order_test_","A1")', 100, "R1"]])
    [error] = load_requests(path).errors
    assert (error.column, error.code) == ("order_id", "input.formula")


def test_a_formula_with_a_calculated_value_is_read_as_that_value(tmp_path: Path) -> None:
    """Excel saves the result in <v>: that value is the amount."""
    path = _book(tmp_path / "f.xlsx", [HEADER, ["order_test_A1", "=1000+500", "R1"]])
    _edit(path, lambda xml: xml.replace("<v />", "<v>1500</v>").replace("<v/>", "<v>1500</v>"))
    result = load_requests(path)
    assert [r.amount for r in result.requests] == [1500]
    assert result.errors == ()


def test_an_error_value_is_a_row_error(tmp_path: Path) -> None:
    """A cell showing #DIV/0! (with or without its formula) is input.formula, not blank."""
    path = _book(
        tmp_path / "f.xlsx", [HEADER, ["order_test_A1", 1, "R1"], ["order_test_A2", 2, "R2"]]
    )
    _edit(
        path,
        lambda xml: re.sub(
            r'<c r="B3"[^>]*><v>2</v></c>',
            '<c r="B3" t="e"><v>#N/A</v></c>',
            re.sub(
                r'<c r="B2"[^>]*><v>1</v></c>',
                '<c r="B2" t="e"><f>1/0</f><v>#DIV/0!</v></c>',
                xml,
            ),
        ),
    )
    result = load_requests(path)
    assert [(e.row, e.code, e.value) for e in result.errors] == [
        (2, "input.formula", "#DIV/0!"),
        (3, "input.formula", "#N/A"),
    ]
    assert result.requests == ()


def test_a_formula_that_calculated_to_empty_text_is_blank(tmp_path: Path) -> None:
    """t="str" with an empty <v></v> is what Excel shows: an empty cell."""
    path = _book(tmp_path / "f.xlsx", [HEADER, ["order_test_A1", 100, '=IF(1,"",1)']])
    _edit(path, lambda xml: re.sub(r'<c r="C2"([^>]*)><f>(.*?)</f><v ?/></c>',
                                   r'<c r="C2" t="str"><f>\2</f><v></v></c>', xml))  # fmt: skip
    [request] = load_requests(path).requests
    assert request.reference is None


def test_formulas_in_ignored_columns_are_not_errors(tmp_path: Path) -> None:
    """Only the columns that are used matter; a helper formula elsewhere is left alone."""
    path = _book(tmp_path / "f.xlsx", [[*HEADER, "helper"], ["order_test_A1", 100, "R1", "=ROW()"]])
    result = load_requests(path)
    assert result.errors == ()
    assert result.requests[0].amount == 100


def test_rows_the_reader_drops_come_back_as_errors(tmp_path: Path) -> None:
    """A last row of uncalculated formulas, which calamine leaves out, is still an error."""
    path = _book(tmp_path / "f.xlsx", [HEADER, ["order_test_A1", 100, "R1"]])
    _edit(
        path,
        lambda xml: xml.replace(
            "</sheetData>",
            '<row r="3"><c r="A3"><f>A2</f></c><c r="B3"><f>B2*2</f></c></row></sheetData>',
        ),
    )
    result = load_requests(path)
    assert [(e.row, e.column, e.code) for e in result.errors] == [
        (3, "order_id", "input.formula"),
        (3, "amount", "input.formula"),
    ]
    assert result.total_rows == 2


def test_a_namespace_prefix_is_followed(tmp_path: Path) -> None:
    """Sheets written as <x:worksheet><x:c><x:f>… (Open XML SDK) are checked too."""
    path = _book(tmp_path / "f.xlsx", [HEADER, ["order_test_A1", "=1000+500", "R1"]])

    def prefixed(xml: str) -> str:
        xml = re.sub(r"<(/?)(?!\?)([A-Za-z]+)", r"<\1x:\2", xml)
        return xml.replace('xmlns="', 'xmlns:x="', 1)

    _edit(path, prefixed)
    assert unread_cells(path, "Refunds")
    assert [e.code for e in load_requests(path).errors] == ["input.formula"]


def test_a_total_line_with_an_uncalculated_sum_is_still_skipped(tmp_path: Path) -> None:
    """合計 with =SUM(…) and no value: a skipped total line that can't be checked."""
    path = _book(
        tmp_path / "f.xlsx",
        [HEADER, ["order_test_A1", 100, "R1"], ["合計", "=SUM(B2:B2)", None]],
    )
    result = load_requests(path)
    assert result.total_line_rows == (3,)
    assert result.errors == ()
    assert any('its amount "=SUM(B2:B2)" is not a number' in w for w in result.warnings)


def test_a_workbook_without_formulas_has_no_unread_cells(tmp_path: Path) -> None:
    """The common case: nothing is marked, nothing changes."""
    path = _book(tmp_path / "f.xlsx", [HEADER, ["order_test_A1", 100, "R1"]])
    assert unread_cells(path, "Refunds") == {}


@pytest.mark.parametrize("tag", ["<filterColumn", "<firstHeader"])
def test_other_tags_starting_with_f_are_not_formulas(tmp_path: Path, tag: str) -> None:
    """Only an <f> element is a formula, not <filterColumn> or <firstHeader>."""
    path = _book(tmp_path / "f.xlsx", [HEADER, ["order_test_A1", 100, "R1"]])
    _edit(path, lambda xml: xml.replace("</worksheet>", f"{tag}/></worksheet>"))
    assert unread_cells(path, "Refunds") == {}


def test_an_empty_value_element_is_no_value(tmp_path: Path) -> None:
    """<f>…</f><v></v> without t="str" holds no result: still an uncalculated formula."""
    path = _book(tmp_path / "f.xlsx", [HEADER, ["order_test_A1", "=1000+500", "R1"]])
    _edit(path, lambda xml: xml.replace("<v />", "<v></v>").replace("<v/>", "<v></v>"))
    assert [e.code for e in load_requests(path).errors] == ["input.formula"]


def test_an_error_constant_in_a_sheet_without_formulas_is_found(tmp_path: Path) -> None:
    """#N/A pasted as a value (no formula anywhere in the sheet) is still not blank."""
    path = _book(tmp_path / "f.xlsx", [HEADER, ["order_test_A1", 1, "R1"]])
    _edit(
        path,
        lambda xml: re.sub(r'<c r="B2"[^>]*><v>1</v></c>', '<c r="B2" t="e"><v>#N/A</v></c>', xml),
    )
    assert "<f" not in zipfile.ZipFile(path).read(SHEET).decode()
    assert [(e.code, e.value) for e in load_requests(path).errors] == [("input.formula", "#N/A")]


def test_a_binary_workbook_is_not_searched_for_xml_formulas(tmp_path: Path) -> None:
    """An .xlsb's parts are binary: no XML scan is attempted (and none fails)."""
    path = tmp_path / "b.xlsb"
    with zipfile.ZipFile(path, "w") as book:
        book.writestr(
            "_rels/.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
            '2006/relationships/officeDocument" Target="xl/workbook.bin"/></Relationships>',
        )
        book.writestr("xl/workbook.bin", b"\x83\x01\x00")
    assert unread_cells(path, "Sheet1") == {}


def test_an_excel_number_is_shown_as_excel_shows_it_in_a_refusal(tmp_path: Path) -> None:
    """The example cell in an input.ambiguous_amount message reads 100000000, not 1e+08."""
    path = _book(tmp_path / "f.xlsx", [["order_id", "Betrag"], ["order_test_A1", 100000000]])
    with pytest.raises(InputFileError) as caught:
        load_requests(path)
    assert 'such as "100000000"' in caught.value.message


def test_an_amount_formula_that_calculated_to_empty_is_an_error(tmp_path: Path) -> None:
    """=IF(cond, price, "") showing empty in the amount column is a row error, never a
    blank (= full refund) amount."""
    path = _book(tmp_path / "f.xlsx", [HEADER, ["order_test_A1", '=IF(FALSE,100,"")', "R1"]])
    _edit(path, lambda xml: re.sub(r'<c r="B2"([^>]*)><f>(.*?)</f><v ?/></c>',
                                   r'<c r="B2" t="str"><f>\2</f><v></v></c>', xml))  # fmt: skip
    result = load_requests(path)
    assert result.requests == ()
    (error,) = result.errors
    assert (error.row, error.column, error.code) == (2, "amount", "input.formula")
    assert "refunds everything" in error.message
