"""The journal: a SQLite file that remembers every run, every refund intent and every outcome.

It is what makes a run exactly-once across crashes. What must be on the disk, and when:

1. ``record_intents`` submits a row's parts (idempotency key, payment, amount, reference);
   the engine awaits the returned ``Commit`` *before* any refund POST for them: that
   commit is a real ``synchronous=FULL`` commit (the WAL fsynced). This is the one write a
   POST waits for, and the only one that must be durable first: a refund Smartpay makes
   for a part the journal has never heard of could not be found again by a run that lost
   its answer (nothing would say to look).
2. ``mark_succeeded`` / ``mark_refused`` (what Smartpay answered), ``complete`` (the row
   is fully refunded) and ``record_outcome`` (its report line) may lag: they are queued and
   reach the disk with a later commit, never before the intent they follow (one writer,
   one queue, in order). Losing them costs no money: an intent left ``pending`` means "sent,
   answer unknown", and the next run looks the refund up on Smartpay — on the payment's
   refunds, or by its reference and the ``batch_refunds_row`` marker, both re-derived from
   the row — before it sends again with the same key; a row whose parts are all answered
   but not completed is completed from them. The tests lose every write after the intents
   and re-run after Smartpay has forgotten the keys.

Many rows share a commit (``journal_writer``): a POST waits only for the commit carrying its
own intent, and the event loop never waits for an fsync. A ``kill -9`` loses only what was
still queued (the process dies, the OS keeps every committed write). A power loss or a
kernel crash loses the same — every commit already returned was fsynced — plus, at worst,
the ``<journal>.id`` file's last rewrite (refused at the next start with the file named,
never a refund). Either way the next run pays in lookups, never in refunds: the report of
the run that died is missing (its rows are re-reported by the next run), and refunds whose
answer was lost are credited to the run that sent them when found.

Reads (``intents_for``, ``completion``, ``refunds_on_payment``) see every write made
through this ``Journal``, committed or not: a read of a row identity or payment first waits
for any queued write touching it (``settled`` waits without blocking the event loop), so a
planner never reads a state older than one it wrote. ``outcomes`` and
``refunds_credited_to`` add what is still queued. If the writer fails (disk full, an I/O
error), ``failure`` says why, every later ``Commit`` raises ``JournalUnwritable``, no
intent can be committed and so nothing more is sent; the report still lists every row.

A refund is *credited* to the run whose own request got Smartpay's answer creating it; one
found by looking up an unanswered request is credited to the run that sent that request
(a ``plan``, which only looks, is never credited). A run's Refunds sheet and its
"refunded" total are exactly the refunds credited to it.

One run at a time per journal: ``JournalLock`` takes an OS file lock beside the database,
which the OS drops by itself if the process dies, so a ``kill -9`` never leaves it stuck.

A journal is never silently replaced. Beside it, ``<journal>.id`` names the journal (an id
kept in its ``meta`` table too) and the last run it recorded (written only after that run's
record is committed). A journal that is missing that id or that run — emptied, truncated,
swapped for another file, or missing its ``-wal`` file — is refused with a message, because
a fresh journal forgets which refunds were sent. A file that is not a readable SQLite
database, or a folder that can't be written, is a ``ConfigError`` naming the path. sqlite3
lives here and in ``journal_writer`` only.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batch_refunds.errors import ConfigError, JournalBusy, JournalUnwritable
from batch_refunds.filelock import FileLock
from batch_refunds.identity import MARKER_KEY
from batch_refunds.journal_writer import GroupCommitter, Statement, Writer, configure, connect
from batch_refunds.models import (
    CURRENCY,
    InputLayout,
    Refund,
    RefundRecord,
    RequestCounts,
    RowOutcome,
    RunSummary,
    Status,
    Yen,
)

SCHEMA_VERSION = 4

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
    report_dir TEXT,
    input_json TEXT
);
CREATE TABLE IF NOT EXISTS input_rows (
    run_id TEXT NOT NULL,
    row INTEGER NOT NULL,
    cells TEXT NOT NULL,
    PRIMARY KEY (run_id, row)
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
    shop_order TEXT,
    PRIMARY KEY (run_id, row)
);
CREATE INDEX IF NOT EXISTS intents_by_credit ON intents (credited_run_id);
CREATE TABLE IF NOT EXISTS shop_orders (
    scope TEXT NOT NULL,
    order_id TEXT NOT NULL,
    reference_key TEXT NOT NULL,
    reference TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (scope, order_id)
);
CREATE INDEX IF NOT EXISTS shop_orders_by_reference ON shop_orders (scope, reference_key);
CREATE TABLE IF NOT EXISTS order_scans (
    scope TEXT PRIMARY KEY,
    oldest_ms INTEGER NOT NULL,
    newest_ms INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    scanned_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
"""

