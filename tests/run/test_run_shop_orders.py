"""Rows that name their order by the shop's own order number, resolved through GET /orders.

Against the sandbox over loopback: one walk of the order list per run, however many rows;
the bounds (a date, a count) and what a row outside them gets; a number on two orders held;
an order id and a shop number that disagree held; the journal's memory of the walk, so the
next run of a cumulative sheet reads only the orders created since; identities that do not
depend on the resolution; and both numbers in the report.
"""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from batch_refunds import shop_orders
from batch_refunds.errors import ConfigError
from batch_refunds.identity import row_identity
from batch_refunds.journal import SCHEMA_VERSION, Journal
from batch_refunds.models import Mode, RefundRequest, Status
from batch_refunds.report import ROW_COLUMNS
from batch_refunds.runner import PlanTotals, RunHooks, RunOptions
from tests.conftest import SANDBOX_START_MS
from tests.run.conftest import Harness, statuses

DAY_MS = 24 * 60 * 60 * 1000
SINCE = datetime.fromtimestamp(SANDBOX_START_MS / 1000, UTC) - timedelta(days=30)


def shop_order(harness: Harness, reference: str, amount: int, *, days_ago: float = 1) -> str:
    """An order with the shop number ``reference`` and one payment of ``amount``."""
    state = harness.server.state
    created = int(harness.server.clock.now_ms() - days_ago * DAY_MS)
    order = state.add_order(amount=amount, reference=reference, created_at=created)
    state.add_payment(order.id, amount, created_at=created)
    return order.id


def fillers(harness: Harness, n: int, *, days_ago: float = 2) -> None:
    """``n`` orders of other shop numbers (what the walk must read past)."""
    for i in range(n):
        shop_order(harness, f"OTHER-{days_ago}-{i:05d}", 1000, days_ago=days_ago)


def write(harness: Harness, rows: Sequence[Sequence[object]], *, name: str = "shop.csv",
          header: Sequence[str] = ("shop_order", "amount", "reference")) -> Path:  # fmt: skip
    path = harness.tmp / name
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows([["" if v is None else v for v in row] for row in rows])
    return path


def order_pages(harness: Harness) -> int:
    """GET /orders pages the walk read (the access check asks for one order: not a page)."""
    return harness.server.state.requests_served("GET", "/v1/orders") - harness.runs


async def test_shop_numbers_are_refunded_with_one_walk_for_the_whole_run(harness: Harness) -> None:
    """Three rows by shop number among 250 other orders: one walk of three pages of 100 finds
    all three, each row refunded once from its own order, both numbers in the report."""
    fillers(harness, 250)
    ids = [shop_order(harness, f"ORD-2026-0000{i}", 5000) for i in range(1, 4)]
    path = write(harness, [("ORD-2026-00001", 1000, None), ("ORD-2026-00002", None, None),
                           ("ＯＲＤ－２０２６－０００03", 500, "RMA-3")])  # fmt: skip

    result = await harness.run(path, orders_since=SINCE)

    assert statuses(result) == [Status.REFUNDED] * 3
    assert [o.order_id for o in result.outcomes] == ids
    assert [o.shop_order for o in result.outcomes] == [
        "ORD-2026-00001", "ORD-2026-00002", "ＯＲＤ－２０２６－０００03",
    ]  # fmt: skip
    assert [r.amount for r in harness.refunds()] == [1000, 5000, 500]
    assert order_pages(harness) == 3
    report = result.report.csv.read_text(encoding="utf-8-sig")
    header, first = report.splitlines()[:2]
    assert header.split(",")[: len(ROW_COLUMNS)] == list(ROW_COLUMNS)
    assert ROW_COLUMNS[1:3] == ("order_id", "shop_order")
    assert first.startswith(f"2,{ids[0]},ORD-2026-00001,")


