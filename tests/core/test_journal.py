"""The SQLite journal: intents before sending, completions, outcomes, the run lock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from batch_refunds.errors import ConfigError, JournalBusy
from batch_refunds.identity import MARKER_KEY
from batch_refunds.journal import PENDING, REFUSED, SUCCEEDED, Intent, Journal, JournalLock
from batch_refunds.models import RowOutcome, Status


def intent(key: str, *, payment: str = "payment_test_1", amount: int = 500) -> Intent:
    return Intent(
        key=key, identity="id-1", generation=0, run_id="run-1", row=2, order_id="order_test_1",
        payment_id=payment, amount=amount, reference="RET-1", state=PENDING,
    )  # fmt: skip


def test_intents_survive_reopening_and_keep_their_state(tmp_path: Path) -> None:
    """A committed intent is on disk: a new connection (a new process) sees it pending."""
    path = tmp_path / "j.sqlite3"
    with Journal(path) as journal:
        journal.record_intents([intent("k1"), intent("k2", payment="payment_test_2")])
        journal.mark_succeeded("k1", refund_id="refund_test_1", created_at=5, run_id="r2", row=7)
    with Journal(path) as journal:
        states = {i.key: (i.state, i.refund_id) for i in journal.intents_for("id-1")}
    assert states == {"k1": (SUCCEEDED, "refund_test_1"), "k2": (PENDING, None)}


def test_recording_an_intent_twice_keeps_the_first(tmp_path: Path) -> None:
    """Re-recording a key never resets an answered intent back to pending."""
    with Journal(tmp_path / "j.sqlite3") as journal:
        journal.record_intents([intent("k1")])
        journal.mark_refused("k1", error_code="amount.insufficient", message="no", run_id="r")
        journal.record_intents([intent("k1")])
        (only,) = journal.intents_for("id-1")
    assert (only.state, only.error_code) == (REFUSED, "amount.insufficient")


def test_refunds_on_payment_lists_only_succeeded(tmp_path: Path) -> None:
    """What the journal knows was refunded from a payment excludes pending and refused parts."""
    with Journal(tmp_path / "j.sqlite3") as journal:
        journal.record_intents([intent("k1", amount=300), intent("k2", amount=200)])
        journal.mark_succeeded("k1", refund_id="refund_test_9", created_at=1, run_id="r", row=2)
        known = journal.refunds_on_payment("payment_test_1")
    assert list(known) == ["refund_test_9"]
    refund = known["refund_test_9"]
    assert (refund.amount, refund.reference, refund.succeeded) == (300, "RET-1", True)
    assert dict(refund.metadata) == {MARKER_KEY: "id-1"}  # the row it was made for


def test_completion_round_trips(tmp_path: Path) -> None:
    """A completed identity remembers its amount and refund ids."""
    with Journal(tmp_path / "j.sqlite3") as journal:
        assert journal.completion("id-1") is None
        journal.complete("id-1", run_id="r", row=3, refunded_amount=900, refund_ids=["a", "b"])
        done = journal.completion("id-1")
    assert done is not None
    assert (done.refunded_amount, done.refund_ids, done.row) == (900, ("a", "b"), 3)


def test_outcomes_come_back_in_row_order(tmp_path: Path) -> None:
    """Outcomes are stored per run and read back ordered by row, lists intact."""
    with Journal(tmp_path / "j.sqlite3") as journal:
        journal.record_outcome("r", RowOutcome(row=5, status=Status.FAILED, refund_ids=("x",)))
        journal.record_outcome(
            "r", RowOutcome(row=2, status=Status.REFUNDED, payment_ids=("p1", "p2"), attempts=2)
        )
        got = journal.outcomes("r")
    assert [(o.row, o.status) for o in got] == [(2, Status.REFUNDED), (5, Status.FAILED)]
    assert got[0].payment_ids == ("p1", "p2")
    assert got[1].refund_ids == ("x",)


def test_lock_refuses_a_second_holder(tmp_path: Path) -> None:
    """While one run holds the journal, a second one is refused with a clear message."""
    path = tmp_path / "j.sqlite3"
    with JournalLock(path), pytest.raises(JournalBusy, match="in use by pid"):
        JournalLock(path).acquire()


def test_lock_dies_with_its_process(tmp_path: Path) -> None:
    """A holder killed with SIGKILL leaves no stale lock behind."""
    path = tmp_path / "j.sqlite3"
    code = (
        "import sys, os, signal; from pathlib import Path;"
        "from batch_refunds.journal import JournalLock;"
        f"JournalLock(Path({str(path)!r})).acquire(); print('held', flush=True);"
        "os.kill(os.getpid(), signal.SIGKILL)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip() == "held"
    assert proc.returncode == -9
    lock = JournalLock(path)
    lock.acquire()
    lock.release()


def test_a_version_1_journal_is_migrated_keeping_what_it_knew(tmp_path: Path) -> None:
    """A journal written by schema 1 opens as schema 2: its completions and refunds are still
    known, and each refund stays credited to the run that resolved it."""
    import sqlite3

    path = tmp_path / "v1.sqlite3"
    db = sqlite3.connect(path)
    db.executescript((Path(__file__).parent / "journal_v1.sql").read_text(encoding="utf-8"))
    db.executescript(
        "INSERT INTO meta VALUES ('schema_version', '1');"
        "INSERT INTO completions (identity, run_id, row, refunded_amount, refund_ids)"
        " VALUES ('id-1', 'old-run', 2, 1000, 'refund_test_1');"
        "INSERT INTO intents (key, identity, generation, run_id, row, payment_id, amount,"
        " reference, state, refund_id, refund_created_at, resolved_run_id, resolved_row)"
        " VALUES ('k1', 'id-1', 0, 'old-run', 2, 'payment_test_1', 1000, 'RET-1', 'succeeded',"
        " 'refund_test_1', 5, 'old-run', 2);"
        "INSERT INTO outcomes (run_id, row, status, payment_ids, currency, refunded_amount,"
        " refund_ids, attempts) VALUES ('old-run', 2, 'refunded', '', 'JPY', 1000, '', 1);"
    )
    db.close()
    with Journal(path) as journal:
        done = journal.completion("id-1")
        assert done is not None
        assert done.refunded_amount == 1000
        (credited,) = journal.refunds_credited_to("old-run")
        assert (credited.refund_id, credited.amount) == ("refund_test_1", 1000)
        (old,) = journal.outcomes("old-run")
        assert (old.refunded_amount, old.already_refunded) == (1000, 0)
    with Journal(path) as journal:  # opening again migrates nothing twice
        assert journal.completion("id-1") is not None


def test_a_journal_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    """A journal whose schema is newer than this code understands is a clear error."""
    path = tmp_path / "j.sqlite3"
    with Journal(path):
        pass
    import sqlite3

    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.commit()
    db.close()
    with pytest.raises(ConfigError, match="newer"):
        Journal(path)


def test_a_version_2_journal_is_migrated_and_its_old_runs_say_what_they_lack(
    tmp_path: Path,
) -> None:
    """A schema 2 journal opens as schema 3: its runs are still listed with their totals,
    they have no stored input (so their report cannot be re-created), and new runs keep
    their input's cells."""
    import sqlite3

    from batch_refunds.models import InputLayout

    path = tmp_path / "v2.sqlite3"
    db = sqlite3.connect(path)
    db.executescript((Path(__file__).parent / "journal_v2.sql").read_text(encoding="utf-8"))
    db.executescript(
        "INSERT INTO meta VALUES ('schema_version', '2');"
        "INSERT INTO runs (run_id, mode, input_path, input_sha256, rows, started_at,"
        " finished_at, exit_code, summary_json, report_dir) VALUES ('old-run', 'run', 'r.csv',"
        " 'x', 1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:01Z', 0,"
        ' \'{"counts": {"refunded": 1}, "totals": {"requested": 900, "refunded": 900}}\','
        " 'reports/old');"
    )
    db.close()
    with Journal(path) as journal:
        old = journal.run("old-run")
        assert old is not None
        assert (old.requested, old.refunded, old.summary, old.layout) == (900, 900, None, None)
        assert journal.input_cells("old-run") == {}
        layout = InputLayout("csv", "utf-8", ",", None, ("order_id", "amount"))
        journal.start_run("new-run", mode="run", input_path="r.csv", input_sha256="y", rows=1,
                          started_at="2026-01-02T00:00:00Z", layout=layout,
                          cells={2: ("order_test_1", "900", "extra")})  # fmt: skip
        new = journal.run("new-run")
        assert new is not None
        assert new.layout == layout
        assert journal.input_cells("new-run") == {2: ("order_test_1", "900", "extra")}
    version = (
        sqlite3.connect(path)
        .execute("SELECT value FROM meta WHERE key='schema_version'")
        .fetchone()
    )
    assert version == ("4",)  # through 3 (input cells) and 4 (shop order numbers)
