"""Row-by-row validation: every problem reported, with row, column, value and a stable code."""

from __future__ import annotations

import dataclasses

import pytest

from batch_refunds.intake import load_requests
from batch_refunds.intake.scan import _make_request
from batch_refunds.models import Reason, RefundRequest

from .conftest import FIXTURES, WriteFile


def _codes(path_name: str) -> dict[int, set[str]]:
    result = load_requests(FIXTURES / path_name)
    codes: dict[int, set[str]] = {}
    for error in result.errors:
        codes.setdefault(error.row, set()).add(error.code)
    return codes


def test_each_kind_of_bad_row_gets_its_code_and_row_number() -> None:
    """The invalid fixture's rows each fail with the expected code; none stops the others."""
    assert _codes("invalid_rows.csv") == {
        3: {"input.duplicate"},
        4: {"input.order_id"},
        5: {"input.order_id"},
        6: {"input.payment_id"},
        7: {"input.amount"},
        8: {"input.amount"},
        9: {"input.amount"},
        10: {"input.amount"},
        11: {"input.amount"},
        12: {"input.currency"},
        13: {"input.reason"},
        14: {"input.description"},
        15: {"input.line_items"},
        19: {"input.currency", "input.row_shape"},
    }


def test_every_row_is_accounted_for_exactly_once() -> None:
    """Valid + invalid + blank rows + total lines add up to every row below the header."""
    result = load_requests(FIXTURES / "invalid_rows.csv")
    assert [r.row for r in result.requests] == [2, 20]
    assert result.skipped_blank_rows == 2
    assert (result.skipped_total_rows, result.total_line_rows) == (1, (16,))
    assert result.total_rows == 19
    assert result.total_rows == (
        len(result.requests)
        + len(result.invalid_rows)
        + result.skipped_blank_rows
        + result.skipped_total_rows
    )
    assert not {r.row for r in result.requests} & set(result.invalid_rows)


def test_errors_name_the_column_and_the_value() -> None:
    """A bad amount error carries the column and the value exactly as written."""
    result = load_requests(FIXTURES / "invalid_rows.csv")
    [error] = [e for e in result.errors if e.row == 10]
    assert (error.column, error.value, error.code) == ("amount", "1500.5", "input.amount")
    assert "whole number of yen" in error.message


def test_a_fully_specified_row_becomes_a_typed_request() -> None:
    """Payment id, blank amount, case-insensitive reason, lower-case jpy and line items."""
    result = load_requests(FIXTURES / "invalid_rows.csv")
    assert result.requests[1] == RefundRequest(
        row=20,
        order_id="order_test_Ok0000000000000000012",
        payment_id="payment_test_Pay0000000000000002",
        amount=None,
        currency="JPY",
        reason=Reason.FRAUDULENT,
        line_items=("li_test_1", "li_test_2"),
    )
    assert result.requests[1].is_full_refund


def test_duplicate_points_at_the_first_row(write_file: WriteFile) -> None:
    """A repeated order/amount/reference is an input.duplicate naming the earlier row."""
    path = write_file(
        "d.csv",
        "order_id,amount,reference\n"
        "order_test_A1,100,R1\norder_test_A1,100,R2\norder_test_A1,100,R1\n"
        "order_test_A1,,\norder_test_A1,,\n",
    )
    result = load_requests(path)
    assert [r.row for r in result.requests] == [2, 3, 5]
    assert [(e.row, e.code) for e in result.errors] == [
        (4, "input.duplicate"),
        (6, "input.duplicate"),
    ]
    assert "row 2" in result.errors[0].message
    assert "row 5" in result.errors[1].message


def test_allow_duplicate_rows_keeps_them_as_requests(write_file: WriteFile) -> None:
    """With allow_duplicate_rows, identical rows are separate valid requests."""
    path = write_file("d.csv", "order_id,amount\norder_test_A1,100\norder_test_A1,100\n")
    result = load_requests(path, allow_duplicate_rows=True)
    assert [r.row for r in result.requests] == [2, 3]
    assert result.errors == ()


def test_excel_typed_cells() -> None:
    """Whole floats are fine; numeric ids and fractions are errors; blanks and totals skip."""
    result = load_requests(FIXTURES / "excel_typed.xlsx")
    assert [(r.row, r.amount) for r in result.requests] == [(2, 1500)]
    assert [(e.row, e.code) for e in result.errors] == [
        (3, "input.order_id"),
        (4, "input.amount"),
    ]
    assert "Excel turned this order id into a number" in result.errors[0].message
    assert result.errors[0].value == "1234567890123"
    assert result.skipped_blank_rows == 1
    assert result.total_line_rows == (6,)
    assert (
        "Row 6 is a total line of ¥2,300, but rows 2–5 add up to ¥1,500 (2 rows are invalid)."
        in result.warnings
    )


