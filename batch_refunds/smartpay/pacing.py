"""Pacing: every request the client makes passes one ``Pacer``.

Three limits, all shared by the whole client:

* **Even pace.** ``EvenThrottler`` is asyncio-throttle's ``Throttler`` configured as one
  request per ``1 / rate`` seconds, so requests start evenly spaced instead of a whole
  second's budget at once. It reads an injected clock and sleeps exactly until the next
  slot (the stock class polls every 10 ms on ``time.monotonic``, which tests can't steer).
  Waiters are served first come, first served.
* **Concurrency cap.** At most ``max_in_flight`` requests are open at once. A request
  takes its concurrency slot first and then waits for its pace slot, so it starts only
  when both allow it.
* **Adaptive slow-down (AIMD).** A 429 slows the client, not just the request that got
  it: nothing new starts until the pause (the server's ``Retry-After``, capped, or the
  backoff) is over, and the pace is multiplied by ``rate_decrease_factor`` (never below
  ``min_rate_per_second``). Several 429s from one burst count once: only a request
  started *after* the last decrease can lower the pace again. After every
  ``good_responses_per_increase`` good answers in a row the pace climbs back by
  ``rate_increase_per_second``, up to the configured ``rate_per_second``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from asyncio_throttle.throttler import Throttler

from batch_refunds.smartpay.config import ClientConfig

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

# Float slack when comparing a clock reading with a slot boundary, so that sleeping
# "exactly until" a slot can't leave a sub-nanosecond remainder to loop on.
_EPSILON_S = 1e-9

# A server counting requests in a sliding one-second window sees them arrive a little
# jittered. Spacing N requests so that they fill 1 s + this allowance keeps any window at N
# or fewer even when one arrives this much later than its neighbours — at a cost of 2 % of
# the pace at 1 s / 20 ms.
JITTER_ALLOWANCE_S = 0.020


class EvenThrottler(Throttler):
    """One start per ``1 / rate_per_second`` seconds, on an injected clock and sleep.

    ``hold_until(t)`` additionally keeps every start at or after clock time ``t``.
    """

    def __init__(self, rate_per_second: float, *, clock: Clock, sleep: Sleep) -> None:
        super().__init__(rate_limit=1, period=_period(rate_per_second))
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._held_until = float("-inf")

    @property
    def rate_per_second(self) -> float:
        return (1.0 + JITTER_ALLOWANCE_S) / float(self.period)

    @rate_per_second.setter
    def rate_per_second(self, rate: float) -> None:
        self.period = _period(rate)

    @property
    def held_until(self) -> float:
        return self._held_until

    def hold_until(self, at: float) -> None:
        """No start before clock time ``at`` (a later hold wins; an earlier one is ignored)."""
        self._held_until = max(self._held_until, at)

    def flush(self) -> None:
        now = self._clock()
        while self._task_logs and now - self._task_logs[0] >= self.period - _EPSILON_S:
            self._task_logs.popleft()

    async def acquire(self) -> None:
        # The lock makes waiters queue in arrival order, and only the head of the queue sleeps.
        async with self._lock:
            slot = float("-inf")
            while True:
                self.flush()
                slot = max(slot, self._held_until)
                if len(self._task_logs) >= self.rate_limit:
                    slot = max(slot, self._task_logs[0] + self.period)
                now = self._clock()
                wait_s = slot - now
                if wait_s <= _EPSILON_S:
                    break
                await self._sleep(wait_s)
            # Log the slot's own time, not when the sleep happened to end: a real sleep wakes
            # a little late every time, and logging the wake-up would add that lateness to
            # every interval and slow the whole run. Lateness of a full interval or more means
            # the throttler sat idle, and then the pace starts afresh from now.
            late_s = now - slot
            self._task_logs.append(slot if 0 <= late_s < self.period else now)


def _period(rate_per_second: float) -> float:
    return (1.0 + JITTER_ALLOWANCE_S) / rate_per_second


class Pacer:
    """The shared gate: ``async with pacer.slot():`` around every request try."""

    def __init__(
        self,
        *,
        rate_per_second: float,
        max_in_flight: int,
        min_rate_per_second: float,
        rate_decrease_factor: float,
        rate_increase_per_second: float,
        good_responses_per_increase: int,
        clock: Clock,
        sleep: Sleep,
    ) -> None:
        self._target_rate = rate_per_second
        self._min_rate = min_rate_per_second
        self._decrease_factor = rate_decrease_factor
        self._increase = rate_increase_per_second
        self._good_per_increase = good_responses_per_increase
        self._clock = clock
        self._throttler = EvenThrottler(rate_per_second, clock=clock, sleep=sleep)
        self._semaphore = asyncio.Semaphore(max_in_flight)
        self._in_flight = 0
        self._good_in_a_row = 0
        self._last_decrease_at = float("-inf")

    @classmethod
    def from_config(cls, config: ClientConfig, *, clock: Clock, sleep: Sleep) -> Pacer:
        return cls(
            rate_per_second=config.rate_per_second,
            max_in_flight=config.max_in_flight,
            min_rate_per_second=config.rate_floor_per_second,
            rate_decrease_factor=config.rate_decrease_factor,
            rate_increase_per_second=config.rate_increase_per_second,
            good_responses_per_increase=config.good_responses_per_increase,
            clock=clock,
            sleep=sleep,
        )

    @property
    def rate_per_second(self) -> float:
        """The current pace (lower than configured after a 429, until it climbs back)."""
        return self._throttler.rate_per_second

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def paused_until(self) -> float:
        return self._throttler.held_until

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """Wait for a concurrency slot, then for the pace; yields the clock time it started."""
        async with self._semaphore:
            await self._throttler.acquire()
            self._in_flight += 1
            try:
                yield self._clock()
            finally:
                self._in_flight -= 1

    def rate_limited(self, *, pause_s: float, started_at: float) -> None:
        """A request started at ``started_at`` got a 429: pause everyone, and slow down once."""
        now = self._clock()
        self._throttler.hold_until(now + pause_s)
        self._good_in_a_row = 0
        if started_at > self._last_decrease_at:
            slower = max(self._min_rate, self.rate_per_second * self._decrease_factor)
            self._throttler.rate_per_second = slower
            self._last_decrease_at = now

    def good_response(self) -> None:
        """The server answered without asking us to slow down; maybe climb back a step."""
        self._good_in_a_row += 1
        if self._good_in_a_row >= self._good_per_increase:
            self._good_in_a_row = 0
            faster = min(self._target_rate, self.rate_per_second + self._increase)
            self._throttler.rate_per_second = faster
