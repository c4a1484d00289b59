"""keep_cells: the input cells of every request and invalid row, as a person sees them."""

from __future__ import annotations

import tracemalloc
from datetime import date
from pathlib import Path

from openpyxl import Workbook

from batch_refunds.intake import load_requests

from .conftest import WriteFile

CSV = (
    "order_id,amount,reason, note \n"
    "order_test_A1, 1500 ,fraudulent,x\n"  # 2 valid, a padded amount
    "order_test_A2,abc\n"  # 3 invalid, a short row
    "\n"  # 4 blank
    "order_test_A3,200,,y,extra\n"  # 5 invalid (too many cells), cut to the header
    "合計,1700\n"  # 6 total line
)


def test_kept_cells_cover_requests_and_invalid_rows_at_the_header_width(
    write_file: WriteFile,
) -> None:
    """Valid and invalid rows are kept, stripped, padded or cut; blank and total rows not."""
    result = load_requests(write_file("k.csv", CSV), keep_cells=True)
    assert result.input_header == ("order_id", "amount", "reason", "note")
    assert dict(result.cells) == {
        2: ("order_test_A1", "1500", "fraudulent", "x"),
        3: ("order_test_A2", "abc", "", ""),
        5: ("order_test_A3", "200", "", "y"),
    }
    assert sorted(result.cells) == sorted(
        {r.row for r in result.requests} | set(result.invalid_rows)
    )
    assert 4 not in result.cells
    assert 6 not in result.cells


def test_cells_are_empty_unless_asked_for_but_the_header_is_always_there(
    write_file: WriteFile,
) -> None:
    """Without keep_cells nothing is kept; input_header is filled either way."""
    result = load_requests(write_file("k.csv", CSV))
    assert dict(result.cells) == {}
    assert result.input_header == ("order_id", "amount", "reason", "note")


def test_excel_cells_are_shown_as_excel_shows_them(tmp_path: Path) -> None:
    """Whole floats without .0, dates in ISO form, an uncalculated formula as its formula."""
    book = Workbook()
    sheet = book.active
    sheet.append(["Refunds"])
    sheet.append(["order_id", "amount", "metadata.date", None])
    sheet.append(["order_test_A1", 1500.0, date(2026, 11, 1)])
    sheet.append(["order_test_A2", "=B3*2", None])
    path = tmp_path / "k.xlsx"
    book.save(path)
    result = load_requests(path, keep_cells=True)
    assert result.input_header == ("order_id", "amount", "metadata.date")
    assert result.cells[3] == ("order_test_A1", "1500", "2026-11-01")
    assert result.cells[4] == ("order_test_A2", "=B3*2", "")


def test_keeping_cells_costs_about_a_pointer_per_row(write_file: WriteFile) -> None:
    """The reader's row lists are kept as they are: no copy of the text per row."""
    body = "".join(f"order_test_A{i},{100 + i},requested_by_customer\n" for i in range(20_000))
    path = write_file("big.csv", "order_id,amount,reason\n" + body)
    sizes = []
    for keep in (False, True):
        tracemalloc.start()
        result = load_requests(path, keep_cells=keep)
        sizes.append(tracemalloc.get_traced_memory()[0])
        tracemalloc.stop()
        del result
    per_row = (sizes[1] - sizes[0]) / 20_000
    assert per_row < 400  # a 3-cell list and its two cell strings the request doesn't share