def test_japanese_reasons_and_amounts(write_file: WriteFile) -> None:
    """顧客都合/お客様都合/不正 map to the two reasons; ¥ and 円 amounts parse."""
    path = write_file(
        "ja.csv",
        "注文番号,返金額,返金理由\norder_test_J1,￥1,000,顧客都合\n".replace("￥1,000", '"￥1,000"')
        + "order_test_J2,500円,お客様都合\norder_test_J3,,不正\n",
        "cp932",
    )
    result = load_requests(path)
    assert [(r.amount, r.reason) for r in result.requests] == [
        (1000, Reason.REQUESTED_BY_CUSTOMER),
        (500, Reason.REQUESTED_BY_CUSTOMER),
        (None, Reason.FRAUDULENT),
    ]


def test_reason_spellings(write_file: WriteFile) -> None:
    """Reasons ignore case and accept spaces or hyphens for underscores."""
    path = write_file(
        "r.csv",
        "order_id,reason\norder_test_A1,Requested By Customer\norder_test_A2,FRAUDULENT\n"
        "order_test_A3,requested-by-customer\n",
    )
    assert [r.reason for r in load_requests(path, full_refunds=True).requests] == [
        Reason.REQUESTED_BY_CUSTOMER,
        Reason.FRAUDULENT,
        Reason.REQUESTED_BY_CUSTOMER,
    ]


def test_metadata_columns_become_metadata(write_file: WriteFile) -> None:
    """metadata.<key> cells become (key, value) pairs; blanks are left out; long values fail."""
    path = write_file(
        "m.csv",
        "order_id,metadata.ticket,metadata.agent\n"
        "order_test_A1,T-1,kim\norder_test_A2,,\norder_test_A3," + "v" * 201 + ",x\n",
    )
    result = load_requests(path, full_refunds=True)
    assert [r.metadata for r in result.requests] == [(("ticket", "T-1"), ("agent", "kim")), ()]
    assert [(e.row, e.column, e.code) for e in result.errors] == [
        (4, "metadata.ticket", "input.metadata")
    ]


def test_full_width_ids_are_normalised(write_file: WriteFile) -> None:
    """An id typed with full-width characters is the same id."""
    path = write_file("w.csv", "order_id\nｏｒｄｅｒ＿ｔｅｓｔ＿Ａ１\n")
    assert load_requests(path, full_refunds=True).requests[0].order_id == "order_test_A1"


def test_unknown_columns_are_ignored_with_a_warning(write_file: WriteFile) -> None:
    """Columns the tool doesn't use are named in a warning, not an error."""
    path = write_file("u.csv", "order_id,customer,amount\norder_test_A1,Kim,100\n")
    result = load_requests(path)
    assert result.detected.ignored_columns == ("customer",)
    assert result.warnings == ('The column "customer" is not used for refunds.',)
    assert result.requests[0].amount == 100


def test_short_rows_read_missing_cells_as_blank(write_file: WriteFile) -> None:
    """A row with fewer cells than the header is valid; missing cells are blank."""
    path = write_file("s.csv", "order_id,amount,reason\norder_test_A1\n")
    assert load_requests(path).requests[0].amount is None


def test_totals_for_the_summary(write_file: WriteFile) -> None:
    """Full refunds are counted and only written amounts are summed."""
    path = write_file(
        "t.csv", "order_id,amount\norder_test_A1,100\norder_test_A2,\norder_test_A3,2500\n"
    )
    result = load_requests(path)
    assert (result.full_refund_count, result.requested_yen) == (1, 2600)


def test_fast_constructor_builds_an_equal_frozen_request() -> None:
    """The scan's cheaper constructor yields a request equal to, and as frozen as, the class's."""
    args = (7, "order_test_A1", None, 1500, "JPY", Reason.FRAUDULENT, "d", "r", ("li_1",), ())
    made = _make_request(*args)
    assert type(made) is RefundRequest
    assert made == RefundRequest(*args)
    assert hash(made) == hash(RefundRequest(*args))
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.amount = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    "currency", ["円", "YEN", "yen", "Yen", "¥", "￥", "ＪＰＹ", "jpy", " JPY "]
)
def test_yen_spellings_in_the_currency_column_mean_jpy(
    write_file: WriteFile, currency: str
) -> None:
    """円, YEN, ¥ and ￥ are the yen as much as JPY is."""
    path = write_file("c.csv", f'order_id,amount,currency\norder_test_A1,100,"{currency}"\n')
    result = load_requests(path)
    assert result.errors == ()
    assert result.requests[0].currency == "JPY"


@pytest.mark.parametrize("currency", ["USD", "$", "ドル", "EUR"])
def test_other_currencies_are_refused(write_file: WriteFile, currency: str) -> None:
    """Only the yen can be refunded."""
    path = write_file("c.csv", f"order_id,amount,currency\norder_test_A1,100,{currency}\n")
    assert [e.code for e in load_requests(path).errors] == ["input.currency"]
