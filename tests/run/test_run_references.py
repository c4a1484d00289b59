"""A reference names refunds: corrected amounts, dashboard refunds and cumulative files.

Each story runs against the sandbox over loopback, with the journal kept and with it lost
(a fresh journal file), and with the payment's ``refunds`` listed as objects and as ids.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from batch_refunds.exit_codes import EXIT_OK, EXIT_ROWS_NOT_DONE
from batch_refunds.models import Mode, Status
from tests.run.conftest import Harness, statuses

JOURNAL = ["kept", "lost"]
LISTED = ["objects", "ids"]


def lose_journal_if(harness: Harness, journal: str) -> None:
    if journal == "lost":
        harness.journal_path = harness.tmp / f"fresh-{harness.runs}.sqlite3"


def csv_text(path: Path) -> str:
    return path.read_text(encoding="utf-8-sig")


def under(harness: Harness, pid: str, reference: str) -> list[int]:
    return [r.amount for r in harness.refunds(pid) if r.reference == reference]


@pytest.mark.parametrize("listed", LISTED)
@pytest.mark.parametrize("journal", JOURNAL)
async def test_corrected_amount_is_topped_up_to_the_new_total(
    harness: Harness, journal: str, listed: str
) -> None:
    """1,000 refunded under HR-T1, the sheet corrected to 1,200: only 200 more is sent, so
    Smartpay ends at what the file now asks for HR-T1, and a re-run sends nothing."""
    harness.server.knobs.payment_refunds = listed  # type: ignore[assignment]
    oid, (pid,) = harness.order(5000, 5000)
    await harness.run(harness.write([(oid, None, 1000, "HR-T1")]))
    lose_journal_if(harness, journal)
    corrected = harness.write([(oid, None, 1200, "HR-T1")], name="corrected.csv")
    result = await harness.run(corrected)
    (row,) = result.outcomes
    assert row.status is Status.REFUNDED
    assert (row.already_refunded, row.refunded_amount) == (1000, 200)
    assert "¥1,000" in (row.message or "")
    assert "¥200" in (row.message or "")
    assert sorted(under(harness, pid, "HR-T1")) == [200, 1000]
    posts = harness.posts()
    lose_journal_if(harness, journal)
    again = await harness.run(corrected)
    assert statuses(again) == [Status.ALREADY_REFUNDED]
    assert again.outcomes[0].already_refunded == 1200
    assert harness.posts() == posts


@pytest.mark.parametrize("journal", JOURNAL)
async def test_amount_corrected_below_what_exists_is_held(harness: Harness, journal: str) -> None:
    """1,000 refunded under HR-T1, the sheet now says 800: refunds are final, so nothing is
    sent and the row is held with both numbers in its message; the run exits 1."""
    oid, (_pid,) = harness.order(5000, 5000)
    await harness.run(harness.write([(oid, None, 1000, "HR-T1")]))
    lose_journal_if(harness, journal)
    posts = harness.posts()
    result = await harness.run(harness.write([(oid, None, 800, "HR-T1")], name="lower.csv"))
    (row,) = result.outcomes
    assert (row.status, row.error_code) == (Status.HELD, "hold.reference-exceeds")
    assert "¥1,000" in (row.message or "")
    assert "¥800" in (row.message or "")
    assert harness.posts() == posts
    assert result.summary.exit_code == EXIT_ROWS_NOT_DONE
    assert dict(result.summary.counts)[Status.HELD] == 1


@pytest.mark.parametrize("listed", LISTED)
async def test_smaller_dashboard_refund_is_never_reported_done(
    harness: Harness, listed: str
) -> None:
    """¥500 refunded in the dashboard under RMA-9, a row asks ¥7,000 with RMA-9: the row is
    not already_refunded; the rest (¥6,500) is sent so RMA-9 totals what the file asks."""
    harness.server.knobs.payment_refunds = listed  # type: ignore[assignment]
    oid, (pid,) = harness.order(10000, 10000)
    harness.server.state.add_refund(pid, 500, reference="RMA-9")  # no marker: the dashboard
    result = await harness.run(harness.write([(oid, None, 7000, "RMA-9")]))
    (row,) = result.outcomes
    assert row.status is Status.REFUNDED
    assert (row.requested_yen, row.already_refunded, row.refunded_amount) == (7000, 500, 6500)
    assert sorted(under(harness, pid, "RMA-9")) == [500, 6500]
    assert result.summary.exit_code == EXIT_OK


async def test_dashboard_refund_of_the_whole_amount_is_already_refunded(
    harness: Harness,
) -> None:
    """A dashboard refund under the row's reference for exactly what it asks: nothing sent."""
    oid, (pid,) = harness.order(10000, 10000)
    harness.server.state.add_refund(pid, 7000, reference="RMA-9")
    result = await harness.run(harness.write([(oid, None, 7000, "RMA-9")]))
    assert statuses(result) == [Status.ALREADY_REFUNDED]
    assert result.outcomes[0].already_refunded == 7000
    assert harness.posts() == 0


