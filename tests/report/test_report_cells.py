"""Cell values: formula neutralisation, whole-number checks, timestamps."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batch_refunds.models import RefundRecord, RowOutcome, Status
from batch_refunds.report.cells import FORMULA_TRIGGERS, neutralise, text_cell
from batch_refunds.report.model import iso_utc_ms, refund_cells, row_cells, whole


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+81 3 1234", "'+81 3 1234"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("RMA-1", "RMA-1"),
        ("返金", "返金"),
        ("'already quoted", "'already quoted"),
    ],
)
def test_neutralise_examples(text: str, expected: str) -> None:
    """Only the OWASP trigger characters in first position earn a leading quote."""
    assert neutralise(text) == expected


@given(st.text())
def test_neutralised_text_never_starts_with_a_trigger(text: str) -> None:
    """Whatever the input, the output is inert and the original is recoverable."""
    safe = neutralise(text)
    assert not safe.startswith(FORMULA_TRIGGERS)
    assert safe in (text, "'" + text)
    assert (safe != text) == text.startswith(FORMULA_TRIGGERS)


def test_text_cell_blank_for_none_and_empty() -> None:
    """None and "" both become an empty cell, so empty lists don't write a blank string."""
    assert text_cell(None) is None
    assert text_cell("") is None


def test_row_cells_neutralise_every_text_column() -> None:
    """Ids, codes and messages are neutralised too, not only the reference."""
    cells = row_cells(
        RowOutcome(
            row=7,
            status=Status.FAILED,
            order_id="=order",
            payment_ids=("-p1", "p2"),
            refund_ids=("@r",),
            error_code="+code",
            message="=msg",
            reference="ok",
        )
    )
    assert cells == (7, "'=order", "'-p1;p2", "JPY", None, None, 0, 0, "'@r", "failed",
                     "'+code", "'=msg", "ok", 0)  # fmt: skip


@pytest.mark.parametrize("bad", [1.0, Decimal("1"), True, "1", None])
def test_non_whole_numbers_are_refused_with_row_and_field(bad: object) -> None:
    """Floats, bools, strings and None aren't yen: the error names the row and field."""
    with pytest.raises(TypeError, match="row 9: amount must be a whole number"):
        whole(bad, "amount", 9)


@pytest.mark.parametrize(
    ("epoch_ms", "expected"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1_764_230_810_123, "2025-11-27T08:06:50.123Z"),
        (1_764_230_810_999, "2025-11-27T08:06:50.999Z"),
        (1_764_230_811_001, "2025-11-27T08:06:51.001Z"),
    ],
)
def test_iso_utc_ms(epoch_ms: int, expected: str) -> None:
    """Smartpay milliseconds render as fixed-width ISO-8601 UTC, exact to the millisecond."""
    assert iso_utc_ms(epoch_ms) == expected


def test_refund_cells_order() -> None:
    """A refund line follows REFUND_COLUMNS; a missing order id or reference is blank."""
    cells = refund_cells(RefundRecord("refund_test_1", 4, None, "payment_test_1", 700, None, 0))
    assert cells == ("refund_test_1", 4, None, "payment_test_1", 700, None,
                     "1970-01-01T00:00:00.000Z")  # fmt: skip