# Each step takes a journal from version N to N + 1, in one transaction.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "ALTER TABLE intents ADD COLUMN credited_run_id TEXT",
        # Version 1 credited a refund to the run that resolved it; keep what it said.
        "UPDATE intents SET credited_run_id = resolved_run_id WHERE state = 'succeeded'",
        "ALTER TABLE outcomes ADD COLUMN already_refunded INTEGER NOT NULL DEFAULT 0",
    ),
    # Version 3 keeps the input's own cells (table input_rows, created by the schema) and
    # how the file was written, so a run's report can be re-created from the journal alone.
    2: ("ALTER TABLE runs ADD COLUMN input_json TEXT",),
    # Version 4: shop order numbers, the report's column; the memory of walks of the order
    # list (shop_orders, order_scans) is created by the schema itself.
    3: ("ALTER TABLE outcomes ADD COLUMN shop_order TEXT",),
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
class OrderScan:
    """What the journal remembers of walking the order list for one account (``scope``):
    every order with a reference created from ``oldest_ms`` to ``newest_ms`` (Smartpay's
    clock) is in ``shop_orders``."""

    scope: str
    oldest_ms: int
    newest_ms: int
    run_id: str


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
    already_refunded: Yen | None = None  # None also for a run recorded before schema 3
    summary: RunSummary | None = None
    """The whole summary as its report had it: None for a run that did not finish, or was
    recorded before schema 3 (which kept only counts and totals)."""
    input_sha256: str = ""
    layout: InputLayout | None = None
    """How the input was written, and its header: None before schema 3."""


@dataclass(frozen=True, slots=True)
class ReportedProblem:
    """A row a finished run reported as not done, by what the row asks for."""

    run_id: str
    order_id: str | None
    requested_amount: Yen | None
    reference: str | None
    status: str
    error_code: str | None


class JournalLock(FileLock):
    """An exclusive OS lock on ``<journal>.lock``: one active run per journal."""

    def __init__(self, journal_path: Path) -> None:
        super().__init__(journal_path.with_name(journal_path.name + ".lock"), make_parent=True)

    def busy(self, holder: str) -> Exception:
        return JournalBusy(
            f"the journal {self.path.with_suffix('')} is in use by {holder}; "
            "wait for that run to finish (two runs on one journal could race)"
        )

    def unwritable(self, exc: OSError) -> Exception:
        return ConfigError(
            f"the journal's folder {self.path.parent} cannot be written: {_reason(exc)}"
        )


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _ids(value: Iterable[str]) -> str:
    return ";".join(value)


def _split(value: str) -> tuple[str, ...]:
    return tuple(v for v in value.split(";") if v)


class Commit:
    """A submitted write: ``await`` it (or ``wait()``) for its commit to reach the disk.

    Raises ``JournalUnwritable`` if it never will. Ignoring it leaves the write queued: it
    still lands in order, and any read of what it touched waits for it."""

    def __init__(self, writer: Writer, seq: int) -> None:
        self._writer, self.seq = writer, seq

    def wait(self) -> None:
        self._writer.wait(self.seq)

    def __await__(self) -> Generator[Any, None, None]:
        return self._writer.wait_async(self.seq).__await__()


@dataclass(slots=True)
class _Mark:
    """A refund recorded for an intent, kept until its commit lands (``refunds_credited_to``)."""

    seq: int
    refund_id: str
    created_at: int
    row: int
    credited_run_id: str


@dataclass(slots=True)
class _Batch:
    """Writes gathered by ``transaction()``, submitted together when it ends."""

    statements: list[Statement] = field(default_factory=list)
    tags: set[str] = field(default_factory=set)
    outcomes: list[tuple[str, RowOutcome]] = field(default_factory=list)
    marks: list[tuple[str, _Mark]] = field(default_factory=list)


_PRUNE_EVERY = 4096  # submissions between sweeps of what is known to be committed
_LOOK_AHEAD_CHUNK = 400  # identities per query (twice as many parameters, under 999)


