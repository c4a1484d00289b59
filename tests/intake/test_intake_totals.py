"""Total lines are skipped with a note, and checked against the rows above them."""

from __future__ import annotations

import pytest

from batch_refunds.intake import load_requests
from batch_refunds.intake.totals import is_total_label

from .conftest import WriteFile


@pytest.mark.parametrize(
    "text",
    ["合計", "小計", "総計", "計", "合計金額", "合計（税込）", "Total", "total:", "TOTAL：",
     "Subtotal", "Sub-total", "Grand total", "Sum", "Total amount", "ｔｏｔａｌ"],
)  # fmt: skip
def test_total_labels(text: str) -> None:
    """The spellings of a total line that the issue lists, and their obvious variants."""
    assert is_total_label(text)


@pytest.mark.parametrize("text", ["合計点", "totally", "summary", "計算", "order_test_A1", ""])
def test_words_that_are_not_total_labels(text: str) -> None:
    """Words that merely contain a total label are not one."""
    assert not is_total_label(text)


def test_a_total_line_is_skipped_with_a_note(write_file: WriteFile) -> None:
    """合計 with the sum of the rows: skipped, counted, noted; no warning about the sum."""
    path = write_file(
        "t.csv", "order_id,amount\norder_test_A1,1500\norder_test_A2,2000\n合計,3500\n"
    )
    result = load_requests(path)
    assert [r.row for r in result.requests] == [2, 3]
    assert result.errors == ()
    assert (result.skipped_total_rows, result.total_line_rows) == (1, (4,))
    assert result.warnings == ("Row 4 (合計) is a total line, not a refund; it was skipped.",)
    assert result.total_rows == len(result.requests) + result.skipped_total_rows


def test_a_total_that_disagrees_with_the_rows_is_a_warning(write_file: WriteFile) -> None:
    """The total and the sum of the valid rows' amounts are both named, with the row span."""
    rows = "".join(f"order_test_A{i},{a}\n" for i, a in enumerate([1000, 500, 2000]))
    path = write_file("t.csv", "order_id,amount\n" + rows + 'order_test_X9,abc\nTotal:,"¥3,600"\n')
    result = load_requests(path)
    assert (
        "Row 6 is a total line of ¥3,600, but rows 2–5 add up to ¥3,500 (1 row is invalid)."
        in result.warnings
    )


def test_full_refund_rows_are_named_beside_a_disagreeing_total(write_file: WriteFile) -> None:
    """Rows with no amount written can't be in the sum; the warning says how many."""
    path = write_file("t.csv", "order_id,amount\norder_test_A1,1500\norder_test_A2,\n合計,3000\n")
    assert load_requests(path).warnings[-1] == (
        "Row 4 is a total line of ¥3,000, but rows 2–3 add up to ¥1,500 "
        "(1 is a full refund with no amount written)."
    )


def test_each_total_covers_the_rows_since_the_previous_one(write_file: WriteFile) -> None:
    """Subtotals: each is checked against its own block, the grand total separately."""
    path = write_file(
        "t.csv",
        "order_id,amount,note\n"
        "order_test_A1,100,\norder_test_A2,200,\n,300,小計\n"
        "order_test_B1,400,\n,500,小計\n",
    )
    result = load_requests(path)
    assert result.total_line_rows == (4, 6)
    assert result.warnings == (
        "Rows 4 and 6 (小計) are total lines, not refunds; they were skipped.",
        "Row 6 is a total line of ¥500, but row 5 holds ¥400.",
    )


def test_a_row_with_an_id_is_never_a_total_line(write_file: WriteFile) -> None:
    """An order id on the row makes it a refund, even when a total label comes first."""
    path = write_file("t.csv", "note,order_id,amount\n合計,order_test_A1,1500\n")
    result = load_requests(path)
    assert [r.row for r in result.requests] == [2]
    assert result.skipped_total_rows == 0


def test_a_broken_id_beside_a_total_label_is_an_error_not_a_total(write_file: WriteFile) -> None:
    """Something in the id column other than the label itself keeps the row a refund row."""
    path = write_file("t.csv", "note,order_id,amount\n合計,order_tst_typo,1500\n")
    result = load_requests(path)
    assert [e.code for e in result.errors] == ["input.order_id"]
    assert result.skipped_total_rows == 0


def test_a_row_whose_first_text_is_not_a_total_label_is_an_error(write_file: WriteFile) -> None:
    """ "Note: 合計 below" is a note, not a total line: reported as a missing id."""
    path = write_file("t.csv", "order_id,amount,note\n,1500,see 合計\n")
    assert [e.code for e in load_requests(path).errors] == ["input.missing_id"]


def test_a_total_line_with_text_for_an_amount_is_noted(write_file: WriteFile) -> None:
    """A total whose amount cell isn't yen is skipped, and the note says it wasn't checked."""
    path = write_file("t.csv", "order_id,amount\norder_test_A1,100\n合計,see below\n")
    assert load_requests(path).warnings[-1] == (
        'Row 3 is a total line, but its amount "see below" is not a number of yen, '
        "so it could not be checked against the rows above it."
    )