async def test_the_walk_stops_at_the_date_and_names_it_for_a_number_beyond(
    harness: Harness,
) -> None:
    """An order created before ``orders_since`` is not looked at: its row is rejected with a
    message naming the date and the way out, and the walk reads no page past the date."""
    shop_order(harness, "ORD-OLD", 5000, days_ago=60)
    fillers(harness, 300, days_ago=45)  # older than the window: never read
    shop_order(harness, "ORD-NEW", 5000, days_ago=1)
    path = write(harness, [("ORD-OLD", 1000, None), ("ORD-NEW", 1000, None)])

    result = await harness.run(path, orders_since=SINCE, orders_widen="pass an earlier DATE")

    old, new = result.outcomes
    assert (old.status, old.error_code) == (Status.REJECTED, shop_orders.NOT_FOUND)
    assert SINCE.strftime("%Y-%m-%d") in (old.message or "")
    assert "pass an earlier DATE" in (old.message or "")
    assert new.status is Status.REFUNDED
    assert order_pages(harness) == 1
    assert len(harness.refunds()) == 1


async def test_the_walk_stops_at_the_count_and_names_it(harness: Harness) -> None:
    """With at most 50 orders read, a number on the 120th newest order is not found, and
    the message says the walk stopped at the count, not the date."""
    shop_order(harness, "ORD-DEEP", 5000, days_ago=3)
    fillers(harness, 119, days_ago=2)
    path = write(harness, [("ORD-DEEP", 1000, None)])

    result = await harness.run(path, orders_since=SINCE, max_orders_scanned=50)

    (row,) = result.outcomes
    assert (row.status, row.error_code) == (Status.REJECTED, shop_orders.NOT_FOUND)
    assert "50 newest orders" in (row.message or "")
    assert harness.posts() == 0


async def test_a_number_on_two_orders_is_held_with_both_ids(harness: Harness) -> None:
    """Smartpay does not promise unique references: a number on two orders (one far down the
    list) is held naming both, and nothing is sent to either."""
    older = shop_order(harness, "ORD-TWICE", 5000, days_ago=20)
    fillers(harness, 150)
    newer = shop_order(harness, "ORD-TWICE", 7000, days_ago=1)
    path = write(harness, [("ORD-TWICE", 1000, None)])

    result = await harness.run(path, orders_since=SINCE)

    (row,) = result.outcomes
    assert (row.status, row.error_code) == (Status.HELD, shop_orders.DUPLICATE)
    assert older in (row.message or "")
    assert newer in (row.message or "")
    assert harness.posts() == 0


async def test_an_order_id_and_a_shop_number_that_disagree_are_held(harness: Harness) -> None:
    """A row naming an order id and another order's shop number is held; a row whose two
    numbers agree is refunded; neither needs a walk of the order list."""
    first = shop_order(harness, "ORD-A", 5000)
    second = shop_order(harness, "ORD-B", 5000)
    path = write(harness, [(first, "ORD-B", 1000), (second, "ORD-B", 1000)],
                 header=("order_id", "shop_order", "amount"))  # fmt: skip

    result = await harness.run(path, orders_since=SINCE)

    wrong, right = result.outcomes
    assert (wrong.status, wrong.error_code) == (Status.HELD, shop_orders.MISMATCH)
    assert "ORD-A" in (wrong.message or "")
    assert "ORD-B" in (wrong.message or "")
    assert right.status is Status.REFUNDED
    assert [r.payment_id for r in harness.refunds()] == [
        harness.server.state.orders[second].payment_ids[0]
    ]
    assert order_pages(harness) == 0


async def test_the_next_run_walks_only_orders_created_since_the_last_walk(
    harness: Harness,
) -> None:
    """A cumulative sheet: run 1 walks three pages; by run 2 five orders are new, one of them
    on the sheet's new row. Run 2 reads one page, refunds the new row, and finds yesterday's
    rows finished; a number on an order the journal remembers needs no walk further back."""
    fillers(harness, 250, days_ago=3)
    shop_order(harness, "ORD-1", 5000, days_ago=2)
    remembered = shop_order(harness, "ORD-LATER", 5000, days_ago=2.5)
    await harness.run(write(harness, [("ORD-1", 1000, None)]), orders_since=SINCE)
    assert order_pages(harness) == 3

    harness.server.clock.advance(86_400)
    fillers(harness, 4, days_ago=0.1)
    new = shop_order(harness, "ORD-2", 5000, days_ago=0.05)
    pages_before = order_pages(harness)
    rows = [("ORD-1", 1000, None), ("ORD-2", 2000, None), ("ORD-LATER", 300, None)]
    result = await harness.run(write(harness, rows, name="day2.csv"), orders_since=SINCE)

    assert statuses(result) == [Status.ALREADY_REFUNDED, Status.REFUNDED, Status.REFUNDED]
    assert [o.order_id for o in result.outcomes[1:]] == [new, remembered]
    assert order_pages(harness) - pages_before == 1


async def test_a_finished_sheet_walks_nothing_and_sends_nothing(harness: Harness) -> None:
    """The identity is the shop number as typed, so a re-run knows the rows are finished
    before any walk: no page of the order list, no refund."""
    order_id = shop_order(harness, "ORD-9", 5000)
    path = write(harness, [("ORD-9", None, None)])
    await harness.run(path, orders_since=SINCE)
    state = harness.server.state
    gets, posts = state.requests_served("GET", "/v1/orders"), harness.posts()

    again = await harness.run(path, orders_since=SINCE)

    assert statuses(again) == [Status.ALREADY_REFUNDED]
    assert (state.requests_served("GET", "/v1/orders"), harness.posts()) == (gets, posts)
    assert again.outcomes[0].order_id == order_id  # from the journal's memory of the walk
    assert len(harness.refunds()) == 1


async def test_plan_walks_once_and_the_run_after_it_refunds_once(harness: Harness) -> None:
    """``plan`` resolves the same way (GETs only); the run after it sends each refund once."""
    shop_order(harness, "ORD-P", 5000)
    path = write(harness, [("ORD-P", 1200, None)])
    planned = await harness.run(path, mode=Mode.PLAN, orders_since=SINCE)
    assert statuses(planned) == [Status.PLANNED]
    assert harness.posts() == 0
    result = await harness.run(path, orders_since=SINCE)
    again = await harness.run(path, orders_since=SINCE)
    assert statuses(result) == [Status.REFUNDED]
    assert statuses(again) == [Status.ALREADY_REFUNDED]
    assert [r.amount for r in harness.refunds()] == [1200]


def test_a_rows_identity_is_its_shop_number_as_typed_not_the_order() -> None:
    """The identity of a shop-number row does not change when it is resolved, and a row with
    an order id keeps the identity it had before shop numbers existed."""
    typed = RefundRequest(2, None, None, 1000, shop_order="ORD-1")
    resolved = RefundRequest(2, "order_test_X", None, 1000, shop_order="ORD-1")
    plain = RefundRequest(2, "order_test_X", None, 1000)
    assert row_identity(typed, 1) != row_identity(plain, 1)
    other = RefundRequest(2, None, None, 1000, shop_order="ORD-2")
    assert row_identity(typed, 1) != row_identity(other, 1)
    assert row_identity(resolved, 1) == row_identity(plain, 1)
    assert row_identity(typed, 1) == row_identity(RefundRequest(9, None, None, 1000,
                                                                shop_order="ORD-1"), 1)  # fmt: skip


async def test_a_version_3_journal_is_migrated_and_remembers_walks(
    harness: Harness, tmp_path: Path
) -> None:
    """A journal written by schema 3 (no shop_order column, no memory of walks) is migrated
    in place to 4 and then refunds by shop number, remembering the walk."""
    shop_order(harness, "ORD-M", 5000)
    Journal(harness.journal_path).close()
    db = sqlite3.connect(harness.journal_path)
    db.executescript(
        "DROP TABLE shop_orders; DROP TABLE order_scans;"
        "ALTER TABLE outcomes DROP COLUMN shop_order;"
        "UPDATE meta SET value='3' WHERE key='schema_version';"
    )
    db.close()

    result = await harness.run(write(harness, [("ORD-M", 700, None)]), orders_since=SINCE)

    assert statuses(result) == [Status.REFUNDED]
    db = sqlite3.connect(harness.journal_path)
    version = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
    remembered = db.execute("SELECT reference FROM shop_orders").fetchall()
    shop = db.execute("SELECT shop_order FROM outcomes").fetchall()
    db.close()
    assert int(version) == SCHEMA_VERSION == 4
    assert ("ORD-M",) in remembered
    assert shop == [("ORD-M",)]


