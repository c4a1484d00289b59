"""A simulated server limit and clients on one virtual clock, for the pacing tests.

``SimTime`` is a discrete-event clock: ``sleep`` parks the caller until the clock reaches its
deadline, and ``run`` moves the clock from one deadline to the next once every task is
parked, so a minute of traffic is simulated in a fraction of a second and every run is the
same. The limiters answer like the sandbox (a sliding second) or like a token bucket; both
give ``Retry-After`` in whole seconds, rounded up, as the sandbox does.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import random
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from batch_refunds.smartpay.pacing import Pacer

_T = TypeVar("_T")

# Loop turns given to runnable tasks before the clock moves on: enough for every lock and
# semaphore hand-off the pacer makes to settle.
_SETTLE_TURNS = 30
# One way over loopback, for a server that refuses before it does any work.
_FAST_S = 0.0005


class SimTime:
    """Virtual monotonic seconds that move only when every task waits on ``sleep``."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), self._seq, future))
        self._seq += 1
        await future

    async def run(self, main: Coroutine[Any, Any, _T]) -> _T:
        task = asyncio.ensure_future(main)
        while True:
            for _ in range(_SETTLE_TURNS):
                await asyncio.sleep(0)
            if task.done():
                return task.result()
            while self._sleepers and self._sleepers[0][2].cancelled():
                heapq.heappop(self._sleepers)  # a sleep cut short moves no clock
            if not self._sleepers:
                raise RuntimeError("deadlock: nothing runs and nothing sleeps")
            when, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, when)
            if not future.cancelled():
                future.set_result(None)


class Limit(Protocol):
    def admit(self, now: float) -> float | None:
        """``None`` to accept a request arriving now, else its ``Retry-After`` in seconds."""


class SlidingWindow:
    """At most ``limit`` requests in any second (the sandbox's limiter)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._accepted: deque[float] = deque()

    def admit(self, now: float) -> float | None:
        while self._accepted and self._accepted[0] <= now - 1.0:
            self._accepted.popleft()
        if len(self._accepted) < self.limit:
            self._accepted.append(now)
            return None
        return float(max(1, math.ceil(self._accepted[0] + 1.0 - now)))


class TokenBucket:
    """``rate`` requests per second on average, ``burst`` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._at: float | None = None

    def admit(self, now: float) -> float | None:
        if self._at is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        return float(max(1, math.ceil((1.0 - self._tokens) / self.rate)))


@dataclass
class Trace:
    """What the server saw and what the pacer did, on the simulated clock."""

    accepted: list[float] = field(default_factory=list)  # arrival times
    limited: list[float] = field(default_factory=list)  # arrival times answered 429
    starts: list[float] = field(default_factory=list)
    pace: list[tuple[float, float]] = field(default_factory=list)  # (time, rate) per answer
    holds: list[tuple[float, float]] = field(default_factory=list)  # (answered at, retry after)

    def pace_after(self, t: float) -> list[float]:
        return [rate for at, rate in self.pace if at >= t]

    def limited_after(self, t: float) -> int:
        return sum(1 for at in self.limited if at >= t)

    def episodes_after(self, t: float, gap_s: float = 1.0) -> int:
        """429s after ``t``, counting those less than ``gap_s`` apart as one burst."""
        episodes, last = 0, float("-inf")
        for at in self.limited:
            if at >= t and at - last >= gap_s:
                episodes += 1
            last = max(last, at)
        return episodes

    def accepted_between(self, start: float, end: float) -> int:
        return sum(1 for at in self.accepted if start <= at < end)


async def drive(
    time: SimTime,
    pacer: Pacer,
    limit: Limit,
    *,
    requests: int,
    workers: int,
    latency_s: float = 0.030,
    jitter_s: float = 0.0,
    seed: int = 1,
    fast_refusals: bool = False,
) -> Trace:
    """``workers`` clients send ``requests`` requests through ``pacer`` to ``limit``, retrying
    a 429 after its ``Retry-After`` as the real client does; returns what happened.

    ``fast_refusals``: like the sandbox, the limit is checked as a request arrives (0.5 ms
    after it is sent) and a 429 comes straight back (0.5 ms), while an accepted request is
    answered after ``latency_s``; otherwise each way takes half of ``latency_s``."""
    trace = Trace()
    rng = random.Random(seed)
    left = requests

    async def attempt() -> None:
        while True:
            async with pacer.slot() as started:
                trace.starts.append(started)
                there = _FAST_S if fast_refusals else latency_s / 2
                await time.sleep(there + rng.uniform(0.0, jitter_s))
                arrived = time.now
                retry_after = limit.admit(arrived)
                if retry_after is not None and fast_refusals:
                    await time.sleep(_FAST_S)
                else:
                    await time.sleep(latency_s - there)
            if retry_after is None:
                trace.accepted.append(arrived)
                pacer.good_response(started_at=started)
                trace.pace.append((time.now, pacer.rate_per_second))
                return
            trace.limited.append(arrived)
            trace.holds.append((time.now, retry_after))
            pacer.rate_limited(pause_s=retry_after, started_at=started)
            trace.pace.append((time.now, pacer.rate_per_second))
            await time.sleep(retry_after)

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await attempt()

    async def everyone() -> None:
        await asyncio.gather(*(worker() for _ in range(workers)))

    await time.run(everyone())
    return trace
