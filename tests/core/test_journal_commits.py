"""Group commit: one fsync for many writes, off the caller's thread; reads see queued writes;
a failed commit fails every waiter; closing commits what is queued."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from batch_refunds.errors import JournalUnwritable
from batch_refunds.journal import PENDING, SUCCEEDED, Intent, Journal
from batch_refunds.journal_writer import GroupCommitter
from batch_refunds.models import RowOutcome, Status
from tests.core.journal_fakes import ManualWriter

SAFETY_S = 30.0  # a hung writer fails the test instead of hanging it; never a timing proven


def intent(n: int, *, payment: str = "payment_test_1") -> Intent:
    return Intent(
        key=f"k{n}", identity=f"id-{n}", generation=0, run_id="run-1", row=n + 2,
        order_id="order_test_1", payment_id=payment, amount=500, reference=f"RET-{n}",
        state=PENDING,
    )  # fmt: skip


def outcome(row: int) -> RowOutcome:
    return RowOutcome(
        row=row, status=Status.REFUNDED, order_id="order_test_1", payment_ids=("payment_test_1",),
        currency="JPY", requested_amount=500, refundable_before=5000, refunded_amount=500,
        refund_ids=(f"refund_test_{row}",), error_code=None, message=None, reference="R",
        attempts=1, already_refunded=0,
    )  # fmt: skip


class Gate:
    """A ``before_commit`` hook that holds the ``hold``-th commit until released, counting
    every commit and the submissions each one carries."""

    def __init__(self, hold: int = 1) -> None:
        self.hold = hold
        self.sizes: list[int] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, submissions: int) -> None:
        self.sizes.append(submissions)
        if len(self.sizes) == self.hold:
            self.entered.set()
            assert self.release.wait(SAFETY_S)


def gated(path: Path, gate: Gate, made: list[GroupCommitter]) -> Journal:
    def writer(p: Path) -> GroupCommitter:
        made.append(GroupCommitter(p, before_commit=gate))
        return made[-1]

    return Journal(path, writer=writer)


def test_many_rows_intents_share_one_commit(tmp_path: Path) -> None:
    """Intents submitted while a commit is on its way to the disk all ride the next one:
    after one alone, 101 rows' intents take two commits (two fsyncs), each on disk."""
    gate, made = Gate(hold=2), []
    journal = gated(tmp_path / "j.sqlite3", gate, made)
    journal.record_intents([intent(-1)]).wait()
    first = journal.record_intents([intent(0)])
    assert gate.entered.wait(SAFETY_S)
    later = [journal.record_intents([intent(n, payment=f"payment_test_{n}")])
             for n in range(1, 101)]  # fmt: skip
    gate.release.set()
    for commit in (first, *later):
        commit.wait()
    assert gate.sizes == [1, 1, 100]
    assert made[0].commits == 3
    journal.close()
    with Journal(tmp_path / "j.sqlite3") as reopened:
        assert all(reopened.intents_for(f"id-{n}") for n in range(101))


def test_the_writer_commits_with_synchronous_full(tmp_path: Path) -> None:
    """The commit a POST waits for is fsynced before it returns (synchronous=FULL)."""
    made: list[GroupCommitter] = []
    with gated(tmp_path / "j.sqlite3", Gate(), made):
        assert made[0].synchronous == 2  # FULL


async def test_an_awaited_intent_is_committed_when_the_await_returns(tmp_path: Path) -> None:
    """``await record_intents(...)`` returns only once another connection can read them."""
    with Journal(tmp_path / "j.sqlite3", writer=ManualWriter) as journal:
        writer = journal._writer  # the fake, to decide when it commits
        assert isinstance(writer, ManualWriter)
        waiting = asyncio.ensure_future(journal.record_intents([intent(0)]))
        await asyncio.sleep(0)
        assert not waiting.done()  # nothing committed yet: the await is still waiting
        writer.commit()
        await waiting
        assert writer.committed_keys == {"k0"}


def test_reads_see_writes_still_queued(tmp_path: Path) -> None:
    """A read of a row identity or payment waits for queued writes touching it, so the
    planner never reads a state older than one it wrote (never a double refund)."""
    with Journal(tmp_path / "j.sqlite3", writer=ManualWriter) as journal:
        journal.record_intents([intent(0)])
        journal.mark_succeeded("k0", refund_id="refund_test_0", created_at=1, run_id="r", row=2)
        journal.complete(
            "id-0", run_id="r", row=2, refunded_amount=500, refund_ids=["refund_test_0"]
        )
        assert [i.state for i in journal.intents_for("id-0")] == [SUCCEEDED]
        journal.mark_succeeded("k0", refund_id="refund_test_x", created_at=1, run_id="r", row=2)
        assert list(journal.refunds_on_payment("payment_test_1")) == ["refund_test_x"]
        journal.complete("id-1", run_id="r", row=3, refunded_amount=500, refund_ids=["refund_y"])
        done = journal.completion("id-1")
        assert done is not None
        assert done.refund_ids == ("refund_y",)