async def test_blank_amount_counts_an_existing_refund_under_its_reference(
    harness: Harness,
) -> None:
    """A full-refund row refunds what remains; a dashboard refund under its reference is
    reported as already refunded, so requested = already + refunded = the payment."""
    oid, (pid,) = harness.order(3000, 3000)
    harness.server.state.add_refund(pid, 500, reference="RMA-1")
    result = await harness.run(harness.write([(oid, None, None, "RMA-1")]))
    (row,) = result.outcomes
    assert row.status is Status.REFUNDED
    assert (row.already_refunded, row.refunded_amount, row.requested_yen) == (500, 2500, 3000)


@pytest.mark.parametrize("journal", JOURNAL)
async def test_cumulative_file_with_two_lines_of_one_return(harness: Harness, journal: str) -> None:
    """Monday's line stays in Tuesday's file, which adds a second line of the same return
    (same reference): no false alarm, only the new ¥500 is sent."""
    oid, (pid,) = harness.order(5000, 5000)
    await harness.run(harness.write([(oid, None, 1000, "RMA-1")], name="monday.csv"))
    lose_journal_if(harness, journal)
    tuesday = harness.write([(oid, None, 1000, "RMA-1"), (oid, None, 500, "RMA-1")], "tue.csv")
    result = await harness.run(tuesday)
    assert statuses(result) == [Status.ALREADY_REFUNDED, Status.REFUNDED]
    assert [o.refunded_amount for o in result.outcomes] == [0, 500]
    assert sorted(under(harness, pid, "RMA-1")) == [500, 1000]
    lose_journal_if(harness, journal)
    again = await harness.run(tuesday)
    assert statuses(again) == [Status.ALREADY_REFUNDED] * 2


@pytest.mark.parametrize("journal", JOURNAL)
async def test_identical_lines_sharing_a_reference_are_two_refunds(
    harness: Harness, journal: str
) -> None:
    """Two identical lines, allowed as duplicates, are two refunds, both recognised later."""
    oid, (pid,) = harness.order(5000, 5000)
    path = harness.write([(oid, None, 700, "TWIN"), (oid, None, 700, "TWIN")])
    first = await harness.run(path, allow_duplicate_rows=True)
    assert statuses(first) == [Status.REFUNDED] * 2
    lose_journal_if(harness, journal)
    again = await harness.run(path, allow_duplicate_rows=True)
    assert statuses(again) == [Status.ALREADY_REFUNDED] * 2
    assert under(harness, pid, "TWIN") == [700, 700]


async def test_a_reference_reused_for_a_new_refund_is_held(harness: Harness) -> None:
    """A daily file that reuses Monday's reference for another ¥500 is held, not guessed:
    ¥1,000 already stands under the reference, more than the file's ¥500."""
    oid, (pid,) = harness.order(5000, 5000)
    await harness.run(harness.write([(oid, None, 1000, "R-1")], name="monday.csv"))
    result = await harness.run(harness.write([(oid, None, 500, "R-1")], name="tuesday.csv"))
    assert statuses(result) == [Status.HELD]
    assert "reference of its own" in (result.outcomes[0].message or "")
    assert under(harness, pid, "R-1") == [1000]


async def test_held_rows_are_planned_as_held(harness: Harness) -> None:
    """plan shows the hold too, and the confirmation total leaves the held row out."""
    oid, _ = harness.order(5000, 5000)
    other, _ = harness.order(5000, 5000)
    await harness.run(harness.write([(oid, None, 1000, "R-1")], name="monday.csv"))
    path = harness.write([(oid, None, 500, "R-1"), (other, None, 300, "R-2")], name="t.csv")
    result = await harness.run(path, mode=Mode.PLAN)
    assert statuses(result) == [Status.HELD, Status.PLANNED]
    assert result.summary.refunded_total == 0
    assert csv_text(result.report.csv).count(",held,") == 1


