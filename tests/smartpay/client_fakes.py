"""Fakes for the client tests: a clock that only moves when something sleeps, a hook spy."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, TypeVar

import aiohttp

from batch_refunds.smartpay.events import ClientEvent

_E = TypeVar("_E", bound=ClientEvent)

SECRET = "sk_test_Zq8pW3nX5vR7tY2uK9mB4cL6"
BASE = "https://api.smartpay.test/v1"


class FakeTime:
    """Monotonic seconds that advance only through ``sleep``; every sleep is recorded."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)  # still yield, as a real sleep would


class Recorder:
    """An event hook that keeps what it is given."""

    def __init__(self) -> None:
        self.events: list[ClientEvent] = []

    def __call__(self, event: ClientEvent) -> None:
        self.events.append(event)

    def of(self, kind: type[_E]) -> list[_E]:
        return [e for e in self.events if isinstance(e, kind)]


class CompatResponse(aiohttp.ClientResponse):
    """aioresponses 0.7.9 builds responses without the ``stream_writer`` that aiohttp 3.14
    requires (pnuckowski/aioresponses#289, open); a finished upload's writer only needs
    ``output_size``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(*args, **kwargs)
