"""The knobs that make the sandbox misbehave on purpose, and the rate limiter.

Knobs can change while the server runs (``POST /__admin/config``), so they live in one
mutable object that every request reads afresh.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from batch_refunds.sandbox.render import PAYMENT_REFUNDS_MODES, PaymentRefunds

INJECTED_STATUSES = (500, 502, 503)
RATE_WINDOW_MS = 1000


@dataclass
class Knobs:
    latency_ms: int = 0
    rate_limit_per_s: int | None = None
    rate_burst: int | None = None
    fail_rate: float = 0.0
    drop_after_commit_rate: float = 0.0
    payment_refunds: PaymentRefunds = "auto"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Fail fast, naming the knob."""
        if isinstance(self.latency_ms, bool) or not isinstance(self.latency_ms, int):
            raise ValueError(f"latency_ms must be an integer, got {self.latency_ms!r}")
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {self.latency_ms}")
        limit = self.rate_limit_per_s
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise ValueError(f"rate_limit_per_s must be an integer or null, got {limit!r}")
        if limit is not None and limit < 1:
            raise ValueError(f"rate_limit_per_s must be >= 1 or null, got {limit}")
        burst = self.rate_burst
        if burst is not None and (isinstance(burst, bool) or not isinstance(burst, int)):
            raise ValueError(f"rate_burst must be an integer or null, got {burst!r}")
        if burst is not None and burst < 1:
            raise ValueError(f"rate_burst must be >= 1 or null, got {burst}")
        for name in ("fail_rate", "drop_after_commit_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}")
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.payment_refunds not in PAYMENT_REFUNDS_MODES:
            raise ValueError(
                f"payment_refunds must be one of {', '.join(PAYMENT_REFUNDS_MODES)}, "
                f"got {self.payment_refunds!r}"
            )

    def update(self, changes: dict[str, Any]) -> None:
        """Apply ``changes`` all-or-nothing; unknown names are an error."""
        unknown = set(changes) - set(asdict(self))
        if unknown:
            raise ValueError(f"unknown knob(s): {', '.join(sorted(unknown))}")
        trial = Knobs(**{**asdict(self), **changes})
        for name, value in asdict(trial).items():
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class RateLimiter:
    """``rate_limit_per_s`` over the sandbox clock, in one of two shapes.

    Without a burst (the default): a sliding log of the last second. It never lets twice
    the limit through at a window edge, so a client that passes here paces honestly; but
    it accepts the whole second's allowance at once, so a client that sends in bursts
    passes too.

    With ``burst``: a token bucket that holds at most ``burst`` requests and refills at
    ``limit_per_s``, as API gateways do. Only a client that spreads its requests evenly
    gets the full rate, which is what tells a smooth pacer from a bursty one.
    """

    def __init__(self) -> None:
        self._accepted: deque[int] = deque()
        self._tokens = 0.0
        self._refilled_ms: int | None = None

    def check(self, now_ms: int, limit_per_s: int | None, burst: int | None = None) -> int | None:
        """Record a request; ``None`` if allowed, else whole seconds to wait (>= 1)."""
        if limit_per_s is None:
            return None
        if burst is not None:
            return self._bucket(now_ms, limit_per_s, burst)
        while self._accepted and self._accepted[0] <= now_ms - RATE_WINDOW_MS:
            self._accepted.popleft()
        if len(self._accepted) < limit_per_s:
            self._accepted.append(now_ms)
            return None
        # Retry-After is whole seconds; rounding up means obeying it always succeeds.
        wait_ms = self._accepted[0] + RATE_WINDOW_MS - now_ms
        return max(1, math.ceil(wait_ms / 1000))

    def _bucket(self, now_ms: int, limit_per_s: int, burst: int) -> int | None:
        if self._refilled_ms is None:
            self._tokens = float(burst)  # a fresh bucket starts full
        else:
            elapsed_ms = max(0, now_ms - self._refilled_ms)
            self._tokens += elapsed_ms * limit_per_s / RATE_WINDOW_MS
        # Also caps a bucket filled under a larger burst that was lowered at run time.
        self._tokens = min(self._tokens, float(burst))
        self._refilled_ms = now_ms
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        wait_ms = (1.0 - self._tokens) * RATE_WINDOW_MS / limit_per_s
        return max(1, math.ceil(wait_ms / 1000))


class Dice:
    """Seeded randomness for injected failures, so a failing run can be replayed."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def injected_failure(self, fail_rate: float) -> int | None:
        """A 5xx status to answer with, or ``None`` to serve the request normally."""
        if fail_rate > 0 and self._rng.random() < fail_rate:
            return self._rng.choice(INJECTED_STATUSES)
        return None

    def drop(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate
