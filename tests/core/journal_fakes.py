"""A journal writer that commits only when told to: a disk as slow as a test needs.

It keeps the real writer's promises (submissions commit in order, all queued at once, on
its own connection to the real SQLite file with ``synchronous=FULL``) but runs on the
caller's thread, so a test decides exactly when each commit lands.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path

from batch_refunds.errors import JournalUnwritable
from batch_refunds.journal_writer import Statement, configure, connect, run_statements

Batch = list[Sequence[Statement]]


class ManualWriter:
    """``commit()`` commits everything queued in one transaction. A blocking ``wait`` commits
    at once (a slow disk that eventually answers); ``wait_async`` waits for ``commit()``.
    ``fails_on`` picks the first batch whose commit fails; from then on nothing commits."""

    def __init__(self, path: Path, fails_on: Callable[[Batch], bool] | None = None) -> None:
        self._db = configure(connect(path))
        self._fails_on = fails_on
        self._queue: Batch = []
        self._submitted = 0
        self._committed = 0
        self._failure: JournalUnwritable | None = None
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.commits = 0
        self.committed_keys: set[str] = set()
        """Idempotency keys of the intents committed so far."""

    def submit(self, statements: Sequence[Statement]) -> int:
        self._submitted += 1
        if self._failure is None:
            self._queue.append(statements)
        return self._submitted

    @property
    def committed(self) -> int:
        return self._committed

    @property
    def failure(self) -> JournalUnwritable | None:
        return self._failure

    def commit(self) -> None:
        if not self._queue or self._failure is not None:
            return
        batch, self._queue = self._queue, []
        if self._fails_on is not None and self._fails_on(batch):
            self._failure = JournalUnwritable("the journal could not be written (disk full)")
            for _, future in self._waiters:
                if not future.done():
                    future.set_exception(self._failure)
            self._waiters = []
            return
        self._db.execute("BEGIN IMMEDIATE")
        for statements in batch:
            run_statements(self._db, statements)
        self._db.execute("COMMIT")
        self.commits += 1
        self._committed = self._submitted
        self.committed_keys.update(
            rows[0] for sql, params in (s for st in batch for s in st)
            if sql.startswith("INSERT OR IGNORE INTO intents") for rows in params
        )  # fmt: skip
        for _, future in self._waiters:
            if not future.done():
                future.set_result(None)
        self._waiters = []

    def wait(self, seq: int) -> None:
        if seq > self._committed:
            self.commit()
        if seq > self._committed:
            assert self._failure is not None
            raise self._failure

    async def wait_async(self, seq: int) -> None:
        if seq <= self._committed:
            return
        if self._failure is not None:
            raise self._failure
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((seq, future))
        await future

    def close(self) -> None:
        self.commit()
        self._db.close()


def writes_intent_answers(batch: Batch) -> bool:
    """A batch recording what Smartpay answered for an intent (``fails_on``: lose them all)."""
    return any(sql.startswith("UPDATE intents") for st in batch for sql, _ in st)