async def test_a_walk_that_fails_is_never_not_found_and_a_rerun_finishes(harness: Harness) -> None:
    """The order list answering 500 fails the rows that needed it (safe to re-run), never
    rejects them as not found; the re-run, once the list answers, refunds them once."""
    shop_order(harness, "ORD-F", 5000)
    path = write(harness, [("ORD-F", 1000, None), ("ORD-F", 500, "RMA-2")])
    harness.server.knobs.fail_rate = 1.0

    failed = await harness.run(path, orders_since=SINCE, max_attempts=1)

    assert statuses(failed) == [Status.FAILED, Status.FAILED]
    assert all(o.error_code != shop_orders.NOT_FOUND for o in failed.outcomes)
    assert harness.posts() == 0
    harness.server.knobs.fail_rate = 0.0
    result = await harness.run(path, orders_since=SINCE)
    assert statuses(result) == [Status.REFUNDED, Status.REFUNDED]
    assert sorted(r.amount for r in harness.refunds()) == [500, 1000]


async def test_a_confirmed_run_walks_once_for_its_plan_and_its_sending(harness: Harness) -> None:
    """A run that plans first (a confirmation) and then sends walks the order list once."""
    fillers(harness, 150)
    shop_order(harness, "ORD-C1", 5000)
    shop_order(harness, "ORD-C2", 5000)
    path = write(harness, [("ORD-C1", 100, None), ("ORD-C2", 200, None)])

    async def confirm(totals: PlanTotals) -> bool:
        return totals.rows_to_send == 2

    result = await harness.run(path, orders_since=SINCE, hooks=RunHooks(confirm=confirm))

    assert statuses(result) == [Status.REFUNDED, Status.REFUNDED]
    assert order_pages(harness) == 2


async def test_a_remembered_order_smartpay_no_longer_agrees_with_is_forgotten(
    harness: Harness,
) -> None:
    """The journal said ORD-S is order A; Smartpay now shows A under another number: the row
    fails (nothing sent), the memory is forgotten, and the next run walks afresh."""
    fillers(harness, 120, days_ago=3)
    order_id = shop_order(harness, "ORD-S", 5000)
    shop_order(harness, "OTHER-NEWEST", 1000, days_ago=0.5)  # the walk's stop: ORD-S is older
    await harness.run(write(harness, [("ORD-S", 100, None)]), orders_since=SINCE)
    harness.server.state.orders[order_id].reference = "ORD-RENAMED"
    pages = order_pages(harness)

    stale = await harness.run(write(harness, [("ORD-S", 200, None)], name="2.csv"),
                              orders_since=SINCE)  # fmt: skip

    (row,) = stale.outcomes
    assert (row.status, row.error_code) == (Status.FAILED, shop_orders.STALE)
    assert "ORD-RENAMED" in (row.message or "")
    assert [r.amount for r in harness.refunds()] == [100]
    assert order_pages(harness) - pages == 1  # the memory answered
    again = await harness.run(write(harness, [("ORD-S", 200, None)], name="3.csv"),
                              orders_since=SINCE)  # fmt: skip
    assert [o.error_code for o in again.outcomes] == [shop_orders.NOT_FOUND]
    assert order_pages(harness) - pages == 1 + 2  # a walk afresh: 122 orders, two pages


