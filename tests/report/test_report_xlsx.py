"""reconciliation.xlsx: sheets, header styling, integer amount cells, Summary, injection."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from batch_refunds.models import RowOutcome, Status
from batch_refunds.report import REFUND_COLUMNS, ROW_COLUMNS, RunReport, write_report

from .conftest import JAPANESE_MESSAGE, make_summary


@pytest.fixture
def book(report: RunReport, tmp_path: Path) -> Any:
    """The written workbook, loaded back (not read-only, so styles and panes are visible)."""
    return openpyxl.load_workbook(write_report(report, tmp_path).xlsx)


def rows_by_number(sheet: Any) -> dict[int, dict[str, Any]]:
    header = [cell.value for cell in sheet[1]]
    return {
        line[0].value: {name: cell for name, cell in zip(header, line, strict=True)}
        for line in sheet.iter_rows(min_row=2)
    }


def test_sheet_names_in_order(book: Any) -> None:
    """The workbook has exactly Summary, Rows and Refunds, Summary first."""
    assert book.sheetnames == ["Summary", "Rows", "Refunds"]


def test_rows_header_matches_csv_bold_and_frozen(book: Any) -> None:
    """Rows' header is the CSV header, in bold, frozen above the data, with a filter."""
    sheet = book["Rows"]
    assert tuple(cell.value for cell in sheet[1]) == ROW_COLUMNS
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:O5"
    assert not any(cell.font.bold for cell in sheet[2])


def test_rows_amounts_are_integer_cells_with_yen_format(book: Any) -> None:
    """Amount cells hold ints formatted #,##0; a full-refund row's requested_amount is empty."""
    rows = rows_by_number(book["Rows"])
    partial = rows[2]
    assert partial["refundable_before"].value == 12_345
    assert type(partial["refundable_before"].value) is int
    assert partial["refundable_before"].number_format == "#,##0"
    assert partial["refunded_amount"].number_format == "#,##0"
    assert partial["row"].number_format == "General"  # a line number is not money
    assert rows[3]["requested_amount"].value is None
    assert rows[3]["refunded_amount"].value == 2_500
    assert rows[5]["refundable_before"].value is None


def test_rows_text_values(book: Any) -> None:
    """Lists join with ';', Japanese messages survive, rows come sorted by number."""
    sheet = book["Rows"]
    assert [line[0].value for line in sheet.iter_rows(min_row=2)] == [2, 3, 4, 5]
    rows = rows_by_number(sheet)
    assert rows[3]["payment_ids"].value == "payment_test_B1;payment_test_B2"
    assert rows[4]["message"].value == JAPANESE_MESSAGE
    assert rows[4]["status"].value == "rejected"
    assert rows[5]["order_id"].value is None


def test_rows_columns_are_wide_enough_for_ids(book: Any) -> None:
    """Widths follow the content: the two-payment column is wider than the currency column."""
    dims = book["Rows"].column_dimensions
    assert dims["D"].width > len("payment_test_B1;payment_test_B2")
    assert dims["E"].width < dims["D"].width


def test_refunds_sheet(book: Any) -> None:
    """Refunds lists each refund by row then time, amounts as integers, created_at in UTC ISO."""
    sheet = book["Refunds"]
    assert tuple(cell.value for cell in sheet[1]) == REFUND_COLUMNS
    lines = [[cell.value for cell in line] for line in sheet.iter_rows(min_row=2)]
    assert [line[0] for line in lines] == ["refund_test_A1", "refund_test_B1", "refund_test_B2"]
    first = dict(zip(REFUND_COLUMNS, lines[1], strict=True))
    assert first == {
        "refund_id": "refund_test_B1",
        "row": 3,
        "order_id": "order_test_B",
        "payment_id": "payment_test_B1",
        "amount": 2_000,
        "reference": "'@x",
        "created_at": "2025-11-27T08:06:50.123Z",
    }
    assert lines[2][6] == "2025-11-27T08:06:50.124Z"
    assert sheet.cell(row=3, column=5).number_format == "#,##0"


def test_summary_sheet_values(book: Any, report: RunReport) -> None:
    """Summary holds one line per summary.json value, with typed numbers and every status."""
    sheet = book["Summary"]
    assert [cell.value for cell in sheet[1]] == ["field", "value"]
    values = {key.value: value for key, value in sheet.iter_rows(min_row=2)}
    assert values["run_id"].value == report.summary.run_id
    assert values["input.path"].value == "inputs/返金リスト.xlsx"
    assert values["input.sha256"].value == "ab" * 32
    assert values["input.rows"].value == 4
    assert values["totals.requested"].value == 4_500
    assert values["totals.refunded"].value == 3_500
    assert values["totals.refunded"].number_format == "#,##0"
    assert values["requests.rate_limited"].value == 1
    assert values["exit_code"].value == 1
    assert values["duration_s"].value == pytest.approx(2.346)
    for status in Status:
        assert type(values[f"counts.{status.value}"].value) is int
    assert values["counts.failed"].value == 0


