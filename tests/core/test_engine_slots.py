"""The engine's request slots: with N requests allowed, N are in flight even while groups
wait for their intents' commit, and never more than N; counted with a gated fake API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from batch_refunds.engine import Engine
from batch_refunds.journal import Journal
from batch_refunds.models import CreateRefund, Order, Payment, Refund, RefundRequest, Status
from tests.core.journal_fakes import ManualWriter

SPINS = 2_000  # turns of the event loop a condition may take to hold; never a timing


class GatedApi:
    """Every GET and POST waits until the test answers it (``answer``) or opens the gates
    (``open``); counts calls in flight and the peak, and notes each POST whose intent was
    not committed when it left."""

    def __init__(self, writer: Callable[[], ManualWriter]) -> None:
        self._writer = writer
        self.waiting: list[asyncio.Future[None]] = []
        self.opened = False
        self.passing = 0  # calls under way once the gates are open
        self.peak = 0
        self.calls = 0
        self.posted: list[str] = []
        self.uncommitted: list[str] = []

    @property
    def live(self) -> bool:
        return False

    @property
    def in_flight(self) -> int:
        return len(self.waiting) + self.passing

    def answer(self, count: int) -> None:
        """Answer the ``count`` oldest calls in flight."""
        for future in [f for f in self.waiting if not f.done()][:count]:
            future.set_result(None)

    def open(self) -> None:
        self.opened = True
        self.answer(self.in_flight)

    async def _through(self) -> None:
        self.calls += 1
        if self.opened:
            self.passing += 1
            self.peak = max(self.peak, self.in_flight)
            try:
                await asyncio.sleep(0)
            finally:
                self.passing -= 1
            return
        future = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        self.peak = max(self.peak, self.in_flight)
        try:
            await future
        finally:
            self.waiting.remove(future)

    async def check_access(self) -> None:
        return None

    async def get_order(self, order_id: str, *, expand: bool = True) -> Order:
        await self._through()
        n = order_id.rsplit("_", 1)[1]
        payment = Payment(id=f"payment_test_{n}", order_id=order_id, amount=5000,
                          currency="JPY", status="captured", created_at=1, refunds=())  # fmt: skip
        return Order(id=order_id, amount=5000, currency="JPY", status="succeeded",
                     created_at=1, payments=(payment,))  # fmt: skip

    async def get_payment(self, payment_id: str, *, expand: bool = True) -> Payment:
        raise NotImplementedError

    async def get_refund(self, refund_id: str, *, payment_id: str | None = None) -> Refund:
        raise NotImplementedError

    async def create_refund(self, body: CreateRefund, *, idempotency_key: str) -> Refund:
        if idempotency_key not in self._writer().committed_keys:
            self.uncommitted.append(idempotency_key)
        await self._through()
        self.posted.append(idempotency_key)
        return Refund(id=f"refund_{body.payment_id}", payment_id=body.payment_id,
                      amount=body.amount, currency="JPY", status="succeeded", created_at=2,
                      reference=body.reference)  # fmt: skip

    def list_refunds(self, *, page_size: int = 100) -> AsyncIterator[Refund]:
        raise NotImplementedError


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(SPINS):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


def requests(count: int) -> list[RefundRequest]:
    return [RefundRequest(row=n + 2, order_id=f"order_test_{n}", payment_id=None, amount=1000,
                          reference=f"RET-{n}") for n in range(count)]  # fmt: skip


async def test_request_slots_left_for_a_commit_are_taken_by_other_groups(tmp_path: Path) -> None:
    """Two requests allowed: while the first two orders wait for their intents' commit, two
    more orders' GETs take both slots; never more than two in flight, no POST before its
    intent's commit, every row refunded once."""
    writers: list[ManualWriter] = []

    def writer(path: Path) -> ManualWriter:
        writers.append(ManualWriter(path))
        return writers[-1]

    api = GatedApi(lambda: writers[0])
    with Journal(tmp_path / "j.sqlite3", writer=writer) as journal:
        engine = Engine(api=api, journal=journal, run_id="run-1", concurrency=2)
        run = asyncio.create_task(engine.plan_and_execute(requests(6)))
        await until(lambda: api.in_flight == 2)
        api.answer(2)  # the first two GETs; those groups then wait for the disk
        await until(lambda: writers[0]._submitted == 2 and api.in_flight == 2)
        for _ in range(50):
            await asyncio.sleep(0)
        # Both slots went to other orders' GETs while the first two wait for their commit.
        assert api.in_flight == api.peak == 2
        assert api.posted == []
        done = asyncio.Event()

        async def disk() -> None:
            while not done.is_set():
                writers[0].commit()
                await asyncio.sleep(0)

        spinner = asyncio.create_task(disk())
        api.open()
        outcomes = await run
        done.set()
        await spinner
    assert [o.status for o in outcomes] == [Status.REFUNDED] * 6
    assert len(api.posted) == len(set(api.posted)) == 6
    assert api.uncommitted == []
    assert api.peak == 2


async def test_n_requests_allowed_means_n_in_flight_and_never_more(tmp_path: Path) -> None:
    """Eight requests allowed and forty orders whose GETs all wait: exactly eight are in
    flight, the other orders' requests wait for a slot."""
    with Journal(tmp_path / "j.sqlite3", writer=ManualWriter) as journal:
        writer = journal._writer
        assert isinstance(writer, ManualWriter)
        api = GatedApi(lambda: writer)
        engine = Engine(api=api, journal=journal, run_id="run-1", concurrency=8)
        run = asyncio.create_task(engine.plan_and_execute(requests(40)))
        await until(lambda: api.in_flight == 8)
        for _ in range(50):
            await asyncio.sleep(0)
        assert api.in_flight == api.peak == 8
        api.open()
        done = asyncio.Event()

        async def disk() -> None:
            while not done.is_set():
                writer.commit()
                await asyncio.sleep(0)

        spinner = asyncio.create_task(disk())
        outcomes = await run
        done.set()
        await spinner
    assert [o.status for o in outcomes] == [Status.REFUNDED] * 40
    assert api.peak == 8


async def test_a_request_queued_for_a_slot_when_the_run_stops_is_not_sent(tmp_path: Path) -> None:
    """One request allowed: the second order's GET waits for the slot; the stop comes, the
    slot frees, and that GET is never sent: nothing leaves after a stop, however long it
    queued."""
    with Journal(tmp_path / "j.sqlite3", writer=ManualWriter) as journal:
        writer = journal._writer
        assert isinstance(writer, ManualWriter)
        api = GatedApi(lambda: writer)
        engine = Engine(api=api, journal=journal, run_id="run-1", concurrency=1)
        run = asyncio.create_task(engine.plan_and_execute(requests(3)))
        await until(lambda: api.in_flight == 1)
        for _ in range(50):
            await asyncio.sleep(0)
        engine.stop.set()
        api.open()
        outcomes = await run
    assert api.calls == 1
    assert [(o.status, o.error_code) for o in outcomes] == [(Status.FAILED, "run.interrupted")] * 3