async def test_a_lost_journal_with_unlisted_refunds_sends_nothing_again(harness: Harness) -> None:
    """The journal is lost, payments don't list their refunds and Smartpay's key window has
    passed: the re-run finds every refund by the newest-first scan and sends none again,
    even where the split across payments comes out differently."""
    harness.server.knobs.payment_refunds = "absent"
    rows = []
    for n in range(6):
        oid, _ = harness.order(20_000, 8_000, 12_000)
        rows += [(oid, None, 5_000, f"A{n}"), (oid, None, 6_000, f"B{n}"), (oid, None, None, None)]
    path = harness.write(rows)
    first = await harness.run(path)
    assert set(statuses(first)) == {Status.REFUNDED}
    made = len(harness.refunds())
    posts = harness.posts()
    harness.journal_path = harness.tmp / "another-machine.sqlite3"
    harness.server.clock.advance(7 * 3600)
    again = await harness.run(path)
    assert statuses(again) == [Status.ALREADY_REFUNDED] * len(rows)
    assert harness.posts() == posts
    assert len(harness.refunds()) == made


@pytest.mark.parametrize("journal", JOURNAL)
async def test_a_covered_row_keeps_its_share_when_a_line_is_added(
    harness: Harness, journal: str
) -> None:
    """¥1,000 then corrected to ¥1,200 under HR-T1; later the file gains a ¥300 line of the
    same reference: the finished row keeps its ¥1,000 share and the new line is sent."""
    oid, (pid,) = harness.order(5000, 5000)
    await harness.run(harness.write([(oid, None, 1000, "HR-T1")], name="a1.csv"))
    await harness.run(harness.write([(oid, None, 1200, "HR-T1")], name="a2.csv"))
    lose_journal_if(harness, journal)
    rows = [(oid, None, 1200, "HR-T1"), (oid, None, 300, "HR-T1")]
    result = await harness.run(harness.write(rows, name="a3.csv"))
    assert statuses(result) == [Status.ALREADY_REFUNDED, Status.REFUNDED]
    assert result.outcomes[1].refunded_amount == 300
    assert sorted(under(harness, pid, "HR-T1")) == [200, 300, 1000]


async def test_a_dashboard_covered_row_keeps_its_share(harness: Harness) -> None:
    """A row settled by a ¥7,000 dashboard refund, then a ¥500 line added: ¥500 is sent."""
    oid, (pid,) = harness.order(10000, 10000)
    harness.server.state.add_refund(pid, 7000, reference="RMA-7")
    await harness.run(harness.write([(oid, None, 7000, "RMA-7")], name="d1.csv"))
    rows = [(oid, None, 7000, "RMA-7"), (oid, None, 500, "RMA-7")]
    result = await harness.run(harness.write(rows, name="d2.csv"))
    assert statuses(result) == [Status.ALREADY_REFUNDED, Status.REFUNDED]
    assert sorted(under(harness, pid, "RMA-7")) == [500, 7000]


async def test_plans_settle_nothing(harness: Harness) -> None:
    """Plans record no completion: after two plans on a fresh journal, the run still sends
    what the plans said it would."""
    oid, (_pid,) = harness.order(5000, 5000)
    await harness.run(harness.write([(oid, None, 1000, "HR-T1")], name="a1.csv"))
    await harness.run(harness.write([(oid, None, 1200, "HR-T1")], name="a2.csv"))
    harness.journal_path = harness.tmp / "fresh.sqlite3"
    path = harness.write([(oid, None, 1200, "HR-T1"), (oid, None, 300, "HR-T1")], name="a3.csv")
    for _ in range(2):
        plan = await harness.run(path, mode=Mode.PLAN)
        assert statuses(plan) == [Status.ALREADY_REFUNDED, Status.PLANNED]
    result = await harness.run(path)
    assert statuses(result) == [Status.ALREADY_REFUNDED, Status.REFUNDED]
    assert result.outcomes[1].refunded_amount == 300