def test_xlsx_formula_triggers_are_text_not_formulas(book: Any) -> None:
    """'=HYPERLINK(...)', '+1', '-2', '@x', tab-x land as quoted strings, never as formulas."""
    rows = rows_by_number(book["Rows"])
    hyperlink = rows[3]["reference"]
    assert hyperlink.data_type == "s"
    assert hyperlink.value == '\'=HYPERLINK("http://evil.example","click")'
    assert rows[4]["reference"].value == "'+1"
    assert rows[5]["reference"].value == "'-2"
    refs = [line[5].value for line in book["Refunds"].iter_rows(min_row=2)]
    assert refs == ["'\tx", "'@x", "'@x"]
    for sheet in book.worksheets:
        for line in sheet.iter_rows():
            assert all(cell.data_type != "f" for cell in line)


def test_summary_sheet_neutralises_input_path(report: RunReport, tmp_path: Path) -> None:
    """A hostile input file name can't become a formula in the Summary sheet."""
    hostile = replace(report, summary=make_summary(input_path="=cmd|' /C calc'!A0"))
    sheet = openpyxl.load_workbook(write_report(hostile, tmp_path).xlsx)["Summary"]
    values = {key.value: value for key, value in sheet.iter_rows(min_row=2)}
    assert values["input.path"].data_type == "s"
    assert values["input.path"].value == "'=cmd|' /C calc'!A0"


def test_xlsx_keeps_error_lookalikes_and_control_characters_as_text(
    report: RunReport, tmp_path: Path
) -> None:
    """'#N/A' stays text (not an error cell); XML-illegal control characters become U+FFFD."""
    odd = (RowOutcome(row=2, status=Status.FAILED, reference="#N/A", message="bad\x00byte\x1b"),)
    book = openpyxl.load_workbook(write_report(replace(report, rows=odd), tmp_path).xlsx)
    row = rows_by_number(book["Rows"])[2]
    assert row["reference"].data_type == "s"
    assert row["reference"].value == "#N/A"
    assert row["message"].value == "bad\ufffdbyte\ufffd"


def test_workbook_properties_name_the_run(book: Any, report: RunReport) -> None:
    """File properties say which run this is and that batch-refunds wrote it."""
    assert book.properties.title == f"Reconciliation {report.summary.run_id}"
    assert book.properties.creator == "batch-refunds"


def test_empty_run_renders_headers_only(report: RunReport, tmp_path: Path) -> None:
    """A run with no rows still writes every file: headers, zero counts, no data lines."""
    empty = replace(report, rows=(), refunds=())
    paths = write_report(empty, tmp_path)
    book = openpyxl.load_workbook(paths.xlsx)
    assert book["Rows"].max_row == 1
    assert book["Refunds"].max_row == 1
    assert paths.csv.read_bytes().count(b"\r\n") == 1


def test_every_row_keeps_its_own_amounts(report: RunReport, tmp_path: Path) -> None:
    """Hundreds of rows each keep their own amounts and yen format (no value bleeds over)."""
    many = tuple(
        RowOutcome(
            row=n,
            status=Status.REFUNDED,
            requested_amount=None if n % 7 == 0 else n * 10,
            refundable_before=n * 100,
            already_refunded=n,
            refunded_amount=n * 10,
        )
        for n in range(2, 302)
    )
    book = openpyxl.load_workbook(write_report(replace(report, rows=many), tmp_path).xlsx)
    got = [
        (line[5].value, line[6].value, line[7].value, line[8].value)
        for line in book["Rows"].iter_rows(min_row=2)
    ]
    assert got == [
        (o.requested_amount, o.refundable_before, o.already_refunded, o.refunded_amount)
        for o in many
    ]
    formats = {c.number_format for line in book["Rows"].iter_rows(min_row=2, min_col=7, max_col=9)
               for c in line}  # fmt: skip
    assert formats == {"#,##0"}
    refund_amounts = [line[4].value for line in book["Refunds"].iter_rows(min_row=2)]
    assert refund_amounts == [1_000, 2_000, 500]
