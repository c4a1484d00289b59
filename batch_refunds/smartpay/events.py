"""What the client reports while it works: frozen event records and the hook that receives them.

A progress bar, counters or a log are a hook away, and the client imports none of them.
Times are seconds on the client's (injectable) monotonic clock. No event carries a header,
a body or the secret key: only the method and the path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestStarted:
    """One try of a request left for the server (after waiting for the pace and a free slot)."""

    method: str
    path: str
    attempt: int
    at: float


@dataclass(frozen=True, slots=True)
class RequestFinished:
    """One try ended. ``status`` is ``None`` when no response arrived (``error_code`` says why).

    ``replayed`` is true when Smartpay answered from its idempotency record (the request had
    already been carried out once).
    """

    method: str
    path: str
    attempt: int
    at: float
    duration_s: float
    status: int | None
    error_code: str | None = None
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class RequestRetried:
    """A try failed with ``error_code`` and will be made again after ``delay_s``."""

    method: str
    path: str
    attempt: int
    at: float
    delay_s: float
    error_code: str


@dataclass(frozen=True, slots=True)
class Throttled:
    """A 429 slowed the whole client: nothing starts for ``pause_s`` and the pace is now
    ``rate_per_second``."""

    method: str
    path: str
    at: float
    pause_s: float
    rate_per_second: float


ClientEvent = RequestStarted | RequestFinished | RequestRetried | Throttled
EventHook = Callable[[ClientEvent], None]

_log = logging.getLogger("batch_refunds.smartpay")


def log_event(event: ClientEvent) -> None:
    """A ready hook that writes every event to the ``batch_refunds.smartpay`` logger at DEBUG."""
    _log.debug("%s", event)


def no_event(event: ClientEvent) -> None:
    """The default hook: ignore everything."""
