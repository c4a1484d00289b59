"""One definition of "requested" and "refunded" wherever a person reads them."""

from __future__ import annotations

import csv
import io
import json

import openpyxl
import pytest

from batch_refunds.cli.render import print_summary
from batch_refunds.errors import ConfigError
from batch_refunds.journal import Journal
from batch_refunds.models import Mode, Status
from batch_refunds.runner import PlanTotals, RunHooks, RunResult
from tests.run.conftest import Harness, statuses


def every_place(result: RunResult) -> dict[str, tuple[int, int, int]]:
    """(requested, already refunded, refunded) as each file and the terminal state them."""
    places: dict[str, tuple[int, int, int]] = {}
    data = json.loads(result.report.summary.read_text(encoding="utf-8"))
    t = data["totals"]
    places["summary.json"] = (t["requested"], t["already_refunded"], t["refunded"])
    with result.report.csv.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    requested = sum(o.requested_yen for o in result.outcomes)
    places["csv rows"] = (
        requested,
        sum(int(r["already_refunded"]) for r in rows),
        sum(int(r["refunded_amount"]) for r in rows),
    )
    book = openpyxl.load_workbook(result.report.xlsx)
    summary = {r[0].value: r[1].value for r in book["Summary"].iter_rows(min_row=2)}
    places["workbook Summary"] = (
        summary["totals.requested"],
        summary["totals.already_refunded"],
        summary["totals.refunded"],
    )
    refunds = sum(r[4].value for r in book["Refunds"].iter_rows(min_row=2))
    places["workbook Refunds"] = (requested, places["csv rows"][1], refunds)
    terminal = io.StringIO()
    print_summary(result, terminal)
    text = terminal.getvalue()

    def amount(label: str) -> int:
        line = next(line for line in text.splitlines() if line.strip().startswith(label))
        return int(line.split("¥")[1].replace(",", ""))

    places["terminal"] = (amount("requested"), amount("already refunded"), amount("refunded now"))
    return places


async def test_every_place_states_the_same_totals(harness: Harness) -> None:
    """After a run that mixes a fresh refund, a resumed row and a top-up, the CSV, the
    workbook's Summary and Refunds sheets, summary.json and the terminal agree."""
    a, _ = harness.order(5000, 5000)
    b, (pb,) = harness.order(5000, 5000)
    c, _ = harness.order(5000, 5000)
    harness.server.state.add_refund(pb, 400, reference="RB")  # the dashboard
    await harness.run(harness.write([(c, None, 300, "RC")], name="earlier.csv"))
    path = harness.write(
        [(a, None, 1000, "RA"), (b, None, 1500, "RB"), (c, None, 300, "RC"), (a, None, None, "X")]
    )
    result = await harness.run(path)
    assert statuses(result) == [Status.REFUNDED, Status.REFUNDED, Status.ALREADY_REFUNDED,
                                Status.REFUNDED]  # fmt: skip
    expected = (1000 + 1500 + 300 + 4000, 400 + 300, 1000 + 1100 + 4000)
    places = every_place(result)
    assert places == dict.fromkeys(places, expected)


async def test_confirmation_uses_the_same_terms(harness: Harness) -> None:
    """The prompt's requested and already-refunded figures are the summary's."""
    a, (pa,) = harness.order(5000, 5000)
    harness.server.state.add_refund(pa, 400, reference="RA")
    seen: list[PlanTotals] = []

    async def confirm(totals: PlanTotals) -> bool:
        seen.append(totals)
        return True

    result = await harness.run(harness.write([(a, None, 1000, "RA")]), hooks=RunHooks(confirm))
    (totals,) = seen
    assert (totals.requested, totals.already_refunded, totals.total_to_send) == (1000, 400, 600)
    assert (result.summary.requested_total, result.summary.already_refunded_total) == (1000, 400)
    assert result.summary.refunded_total == totals.total_to_send