async def test_a_remembered_order_older_than_the_window_is_outside_it(harness: Harness) -> None:
    """The window is the window: an order the journal remembers from a wider walk is not
    found by a run whose ``orders_since`` leaves it out."""
    shop_order(harness, "ORD-60", 5000, days_ago=60)
    wide = SINCE - timedelta(days=60)
    first = await harness.run(write(harness, [("ORD-60", 100, None)]), orders_since=wide)
    assert statuses(first) == [Status.REFUNDED]

    narrow = await harness.run(write(harness, [("ORD-60", 200, None)], name="2.csv"),
                               orders_since=SINCE)  # fmt: skip

    assert [o.error_code for o in narrow.outcomes] == [shop_orders.NOT_FOUND]
    assert [r.amount for r in harness.refunds()] == [100]


def test_bounds_that_cannot_be_right_are_refused_before_anything_runs(tmp_path: Path) -> None:
    """A date without a time zone, or a count below one, is a ``ConfigError`` naming the
    option, when ``RunOptions`` is built."""
    base = {"input_path": tmp_path / "in.csv", "out_dir": tmp_path / "out"}
    with pytest.raises(ConfigError) as naive:
        RunOptions(**base, orders_since=datetime(2026, 9, 1))
    with pytest.raises(ConfigError) as none:
        RunOptions(**base, max_orders_scanned=0)
    assert (naive.value.option, none.value.option) == ("orders_since", "max_orders_scanned")


async def test_a_remembered_order_that_is_gone_fails_the_row_and_is_forgotten(
    harness: Harness,
) -> None:
    """The journal remembers ORD-G as an order Smartpay no longer has: the row fails (not
    rejected as Smartpay's 404 would say), nothing is sent, and the memory is forgotten."""
    order_id = shop_order(harness, "ORD-G", 5000)
    shop_order(harness, "OTHER-NEWEST", 1000, days_ago=0.5)
    await harness.run(write(harness, [("ORD-G", 100, None)]), orders_since=SINCE)
    del harness.server.state.orders[order_id]

    gone = await harness.run(write(harness, [("ORD-G", 200, None)], name="2.csv"),
                             orders_since=SINCE)  # fmt: skip

    assert [(o.status, o.error_code) for o in gone.outcomes] == [(Status.FAILED, shop_orders.STALE)]
    with Journal(harness.journal_path) as journal:
        assert journal.order_scan("test " + harness.server.base_url) is None


async def test_two_sandboxes_never_share_the_memory_of_their_order_lists(
    make_harness: Any,
) -> None:
    """One journal, two API prefixes with an order each under ORD-X: the second run walks its
    own list and refunds its own order, not the first sandbox's."""
    first, second = await make_harness(), await make_harness()
    fillers(second, 1, days_ago=3)  # both sandboxes make the same ids: shift the second's
    shop_order(first, "ORD-X", 5000, days_ago=1)
    other = shop_order(second, "ORD-X", 5000, days_ago=2)
    shop_order(second, "OTHER-NEWEST", 1000, days_ago=0.5)
    await first.run(write(first, [("ORD-X", 100, None)]), orders_since=SINCE)
    second.journal_path = first.journal_path

    result = await second.run(write(second, [("ORD-X", 200, None)]), orders_since=SINCE)

    assert [(o.status, o.order_id) for o in result.outcomes] == [(Status.REFUNDED, other)]
    assert other not in first.server.state.orders


async def test_a_payment_id_and_another_orders_shop_number_are_held(harness: Harness) -> None:
    """A row naming a payment and a shop number is checked on the payment's order: another
    order's number holds it, its own is refunded."""
    first = shop_order(harness, "ORD-A", 5000)
    shop_order(harness, "ORD-B", 5000)
    payment = harness.server.state.orders[first].payment_ids[0]
    path = write(harness, [(payment, "ORD-B", 1000), (payment, "ORD-A", 700)],
                 header=("payment_id", "shop_order", "amount"))  # fmt: skip

    result = await harness.run(path, orders_since=SINCE)

    assert [(o.status, o.error_code) for o in result.outcomes] == [
        (Status.HELD, shop_orders.MISMATCH), (Status.REFUNDED, None),
    ]  # fmt: skip
    assert [r.amount for r in harness.refunds()] == [700]
