"""Promises of the engine that a one-line change could break without any other test noticing."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batch_refunds import identity as ids
from batch_refunds.journal import PENDING, Intent, Journal
from batch_refunds.ledger import PaymentView
from batch_refunds.models import CreateRefund, Mode, Payment, Refund, RefundRequest, Status
from tests.run.conftest import Harness, statuses


def test_only_succeeded_refunds_reduce_what_remains() -> None:
    """A failed or pending refund moved no money (yet): what remains ignores it."""
    payment = Payment("payment_test_1", "order_test_1", 1000, "JPY", "processed", 0)
    refunds = {
        rid: Refund(rid, payment.id, amount, "JPY", status, 0)
        for rid, amount, status in (("ok", 100, "succeeded"), ("no", 200, "failed"),
                                    ("wait", 300, "pending"))
    }  # fmt: skip
    assert PaymentView(payment, complete=True, refunds=refunds).remaining() == 900


async def test_max_amount_is_inclusive(harness: Harness) -> None:
    """A row asking exactly --max-amount goes; one yen more is rejected."""
    a, _ = harness.order(9000, 9000)
    b, _ = harness.order(9000, 9000)
    result = await harness.run(
        harness.write([(a, None, 5000, "AT"), (b, None, 5001, "OVER")]), max_amount=5000
    )
    assert [(o.status, o.error_code) for o in result.outcomes] == [
        (Status.REFUNDED, None),
        (Status.REJECTED, "guard.max-amount"),
    ]


def test_intents_are_committed_with_full_durability(tmp_path: Path) -> None:
    """The journal runs in WAL mode with synchronous=FULL: an intent's commit is on disk
    before the POST it protects (NORMAL could lose it on power loss)."""
    path = tmp_path / "j.sqlite3"
    with Journal(path) as journal:
        db: sqlite3.Connection = journal._db
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


async def test_a_resumed_row_reserves_its_parts_for_later_rows(harness: Harness) -> None:
    """A row resuming an unanswered ¥3,000 keeps that money for itself: a later full-refund
    row of the same order plans only the ¥2,000 left, never the whole ¥5,000."""
    oid, (pid,) = harness.order(5000, 5000)
    request = RefundRequest(row=2, order_id=oid, payment_id=None, amount=3000, reference="CR")
    identity = ids.row_identity(request, 1)
    with Journal(harness.journal_path) as journal:
        journal.record_intents([
            Intent(key=ids.idempotency_key(identity, pid), identity=identity, generation=0,
                   run_id="crashed", row=2, order_id=oid, payment_id=pid, amount=3000,
                   reference="CR", state=PENDING)
        ])  # fmt: skip
    path = harness.write([(oid, None, 3000, "CR"), (oid, None, None, "ALL")])
    result = await harness.run(path, mode=Mode.PLAN)
    assert statuses(result) == [Status.PLANNED, Status.PLANNED]
    assert result.outcomes[1].refundable_before == 2000
    done = await harness.run(path)
    assert statuses(done) == [Status.REFUNDED, Status.REFUNDED]
    assert sorted(r.amount for r in harness.refunds(pid)) == [2000, 3000]


async def test_one_scan_serves_every_unanswered_row(harness: Harness) -> None:
    """Many rows whose answers were lost, on payments that don't list refunds: the run walks
    list-refunds once for all of them, not once per row."""
    harness.server.knobs.payment_refunds = "absent"
    orders = [harness.order(3000, 3000)[0] for _ in range(6)]
    path = harness.write([(oid, None, 1000, f"L{i}") for i, oid in enumerate(orders)])
    harness.server.knobs.drop_after_commit_rate = 1.0
    await harness.run(path, max_attempts=1)
    harness.server.knobs.drop_after_commit_rate = 0.0
    before = harness.server.state.requests_served("GET", "/v1/refunds")
    again = await harness.run(path)
    assert statuses(again) == [Status.ALREADY_REFUNDED] * 6
    assert harness.server.state.requests_served("GET", "/v1/refunds") - before == 1  # one page


@dataclass
class PaymentsInFlight:
    """The real client, counting refund POSTs in flight per payment; each POST is held open
    until the test releases it, so an overlap would show."""

    client: Any
    released: asyncio.Event = field(default_factory=asyncio.Event)
    first_started: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: dict[str, int] = field(default_factory=dict)
    peak: int = 0
    read: int = 0  # orders and payments answered so far

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    async def get_order(self, order_id: str, *, expand: bool = True) -> Any:
        order = await self.client.get_order(order_id, expand=expand)
        self.read += 1
        return order

    async def get_payment(self, payment_id: str, *, expand: bool = True) -> Any:
        payment = await self.client.get_payment(payment_id, expand=expand)
        self.read += 1
        return payment

    async def create_refund(self, body: CreateRefund, *, idempotency_key: str) -> Refund:
        now = self.in_flight[body.payment_id] = self.in_flight.get(body.payment_id, 0) + 1
        self.peak = max(self.peak, now)
        self.first_started.set()
        try:
            await self.released.wait()
            refund: Refund = await self.client.create_refund(body, idempotency_key=idempotency_key)
            return refund
        finally:
            self.in_flight[body.payment_id] -= 1


async def test_one_payment_never_has_two_refund_posts_in_flight(harness: Harness) -> None:
    """A row naming a payment and a row naming its order are planned apart and run at once,
    but their POSTs to that payment go one after the other."""
    oid, (pid,) = harness.order(5000, 5000)
    path = harness.write([(None, pid, 1000, "BY-PAYMENT"), (oid, None, 1000, "BY-ORDER")])
    spy: list[PaymentsInFlight] = []

    def wrap(client: Any) -> PaymentsInFlight:
        spy.append(PaymentsInFlight(client))
        return spy[0]

    run = asyncio.ensure_future(harness.run(path, wrap_api=wrap))
    # Until both rows have what they need to send; the condition spans two wrapped calls.
    while not spy or not spy[0].first_started.is_set() or spy[0].read < 2:  # noqa: ASYNC110
        await asyncio.sleep(0)
    for _ in range(100):  # the second row plans and reaches its POST within a few steps
        await asyncio.sleep(0)
    assert spy[0].peak == 1
    spy[0].released.set()
    result = await run
    assert statuses(result) == [Status.REFUNDED, Status.REFUNDED]
    assert spy[0].peak == 1
