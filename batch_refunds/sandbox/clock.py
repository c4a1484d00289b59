"""Clocks for the sandbox: every timestamp, idempotency expiry, rate-limit window and
injected latency goes through one of these, so tests can control time instead of waiting.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """What the sandbox needs from time."""

    def now_ms(self) -> int:
        """Milliseconds since the epoch, as Smartpay timestamps are."""
        ...

    def advance(self, seconds: float) -> None:
        """Move this clock forward (the admin endpoint uses it to expire idempotency keys)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """Wall-clock time plus an offset that ``advance`` grows.

    The offset lets a sandbox running as a subprocess jump 6 hours ahead through
    ``POST /__admin/clock/advance`` without anyone waiting 6 hours.
    """

    def __init__(self) -> None:
        self._offset_ms = 0

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self._offset_ms

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        self._offset_ms += round(seconds * 1000)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def __repr__(self) -> str:
        return f"SystemClock(offset_ms={self._offset_ms})"


class ManualClock:
    """A clock that moves only when told to.

    ``sleep`` advances the clock by the requested time and yields once to the event
    loop, so injected latency costs no real time but still lets other requests run
    in between.
    """

    def __init__(self, start_ms: int = 1_764_000_000_000) -> None:
        self._now_ms = start_ms

    def now_ms(self) -> int:
        return self._now_ms

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        self._now_ms += round(seconds * 1000)

    async def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)

    def __repr__(self) -> str:
        return f"ManualClock(now_ms={self._now_ms})"
