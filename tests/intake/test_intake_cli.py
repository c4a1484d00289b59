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
    """--out DIR writes invalid_rows.csv with row, column, value, code and message (a value a
    spreadsheet would evaluate, such as -500, with a leading quote)."""
    out_dir = tmp_path / "report"
    assert main(["validate", str(FIXTURES / "invalid_rows.csv"), "--out", str(out_dir)]) == 1
    with (out_dir / "invalid_rows.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    expected = load_requests(FIXTURES / "invalid_rows.csv").errors
    assert [(int(r["row"]), r["code"], r["value"].removeprefix("'")) for r in rows] == [
        (e.row, e.code, e.value) for e in expected
    ]
    assert (9, "'-500") in [(int(r["row"]), r["value"]) for r in rows]
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


def test_validate_column_maps_a_header_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--column amount=HEADER reads the amounts there; the column is marked (--column)."""
    path = tmp_path / "r.csv"
    path.write_text("order_id,Betrag\norder_test_A1,1500\n", encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    assert main(["validate", str(path), "--column", "amount=Betrag"]) == 0
    out = capsys.readouterr().out
    assert '"Betrag"    → amount  (--column)' in out
    assert "¥1,500" in out


def test_validate_refuses_a_file_without_amounts_unless_full_refunds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No amount column: exit 2 naming both ways out; --full-refunds: exit 0 with a note."""
    path = tmp_path / "ids.csv"
    path.write_text("order_id\norder_test_A1\n", encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "--column amount=" in err
    assert "--full-refunds" in err
    assert main(["validate", str(path), "--full-refunds"]) == 0
    assert "Note: The file has no amount column" in capsys.readouterr().out


@pytest.mark.parametrize("column", ["amount", "amount=", "=Betrag", "amout=Betrag"])
def test_validate_bad_column_option_exits_2(
    tmp_path: Path, column: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A malformed --column or an unknown column name is refused before anything is read."""
    path = tmp_path / "r.csv"
    path.write_text("order_id,Betrag\norder_test_A1,1500\n", encoding="utf-8")
    assert main(["validate", str(path), "--column", column]) == 2
    assert "--column" in capsys.readouterr().err


def test_validate_counts_total_lines_and_prints_every_warning_as_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Skipped total lines have their own count; the notes are exactly LoadResult.warnings."""
    path = tmp_path / "t.csv"
    path.write_text(
        "order_id,amount,customer\norder_test_A1,1500,Kim\norder_test_A2,2000,Lee\n合計,3600,\n",
        encoding="utf-8",
    )
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "    total lines (skipped)         1\n" in out
    notes = [line.removeprefix("Note: ") for line in out.splitlines() if line.startswith("Note: ")]
    assert tuple(notes) == load_requests(path).warnings
    assert len(notes) == 3


def test_input_options_reach_load_requests_through_load_options() -> None:
    """plan, run and validate share --column/--full-refunds; load_options makes the kwargs."""
    from batch_refunds.cli.common import load_options
    from batch_refunds.cli.main import build_parser

    for command in ("validate", "plan", "run"):
        args = build_parser().parse_args(
            [command, "r.csv", "--column", "amount=返金額（税込）", "--column",
             "metadata.ticket='Ticket no'", "--full-refunds", "--sheet", "S"]
        )  # fmt: skip
        assert load_options(args) == {
            "sheet": "S",
            "encoding": None,
            "allow_duplicate_rows": False,
            "columns": {"amount": "返金額（税込）", "metadata.ticket": "Ticket no"},
            "full_refunds": True,
        }


def test_a_column_given_twice_is_refused() -> None:
    """--column amount=… twice is a usage error, not last-one-wins."""
    from batch_refunds.cli.common import load_options
    from batch_refunds.cli.main import build_parser
    from batch_refunds.errors import ConfigError

    args = build_parser().parse_args(
        ["validate", "r.csv", "--column", "amount=a", "--column", "amount=b"]
    )
    with pytest.raises(ConfigError, match="twice"):
        load_options(args)


def test_xlsx_template_formats_ids_as_text_and_amounts_as_yen(tmp_path: Path) -> None:
    """The workbook template: bold frozen header, id and text columns formatted as Text and
    the amount as #,##0 down to row 1000, so Excel keeps pasted ids as typed."""
    import openpyxl

    path = tmp_path / "refunds.xlsx"
    assert main(["template", str(path)]) == 0
    sheet = openpyxl.load_workbook(path)["Refunds"]
    header = [cell.value for cell in sheet[1]]
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet.freeze_panes == "A2"
    formats = {
        name: {sheet.cell(row=r, column=i).number_format for r in (2, 3, 500, 1000)}
        for i, name in enumerate(header, start=1)
    }
    assert formats.pop("amount") == {"#,##0"}
    assert all(f == {"@"} for f in formats.values())
    assert sheet.cell(row=1001, column=1).number_format == "General"
    widths = {i: d.width for d in sheet.column_dimensions.values() for i in range(d.min, d.max + 1)}
    assert widths == {1: 36.0, 2: 36.0, **dict.fromkeys(range(3, 9), 22.0)}
    assert sheet.cell(row=3, column=3).value == 1500
