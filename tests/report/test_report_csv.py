"""reconciliation.csv: encoding, header, values, order and formula neutralisation."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

from batch_refunds.report import ROW_COLUMNS, RunReport, write_report

from .conftest import JAPANESE_MESSAGE

BOM = b"\xef\xbb\xbf"


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.DictReader(stream))


def test_csv_starts_with_bom_and_exact_header(report: RunReport, tmp_path: Path) -> None:
    """The file opens with a UTF-8 BOM, then the fifteen columns in the agreed order."""
    paths = write_report(report, tmp_path)
    raw = paths.csv.read_bytes()
    assert raw.startswith(BOM)
    assert raw.count(BOM) == 1
    header = next(csv.reader(io.StringIO(raw[len(BOM) :].decode("utf-8"))))
    assert header == [
        "row",
        "order_id",
        "shop_order",
        "payment_ids",
        "currency",
        "requested_amount",
        "refundable_before",
        "already_refunded",
        "refunded_amount",
        "refund_ids",
        "status",
        "error_code",
        "message",
        "reference",
        "attempts",
    ]
    assert tuple(header) == ROW_COLUMNS


def test_csv_has_one_line_per_row_sorted_by_row(report: RunReport, tmp_path: Path) -> None:
    """Rows given out of order come out ordered by input line, one each."""
    lines = read_csv(write_report(report, tmp_path).csv)
    assert [line["row"] for line in lines] == ["2", "3", "4", "5"]


def test_csv_values_round_trip(report: RunReport, tmp_path: Path) -> None:
    """Lists join with ';', blanks stay blank, amounts are bare integers, Japanese survives."""
    by_row = {line["row"]: line for line in read_csv(write_report(report, tmp_path).csv)}

    full_refund = by_row["3"]
    assert full_refund["payment_ids"] == "payment_test_B1;payment_test_B2"
    assert full_refund["refund_ids"] == "refund_test_B1;refund_test_B2"
    assert full_refund["requested_amount"] == ""
    assert full_refund["refundable_before"] == "2500"
    assert full_refund["refunded_amount"] == "2500"
    assert full_refund["status"] == "refunded"
    assert full_refund["currency"] == "JPY"
    assert full_refund["attempts"] == "2"

    partial = by_row["2"]
    assert partial["requested_amount"] == "1000"
    assert partial["refundable_before"] == "12345"  # no thousands separator: Excel can sum it

    rejected = by_row["4"]
    assert rejected["message"] == JAPANESE_MESSAGE
    assert rejected["error_code"] == "amount.insufficient"
    assert rejected["refunded_amount"] == "0"
    assert rejected["refund_ids"] == ""

    invalid = by_row["5"]
    assert invalid["order_id"] == ""
    assert invalid["refundable_before"] == ""
    assert invalid["message"] == "amount must be a whole number of yen,\nnot 12.5"


def test_csv_lines_end_in_crlf_and_embedded_newlines_stay_lf(
    report: RunReport, tmp_path: Path
) -> None:
    """Records end in CRLF; a newline inside a quoted message is written as a bare LF."""
    raw = write_report(report, tmp_path).csv.read_bytes()
    assert raw.endswith(b"\r\n")
    assert raw.count(b"\r\n") == 1 + len(report.rows)
    assert b"yen,\nnot 12.5" in raw
    assert b"\r\r\n" not in raw


def test_csv_neutralises_formula_triggers(report: RunReport, tmp_path: Path) -> None:
    """References starting with =, +, - are prefixed with a quote; plain text is untouched."""
    by_row = {line["row"]: line for line in read_csv(write_report(report, tmp_path).csv)}
    assert by_row["3"]["reference"] == '\'=HYPERLINK("http://evil.example","click")'
    assert by_row["4"]["reference"] == "'+1"
    assert by_row["5"]["reference"] == "'-2"
    assert by_row["2"]["reference"] == "RMA-0001"


def test_input_columns_are_carried_after_the_tools_own(report: RunReport, tmp_path: Path) -> None:
    """The input's own columns follow the tool's, as typed, in CSV and workbook alike; a
    header that is also a tool column is prefixed input:, a blank one is numbered, a row
    without cells leaves them blank, and a formula-like cell is neutralised."""
    import openpyxl

    rows = {o.row for o in report.rows}
    first, second = sorted(rows)[:2]
    carried = replace(
        report,
        input_header=("order_id", "返品日", "", "amount"),
        input_cells={first: ("order_test_1", "2026-11-30", "x", "¥1,500"),
                     second: ("=HYPERLINK(1)", "", "", "")},
    )  # fmt: skip
    paths = write_report(carried, tmp_path)
    lines = read_csv(paths.csv)
    extra = ["input:order_id", "返品日", "input:column 3", "amount"]
    assert list(lines[0]) == [*ROW_COLUMNS, *extra]
    by_row = {int(line["row"]): line for line in lines}
    assert [by_row[first][name] for name in extra] == ["order_test_1", "2026-11-30", "x", "¥1,500"]
    assert by_row[second]["input:order_id"] == "'=HYPERLINK(1)"
    third = sorted(rows)[2]
    assert [by_row[third][name] for name in extra] == ["", "", "", ""]
    sheet = openpyxl.load_workbook(paths.xlsx)["Rows"]
    header = [cell.value for cell in sheet[1]]
    assert header == [*ROW_COLUMNS, *extra]


def test_a_carried_header_cannot_be_a_formula(report: RunReport, tmp_path: Path) -> None:
    """A header cell of the input such as =HYPERLINK(…) is neutralised in the CSV and is no
    live formula in the workbook: headers are spreadsheet content too."""
    import openpyxl

    carried = replace(report, input_header=('=HYPERLINK("http://x")', "+cmd"), input_cells={})
    paths = write_report(carried, tmp_path)
    header = next(csv.reader(io.StringIO(paths.csv.read_text(encoding="utf-8-sig"))))
    assert header[-2:] == ['\'=HYPERLINK("http://x")', "'+cmd"]
    sheet = openpyxl.load_workbook(paths.xlsx)["Rows"]
    values = [cell.value for cell in sheet[1]][-2:]
    assert values == ['\'=HYPERLINK("http://x")', "'+cmd"]
    assert all(cell.data_type == "s" for cell in sheet[1])
