"""``StoppableApi``: after a stop, an answer still awaited gets its grace period, then is
abandoned as unknown; until then calls pass straight through."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from batch_refunds.errors import AbandonedAtStop, ApiUnavailable
from batch_refunds.models import CreateRefund, Order, Payment, Refund
from batch_refunds.stopping import StoppableApi

REFUND = Refund(id="refund_1", payment_id="payment_1", amount=500, currency="JPY",
                status="succeeded", created_at=0)  # fmt: skip


class SlowApi:
    """Answers each call only when the test resolves ``answer``; records cancellations."""

    def __init__(self) -> None:
        self.answer: asyncio.Future[Refund] = asyncio.get_running_loop().create_future()
        self.calls = 0
        self.cancelled = 0
        self.pages_closed = False

    async def _wait(self) -> Refund:
        self.calls += 1
        try:
            return await asyncio.shield(self.answer)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise

    async def check_access(self) -> None:
        await self._wait()

    async def get_order(self, order_id: str, *, expand: bool = True) -> Order:
        raise NotImplementedError

    async def get_payment(self, payment_id: str, *, expand: bool = True) -> Payment:
        raise NotImplementedError

    async def get_refund(self, refund_id: str, *, payment_id: str | None = None) -> Refund:
        return await self._wait()

    async def create_refund(self, body: CreateRefund, *, idempotency_key: str) -> Refund:
        return await self._wait()

    async def list_refunds(self, *, page_size: int = 100) -> AsyncIterator[Refund]:
        try:
            yield REFUND
            yield await self._wait()
        finally:
            self.pages_closed = True


class Grace:
    """The grace period's sleep, ended when the test says so."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self.over = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.asked.append(seconds)
        await self.over.wait()


BODY = CreateRefund(payment_id="payment_1", amount=500)


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_without_a_stop_the_answer_passes_through() -> None:
    """No stop: the call waits for its answer however long, and returns it unchanged."""
    api, grace = SlowApi(), Grace()
    wrapped = StoppableApi(api, asyncio.Event(), grace_s=5.0, sleep=grace.sleep)
    call = asyncio.ensure_future(wrapped.create_refund(BODY, idempotency_key="k"))
    await _settle()
    assert not call.done()
    api.answer.set_result(REFUND)
    assert await call is REFUND
    assert grace.asked == []


async def test_an_answer_within_the_grace_period_is_kept() -> None:
    """Stopped while waiting, answered before the grace is over: the refund is returned."""
    api, grace, stop = SlowApi(), Grace(), asyncio.Event()
    wrapped = StoppableApi(api, stop, grace_s=5.0, sleep=grace.sleep)
    call = asyncio.ensure_future(wrapped.create_refund(BODY, idempotency_key="k"))
    await _settle()
    stop.set()
    await _settle()
    assert grace.asked == [5.0]
    assert not call.done()
    api.answer.set_result(REFUND)
    assert await call is REFUND
    assert api.cancelled == 0


async def test_no_answer_by_the_end_of_the_grace_period_is_abandoned_and_cancelled() -> None:
    """Grace over and still no answer: the request is cancelled and the call raises
    ``AbandonedAtStop``, an ``ApiUnavailable`` (outcome unknown, never refused)."""
    api, grace, stop = SlowApi(), Grace(), asyncio.Event()
    wrapped = StoppableApi(api, stop, grace_s=5.0, sleep=grace.sleep)
    call = asyncio.ensure_future(wrapped.create_refund(BODY, idempotency_key="k"))
    await _settle()
    stop.set()
    await _settle()
    grace.over.set()
    with pytest.raises(AbandonedAtStop) as raised:
        await call
    assert isinstance(raised.value, ApiUnavailable)
    assert raised.value.code == "run.stopped-waiting"
    assert "payment_1" in raised.value.message
    assert api.cancelled == 1


async def test_a_call_made_after_the_stop_gets_the_grace_period_too() -> None:
    """A lookup started after the stop (the planner finishing a row) is not cut off at once."""
    api, grace, stop = SlowApi(), Grace(), asyncio.Event()
    stop.set()
    wrapped = StoppableApi(api, stop, grace_s=2.0, sleep=grace.sleep)
    call = asyncio.ensure_future(wrapped.get_refund("refund_1"))
    await _settle()
    assert not call.done()
    api.answer.set_result(REFUND)
    assert await call is REFUND


async def test_a_page_walk_is_abandoned_between_pages_and_closed() -> None:
    """A list walk stopped mid-way raises ``AbandonedAtStop`` and closes the walk beneath."""
    api, grace, stop = SlowApi(), Grace(), asyncio.Event()
    wrapped = StoppableApi(api, stop, grace_s=1.0, sleep=grace.sleep)
    pages = wrapped.list_refunds()
    assert await anext(pages) is REFUND
    stop.set()
    grace.over.set()
    with pytest.raises(AbandonedAtStop):
        await anext(pages)
    assert api.pages_closed
    assert api.cancelled == 1


async def test_cancelling_the_caller_cancels_the_request() -> None:
    """The engine's own cancellation reaches the request: nothing is left running."""
    api, grace = SlowApi(), Grace()
    wrapped = StoppableApi(api, asyncio.Event(), grace_s=5.0, sleep=grace.sleep)
    call = asyncio.ensure_future(wrapped.check_access())
    await _settle()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await _settle()
    assert api.cancelled == 1
