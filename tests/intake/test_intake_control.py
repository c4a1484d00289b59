"""Control characters and bidi overrides in what would be sent to Smartpay are row errors."""

from __future__ import annotations

import pytest

from batch_refunds.errors import InputFileError
from batch_refunds.intake import load_requests
from batch_refunds.text import UNSAFE_CHARACTERS

from .conftest import WriteFile

HEADER = "order_id,payment_id,amount,description,reference,line_items,metadata.ticket"
CLEAN = ["order_test_A1", "", "100", "返品 全額", "RF-1", "", "ZD-1"]


def _row(column: int, value: str) -> str:
    cells = list(CLEAN)
    cells[column] = value
    return ",".join(f'"{c}"' for c in cells)


@pytest.mark.parametrize(
    ("column", "name", "value", "shown"),
    [
        (0, "order_id", "order_test_A\x1b[2J1", "order_test_A\\x1b[2J1"),
        (1, "payment_id", "payment_test_P\x001", "payment_test_P\\x001"),
        (3, "description", "Refund\x1b]8;;http://x\x07here", "Refund\\x1b]8;;http://x\\x07here"),
        (3, "description", "exe.\u202etxt", "exe.\\u202etxt"),
        (4, "reference", "RF\u20661", "RF\\u20661"),
        (4, "reference", "RF\x7f1", "RF\\x7f1"),
        (5, "line_items", "li_1;li\x1b2", "li_1;li\\x1b2"),
        (6, "metadata.ticket", "ZD\x9b1", "ZD\\x9b1"),
        (3, "description", "two\nlines", "two\\nlines"),
    ],
)
def test_a_control_character_is_a_row_error_with_the_cell_escaped(
    write_file: WriteFile, column: int, name: str, value: str, shown: str
) -> None:
    """NUL, C0/C1 controls, DEL and bidi controls in an id, description, reference, line
    items or metadata make the row invalid (input.control_character); the error shows the
    cell with the character escaped and names it."""
    path = write_file("c.csv", HEADER + "\n" + _row(column, value) + "\n" + _row(4, "RF-2") + "\n")
    result = load_requests(path)
    assert [r.reference for r in result.requests] == ["RF-2"]
    [error] = result.errors
    assert (error.row, error.column, error.code) == (2, name, "input.control_character")
    assert error.value == shown
    assert UNSAFE_CHARACTERS.search(error.value) is None
    assert "U+" in error.message


def test_the_message_names_the_character(write_file: WriteFile) -> None:
    """The message says which character it is, by code point and name."""
    path = write_file("c.csv", HEADER + "\n" + _row(4, "RF\u202e1") + "\n")
    [error] = load_requests(path).errors
    assert "U+202E (right-to-left override)" in error.message


def test_japanese_text_and_full_width_spaces_are_clean(write_file: WriteFile) -> None:
    """Japanese, full-width spaces and symbols are ordinary text, not control characters."""
    path = write_file("j.csv", HEADER + "\n" + _row(3, "お客様都合\u3000返品（一部）①") + "\n")
    result = load_requests(path)
    assert result.errors == ()
    assert result.requests[0].description == "お客様都合\u3000返品（一部）①"


def test_a_workbook_cell_with_a_control_character_is_refused(write_file: WriteFile) -> None:
    """Typed workbook cells go through the same check as text cells."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["order_id", "amount", "reference"])
    sheet.append(["order_test_A1", 100, "RF\u202e1"])
    path = write_file("c.xlsx", b"")
    book.save(path)
    [error] = load_requests(path).errors
    assert (error.column, error.code) == ("reference", "input.control_character")


def test_a_control_character_in_a_metadata_header_is_a_file_error(write_file: WriteFile) -> None:
    """A metadata key comes from the header and goes to Smartpay: one with a control
    character refuses the file (input.metadata)."""
    path = write_file("m.csv", "order_id,amount,metadata.ti\x1bcket\norder_test_A1,1,x\n")
    with pytest.raises(InputFileError) as caught:
        load_requests(path)
    assert caught.value.code == "input.metadata"
    assert "U+001B (escape)" in caught.value.message


def test_surrounding_whitespace_is_still_trimmed(write_file: WriteFile) -> None:
    """A tab or line break around an id is trimmed as before; only what is sent is judged."""
    path = write_file("w.csv", 'order_id,amount\n"\torder_test_A1\r\n",100\n')
    result = load_requests(path)
    assert result.errors == ()
    assert result.requests[0].order_id == "order_test_A1"