def test_outcomes_and_credited_refunds_include_what_is_still_queued(tmp_path: Path) -> None:
    """The report reads every outcome and refund of its run, committed or not."""
    with Journal(tmp_path / "j.sqlite3", writer=ManualWriter) as journal:
        writer = journal._writer  # the fake, to decide when it commits
        assert isinstance(writer, ManualWriter)
        journal.record_intents([intent(0)]).wait()
        journal.record_outcome("run-1", outcome(2))
        journal.mark_succeeded("k0", refund_id="refund_test_0", created_at=7, run_id="run-1", row=2)
        commits = writer.commits
        assert [o.row for o in journal.outcomes("run-1")] == [2]
        assert [(r.refund_id, r.amount) for r in journal.refunds_credited_to("run-1")] == [
            ("refund_test_0", 500)
        ]
        assert writer.commits == commits  # read without forcing a commit


def test_a_failed_commit_fails_every_waiter_and_every_later_write(tmp_path: Path) -> None:
    """An error in the writer thread: the waiting intent raises JournalUnwritable (no hang),
    so do later ones, and closing the journal still returns."""

    def broken_disk(submissions: int) -> None:
        raise OSError(28, "No space left on device")

    journal = Journal(
        tmp_path / "j.sqlite3", writer=lambda p: GroupCommitter(p, before_commit=broken_disk)
    )
    with pytest.raises(JournalUnwritable, match="No space left on device"):
        journal.record_intents([intent(0)]).wait()
    assert journal.failure is not None
    with pytest.raises(JournalUnwritable):
        journal.record_intents([intent(1)]).wait()
    journal.close()
    with Journal(tmp_path / "j.sqlite3") as reopened:
        assert reopened.intents_for("id-0") == []  # rolled back, never half-written


async def test_a_failed_commit_fails_an_awaiting_event_loop(tmp_path: Path) -> None:
    """The event loop awaiting an intent's commit gets JournalUnwritable, not a hang."""
    calls: list[int] = []

    def fails_second(submissions: int) -> None:
        calls.append(submissions)
        if len(calls) == 2:
            raise OSError(5, "Input/output error")

    journal = Journal(
        tmp_path / "j.sqlite3", writer=lambda p: GroupCommitter(p, before_commit=fails_second)
    )
    async with asyncio.timeout(SAFETY_S):
        await journal.record_intents([intent(0)])
        with pytest.raises(JournalUnwritable, match="Input/output error"):
            await journal.record_intents([intent(1)])
    journal.close()


def test_closing_commits_everything_queued(tmp_path: Path) -> None:
    """Writes queued behind a commit in progress when ``close`` begins are all committed
    before it returns: answers, completions and outcomes alike."""
    gate, made = Gate(hold=2), []
    journal = gated(tmp_path / "j.sqlite3", gate, made)
    journal.record_intents([intent(0)]).wait()
    journal.record_intents([intent(1)])
    assert gate.entered.wait(SAFETY_S)
    journal.mark_succeeded("k0", refund_id="refund_test_0", created_at=1, run_id="r", row=2)
    journal.complete("id-0", run_id="r", row=2, refunded_amount=500, refund_ids=["refund_test_0"])
    journal.record_outcomes("r", [outcome(row) for row in range(2, 202)])
    closer = threading.Thread(target=made[0].close)  # the read connection is this thread's
    closer.start()
    while not made[0].closing:  # the close has begun before the first commit ends
        closer.join(0.001)
    gate.release.set()
    closer.join(SAFETY_S)
    assert not closer.is_alive()
    journal.close()
    with Journal(tmp_path / "j.sqlite3") as reopened:
        assert [i.state for i in reopened.intents_for("id-0")] == [SUCCEEDED]
        assert [i.state for i in reopened.intents_for("id-1")] == [PENDING]
        assert reopened.completion("id-0") is not None
        assert len(reopened.outcomes("r")) == 200
    assert gate.sizes[1:] == [1, 3]  # the held commit, then everything queued behind it


def test_closing_the_journal_closes_its_writer(tmp_path: Path) -> None:
    """``Journal.close`` hands what is still queued to the disk before it returns."""
    journal = Journal(tmp_path / "j.sqlite3", writer=ManualWriter)
    journal.record_intents([intent(0)])
    journal.record_outcomes("r", [outcome(2)])
    journal.close()
    with Journal(tmp_path / "j.sqlite3") as reopened:
        assert [i.key for i in reopened.intents_for("id-0")] == ["k0"]
        assert len(reopened.outcomes("r")) == 1


def test_look_ahead_answers_rows_new_to_the_journal_without_a_query(tmp_path: Path) -> None:
    """After ``look_ahead``, a row the journal holds nothing for is answered without a
    query; a row it holds something for, and one written since, are read as before."""
    with Journal(tmp_path / "j.sqlite3") as earlier:
        earlier.record_intents([intent(0)]).wait()
        earlier.complete("id-1", run_id="r", row=3, refunded_amount=500, refund_ids=["re_1"])
    with Journal(tmp_path / "j.sqlite3") as journal:
        journal.look_ahead(["id-0", "id-1", "id-2", "id-3"])
        queries: list[str] = []
        journal._db.set_trace_callback(queries.append)
        assert journal.completion("id-2") is None
        assert journal.intents_for("id-2") == []
        assert queries == []
        assert [i.key for i in journal.intents_for("id-0")] == ["k0"]
        done = journal.completion("id-1")
        assert done is not None
        assert done.refund_ids == ("re_1",)
        journal.record_intents([intent(3)])  # written after the look-ahead: read again
        journal.complete("id-3", run_id="r", row=5, refunded_amount=500, refund_ids=["re_3"])
        assert [i.key for i in journal.intents_for("id-3")] == ["k3"]
        assert journal.completion("id-3") is not None
        journal._db.set_trace_callback(None)