async def test_a_plan_is_never_credited_with_a_refund(harness: Harness) -> None:
    """A plan that resolves a lost answer by lookup credits the refund to the run that sent
    it: the plan's report lists no refund, and the run that sent it keeps it in the journal."""
    oid, _ = harness.order(3000, 3000)
    path = harness.write([(oid, None, 1000, "LOST")])
    harness.server.knobs.drop_after_commit_rate = 1.0
    first = await harness.run(path, max_attempts=1)
    assert statuses(first) == [Status.FAILED]
    harness.server.knobs.drop_after_commit_rate = 0.0
    plan = await harness.run(path, mode=Mode.PLAN)
    assert statuses(plan) == [Status.ALREADY_REFUNDED]
    assert plan.summary.refunded_total == 0
    book = openpyxl.load_workbook(plan.report.xlsx)
    assert book["Refunds"].max_row == 1  # the header alone
    with Journal(harness.journal_path) as journal:
        (credited,) = journal.refunds_credited_to(first.summary.run_id)
        assert journal.refunds_credited_to(plan.summary.run_id) == []
    assert credited.amount == 1000


async def test_out_folder_holding_a_report_is_refused_before_anything_is_sent(
    harness: Harness,
) -> None:
    """A report folder that already holds a report is never replaced: the run refuses
    before any request, and the earlier report stays byte for byte."""
    oid, _ = harness.order(3000, 3000)
    first = await harness.run(harness.write([(oid, None, 1000, "R1")]))
    before = first.report.summary.read_bytes()
    other, _ = harness.order(3000, 3000)
    requests = harness.server.state.stats.requests.copy()
    with pytest.raises(ConfigError, match="already holds a report"):
        await harness.run(
            harness.write([(other, None, 500, "R2")], name="b.csv"),
            out_dir=first.report.directory,
        )
    assert harness.server.state.stats.requests == requests
    assert first.report.summary.read_bytes() == before


def terminal(result: RunResult) -> str:
    out = io.StringIO()
    print_summary(result, out)
    return out.getvalue()


async def test_terminal_names_the_rows_to_look_at(harness: Harness) -> None:
    """The summary lists each held, rejected, invalid or failed row with its reason, so the
    person learns why the run exited 1 without opening the report."""
    oid, _ = harness.order(5000, 5000)
    await harness.run(harness.write([(oid, None, 1000, "R-1")], name="monday.csv"))
    other, _ = harness.order(1000, 1000)
    rows = [(oid, None, 500, "R-1"), (other, None, 9999, "R-2"), (other, None, 1, "")]
    result = await harness.run(harness.write(rows, name="t.csv"))
    text = terminal(result)
    assert "Rows to look at:" in text
    assert "row 2     held     hold.reference-exceeds" in text
    assert "row 3     rejected amount.insufficient" in text
    assert "row 4" not in text  # refunded: nothing to look at
    assert "--new-refunds" not in text


async def test_terminal_names_the_flag_for_a_row_that_may_be_a_changed_one(
    harness: Harness,
) -> None:
    """A row held as maybe a changed version of a refunded row: the summary names the flag
    that sends it, which the library's own message does not."""
    oid, _ = harness.order(5000, 5000)
    await harness.run(harness.write([(oid, None, 1000, None)]))
    result = await harness.run(harness.write([(oid, None, 1000, "RMA-1")], name="edited.csv"))
    assert "--new-refunds" not in (result.outcomes[0].message or "")
    assert "hold.earlier-row-missing that are new refunds: run again with --new-refunds" in (
        terminal(result)
    )


async def test_a_plan_says_what_it_would_refund(harness: Harness) -> None:
    """plan prints what a run would send, in the same terms: requested less already refunded."""
    oid, (pid,) = harness.order(5000, 5000)
    harness.server.state.add_refund(pid, 500, reference="RMA-9")
    result = await harness.run(harness.write([(oid, None, 3000, "RMA-9")]), mode=Mode.PLAN)
    lines = terminal(result).splitlines()
    assert any(line.split() == ["would", "refund", "¥2,500"] for line in lines)
