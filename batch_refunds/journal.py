"""The journal: a SQLite file that remembers every run, every refund intent and every outcome.

It is what makes a run exactly-once across crashes. The order of writes is the promise:

1. ``record_intents`` commits a row's parts (idempotency key, payment, amount, reference)
   *before* any refund POST for them is sent;
2. ``mark_succeeded`` / ``mark_refused`` record what Smartpay answered;
3. ``complete`` records that a row identity is fully refunded, so no later run sends for it.

An intent left ``pending`` means "sent, answer unknown": the next run must look for the
refund on Smartpay before it sends again (with the same key). WAL mode with
``synchronous=FULL`` makes each commit durable before the POST that follows it.

A refund is *credited* to the run whose own request got Smartpay's answer creating it; one
found by looking up an unanswered request is credited to the run that sent that request
(a ``plan``, which only looks, is never credited). A run's Refunds sheet and its
"refunded" total are exactly the refunds credited to it.

One run at a time per journal: ``JournalLock`` takes an OS file lock beside the database,
which the OS drops by itself if the process dies, so a ``kill -9`` never leaves it stuck.

A journal is never silently replaced. Beside it, ``<journal>.id`` names the journal (an id
kept in its ``meta`` table too) and the last run it recorded. A journal that is missing that
id or that run — emptied, truncated, swapped for another file, or missing its ``-wal`` file
— is refused with a message, because a fresh journal forgets which refunds were sent.
A file that is not a readable SQLite database, or a folder that can't be written, is a
``ConfigError`` naming the path. sqlite3 lives here only.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from batch_refunds.errors import ConfigError, JournalBusy
from batch_refunds.identity import MARKER_KEY
from batch_refunds.models import (
    CURRENCY,
    Refund,
    RefundRecord,
    RowOutcome,
    RunSummary,
    Status,
    Yen,
)

SCHEMA_VERSION = 2

ANOTHER_JOURNAL = "(another journal)"
"""Credited with a refund that a replayed answer shows another journal's run made."""

PENDING = "pending"  # committed before sending; Smartpay's answer unknown
SUCCEEDED = "succeeded"  # a refund exists for it
REFUSED = "refused"  # Smartpay said no (4xx): nothing was refunded by it

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    mode TEXT NOT NULL,
    input_path TEXT NOT NULL,
    input_sha256 TEXT NOT NULL,
    rows INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    exit_code INTEGER,
    summary_json TEXT,
    report_dir TEXT
);
CREATE TABLE IF NOT EXISTS intents (
    key TEXT PRIMARY KEY,
    identity TEXT NOT NULL,
    generation INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    row INTEGER NOT NULL,
    order_id TEXT,
    payment_id TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    reference TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'succeeded', 'refused')),
    refund_id TEXT,
    refund_created_at INTEGER,
    resolved_run_id TEXT,
    resolved_row INTEGER,
    credited_run_id TEXT,
    error_code TEXT,
    message TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS intents_by_identity ON intents (identity);
CREATE INDEX IF NOT EXISTS intents_by_payment ON intents (payment_id);
CREATE TABLE IF NOT EXISTS completions (
    identity TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    row INTEGER NOT NULL,
    refunded_amount INTEGER NOT NULL,
    refund_ids TEXT NOT NULL,
    completed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS outcomes (
    run_id TEXT NOT NULL,
    row INTEGER NOT NULL,
    status TEXT NOT NULL,
    order_id TEXT,
    payment_ids TEXT NOT NULL,
    currency TEXT NOT NULL,
    requested_amount INTEGER,
    refundable_before INTEGER,
    refunded_amount INTEGER NOT NULL,
    refund_ids TEXT NOT NULL,
    error_code TEXT,
    message TEXT,
    reference TEXT,
    attempts INTEGER NOT NULL,
    already_refunded INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, row)
);
CREATE INDEX IF NOT EXISTS intents_by_credit ON intents (credited_run_id);
"""

# Each step takes a journal from version N to N + 1, in one transaction.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "ALTER TABLE intents ADD COLUMN credited_run_id TEXT",
        # Version 1 credited a refund to the run that resolved it; keep what it said.
        "UPDATE intents SET credited_run_id = resolved_run_id WHERE state = 'succeeded'",
        "ALTER TABLE outcomes ADD COLUMN already_refunded INTEGER NOT NULL DEFAULT 0",
    ),
}


@dataclass(frozen=True, slots=True)
class Intent:
    """One refund the tool decided to create for one part of a row."""

    key: str
    identity: str
    generation: int
    run_id: str
    row: int
    order_id: str | None
    payment_id: str
    amount: Yen
    reference: str
    state: str
    refund_id: str | None = None
    refund_created_at: int | None = None
    resolved_run_id: str | None = None
    error_code: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Completion:
    """A row identity that is fully refunded: nothing is ever sent for it again."""

    identity: str
    run_id: str
    row: int
    refunded_amount: Yen
    refund_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A line of ``batch-refunds runs``."""

    run_id: str
    mode: str
    input_path: str
    rows: int
    started_at: str
    finished_at: str | None
    exit_code: int | None
    counts: dict[str, int]
    report_dir: str | None
    requested: Yen | None = None  # None: not finished, or recorded before totals were kept
    refunded: Yen | None = None


