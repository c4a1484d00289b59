"""A stop request ends a run within seconds, not within a request's timeout.

``StoppableApi`` wraps the ``SmartpayApi`` the engine uses. Until the run's ``stop`` event is
set it only passes calls through. Once it is set, every request still waiting for its answer
gets ``grace_s`` more seconds; one still unanswered then is cancelled and raises
``errors.AbandonedAtStop``, an ``ApiUnavailable``. That is exactly what a lost answer is
already, so the engine and the planner need nothing new to stay exactly-once:

* a refund POST abandoned this way keeps its intent ``pending`` (committed before it was
  sent), its row is reported ``failed`` with the outcome unknown, and the next run looks the
  refund up under the same key before it sends anything;
* a GET abandoned this way leaves its row unplanned, reported ``failed``; nothing was sent.

Answers that arrive within the grace period are kept, so a stop does not turn refunds
that were made into unknowns needlessly. ``sleep`` is injectable so tests steer the grace.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from batch_refunds.api import SmartpayApi
from batch_refunds.errors import AbandonedAtStop
from batch_refunds.models import CreateRefund, Order, Payment, Refund

T = TypeVar("T")

STOP_GRACE_S = 5.0
"""How long a request in flight at a stop may still take to be answered."""


class StoppableApi:
    """``SmartpayApi`` whose requests are abandoned ``grace_s`` after ``stop`` is set."""

    def __init__(
        self,
        api: SmartpayApi,
        stop: asyncio.Event,
        *,
        grace_s: float = STOP_GRACE_S,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._api = api
        self._stop = stop
        self._grace_s = grace_s
        self._sleep = sleep

    @property
    def live(self) -> bool:
        return self._api.live

    @property
    def base_url(self) -> str:
        return self._api.base_url

    async def check_access(self) -> None:
        await self._race(self._api.check_access(), "checking access")

    async def get_order(self, order_id: str, *, expand: bool = True) -> Order:
        return await self._race(self._api.get_order(order_id, expand=expand), f"order {order_id}")

    async def get_payment(self, payment_id: str, *, expand: bool = True) -> Payment:
        return await self._race(
            self._api.get_payment(payment_id, expand=expand), f"payment {payment_id}"
        )

    async def get_refund(self, refund_id: str, *, payment_id: str | None = None) -> Refund:
        return await self._race(
            self._api.get_refund(refund_id, payment_id=payment_id), f"refund {refund_id}"
        )

    async def create_refund(self, body: CreateRefund, *, idempotency_key: str) -> Refund:
        return await self._race(
            self._api.create_refund(body, idempotency_key=idempotency_key),
            f"the refund of payment {body.payment_id}",
        )

    async def list_refunds(self, *, page_size: int = 100) -> AsyncIterator[Refund]:
        pages = self._api.list_refunds(page_size=page_size)
        try:
            while True:
                try:
                    refund = await self._race(_next(pages), "the list of refunds")
                except StopAsyncIteration:
                    return
                yield refund
        finally:
            if isinstance(pages, AsyncGenerator):
                await pages.aclose()

    async def list_orders(
        self, *, page_size: int = 100, max_items: int | None = None
    ) -> AsyncIterator[Order]:
        pages = self._api.list_orders(page_size=page_size, max_items=max_items)
        try:
            while True:
                try:
                    order = await self._race(_next(pages), "the list of orders")
                except StopAsyncIteration:
                    return
                yield order
        finally:
            if isinstance(pages, AsyncGenerator):
                await pages.aclose()

    async def _race(self, call: Coroutine[Any, Any, T], what: str) -> T:
        """``call``'s result, unless the stop comes and then ``grace_s`` passes first."""
        task = asyncio.ensure_future(call)
        deadline = asyncio.ensure_future(self._stopped_and_grace_over())
        try:
            await asyncio.wait({task, deadline}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            deadline.cancel()
        if not task.done():
            task.cancel()
            await asyncio.wait({task})  # let it unwind (an aiohttp request closes its socket)
            raise AbandonedAtStop(
                f"stopped while waiting for Smartpay's answer about {what} "
                f"(no answer {self._grace_s:g} s after the stop)"
            )
        return task.result()

    async def _stopped_and_grace_over(self) -> None:
        await self._stop.wait()
        await self._sleep(self._grace_s)


async def _next(pages: AsyncIterator[T]) -> T:
    return await anext(pages)
