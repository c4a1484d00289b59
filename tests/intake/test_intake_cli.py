"""``batch-refunds validate`` and ``batch-refunds template`` end to end (in process)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from batch_refunds.cli.main import main
from batch_refunds.intake import load_requests

from .conftest import FIXTURES, INPUTS


def test_validate_all_valid_exits_0_and_reports_what_it_found(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A clean file: exit 0; detection, counts and yen total on stdout."""
    assert main(["validate", str(INPUTS / "refunds_ja_cp932.csv")]) == 0
    out = capsys.readouterr().out
    assert "nothing was sent to Smartpay" in out
    assert "CSV, CP932 (Shift-JIS, Japanese Excel), comma-separated" in out
    assert '"返金額"' in out
    assert "→ amount" in out
    assert "¥64,800" in out
    assert "All 6 rows are valid." in out


def test_validate_some_invalid_exits_1_and_lists_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Invalid rows: exit 1, each shown with row, column, value and message."""
    assert main(["validate", str(FIXTURES / "invalid_rows.csv")]) == 1
    out = capsys.readouterr().out
    assert 'row 10  amount       "1500.5"' in out
    assert "14 rows to fix; 2 ready." in out


def test_validate_allow_duplicate_rows_flag(capsys: pytest.CaptureFixture[str]) -> None:
    """--allow-duplicate-rows turns the duplicate into a valid request."""
    main(["validate", str(FIXTURES / "invalid_rows.csv"), "--allow-duplicate-rows"])
    assert "13 rows to fix; 3 ready." in capsys.readouterr().out


@pytest.mark.parametrize(
    "args",
    [
        [str(FIXTURES / "bad_no_id_column.csv")],
        [str(FIXTURES / "bad_not_a_workbook.xlsx")],
        [str(FIXTURES / "missing.csv")],
        [str(FIXTURES / "utf8.csv"), "--encoding", "bogus"],
        [str(FIXTURES / "titled.xlsx"), "--sheet", "Nope"],
    ],
)
def test_validate_unusable_file_exits_2_with_a_message_on_stderr(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Unreadable files, missing id columns and bad options: exit 2, message on stderr."""
    assert main(["validate", *args]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("Cannot use ")
    assert captured.out == ""


def test_validate_out_writes_every_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--out DIR writes invalid_rows.csv with row, column, value, code and message."""
    out_dir = tmp_path / "report"
    assert main(["validate", str(FIXTURES / "invalid_rows.csv"), "--out", str(out_dir)]) == 1
    with (out_dir / "invalid_rows.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    expected = load_requests(FIXTURES / "invalid_rows.csv").errors
    assert [(int(r["row"]), r["code"], r["value"]) for r in rows] == [
        (e.row, e.code, e.value) for e in expected
    ]
    assert list(rows[0]) == ["row", "column", "value", "code", "message"]
    assert str(out_dir / "invalid_rows.csv") in capsys.readouterr().out


def test_validate_shows_only_the_first_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Many errors: the first 20 are printed, with a pointer to --out for the rest."""
    path = tmp_path / "many.csv"
    path.write_text("order_id,amount\n" + "order_test_A1,abc\n" * 30, encoding="utf-8")
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "Errors (20 of 30; --out DIR writes them all to a CSV)" in out
    assert "row 21 " in out
    assert "row 22 " not in out


@pytest.mark.parametrize(("name", "fmt"), [("t.csv", None), ("t.xlsx", None), ("t", "xlsx")])
def test_template_writes_a_file_that_loads(
    tmp_path: Path, name: str, fmt: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    """The template has the canonical headers and two example rows that validate."""
    path = tmp_path / name
    args = ["template", str(path)] + (["--format", fmt] if fmt else [])
    assert main(args) == 0
    result = load_requests(path)
    assert len(result.requests) == 2
    assert result.errors == ()
    assert [name for _, name in result.detected.columns] == [
        "order_id",
        "payment_id",
        "amount",
        "currency",
        "reason",
        "description",
        "reference",
        "line_items",
    ]
    assert main(["validate", str(path)]) == 0
    assert "Wrote the" in capsys.readouterr().out


def test_template_refuses_to_overwrite_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An existing file is kept unless --force is given."""
    path = tmp_path / "mine.csv"
    path.write_text("precious", encoding="utf-8")
    assert main(["template", str(path)]) == 2
    assert path.read_text(encoding="utf-8") == "precious"
    assert "--force" in capsys.readouterr().err
    assert main(["template", str(path), "--force"]) == 0
    assert path.read_text(encoding="utf-8-sig").startswith("order_id,")
