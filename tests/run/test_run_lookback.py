"""Looking back at a run: its report re-created from the journal, needs_attention written as
the input was, summary.json naming the API and its mode, times in the report's zone."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from batch_refunds.errors import ConfigError
from batch_refunds.intake import load_requests
from batch_refunds.journal import Journal
from batch_refunds.models import Status
from batch_refunds.runner import RunOptions, recreate_report
from tests.run.conftest import KEY, Harness

ZONE = "Asia/Tokyo"


def _mixed_file(h: Harness, name: str = "returns.csv", encoding: str = "utf-8",
                delimiter: str = ",") -> Path:  # fmt: skip
    """Refunded rows (one split over two payments), a rejected over-refund, an invalid amount,
    a description that looks like a formula, and the input's own extra columns."""
    split, _ = h.order(10_000, 4_000, 6_000)
    plain, _ = h.order(5_000, 5_000)
    over, _ = h.order(1_000, 1_000)
    rows = [
        ["order_id", "amount", "reference", "description", "チケット"],
        [split, "7000", "RET-1", "two payments", "ZD-1"],
        [plain, "", "RET-2", '=HYPERLINK("x")', "ZD-2"],
        [over, "5000", "RET-3", "more than the order", "ZD-3"],
        [over, "12.5", "RET-4", "not whole yen", "ZD-4"],
    ]
    path = h.tmp / name
    with path.open("w", newline="", encoding=encoding) as handle:
        csv.writer(handle, delimiter=delimiter).writerows(rows)
    return path