class Journal:
    """Typed access to the journal database, from one thread (the event loop's).

    Writes go to the writer thread (``journal_writer``) and return at once; reads run on
    this object's own read-only connection and first wait for any queued write touching
    the same row identity or payment, so nothing read is older than what was written."""

    def __init__(self, path: Path, *, writer: Callable[[Path], Writer] = GroupCommitter) -> None:
        self.path = path
        self._sidecar = path.with_name(path.name + ".id")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = connect(path)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"the journal {path} cannot be opened: {_reason(exc)}") from None
        try:
            configure(self._db)
            self._open_schema()
            self._check_identity()
            self._db.execute("PRAGMA query_only=ON")  # from here on, every write is the writer's
            self._writer = writer(path)
        except sqlite3.Error as exc:
            self._db.close()
            raise ConfigError(
                f"the journal {path} cannot be used: {_reason(exc)}. It is what makes runs "
                "exactly-once: restore it from a backup rather than starting a new one"
            ) from None
        except ConfigError:
            self._db.close()
            raise
        self._batch: _Batch | None = None
        self._dirty: dict[str, int] = {}  # tag -> last submission writing it
        self._unsaved_outcomes: dict[tuple[str, int], tuple[int, RowOutcome]] = {}
        self._unsaved_marks: dict[str, _Mark] = {}
        self._next_prune = _PRUNE_EVERY
        self._last = 0  # the latest submission
        self._recorded: dict[str, tuple[str, str]] = {}  # intents recorded here, not yet answered
        self._absent: set[str] = set()  # identity tags known to have nothing (``look_ahead``)

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
        """Commit every queued write (unless the writer failed), then close both connections."""
        try:
            self._writer.close()
        finally:
            self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def failure(self) -> JournalUnwritable | None:
        """Why the journal stopped taking writes, once it has: nothing more may be sent."""
        return self._writer.failure

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Submit every write made inside the block as one commit (all or none of them).
        Reads inside it do not see its writes yet."""
        if self._batch is not None:  # nested: the outer block submits
            yield
            return
        self._batch = batch = _Batch()
        try:
            yield
        finally:
            self._batch = None
        self._submit(batch)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A transaction on the read connection, before the writer exists (schema, identity)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- the writer's side --------------------------------------------------------------

    def _write(
        self,
        sql: str,
        rows: Sequence[Sequence[object]],
        *tags: str,
        outcome: tuple[str, RowOutcome] | None = None,
        mark: tuple[str, _Mark] | None = None,
    ) -> Commit | None:
        batch = self._batch or _Batch()
        batch.statements.append((sql, rows))
        batch.tags.update(tags)
        if outcome is not None:
            batch.outcomes.append(outcome)
        if mark is not None:
            batch.marks.append(mark)
        if self._batch is None:
            return self._submit(batch)
        return None

    def _submit(self, batch: _Batch) -> Commit:
        seq = self._last = self._writer.submit(batch.statements)
        for tag in batch.tags:
            self._dirty[tag] = seq
            self._absent.discard(tag)
        for run_id, outcome in batch.outcomes:
            self._unsaved_outcomes[(run_id, outcome.row)] = (seq, outcome)
        for key, mark in batch.marks:
            mark.seq = seq
            self._unsaved_marks[key] = mark
        if seq >= self._next_prune:
            self._prune()
            self._next_prune = seq + _PRUNE_EVERY
        return Commit(self._writer, seq)

    def _prune(self) -> None:
        committed = self._writer.committed
        self._dirty = {t: s for t, s in self._dirty.items() if s > committed}
        self._unsaved_outcomes = {
            k: v for k, v in self._unsaved_outcomes.items() if v[0] > committed
        }
        self._unsaved_marks = {k: m for k, m in self._unsaved_marks.items() if m.seq > committed}

    def _caught_up(self, *tags: str) -> int:
        """The submission a read of ``tags`` must wait for (0: none is pending)."""
        seq = max((self._dirty.get(t, 0) for t in tags), default=0)
        return seq if seq > self._writer.committed else 0

    def _settle(self, *tags: str) -> None:
        """Block until every queued write of ``tags`` is committed (or the writer failed: then
        no intent can be committed either, so nothing is sent whatever a read returns)."""
        if seq := self._caught_up(*tags):
            with suppress(JournalUnwritable):
                self._writer.wait(seq)

    async def settled(self, *, identity: str | None = None, payment: str | None = None) -> None:
        """Wait, without blocking the loop, for queued writes of a row identity or payment to
        commit, so that the (blocking) read that follows need not wait."""
        tags = [t for t in (_tag_identity(identity), _tag_payment(payment)) if t]
        if seq := self._caught_up(*tags):
            with suppress(JournalUnwritable):
                await self._writer.wait_async(seq)

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
        layout: InputLayout | None = None,
        cells: Mapping[int, Sequence[str]] | None = None,
    ) -> None:
        """Record a run and wait for its commit: ``<journal>.id`` may only name a run the
        journal really holds. ``layout`` and ``cells`` (row number → the row's cells as
        written) are the input as its report carries it, kept so that the report can be
        re-created from the journal alone."""
        if self._batch is not None:
            raise RuntimeError("start_run inside transaction(): its commit is awaited alone")
        batch = _Batch()
        batch.statements.append((
            "INSERT INTO runs (run_id, mode, input_path, input_sha256, rows, started_at,"
            " input_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(run_id, mode, input_path, input_sha256, rows, started_at, _layout_json(layout))],
        ))  # fmt: skip
        if cells:
            batch.statements.append((
                "INSERT OR REPLACE INTO input_rows (run_id, row, cells) VALUES (?, ?, ?)",
                _InputRows(run_id, cells),
            ))  # fmt: skip
        self._submit(batch).wait()
        journal_id = self._db.execute("SELECT value FROM meta WHERE key='journal_id'").fetchone()
        self._write_sidecar(journal_id[0], run_id)

    def finish_run(self, summary: RunSummary, report_dir: str | None) -> None:
        """Record how a run ended and wait for every write of it to commit. A journal that
        failed meanwhile keeps the run unfinished (its report says why)."""
        commit = self._write(
            "UPDATE runs SET finished_at=?, exit_code=?, summary_json=?, report_dir=?"
            " WHERE run_id=?",
            [
                (
                    summary.finished_at,
                    summary.exit_code,
                    json.dumps(_summary_record(summary), ensure_ascii=False),
                    report_dir,
                    summary.run_id,
                )
            ],
        )
        if commit is not None:
            with suppress(JournalUnwritable):
                commit.wait()

    _RUN_COLUMNS = (
        "run_id, mode, input_path, rows, started_at, finished_at, exit_code, summary_json,"
        " report_dir, input_sha256, input_json"
    )

    def recent_runs(self, limit: int = 20) -> list[RunRecord]:
        self._settle_all()
        rows = self._db.execute(
            f"SELECT {self._RUN_COLUMNS} FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [self._run_record(r) for r in rows]

    def run(self, run_id: str) -> RunRecord | None:
        """One run as the journal recorded it; None if it has no such run."""
        self._settle_all()
        row = self._db.execute(
            f"SELECT {self._RUN_COLUMNS} FROM runs WHERE run_id=?", (run_id,)
        ).fetchone()
        return None if row is None else self._run_record(row)

    def run_ids_starting(self, prefix: str) -> list[str]:
        """The runs whose id starts with ``prefix``, newest first (a person types a prefix)."""
        rows = self._db.execute(
            "SELECT run_id FROM runs WHERE substr(run_id, 1, length(?1)) = ?1"
            " ORDER BY started_at DESC, rowid DESC",
            (prefix,),
        ).fetchall()
        return [r[0] for r in rows]

    def _run_record(self, r: Sequence[Any]) -> RunRecord:
        """A ``runs`` row checked where it enters: the summary a run stored, read back."""
        saved = json.loads(r[7]) if r[7] else None
        totals: dict[str, int] = {}
        summary = None
        if saved is None:
            counts = self._live_counts(r[0])
        elif "counts" in saved:
            counts, totals = saved["counts"], saved["totals"]
            if "summary" in saved:
                summary = _summary_from_record(saved["summary"])
        else:  # recorded by schema 1: the counts alone
            counts = saved
        return RunRecord(
            r[0], r[1], r[2], r[3], r[4], r[5], r[6], counts, r[8],
            totals.get("requested"), totals.get("refunded"), totals.get("already_refunded"),
            summary, r[9], _layout_from_json(r[10]),
        )  # fmt: skip

    def input_cells(self, run_id: str) -> dict[int, tuple[str, ...]]:
        """The input's own cells of a run's rows, as written (schema 3 on; else empty)."""
        self._settle_all()
        rows = self._db.execute(
            "SELECT row, cells FROM input_rows WHERE run_id=? ORDER BY row", (run_id,)
        ).fetchall()
        return {row: _cells_from_json(cells) for row, cells in rows}

    def unanswered_requests(self, run_id: str) -> int:
        """Refund requests this run sent whose answer it never recorded (still pending)."""
        self._settle_all()
        row = self._db.execute(
            "SELECT count(*) FROM intents WHERE run_id=? AND state=?", (run_id, PENDING)
        ).fetchone()
        return int(row[0])

    def runs_of_input(self, input_sha256: str) -> list[RunRecord]:
        """Every run of a file with this content (its sha256), oldest first: how the inbox
        knows a file it has seen, whatever its name."""
        self._settle_all()
        rows = self._db.execute(
            "SELECT run_id FROM runs WHERE input_sha256=? ORDER BY started_at, rowid",
            (input_sha256,),
        ).fetchall()
        wanted = {r[0] for r in rows}
        found = {r.run_id: r for r in self.recent_runs(limit=-1) if r.run_id in wanted}
        return [found[r[0]] for r in rows if r[0] in found]

    def moved_report(self, run_id: str, report_dir: str) -> None:
        """Record that a run's report folder was moved (the inbox files it away)."""
        commit = self._write("UPDATE runs SET report_dir=? WHERE run_id=?", [(report_dir, run_id)])
        if commit is not None:
            with suppress(JournalUnwritable):
                commit.wait()

    def problems_reported_before(self, run_id: str) -> list[ReportedProblem]:
        """The rows not done (invalid, rejected, held, failed) in every finished run other
        than ``run_id`` that started no later than it: what earlier reports already told."""
        self._settle_all()
        rows = self._db.execute(
            "SELECT o.run_id, o.order_id, o.requested_amount, o.reference, o.status,"
            " o.error_code FROM outcomes o JOIN runs r ON r.run_id = o.run_id"
            " WHERE r.finished_at IS NOT NULL AND o.run_id != ?"
            " AND r.started_at <= (SELECT started_at FROM runs WHERE run_id = ?)"
            " AND o.status IN ('invalid', 'rejected', 'held', 'failed')",
            (run_id, run_id),
        ).fetchall()
        return [ReportedProblem(*r) for r in rows]

    def _settle_all(self) -> None:
        if self._last > self._writer.committed:
            with suppress(JournalUnwritable):
                self._writer.wait(self._last)

    def _live_counts(self, run_id: str) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT status, count(*) FROM outcomes WHERE run_id=? GROUP BY status", (run_id,)
        ).fetchall()
        return {status: n for status, n in rows}

    # --- intents ------------------------------------------------------------------------

    def look_ahead(self, identities: Iterable[str]) -> None:
        """Learn, a few queries for a whole file, which of ``identities`` the journal holds no
        intent and no completion for: until something is written for one of them through
        this ``Journal``, its ``intents_for`` and ``completion`` answer without a query. (No
        other process writes meanwhile: the run holds the journal's lock.)"""
        wanted = list(dict.fromkeys(identities))
        found: set[str] = set()
        for start in range(0, len(wanted), _LOOK_AHEAD_CHUNK):
            chunk = wanted[start : start + _LOOK_AHEAD_CHUNK]
            marks = ",".join("?" * len(chunk))
            found.update(
                identity
                for (identity,) in self._db.execute(
                    f"SELECT identity FROM intents WHERE identity IN ({marks})"
                    f" UNION SELECT identity FROM completions WHERE identity IN ({marks})",
                    (*chunk, *chunk),
                )
            )
        self._absent = {
            tag for identity in wanted
            if identity not in found and (tag := _tag_identity(identity)) not in self._dirty
        }  # fmt: skip

    def intents_for(self, identity: str) -> list[Intent]:
        if (tag := _tag_identity(identity)) in self._absent:
            return []
        self._settle(tag)
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
        self._settle(_tag_payment(payment_id))
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

    def record_intents(self, intents: Iterable[Intent]) -> Commit:
        """Submit a row's parts; ``await`` the result before sending anything for them (the
        exactly-once promise). Existing keys are kept. Not inside ``transaction()``: the
        intents are committed by themselves, not held back by the block."""
        if self._batch is not None:
            raise RuntimeError("record_intents inside transaction(): its commit is awaited alone")
        batch = list(intents)
        tags = {_tag_identity(i.identity) for i in batch}
        tags |= {_tag_payment(i.payment_id) for i in batch}
        commit = self._write(
            "INSERT OR IGNORE INTO intents (key, identity, generation, run_id, row, order_id,"
            " payment_id, amount, reference, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    i.key, i.identity, i.generation, i.run_id, i.row, i.order_id,
                    i.payment_id, i.amount, i.reference, PENDING,
                )
                for i in batch
            ],
            *tags,
        )  # fmt: skip
        assert commit is not None
        for i in batch:  # answered once, mostly: forgotten then (a later one looks it up)
            self._recorded[i.key] = (_tag_identity(i.identity), _tag_payment(i.payment_id))
        return commit

    def _intent_tags(self, key: str) -> tuple[str, ...]:
        """What a write to intent ``key`` touches, for the reads that must wait for it."""
        if (owner := self._recorded.pop(key, None)) is not None:
            return owner
        row = self._db.execute(
            "SELECT identity, payment_id FROM intents WHERE key=?", (key,)
        ).fetchone()
        if row is None:  # recorded but not yet committed (its caller did not await it)
            self._settle_all()
            row = self._db.execute(
                "SELECT identity, payment_id FROM intents WHERE key=?", (key,)
            ).fetchone()
        return (_tag_identity(row[0]), _tag_payment(row[1])) if row else ()

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
        found what an earlier run's request created). May lag (see the module doc)."""
        credited = credited_run_id or run_id
        self._write(
            "UPDATE intents SET state=?, refund_id=?, refund_created_at=?, resolved_run_id=?,"
            " resolved_row=?, credited_run_id=?, error_code=NULL, message=NULL WHERE key=?",
            [(SUCCEEDED, refund_id, created_at, run_id, row, credited, key)],
            *self._intent_tags(key),
            mark=(key, _Mark(0, refund_id, created_at, row, credited)),
        )

    def note_unusable(self, key: str, *, error_code: str, message: str) -> None:
        """Note on a pending intent why the answer to its POST could not be believed. It
        stays pending (the refund may exist); the next run reads the note if its lookup
        finds no refund exactly as asked. May lag like every answer: lost, the intent is an
        unanswered request again, looked up (a refund with the row's marks holds the row)
        and otherwise resent under its own key."""
        self._write(
            "UPDATE intents SET error_code=?, message=? WHERE key=? AND state=?",
            [(error_code, message, key, PENDING)],
            *self._intent_tags(key),
        )

    def mark_refused(self, key: str, *, error_code: str, message: str, run_id: str) -> None:
        """Record that Smartpay refused an intent. May lag (see the module doc)."""
        self._write(
            "UPDATE intents SET state=?, error_code=?, message=?, resolved_run_id=? WHERE key=?",
            [(REFUSED, error_code, message, run_id, key)],
            *self._intent_tags(key),
        )

    # --- completions --------------------------------------------------------------------

    def completion(self, identity: str) -> Completion | None:
        if (tag := _tag_identity(identity)) in self._absent:
            return None
        self._settle(tag)
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
        """Record that a row identity is fully refunded. May lag (see the module doc)."""
        self._write(
            "INSERT OR IGNORE INTO completions"
            " (identity, run_id, row, refunded_amount, refund_ids) VALUES (?, ?, ?, ?, ?)",
            [(identity, run_id, row, refunded_amount, _ids(refund_ids))],
            _tag_identity(identity),
        )

    # --- shop order numbers -----------------------------------------------------------

    def order_scan(self, scope: str) -> OrderScan | None:
        """The remembered walk of ``scope``'s order list, if any."""
        self._settle(_tag_orders(scope))
        row = self._db.execute(
            "SELECT oldest_ms, newest_ms, run_id FROM order_scans WHERE scope=?", (scope,)
        ).fetchone()
        return None if row is None else OrderScan(scope, row[0], row[1], row[2])

    def remembered_orders(
        self, scope: str, reference_keys: Iterable[str]
    ) -> list[tuple[str, str, str, int]]:
        """``(order_id, reference_key, reference, created_at)`` of every remembered order
        whose reference key is one of ``reference_keys``."""
        self._settle(_tag_orders(scope))
        found: list[tuple[str, str, str, int]] = []
        keys = list(dict.fromkeys(reference_keys))
        for start in range(0, len(keys), 500):  # SQLite's bound on parameters
            chunk = keys[start : start + 500]
            found += self._db.execute(
                "SELECT order_id, reference_key, reference, created_at FROM shop_orders"
                f" WHERE scope=? AND reference_key IN ({','.join('?' * len(chunk))})",
                (scope, *chunk),
            ).fetchall()
        return found

    def remembered_count(self, scope: str, since_ms: int) -> int:
        """How many remembered orders of ``scope`` were created at or after ``since_ms``."""
        self._settle(_tag_orders(scope))
        row = self._db.execute(
            "SELECT count(*) FROM shop_orders WHERE scope=? AND created_at>=?", (scope, since_ms)
        ).fetchone()
        return int(row[0])

    def remember_orders(
        self,
        scope: str,
        orders: Sequence[tuple[str, str, str, int]],
        *,
        oldest_ms: int,
        newest_ms: int,
        run_id: str,
    ) -> None:
        """Remember ``(order_id, reference_key, reference, created_at)`` of the orders a
        walk saw and the span it covered. May lag: losing it costs a longer walk next time."""
        with self.transaction():
            self._write(
                "INSERT OR REPLACE INTO shop_orders (scope, order_id, reference_key, reference,"
                " created_at) VALUES (?, ?, ?, ?, ?)",
                [(scope, *order) for order in orders],
                _tag_orders(scope),
            )
            self._write(
                "INSERT OR REPLACE INTO order_scans (scope, oldest_ms, newest_ms, run_id)"
                " VALUES (?, ?, ?, ?)",
                [(scope, oldest_ms, newest_ms, run_id)],
                _tag_orders(scope),
            )

    def forget_orders(self, scope: str) -> None:
        """Forget ``scope``'s walk (a remembered order proved wrong): the next one starts afresh."""
        with self.transaction():
            self._write("DELETE FROM shop_orders WHERE scope=?", [(scope,)], _tag_orders(scope))
            self._write("DELETE FROM order_scans WHERE scope=?", [(scope,)], _tag_orders(scope))

    # --- outcomes -----------------------------------------------------------------------

    def record_outcome(self, run_id: str, outcome: RowOutcome) -> None:
        """A row's line of the report. May lag (see the module doc)."""
        self._write(_OUTCOME_SQL, [_outcome_params(run_id, outcome)], outcome=(run_id, outcome))

    def record_outcomes(self, run_id: str, outcomes: Iterable[RowOutcome]) -> None:
        """Many outcomes in one commit."""
        with self.transaction():
            for outcome in outcomes:
                self.record_outcome(run_id, outcome)

    def outcomes(self, run_id: str) -> list[RowOutcome]:
        """Every outcome recorded for a run, those still on their way to the disk included
        (all of them, if the writer failed: the report still lists every row)."""
        committed = self._writer.committed  # before the read: an overlap is merged, not lost
        unsaved = {
            row: outcome
            for (run, row), (seq, outcome) in self._unsaved_outcomes.items()
            if run == run_id and seq > committed
        }
        rows = self._db.execute(
            "SELECT row, status, order_id, payment_ids, currency, requested_amount,"
            " refundable_before, refunded_amount, refund_ids, error_code, message, reference,"
            " attempts, already_refunded, shop_order FROM outcomes WHERE run_id=? ORDER BY row",
            (run_id,),
        ).fetchall()
        saved = {
            r[0]: RowOutcome(
                row=r[0], status=Status(r[1]), order_id=r[2], payment_ids=_split(r[3]),
                currency=r[4], requested_amount=r[5], refundable_before=r[6],
                refunded_amount=r[7], refund_ids=_split(r[8]), error_code=r[9], message=r[10],
                reference=r[11], attempts=r[12], already_refunded=r[13], shop_order=r[14],
            )
            for r in rows
        }  # fmt: skip
        merged = {**saved, **unsaved}
        return [merged[row] for row in sorted(merged)]

    def refunds_credited_to(self, run_id: str, *, found_later: bool = True) -> list[RefundRecord]:
        """The refunds this run made, for the report's Refunds sheet and its refunded total
        (those whose record is still on its way to the disk included). ``found_later=False``
        leaves out those a later run found by looking up this run's unanswered requests: the
        refunds its own report listed when it was written."""
        committed = self._writer.committed
        unsaved = {
            key: m for key, m in self._unsaved_marks.items()
            if m.credited_run_id == run_id and m.seq > committed
        }  # fmt: skip
        rows = self._db.execute(
            "SELECT refund_id, resolved_row, order_id, payment_id, amount, reference,"
            " refund_created_at, key FROM intents WHERE credited_run_id=? AND state=?"
            + ("" if found_later else " AND resolved_run_id=credited_run_id")
            + " ORDER BY resolved_row, rowid",
            (run_id, SUCCEEDED),
        ).fetchall()
        records = [(r[1], RefundRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6] or 0))
                   for r in rows if r[7] not in unsaved]  # fmt: skip
        for key, m in unsaved.items():
            intent = self._db.execute(
                "SELECT order_id, payment_id, amount, reference FROM intents WHERE key=?", (key,)
            ).fetchone()
            if intent is not None:  # an intent is committed before its POST: always found
                order_id, payment_id, amount, reference = intent
                record = RefundRecord(
                    m.refund_id, m.row, order_id, payment_id, amount, reference, m.created_at
                )
                records.append((m.row, record))
        records.sort(key=lambda r: r[0])  # stable: by row, then as recorded
        return [record for _, record in records]


