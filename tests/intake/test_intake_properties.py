"""Property tests: nothing but the documented file error escapes, and the fast path is exact."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batch_refunds.errors import ConfigError, InputFileError
from batch_refunds.intake import load_requests
from batch_refunds.intake.cells import UnreadCell
from batch_refunds.intake.columns import AMOUNT, map_columns
from batch_refunds.intake.read import Cell
from batch_refunds.intake.scan import (
    FAST_CURRENCIES,
    Scan,
    _total_line,
    duplicate_error,
    duplicate_key,
    scan_rows,
)
from batch_refunds.intake.totals import TotalLine
from batch_refunds.intake.validate import RowValidator, is_blank, is_jpy
from batch_refunds.models import RefundRequest, RowError

from .conftest import FIXTURES


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    """One directory reused by every example (hypothesis forbids function-scoped tmp_path)."""
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


_PREFIXES = st.sampled_from(
    [b"", b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"\xef\xbb\xbf", b"\xff\xfe", b"order_id,amount\n"]
)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    prefix=_PREFIXES,
    body=st.binary(max_size=400),
    suffix=st.sampled_from([".csv", ".tsv", ".txt", ".xlsx", ".xls", ".ods", ".dat"]),
)
def test_arbitrary_bytes_load_or_raise_input_file_error(
    scratch: Path, prefix: bytes, body: bytes, suffix: str
) -> None:
    """Any bytes under any name load or raise InputFileError (ConfigError: only for
    full_refunds beside an amount column), and every row is accounted for."""
    path = scratch / f"input{suffix}"
    path.write_bytes(prefix + body)
    for full_refunds in (False, True):
        result = None
        refused_with: str | None
        try:
            result = load_requests(path, full_refunds=full_refunds, keep_cells=True)
        except InputFileError as exc:
            refused_with = exc.code
        except ConfigError:
            assert full_refunds  # only --full-refunds beside an amount column is misuse
            continue
        else:
            refused_with = None
        if result is None:
            assert refused_with is not None
            assert refused_with.startswith("input.")
            continue
        assert result.total_rows == (
            len(result.requests)
            + len(result.invalid_rows)
            + result.skipped_blank_rows
            + result.skipped_total_rows
        )
        assert sorted(result.cells) == sorted(
            {r.row for r in result.requests} | set(result.invalid_rows)
        )


def test_damaged_real_workbook_bytes_raise_input_file_error(scratch: Path) -> None:
    """Every truncation of a real workbook is refused cleanly (the reader must not crash)."""
    data = (FIXTURES / "excel_typed.xlsx").read_bytes()
    path = scratch / "cut.xlsx"
    for end in range(0, len(data), max(1, len(data) // 40)):
        path.write_bytes(data[:end])
        with pytest.raises(InputFileError):
            load_requests(path)


_PLAUSIBLE = st.sampled_from(
    [
        "order_test_A1",
        " order_test_B2 ",
        "order_live_C3",
        "ｏｒｄｅｒ＿ｔｅｓｔ＿Ｄ４",
        "payment_test_P1",
        "payment_live_P2",
        "1500",
        "¥1,500",
        "１，５００円",
        "1500.0",
        "1500.5",
        "0",
        "-1",
        "100000001",
        "1",
        "500",
        "",
        " ",
        "JPY",
        "jpy",
        "USD",
        "fraudulent",
        "Requested By Customer",
        "不正",
        "顧客都合",
        "nope",
        "li_a;li_b",
        "li_a, li_b",
        "x" * 256,
        "y" * 201,
        "合計",
        "Total:",
        "小計（税込）",
        "円",
        "YEN",
        "yen",
        "¥",
        "￥",
        "ＪＰＹ",
        "日本円",
        "2026-11-01",
        # hostile cells: control characters, bidi overrides, sizes past every bound
        "order_test_A\x1b1",
        "RF\u202e1",
        "memo\x00",
        "\x1b[31m",
        "two\nlines",
        "1" * 5000,
        "１" * 50,
        "z" * 33_000,
        "li_a\x1b;li_b",
        "order_test_" + "A" * 101,
        "返品\u3000全額",
    ]
)
_CELLS = st.one_of(
    _PLAUSIBLE,
    _PLAUSIBLE,
    st.sampled_from([UnreadCell("B2*2"), UnreadCell(None), UnreadCell("1/0", "#DIV/0!")]),
    st.text(max_size=8),
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 1, 1)),
)
_TEXT_CELLS = st.one_of(_PLAUSIBLE, _PLAUSIBLE, st.text(max_size=8))
_HEADERS = (
    [
        "order_id",
        "payment_id",
        "amount",
        "currency",
        "reason",
        "description",
        "reference",
        "line_items",
        "metadata.k",
    ],
    ["amount", "order_id", "metadata.k", "metadata.j"],
    ["payment_id"],
    ["order_id", "extra", "amount", "reference"],  # an ignored column between used ones
)


def _reference_scan(rows: list[tuple[int, list[Cell]]], validator: RowValidator) -> Scan:
    """The slow path alone: is_blank, total_label, RowValidator.check, the duplicate key."""
    requests: list[RefundRequest] = []
    errors: list[RowError] = []
    totals: list[TotalLine] = []
    first_rows: dict[object, int] = {}
    blank = 0
    amount_at = validator.columns.index(AMOUNT)
    for number, cells in rows:
        if is_blank(cells):
            blank += 1
            continue
        label = validator.total_label(cells)
        if label is not None:
            totals.append(_total_line(number, label, cells, amount_at))
            continue
        outcome = validator.check(number, cells)
        if not isinstance(outcome, RefundRequest):
            errors.extend(outcome)
            continue
        first = first_rows.setdefault(duplicate_key(outcome), number)
        if first != number:
            errors.append(duplicate_error(outcome, first))
            continue
        requests.append(outcome)
    by_id: dict[str, list[RefundRequest]] = {}
    for request in requests:
        by_id.setdefault(request.order_id or request.payment_id or "", []).append(request)
    same_id = [group for group in by_id.values() if len(group) > 1]
    return Scan(requests, errors, len(rows), blank, totals, same_id=same_id)


@st.composite
def _table(draw: st.DrawFn) -> tuple[list[str], list[tuple[int, list[Cell]]], bool]:
    header = draw(st.sampled_from(_HEADERS))
    width = len(header)
    text_file = draw(st.booleans())
    cells = _TEXT_CELLS if text_file else _CELLS  # text files only ever yield str cells
    rows = draw(
        st.lists(
            st.lists(cells, min_size=max(width - 1, 0), max_size=width + 1),
            max_size=8,
        )
    )
    # Repeat some rows so that duplicates are exercised too.
    rows = rows + draw(st.lists(st.sampled_from(rows), max_size=3)) if rows else rows
    return header, [(i + 2, row) for i, row in enumerate(rows)], text_file


@settings(max_examples=250, deadline=None)
@given(_table())
def test_fast_path_agrees_with_the_row_validator(
    table: tuple[list[str], list[tuple[int, list[Cell]]], bool],
) -> None:
    """scan_rows gives exactly what is_blank + RowValidator.check give, for arbitrary cells."""
    header, rows, text_file = table
    columns = map_columns(header, header_row=1)
    unread = not text_file
    fast = scan_rows(
        rows,
        RowValidator(columns, check_width=text_file, unread_cells=unread),
        allow_duplicate_rows=False,
    )
    slow = _reference_scan(rows, RowValidator(columns, check_width=text_file, unread_cells=unread))
    assert fast == slow


@settings(max_examples=250, deadline=None)
@given(st.lists(_CELLS, min_size=1, max_size=11), st.booleans())
def test_arbitrary_cells_never_raise(cells: list[Cell], text_file: bool) -> None:
    """Any row of any cell values becomes a request or row errors, never an exception."""
    columns = map_columns(_HEADERS[0], header_row=1)
    if is_blank(cells):
        return
    outcome = RowValidator(columns, check_width=text_file, unread_cells=True).check(2, cells)
    if isinstance(outcome, RefundRequest):
        assert outcome.order_id or outcome.payment_id
        assert outcome.amount is None or outcome.amount > 0
    else:
        assert outcome
        assert all(e.row == 2 and e.code.startswith("input.") for e in outcome)


def test_every_fast_path_currency_is_one_check_accepts() -> None:
    """The fast path's currency spellings are a subset of what RowValidator.check takes."""
    assert all(is_jpy(text) for text in FAST_CURRENCIES if text)


@settings(max_examples=200, deadline=None)
@given(st.lists(_CELLS, min_size=1, max_size=9))
def test_an_unread_cell_never_becomes_part_of_a_request(cells: list[Cell]) -> None:
    """A row with an unread formula or error in a used column is never a request."""
    columns = map_columns(_HEADERS[0], header_row=1)
    used = {i for _, i in columns.indices} | {i for _, i in columns.metadata}
    if not any(isinstance(c, UnreadCell) for i, c in enumerate(cells) if i in used):
        return
    outcome = RowValidator(columns, unread_cells=True).check(2, cells)
    assert not isinstance(outcome, RefundRequest)
    assert "input.formula" in {e.code for e in outcome}
