"""The journal's commits as a run sees them: no POST before its intents are on disk, a
journal that fails mid-run stops the run with every row reported, and whatever lagged
behind the intents (answers, completions, outcomes) is found again by the next run."""

from __future__ import annotations

import asyncio
import csv
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from batch_refunds import identity as ids
from batch_refunds.journal import PENDING, Intent, Journal
from batch_refunds.journal_writer import GroupCommitter
from batch_refunds.models import CreateRefund, Refund, RefundRequest, Status
from tests.core.journal_fakes import Batch, ManualWriter, writes_intent_answers
from tests.run.conftest import Harness, statuses

SAFETY_S = 60.0  # a hung run fails the test instead of hanging it; never a timing proven


def committed_keys(journal: Path) -> set[str]:
    """The intents another process would find in the journal file right now."""
    db = sqlite3.connect(journal)
    try:
        return {key for (key,) in db.execute("SELECT key FROM intents")}
    finally:
        db.close()


class ChecksIntentOnDisk:
    """The real client; each refund POST first notes whether its key is committed."""

    def __init__(self, client: Any, journal: Path, unsafe: list[str]) -> None:
        self._client, self._journal, self._unsafe = client, journal, unsafe

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def create_refund(self, body: CreateRefund, *, idempotency_key: str) -> Refund:
        if idempotency_key not in committed_keys(self._journal):
            self._unsafe.append(idempotency_key)
        refund: Refund = await self._client.create_refund(body, idempotency_key=idempotency_key)
        return refund


class SlowDisk:
    """Builds ``ManualWriter``\\ s and commits for them once per turn of the event loop: a disk
    slower than any code that runs between two awaits."""

    def __init__(self, fails_on: Callable[[Batch], bool] | None = None) -> None:
        self.fails_on = fails_on
        self.writers: list[ManualWriter] = []

    def __call__(self, path: Path) -> ManualWriter:
        self.writers.append(ManualWriter(path, fails_on=self.fails_on))
        return self.writers[-1]

    async def spin(self, done: asyncio.Event) -> None:
        while not done.is_set():
            for writer in self.writers:
                writer.commit()
            await asyncio.sleep(0)

    async def run(self, harness: Harness, path: Path, **options: Any) -> Any:
        done = asyncio.Event()
        spinner = asyncio.create_task(self.spin(done))
        try:
            async with asyncio.timeout(SAFETY_S):
                return await harness.run(path, journal_writer=self, **options)
        finally:
            done.set()
            await spinner


def orders(harness: Harness, count: int) -> list[tuple[str, None, int, str]]:
    return [(harness.order(5000, 5000)[0], None, 1000, f"RET-{n}") for n in range(count)]


async def test_no_refund_post_leaves_before_its_intent_is_committed(harness: Harness) -> None:
    """Every POST finds its key already committed to the journal file, even on a disk that
    commits only between turns of the event loop."""
    unsafe: list[str] = []
    disk = SlowDisk()
    result = await disk.run(
        harness, harness.write(orders(harness, 12)),
        wrap_api=lambda c: ChecksIntentOnDisk(c, harness.journal_path, unsafe),
    )  # fmt: skip
    assert statuses(result) == [Status.REFUNDED] * 12
    assert harness.posts() == 12
    assert unsafe == []


async def test_a_journal_that_fails_mid_run_stops_it_and_every_row_is_reported(
    harness: Harness,
) -> None:
    """The disk fails at the first commit of Smartpay's answers: the run ends (no hang),
    nothing more is sent, every row is in the result and the report, each POST had its
    intent on disk; the re-run, after Smartpay has forgotten the keys, finds the refunds
    whose answers were lost by reference and sends only the rest: one refund per row."""
    rows = orders(harness, 20)
    path = harness.write(rows)
    disk = SlowDisk(fails_on=writes_intent_answers)
    first = await disk.run(harness, path)
    assert len(first.outcomes) == 20
    with first.report.csv.open(encoding="utf-8-sig") as handle:
        assert len(list(csv.DictReader(handle))) == 20
    sent = {o.row for o in first.outcomes if o.status is Status.REFUNDED}
    failed = [o for o in first.outcomes if o.status is Status.FAILED]
    assert sent, "some POSTs went out before the disk failed"
    assert failed, "the failure stopped the run before every row was sent"
    assert {o.error_code for o in failed} == {"journal.unwritable"}
    assert harness.posts() == len(sent)
    assert first.summary.stop_reason is not None
    assert "journal could not be written" in first.summary.stop_reason
    keys = {key for _scope, key in harness.server.state.idempotency}
    assert keys <= committed_keys(harness.journal_path)  # no POST without its intent on disk

    harness.server.clock.advance(7 * 3600)  # the keys are forgotten: only a lookup protects
    second = await harness.run(path)
    assert harness.posts() == 20
    per_order = [sum(r.amount for r in harness.refunds(pid)) for oid, *_ in rows
                 for pid in harness.server.state.orders[oid].payment_ids]  # fmt: skip
    assert per_order == [1000] * 20
    again = {o.row: o.status for o in second.outcomes}
    assert {again[row] for row in sent} == {Status.ALREADY_REFUNDED}


async def test_a_writer_thread_that_fails_mid_run_ends_the_run_cleanly(harness: Harness) -> None:
    """The real writer thread raising on a commit: the run returns with every row reported
    and no POST whose intent is not on disk."""
    commits: list[int] = []

    def fails_fourth(submissions: int) -> None:
        commits.append(submissions)
        if len(commits) == 4:
            raise OSError(28, "No space left on device")

    path = harness.write(orders(harness, 20))
    async with asyncio.timeout(SAFETY_S):
        result = await harness.run(
            path, journal_writer=lambda p: GroupCommitter(p, before_commit=fails_fourth)
        )
    assert len(result.outcomes) == 20
    assert Status.FAILED in statuses(result)
    assert set(statuses(result)) <= {Status.REFUNDED, Status.FAILED}
    keys = {key for _scope, key in harness.server.state.idempotency}
    assert keys <= committed_keys(harness.journal_path)


async def test_after_the_journal_fails_not_even_a_resumed_row_is_sent(harness: Harness) -> None:
    """A row resuming an earlier run's unanswered intent (already on disk) is not sent once
    the journal has failed either: its answer could not be recorded."""
    first_oid, _ = harness.order(3000, 3000)
    oid, (pid,) = harness.order(3000, 3000)
    request = RefundRequest(row=3, order_id=oid, payment_id=None, amount=1000, reference="CR-1")
    identity = ids.row_identity(request, 1)
    with Journal(harness.journal_path) as journal:
        journal.record_intents([
            Intent(key=ids.idempotency_key(identity, pid), identity=identity, generation=0,
                   run_id="crashed", row=3, order_id=oid, payment_id=pid, amount=1000,
                   reference="CR-1", state=PENDING)
        ])  # fmt: skip
    second_oid, _ = harness.order(3000, 3000)
    path = harness.write([(first_oid, None, 1000, "R-0"), (second_oid, None, 1000, "R-1"),
                          (oid, None, 1000, "CR-1")])  # fmt: skip
    # One request in flight, two orders at once: the resumed row is only started once one
    # of the first two has submitted its answers, whose commit fails.
    result = await SlowDisk(fails_on=writes_intent_answers).run(harness, path, concurrency=1)
    assert result.outcomes[0].status is Status.REFUNDED
    assert (result.outcomes[2].status, result.outcomes[2].error_code) == (
        Status.FAILED, "journal.unwritable"
    )  # fmt: skip
    assert harness.refunds(pid) == []