def _workbook_values(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    book = openpyxl.load_workbook(path)
    return {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in book.worksheets}


async def test_a_deleted_report_is_recreated_from_the_journal_exactly(harness: Harness) -> None:
    """report RUN_ID's library call writes the same CSV bytes, workbook cells, summary.json and
    needs_attention file as the run did, from the journal alone (the input file gone too)."""
    path = _mixed_file(harness)
    result = await harness.run(path, timezone=ZONE)
    assert [o.status for o in result.outcomes] == [
        Status.REFUNDED, Status.REFUNDED, Status.REJECTED, Status.INVALID,
    ]  # fmt: skip
    original = result.report.directory
    saved = harness.tmp / "saved"
    shutil.copytree(original, saved)
    shutil.rmtree(original)
    path.unlink()  # the journal alone must do

    with Journal(harness.journal_path) as journal:
        paths = recreate_report(journal, result.summary.run_id, original)
        with pytest.raises(ConfigError, match="already holds a report"):
            recreate_report(journal, result.summary.run_id, original)
    assert paths.csv.read_bytes() == (saved / "reconciliation.csv").read_bytes()
    assert paths.needs_attention is not None
    assert paths.needs_attention.read_bytes() == (saved / "needs_attention.csv").read_bytes()
    assert json.loads(paths.summary.read_text(encoding="utf-8")) == json.loads(
        (saved / "summary.json").read_text(encoding="utf-8")
    )
    assert _workbook_values(paths.xlsx) == _workbook_values(saved / "reconciliation.xlsx")
    refunds = _workbook_values(paths.xlsx)["Refunds"]
    assert len(refunds) == 1 + 3  # two parts for the split row, one for the full refund


async def test_a_recreated_report_can_show_another_zone(harness: Harness) -> None:
    """--timezone on report: the same rows, the times shifted, summary.json still in UTC."""
    result = await harness.run(_mixed_file(harness), timezone=ZONE)
    with Journal(harness.journal_path) as journal:
        paths = recreate_report(journal, result.summary.run_id, harness.tmp / "utc",
                                timezone="UTC")  # fmt: skip
    assert paths.csv.read_bytes() == result.report.csv.read_bytes()
    summary = json.loads(paths.summary.read_text(encoding="utf-8"))
    assert summary["timezone"] == "UTC"
    assert summary["started_at"] == result.summary.started_at
    created = [row[-1] for row in _workbook_values(paths.xlsx)["Refunds"][1:]]
    assert all(str(c).endswith("Z") for c in created)


async def test_times_are_shown_in_the_zone_and_summary_json_keeps_utc(harness: Harness) -> None:
    """With a zone: the workbook's Refunds and Summary times carry its offset and are the same
    instants; summary.json keeps ISO UTC and names the zone."""
    result = await harness.run(_mixed_file(harness), timezone=ZONE)
    summary = json.loads(result.report.summary.read_text(encoding="utf-8"))
    assert summary["timezone"] == ZONE
    assert summary["started_at"].endswith("Z")
    sheets = _workbook_values(result.report.xlsx)
    fields = dict(sheets["Summary"][1:])
    started = datetime.fromisoformat(str(fields["started_at"]))
    assert started.utcoffset() == ZoneInfo(ZONE).utcoffset(started.replace(tzinfo=None))
    assert started == datetime.fromisoformat(summary["started_at"].replace("Z", "+00:00"))
    assert fields["timezone"] == ZONE
    created = [str(row[-1]) for row in sheets["Refunds"][1:]]
    assert created
    assert all(c.endswith("+09:00") for c in created)
    server_ms = {r.id: r.created_at for r in harness.refunds()}
    for line in sheets["Refunds"][1:]:
        moment = datetime.fromisoformat(str(line[-1]))
        assert int(moment.timestamp() * 1000) == server_ms[str(line[0])]


def test_an_unknown_zone_is_refused_when_options_are_built(tmp_path: Path) -> None:
    """A zone nobody knows is a ConfigError naming the option, before anything runs."""
    with pytest.raises(ConfigError, match="Mars/Olympus") as caught:
        RunOptions(input_path=tmp_path / "x.csv", out_dir=tmp_path, timezone="Mars/Olympus")
    assert caught.value.option == "timezone"


async def test_summary_json_names_the_api_and_its_test_mode(harness: Harness) -> None:
    """summary.json and the workbook's Summary say test mode and the API prefix talked to;
    the key is nowhere in them."""
    result = await harness.run(_mixed_file(harness))
    text = result.report.summary.read_text(encoding="utf-8")
    summary = json.loads(text)
    assert summary["api"] == {"mode": "test", "base_url": harness.server.base_url}
    fields = dict(_workbook_values(result.report.xlsx)["Summary"][1:])
    assert (fields["api.mode"], fields["api.base_url"]) == ("test", harness.server.base_url)
    assert KEY not in text


def _attention_rows(result_rows: list[Any]) -> list[tuple[str | None, int | None, str | None]]:
    return [(o.order_id, o.requested_amount, o.reference) for o in result_rows]


@pytest.mark.parametrize(("encoding", "delimiter"), [("cp932", ";"), ("utf-8-sig", ",")])
async def test_needs_attention_fed_back_validates_the_same_rows(
    harness: Harness, encoding: str, delimiter: str
) -> None:
    """needs_attention.csv holds the input's own header and just the rows that need a person,
    in the input's encoding and delimiter, formulas neutralised; read back it is valid where
    those rows were valid and invalid with the same codes where they were invalid."""
    path = _mixed_file(harness, encoding=encoding, delimiter=delimiter)
    result = await harness.run(path)
    attention = result.report.needs_attention
    assert attention is not None
    assert attention.name == "needs_attention.csv"
    raw = attention.read_bytes()
    text = raw.decode(encoding)
    assert text.splitlines()[0] == delimiter.join(
        ["order_id", "amount", "reference", "description", "チケット"]
    )
    back = load_requests(attention)
    assert (back.detected.encoding, back.detected.delimiter) == (
        load_requests(path).detected.encoding,
        delimiter,
    )
    rejected = [o for o in result.outcomes if o.status is Status.REJECTED]
    assert [(r.order_id, r.amount, r.reference) for r in back.requests] == _attention_rows(rejected)
    original = load_requests(path)
    assert [e.code for e in back.errors] == [e.code for e in original.errors]
    assert "RET-1" not in text
    assert "RET-2" not in text


async def test_needs_attention_of_a_workbook_is_a_workbook(harness: Harness) -> None:
    """An .xlsx input gets needs_attention.xlsx on a sheet of the same name; read back, it
    validates the same rows; a cell that looked like a formula comes back inert text."""
    split, _ = harness.order(10_000, 10_000)
    over, _ = harness.order(1_000, 1_000)
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "返金"
    sheet.append(["注文ID", "返金額", "備考"])
    sheet.append([split, 1_000, "ok"])
    sheet.append([over, 5_000, "-too much"])
    sheet.append([over, "abc", "@bad"])
    path = harness.tmp / "returns.xlsx"
    book.save(path)
    result = await harness.run(path)
    attention = result.report.needs_attention
    assert attention is not None
    assert attention.name == "needs_attention.xlsx"
    values = _workbook_values(attention)
    assert list(values) == ["返金"]
    assert values["返金"] == [
        ("注文ID", "返金額", "備考"), (over, 5000, "'-too much"), (over, "abc", "'@bad"),
    ]  # fmt: skip
    back = load_requests(attention)
    assert [(r.order_id, r.amount) for r in back.requests] == [(over, 5_000)]
    assert [e.code for e in back.errors] == [e.code for e in load_requests(path).errors]


async def test_a_run_with_every_row_done_writes_no_needs_attention(harness: Harness) -> None:
    """Nothing needs a person: no needs_attention file."""
    order, _ = harness.order(3_000, 3_000)
    result = await harness.run(harness.write([[order, None, 1_000, "R-1"]]))
    assert result.summary.exit_code == 0
    assert result.report.needs_attention is None
    assert sorted(p.name for p in result.report.directory.iterdir()) == [
        "reconciliation.csv", "reconciliation.xlsx", "summary.json",
    ]  # fmt: skip


async def test_runs_show_lists_the_rows_that_need_attention_with_reasons(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    """runs show on a finished run: totals in yen and each row needing a person, with its
    status, code and message."""
    from batch_refunds.cli.main import main

    result = await harness.run(_mixed_file(harness))
    code = main(["runs", "show", result.summary.run_id, "--journal", str(harness.journal_path),
                 "--timezone", "UTC"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert f"  requested           {'¥' + format(result.summary.requested_total, ','):>12}" in out
    assert "  Rows that need attention: 2" in out
    assert "    row 4     rejected amount.insufficient" in out
    assert "    row 5     invalid  input.amount" in out
    assert f"  started             {result.summary.started_at}" in out


async def test_a_row_split_by_an_unquoted_comma_stays_refused_when_fed_back(
    harness: Harness,
) -> None:
    """A row wider than its header (``1,500`` unquoted) is written back with every cell, so
    it is refused again, never read as ¥1 with reference 500."""
    order, _ = harness.order(3_000, 3_000)
    path = harness.tmp / "split.csv"
    path.write_text(f"order_id,amount,reference\n{order},1,500,R-1\n", encoding="utf-8")
    result = await harness.run(path)
    assert [o.status for o in result.outcomes] == [Status.INVALID]
    attention = result.report.needs_attention
    assert attention is not None
    back = load_requests(attention)
    assert back.requests == ()
    assert [e.code for e in back.errors] == [e.code for e in load_requests(path).errors]