class JournalLock:
    """An exclusive OS lock on ``<journal>.lock``: one active run per journal."""

    def __init__(self, journal_path: Path) -> None:
        self.path = journal_path.with_name(journal_path.name + ".lock")
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = self.path.open("a+", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"the journal's folder {self.path.parent} cannot be written: {_reason(exc)}"
            ) from None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise JournalBusy(
                f"the journal {self.path.with_suffix('')} is in use by {holder}; "
                "wait for that run to finish (two runs on one journal could race)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> JournalLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _ids(value: Iterable[str]) -> str:
    return ";".join(value)


def _split(value: str) -> tuple[str, ...]:
    return tuple(v for v in value.split(";") if v)


class Journal:
    """Typed access to the journal database. Not thread-safe: one event loop uses it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._sidecar = path.with_name(path.name + ".id")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"the journal {path} cannot be opened: {_reason(exc)}") from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._open_schema()
            self._check_identity()
        except sqlite3.Error as exc:
            self._db.close()
            raise ConfigError(
                f"the journal {path} cannot be used: {_reason(exc)}. It is what makes runs "
                "exactly-once: restore it from a backup rather than starting a new one"
            ) from None
        except ConfigError:
            self._db.close()
            raise

    def _check_identity(self) -> None:
        """Refuse a journal that is not the one ``<journal>.id`` remembers (see module doc)."""
        row = self._db.execute("SELECT value FROM meta WHERE key='journal_id'").fetchone()
        journal_id = row[0] if row else None
        remembered = self._read_sidecar()
        if remembered is None:
            if journal_id is None:
                journal_id = secrets.token_hex(8)
                with self._tx() as db:
                    db.execute(
                        "INSERT INTO meta (key, value) VALUES ('journal_id', ?)", (journal_id,)
                    )
            self._write_sidecar(journal_id, self._last_run_id())
            return
        way_out = (
            f"If that history really is gone and a new journal is meant, delete {self._sidecar}"
            " too; Smartpay's own records (references and markers) will then be the only guard"
        )
        if journal_id != remembered.get("journal_id"):
            raise ConfigError(
                f"the journal {self.path} is not the one used before (it was emptied, truncated "
                f"or replaced; {self._sidecar} names journal {remembered.get('journal_id')}). "
                + way_out
            )
        last = remembered.get("last_run")
        if last and not self._db.execute("SELECT 1 FROM runs WHERE run_id=?", (last,)).fetchone():
            raise ConfigError(
                f"the journal {self.path} has lost its latest run {last} (was its -wal file "
                "deleted, or an older copy restored?). " + way_out
            )

    def _read_sidecar(self) -> dict[str, str] | None:
        try:
            data = json.loads(self._sidecar.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{self._sidecar} cannot be read: {_reason(exc)}") from None
        return data if isinstance(data, dict) else {}

    def _write_sidecar(self, journal_id: str, last_run: str | None) -> None:
        temp = self._sidecar.with_name(self._sidecar.name + ".tmp")
        text = json.dumps({"journal_id": journal_id, "last_run": last_run})
        try:
            temp.write_text(text + "\n", encoding="utf-8")
            os.replace(temp, self._sidecar)
        except OSError as exc:
            raise ConfigError(f"{self._sidecar} cannot be written: {_reason(exc)}") from None

    def _last_run_id(self) -> str | None:
        row = self._db.execute(
            "SELECT run_id FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1"
        ).fetchone()
        return row[0] if row else None

    def _open_schema(self) -> None:
        found = None
        if self._db.execute("SELECT name FROM sqlite_master WHERE name='meta'").fetchone():
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            found = int(row[0]) if row else None
        if found is not None and found > SCHEMA_VERSION:
            raise ConfigError(
                f"journal {self.path} has schema {found}, newer than this version of "
                f"batch-refunds understands ({SCHEMA_VERSION}); upgrade batch-refunds"
            )
        with self._tx() as db:
            if found is not None:
                for version in range(found, SCHEMA_VERSION):
                    for statement in _MIGRATIONS[version]:
                        db.execute(statement)
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group several writes into one commit (one fsync). Never await inside it: the
        connection is shared by every row of the run."""
        with self._tx():
            yield

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        if self._db.in_transaction:  # inside transaction(): the outer block commits
            yield self._db
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- runs ---------------------------------------------------------------------------

    def start_run(
        self,
        run_id: str,
        *,
        mode: str,
        input_path: str,
        input_sha256: str,
        rows: int,
        started_at: str,
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO runs (run_id, mode, input_path, input_sha256, rows, started_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, mode, input_path, input_sha256, rows, started_at),
            )
        journal_id = self._db.execute("SELECT value FROM meta WHERE key='journal_id'").fetchone()
        self._write_sidecar(journal_id[0], run_id)

    def finish_run(self, summary: RunSummary, report_dir: str | None) -> None:
        counts = {status.value: n for status, n in summary.counts}
        totals = {"requested": summary.requested_total, "refunded": summary.refunded_total}
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET finished_at=?, exit_code=?, summary_json=?, report_dir=?"
                " WHERE run_id=?",
                (
                    summary.finished_at,
                    summary.exit_code,
                    json.dumps({"counts": counts, "totals": totals}),
                    report_dir,
                    summary.run_id,
                ),
            )

    def recent_runs(self, limit: int = 20) -> list[RunRecord]:
        rows = self._db.execute(
            "SELECT run_id, mode, input_path, rows, started_at, finished_at, exit_code,"
            " summary_json, report_dir FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?",
            (limit,),
        ).fetchall()
        records = []
        for r in rows:
            saved = json.loads(r[7]) if r[7] else None
            totals: dict[str, int] = {}
            if saved is None:
                counts = self._live_counts(r[0])
            elif "counts" in saved:
                counts, totals = saved["counts"], saved["totals"]
            else:  # recorded by schema 1: the counts alone
                counts = saved
            records.append(
                RunRecord(
                    r[0], r[1], r[2], r[3], r[4], r[5], r[6], counts, r[8],
                    totals.get("requested"), totals.get("refunded"),
                )
            )  # fmt: skip
        return records

    def _live_counts(self, run_id: str) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT status, count(*) FROM outcomes WHERE run_id=? GROUP BY status", (run_id,)
        ).fetchall()
        return {status: n for status, n in rows}

    # --- intents ------------------------------------------------------------------------

    def intents_for(self, identity: str) -> list[Intent]:
        rows = self._db.execute(
            "SELECT key, identity, generation, run_id, row, order_id, payment_id, amount,"
            " reference, state, refund_id, refund_created_at, resolved_run_id, error_code, message"
            " FROM intents WHERE identity=? ORDER BY generation, rowid",
            (identity,),
        ).fetchall()
        return [Intent(*r) for r in rows]

    def refunds_on_payment(self, payment_id: str) -> dict[str, Refund]:
        """The refunds this journal knows were made from a payment, by refund id, as Smartpay
        would show them (reference, and the marker naming the row identity).

        Used when Smartpay does not list a payment's refunds.
        """
        rows = self._db.execute(
            "SELECT refund_id, amount, reference, identity, refund_created_at FROM intents"
            " WHERE payment_id=? AND state=?",
            (payment_id, SUCCEEDED),
        ).fetchall()
        return {
            refund_id: Refund(
                refund_id, payment_id, amount, CURRENCY, "succeeded", created_at or 0,
                reference=reference, metadata=((MARKER_KEY, identity),),
            )
            for refund_id, amount, reference, identity, created_at in rows
        }  # fmt: skip

    def record_intents(self, intents: Iterable[Intent]) -> None:
        """Commit a row's parts before anything is sent for them. Existing keys are kept."""
        with self._tx() as db:
            db.executemany(
                "INSERT OR IGNORE INTO intents (key, identity, generation, run_id, row, order_id,"
                " payment_id, amount, reference, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        i.key, i.identity, i.generation, i.run_id, i.row, i.order_id,
                        i.payment_id, i.amount, i.reference, PENDING,
                    )
                    for i in intents
                ],
            )  # fmt: skip

    def mark_succeeded(
        self,
        key: str,
        *,
        refund_id: str,
        created_at: int,
        run_id: str,
        row: int,
        credited_run_id: str | None = None,
    ) -> None:
        """Record the refund that answers an intent; ``run_id``/``row`` are the current run's.

        ``credited_run_id``: the run that made the refund, when it is not ``run_id`` (a lookup
        found what an earlier run's request created)."""
        with self._tx() as db:
            db.execute(
                "UPDATE intents SET state=?, refund_id=?, refund_created_at=?, resolved_run_id=?,"
                " resolved_row=?, credited_run_id=?, error_code=NULL, message=NULL WHERE key=?",
                (SUCCEEDED, refund_id, created_at, run_id, row, credited_run_id or run_id, key),
            )

    def note_unusable(self, key: str, *, error_code: str, message: str) -> None:
        """Note on a pending intent why the answer to its POST could not be believed. It
        stays pending (the refund may exist); the next run reads the note if its lookup
        finds no refund exactly as asked."""
        with self._tx() as db:
            db.execute(
                "UPDATE intents SET error_code=?, message=? WHERE key=? AND state=?",
                (error_code, message, key, PENDING),
            )

    def mark_refused(self, key: str, *, error_code: str, message: str, run_id: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE intents SET state=?, error_code=?, message=?, resolved_run_id=?"
                " WHERE key=?",
                (REFUSED, error_code, message, run_id, key),
            )

    # --- completions --------------------------------------------------------------------

    def completion(self, identity: str) -> Completion | None:
        row = self._db.execute(
            "SELECT identity, run_id, row, refunded_amount, refund_ids FROM completions"
            " WHERE identity=?",
            (identity,),
        ).fetchone()
        if row is None:
            return None
        return Completion(row[0], row[1], row[2], row[3], _split(row[4]))

    def complete(
        self,
        identity: str,
        *,
        run_id: str,
        row: int,
        refunded_amount: Yen,
        refund_ids: Iterable[str],
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO completions"
                " (identity, run_id, row, refunded_amount, refund_ids) VALUES (?, ?, ?, ?, ?)",
                (identity, run_id, row, refunded_amount, _ids(refund_ids)),
            )

    # --- outcomes -----------------------------------------------------------------------

    def record_outcome(self, run_id: str, outcome: RowOutcome) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO outcomes (run_id, row, status, order_id, payment_ids,"
                " currency, requested_amount, refundable_before, refunded_amount, refund_ids,"
                " error_code, message, reference, attempts, already_refunded)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id, outcome.row, outcome.status.value, outcome.order_id,
                    _ids(outcome.payment_ids), outcome.currency, outcome.requested_amount,
                    outcome.refundable_before, outcome.refunded_amount, _ids(outcome.refund_ids),
                    outcome.error_code, outcome.message, outcome.reference, outcome.attempts,
                    outcome.already_refunded,
                ),
            )  # fmt: skip

    def record_outcomes(self, run_id: str, outcomes: Iterable[RowOutcome]) -> None:
        """Many outcomes in one commit."""
        with self._tx():
            for outcome in outcomes:
                self.record_outcome(run_id, outcome)

    def outcomes(self, run_id: str) -> list[RowOutcome]:
        rows = self._db.execute(
            "SELECT row, status, order_id, payment_ids, currency, requested_amount,"
            " refundable_before, refunded_amount, refund_ids, error_code, message, reference,"
            " attempts, already_refunded FROM outcomes WHERE run_id=? ORDER BY row",
            (run_id,),
        ).fetchall()
        return [
            RowOutcome(
                row=r[0], status=Status(r[1]), order_id=r[2], payment_ids=_split(r[3]),
                currency=r[4], requested_amount=r[5], refundable_before=r[6],
                refunded_amount=r[7], refund_ids=_split(r[8]), error_code=r[9], message=r[10],
                reference=r[11], attempts=r[12], already_refunded=r[13],
            )
            for r in rows
        ]  # fmt: skip

    def refunds_credited_to(self, run_id: str) -> list[RefundRecord]:
        """The refunds this run made, for the report's Refunds sheet and its refunded total."""
        rows = self._db.execute(
            "SELECT refund_id, resolved_row, order_id, payment_id, amount, reference,"
            " refund_created_at FROM intents WHERE credited_run_id=? AND state=?"
            " ORDER BY resolved_row, rowid",
            (run_id, SUCCEEDED),
        ).fetchall()
        return [RefundRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6] or 0) for r in rows]
