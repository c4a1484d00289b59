"""The bounds on a header and its rows: width, cell size, amount and id length."""

from __future__ import annotations

import tracemalloc

import pytest

from batch_refunds.errors import InputFileError
from batch_refunds.intake import load_requests
from batch_refunds.intake.columns import map_columns
from batch_refunds.intake.limits import (
    MAX_CELL_CHARS,
    MAX_COLUMNS,
)
from batch_refunds.intake.validate import RowValidator

from .conftest import WriteFile


def _header(width: int) -> list[str]:
    return ["order_id", "amount", *(f"extra {i}" for i in range(width - 2))]


def test_a_header_of_30000_columns_is_refused_with_the_numbers(write_file: WriteFile) -> None:
    """30,000 header cells: input.too_wide naming 30,000 and the cap, not 14 s and 3.5 GB."""
    header = _header(30_000)
    path = write_file("wide.csv", ",".join(header) + "\norder_test_A1,100\n")
    with pytest.raises(InputFileError) as caught:
        load_requests(path)
    assert caught.value.code == "input.too_wide"
    assert "30,000 columns" in caught.value.message
    assert f"at most {MAX_COLUMNS:,}" in caught.value.message


def test_a_header_of_max_columns_is_read(write_file: WriteFile) -> None:
    """Exactly MAX_COLUMNS header cells are fine; one more is refused."""
    row = "order_test_A1,100" + "," * (MAX_COLUMNS - 2)
    path = write_file("ok.csv", ",".join(_header(MAX_COLUMNS)) + "\n" + row + "\n")
    assert [r.amount for r in load_requests(path).requests] == [100]
    path = write_file("over.csv", ",".join(_header(MAX_COLUMNS + 1)) + "\n" + row + ",\n")
    with pytest.raises(InputFileError, match="1,001 columns"):
        load_requests(path)


def test_blank_header_cells_after_the_last_name_do_not_count(write_file: WriteFile) -> None:
    """The width is up to the last non-blank header cell: trailing commas are not columns."""
    path = write_file("trail.csv", "order_id,amount" + "," * 5_000 + "\norder_test_A1,100\n")
    assert [r.amount for r in load_requests(path).requests] == [100]


def test_validating_the_widest_header_costs_memory_linear_in_its_columns() -> None:
    """A validator for MAX_COLUMNS columns with the amount last, checking a short row, stays
    far below what one padding tuple per possible row length (the square) would take."""
    header = ["order_id", *(f"extra {i}" for i in range(MAX_COLUMNS - 2)), "amount"]
    columns = map_columns(header, header_row=1)
    tracemalloc.start()
    try:
        validator = RowValidator(columns, check_width=True)
        outcome = validator.check(2, ["order_test_A1"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not isinstance(outcome, list)
    assert outcome.amount is None
    # One tuple per padding length would hold MAX_COLUMNS² / 2 pointers: about 4 MB.
    assert peak < 200_000


def test_a_header_cell_longer_than_excel_allows_is_a_file_error(write_file: WriteFile) -> None:
    """A header cell of more than MAX_CELL_CHARS characters refuses the file, naming it."""
    long = "x" * (MAX_CELL_CHARS + 1)
    path = write_file("h.csv", f"order_id,amount,{long}\norder_test_A1,100,\n")
    with pytest.raises(InputFileError) as caught:
        load_requests(path)
    assert caught.value.code == "input.cell_too_long"
    assert "column 3" in caught.value.message
    assert f"{MAX_CELL_CHARS + 1:,} characters" in caught.value.message


@pytest.mark.parametrize("length", [MAX_CELL_CHARS + 1, 100_000])
def test_a_long_cell_in_an_unused_column_is_a_row_error(write_file: WriteFile, length: int) -> None:
    """An ignored column's cell over MAX_CELL_CHARS makes its row invalid, naming the column;
    the other rows are read."""
    path = write_file(
        "c.csv",
        f"order_id,amount,notes2\norder_test_A1,100,{'y' * length}\norder_test_B2,200,ok\n",
    )
    result = load_requests(path)
    assert [r.order_id for r in result.requests] == ["order_test_B2"]
    [error] = result.errors
    assert (error.row, error.column, error.code) == (2, "notes2", "input.cell_too_long")
    assert f"{length:,} characters" in error.message
    assert len(error.value) <= 80


def test_a_cell_of_max_chars_in_an_unused_column_is_fine(write_file: WriteFile) -> None:
    """Exactly MAX_CELL_CHARS characters is what Excel allows, so the row is valid."""
    path = write_file(
        "c.csv", f"order_id,amount,notes2\norder_test_A1,100,{'y' * MAX_CELL_CHARS}\n"
    )
    assert load_requests(path).errors == ()


@pytest.mark.parametrize("column", ["amount", "notes"])
def test_an_amount_of_5000_digits_is_a_row_error_not_a_crash(
    write_file: WriteFile, column: str
) -> None:
    """Python refuses to turn more than 4,300 digits into an int: such a cell, in the amount
    column or in one that only might be amounts, is a row error or a plain refusal."""
    digits = "1" * 5000
    if column == "amount":
        path = write_file("a.csv", f"order_id,amount\norder_test_A1,{digits}\norder_test_B1,9\n")
        result = load_requests(path)
        [error] = result.errors
        assert (error.row, error.code) == (2, "input.amount")
        assert "5,000 characters" in error.message
    else:
        path = write_file("n.csv", f"order_id,extra\norder_test_A1,{digits}\n")
        result = load_requests(path, full_refunds=True)
        assert [r.order_id for r in result.requests] == ["order_test_A1"]


def test_an_id_longer_than_any_smartpay_id_is_refused(write_file: WriteFile) -> None:
    """order_test_ followed by 101 letters is no Smartpay id; 100 still reads."""
    path = write_file(
        "i.csv", f"order_id,amount\norder_test_{'A' * 100},1\norder_test_{'B' * 101},1\n"
    )
    result = load_requests(path)
    assert [r.row for r in result.requests] == [2]
    assert [(e.row, e.code) for e in result.errors] == [(3, "input.order_id")]


def test_every_limit_is_named_with_its_unit() -> None:
    """The bounds live in one module, each name saying what it counts."""
    from batch_refunds.intake import limits

    names = [n for n in vars(limits) if n.startswith("MAX_")]
    units = ("_COLUMNS", "_CHARS", "_ROWS", "_CELLS", "_BYTES")
    assert names
    assert all(name.endswith(units) for name in names), names


def test_a_workbook_header_past_max_columns_is_refused(write_file: WriteFile) -> None:
    """A sheet's header of 2,000 cells is refused as a text file's is (input.too_wide)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Refunds")
    sheet.append(_header(2_000))
    sheet.append(["order_test_A1", 100])
    path = write_file("wide.xlsx", b"")
    book.save(path)
    with pytest.raises(InputFileError) as caught:
        load_requests(path)
    assert caught.value.code == "input.too_wide"
    assert "2,000 columns" in caught.value.message