_OUTCOME_SQL = (
    "INSERT OR REPLACE INTO outcomes (run_id, row, status, order_id, payment_ids,"
    " currency, requested_amount, refundable_before, refunded_amount, refund_ids,"
    " error_code, message, reference, attempts, already_refunded, shop_order)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _outcome_params(run_id: str, outcome: RowOutcome) -> tuple[object, ...]:
    return (
        run_id, outcome.row, outcome.status.value, outcome.order_id,
        _ids(outcome.payment_ids), outcome.currency, outcome.requested_amount,
        outcome.refundable_before, outcome.refunded_amount, _ids(outcome.refund_ids),
        outcome.error_code, outcome.message, outcome.reference, outcome.attempts,
        outcome.already_refunded, outcome.shop_order,
    )  # fmt: skip


def _tag_orders(scope: str) -> str:
    return f"o:{scope}"


def _tag_identity(identity: str | None) -> str:
    return f"i:{identity}" if identity is not None else ""


def _tag_payment(payment_id: str | None) -> str:
    return f"p:{payment_id}" if payment_id is not None else ""


def _summary_record(summary: RunSummary) -> dict[str, object]:
    """What ``runs.summary_json`` holds: the counts and totals ``runs`` lists (as schema 2
    kept them) and, from schema 3, the whole summary, so a report can be re-created."""
    return {
        "counts": {status.value: n for status, n in summary.counts},
        "totals": {
            "requested": summary.requested_total,
            "refunded": summary.refunded_total,
            "already_refunded": summary.already_refunded_total,
        },
        "summary": {
            **{name: getattr(summary, name) for name in _SUMMARY_SCALARS},
            "counts": [[status.value, n] for status, n in summary.counts],
            "requests": [
                summary.requests.total,
                summary.requests.retried,
                summary.requests.rate_limited,
            ],
            "warnings": list(summary.warnings),
        },
    }


_SUMMARY_SCALARS = (
    "run_id", "mode", "input_path", "input_sha256", "rows", "requested_total", "refunded_total",
    "started_at", "finished_at", "duration_s", "exit_code", "already_refunded_total",
    "stop_reason", "key_mode", "api_base_url", "timezone",
)  # fmt: skip


def _summary_from_record(data: object) -> RunSummary | None:
    """The summary stored by ``_summary_record``, checked; None if it is not one (a journal
    edited by hand): the run is then shown from its counts alone."""
    if not isinstance(data, dict):
        return None
    try:
        counts = tuple((Status(s), n) for s, n in data["counts"])
        total, retried, limited = data["requests"]
        summary = RunSummary(
            **{name: data[name] for name in _SUMMARY_SCALARS},
            counts=counts,
            requests=RequestCounts(total, retried, limited),
            warnings=tuple(data["warnings"]),
        )
    except (KeyError, TypeError, ValueError):
        return None
    ints = (summary.rows, summary.requested_total, summary.refunded_total, summary.exit_code,
            summary.already_refunded_total, total, retried, limited,
            *(n for _, n in counts))  # fmt: skip
    texts = (summary.run_id, summary.started_at, summary.finished_at, summary.timezone,
             *summary.warnings)  # fmt: skip
    if not all(type(v) is int for v in ints) or not all(type(v) is str for v in texts):
        return None
    return summary


def _layout_json(layout: InputLayout | None) -> str | None:
    if layout is None:
        return None
    return json.dumps(
        {"format": layout.format, "encoding": layout.encoding, "delimiter": layout.delimiter,
         "sheet": layout.sheet, "header": list(layout.header)},
        ensure_ascii=False,
    )  # fmt: skip


def _layout_from_json(text: str | None) -> InputLayout | None:
    if not text:
        return None
    data = json.loads(text)
    return InputLayout(
        format=str(data["format"]),
        encoding=data.get("encoding"),
        delimiter=data.get("delimiter"),
        sheet=data.get("sheet"),
        header=tuple(str(cell) for cell in data.get("header", ())),
    )


class _InputRows(Sequence[tuple[object, ...]]):
    """``input_rows`` parameters made one at a time as the writer thread inserts them: a
    million-row file's cells are not copied into a list of JSON strings first."""

    def __init__(self, run_id: str, cells: Mapping[int, Sequence[str]]) -> None:
        self._run_id, self._cells, self._rows = run_id, cells, list(cells)

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index: int) -> tuple[object, ...]:  # type: ignore[override]
        row = self._rows[index]
        return (self._run_id, row, _cells_json(self._cells[row]))

    def __iter__(self) -> Iterator[tuple[object, ...]]:
        cells, run_id = self._cells, self._run_id
        return ((run_id, row, _cells_json(cells[row])) for row in self._rows)


def _cells_json(cells: Sequence[str]) -> str:
    return json.dumps(list(cells), ensure_ascii=False)


def _cells_from_json(text: str) -> tuple[str, ...]:
    return tuple(str(cell) for cell in json.loads(text))
