"""An order of very many payments: planning does work in proportion to them, and stops.

Work is counted, not timed: every Python call and every call into C that planning makes
(``sys.setprofile``), with payment ids that count their own comparisons, so a loop hidden in
C (``list.count``, ``in`` on a list) shows up too. A linear planner does about twice the work
for twice the payments; one that compares every payment with every other does four times.
What no counter sees is a copy made inside one C operation (a tuple grown an item at a time
copies itself whole each time); planning builds such tuples once, from a list.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from batch_refunds import identity as ids
from batch_refunds.engine import Engine
from batch_refunds.errors import NotFound
from batch_refunds.journal import Journal
from batch_refunds.models import CreateRefund, Order, Payment, Refund, RefundRequest

ORDER = "order_test_Many"


class CountedId(str):
    """A payment id whose every comparison is a Python call the profiler sees."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return str.__ne__(self, other)

    __hash__ = str.__hash__


class ManyPayments:
    """An in-memory Smartpay holding one order of ``count`` payments of ¥1,000, each already
    refunded ¥500 by refund objects carrying ``marker`` (the row a lost journal forgot)."""

    def __init__(
        self, count: int, *, marker: str, listed_as_ids: bool = False, twice: bool = False
    ) -> None:
        self.requests = 0
        self.on_request: Callable[[int], None] = lambda n: None
        self._payments = {}
        for n in range(count):
            pid = CountedId(f"payment_test_{n:07d}")
            refund = Refund(
                f"refund_test_{n:07d}", pid, 500, "JPY", "succeeded", 1_700_000_000_000 + n,
                reference="BIG", metadata=((ids.MARKER_KEY, marker),),
            )  # fmt: skip
            self._payments[pid] = Payment(
                pid, ORDER, 1000, "JPY", "processed", 1_700_000_000_000, refunds=(refund,)
            )
        listed: list[Payment | str] = list(
            self._payments if listed_as_ids else self._payments.values()
        )
        self._order = Order(ORDER, 1000 * count, "JPY", "succeeded", 0,
                            payments=tuple(listed * 2 if twice else listed))  # fmt: skip

    def _request(self) -> None:
        self.requests += 1
        self.on_request(self.requests)

    async def check_access(self) -> None:
        self._request()

    async def get_order(self, order_id: str, *, expand: bool = True) -> Order:
        self._request()
        return self._order

    async def get_payment(self, payment_id: str, *, expand: bool = True) -> Payment:
        self._request()
        return self._payments[CountedId(payment_id)]

    async def get_refund(self, refund_id: str, *, payment_id: str | None = None) -> Refund:
        raise NotFound("not listed as ids here")

    async def create_refund(self, body: CreateRefund, *, idempotency_key: str) -> Refund:
        raise AssertionError("planning never sends")

    async def list_refunds(self, *, page_size: int = 100) -> AsyncIterator[Refund]:
        raise AssertionError("every payment lists its refunds")
        yield  # pragma: no cover


def big_row(count: int) -> tuple[RefundRequest, str]:
    """One row asking for the ¥500 each payment already gave it, plus ¥500 more."""
    request = RefundRequest(row=2, order_id=ORDER, payment_id=None, amount=500 * count + 500,
                            reference="BIG")  # fmt: skip
    return request, ids.row_identity(request, 1)


async def plan(api: ManyPayments, request: RefundRequest, journal: Path, **engine: Any) -> Any:
    with Journal(journal) as opened:
        return await Engine(api, opened, run_id="scale", plan_only=True, **engine).plan([request])


async def work_to_plan(count: int, tmp: Path, **shape: Any) -> tuple[int, Any]:
    """The calls planning one row over ``count`` payments makes, and the row's plan."""
    request, identity = big_row(count)
    api = ManyPayments(count, marker=identity, **shape)
    calls = 0

    def profile(frame: FrameType, event: str, arg: object) -> None:
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(profile)
    try:
        result = await plan(api, request, tmp / f"journal-{count}.sqlite3")
    finally:
        sys.setprofile(None)
    return calls, result.rows[0]


@pytest.mark.parametrize(
    ("shape", "action"),
    [({}, "send"), ({"twice": True}, "reject")],
    ids=["split-over-known-refunds", "every-payment-listed-twice"],
)
async def test_planning_work_grows_linearly_with_the_payments_of_an_order(
    tmp_path: Path, shape: dict[str, Any], action: str
) -> None:
    """Twice the payments, at most about twice the work: an order of 200,000 payments plans
    in linear time, whether the row's known refunds are spread over all of them or Smartpay
    lists every payment twice."""
    small, small_plan = await work_to_plan(2_000, tmp_path, **shape)
    large, large_plan = await work_to_plan(4_000, tmp_path, **shape)
    assert small_plan.action.value == large_plan.action.value == action
    if action == "send":
        assert [p.amount for p in large_plan.parts] == [500]
        assert large_plan.already_amount == 500 * 4_000
    assert large < 2.2 * small, f"{small:,} calls for 2,000 payments, {large:,} for 4,000"


async def test_a_stop_while_reading_200000_payments_ends_planning_at_once(tmp_path: Path) -> None:
    """A stop (SIGTERM) requested while an order of 200,000 payment ids is being read: no
    further request is made, and the row is failed as interrupted."""
    request, identity = big_row(200_000)
    api = ManyPayments(200_000, marker=identity, listed_as_ids=True)
    stop = asyncio.Event()
    api.on_request = lambda n: stop.set() if n == 100 else None
    result = await plan(api, request, tmp_path / "journal.sqlite3", stop=stop)
    (row,) = result.rows
    assert (row.action.value, row.error_code) == ("fail", "run.interrupted")
    assert api.requests == 100
