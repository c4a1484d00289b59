"""Cell values: formula neutralisation, whole-number checks, timestamps."""

from __future__ import annotations

import unicodedata
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batch_refunds.models import RefundRecord, RowOutcome, Status
from batch_refunds.report.cells import (
    FORMULA_TRIGGERS,
    WIDE_TRIGGERS,
    neutralise,
    starts_formula,
    text_cell,
)
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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("＝1+1", "'＝1+1"),  # U+FF1D
        ('＝HYPERLINK("http://evil.example")', '\'＝HYPERLINK("http://evil.example")'),
        ("＋81 3 1234", "'＋81 3 1234"),  # U+FF0B
        ("－2", "'－2"),  # U+FF0D
        ("＠SUM(A1)", "'＠SUM(A1)"),  # U+FF20
        ("﹦1", "'﹦1"),  # U+FE66, small equals: NFKC folds it into "=" as well
        ("返金＝済", "返金＝済"),  # only the first character decides
        ("−2", "−2"),  # U+2212 MINUS SIGN is no trigger, and NFKC keeps it
        ("ー", "ー"),  # the katakana long-vowel mark is not a minus
    ],
)
def test_neutralise_full_width_triggers(text: str, expected: str) -> None:
    """Full-width ＝ ＋ － ＠ (and forms NFKC folds into a trigger) earn the quote too."""
    assert neutralise(text) == expected


def test_every_wide_trigger_is_neutralised() -> None:
    """Each listed full-width trigger, alone at the start of a cell, is quoted."""
    assert [neutralise(c + "x") for c in WIDE_TRIGGERS] == ["'＝x", "'＋x", "'－x", "'＠x"]


def _would_trigger(text: str) -> bool:
    return bool(text) and unicodedata.normalize("NFKC", text[0]).startswith(FORMULA_TRIGGERS)


@given(st.text())
def test_neutralised_text_never_starts_with_a_trigger(text: str) -> None:
    """Whatever the input, the output is inert (also after NFKC) and the original is
    recoverable; only text that starts with a trigger, as typed or once folded, changes."""
    safe = neutralise(text)
    assert not _would_trigger(safe)
    assert safe in (text, "'" + text)
    assert (safe != text) == (text.startswith(FORMULA_TRIGGERS) or _would_trigger(text))
    assert starts_formula(text) == (safe != text)


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
            shop_order="=ORD-1",
        )
    )
    assert cells == (7, "'=order", "'=ORD-1", "'-p1;p2", "JPY", None, None, 0, 0, "'@r",
                     "failed", "'+code", "'=msg", "ok", 0)  # fmt: skip


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
