"""pacing against a simulated server limit: the pacer and the limit share one virtual clock,
so a minute of traffic is checked in a fraction of a second, the same way every run."""

from __future__ import annotations

import pytest

from batch_refunds.smartpay.ceiling import CRUISE_MARGIN, PROBE_STEP
from batch_refunds.smartpay.pacing import JITTER_ALLOWANCE_S, Pacer

from .pacing_sim import Limit, SimTime, SlidingWindow, TokenBucket, drive

LIMIT = 40


def pacer_for(time: SimTime, rate: float, *, workers: int = 8) -> Pacer:
    return Pacer(
        rate_per_second=rate,
        max_in_flight=workers,
        min_rate_per_second=0.5,
        clock=time.clock,
        sleep=time.sleep,
    )


async def test_a_guess_5x_too_high_converges_under_the_limit_within_5_s() -> None:
    """--rate 200 against 40/s (a sliding second, like the sandbox): from 5 s on the pace
    stays within a few percent under 40/s (above it only for a probe's step), and every
    request gets through."""
    time = SimTime()
    pacer = pacer_for(time, 200.0)
    trace = await drive(time, pacer, SlidingWindow(LIMIT), requests=1200, workers=8)
    assert len(trace.accepted) == 1200
    settled = trace.pace_after(5.0)
    assert min(settled) >= LIMIT * (1 - 2 * CRUISE_MARGIN) / (1 + JITTER_ALLOWANCE_S)
    assert max(settled) <= LIMIT * (1 + PROBE_STEP)
    assert trace.limited_after(5.0) == 0
    assert 1200 / LIMIT / time.now >= 0.93


async def test_the_pace_does_not_oscillate_at_a_fixed_limit() -> None:
    """Five minutes against a fixed 10/s limit from a 5x guess: after convergence at most
    one 429 burst per failed probe (30 s, then 60 s, 120 s apart), and the pace never drops
    below the cruise level."""
    time = SimTime()
    pacer = pacer_for(time, 50.0, workers=4)
    trace = await drive(time, pacer, SlidingWindow(10), requests=3000, workers=4)
    assert time.now >= 290.0
    assert trace.episodes_after(5.0) <= 3
    assert min(trace.pace_after(5.0)) >= 10 * (1 - 2 * CRUISE_MARGIN)
    assert trace.accepted_between(5.0, time.now) >= 0.95 * 10 * (time.now - 5.0)


async def test_a_token_bucket_is_found_too() -> None:
    """Against a bucket of 40/s with a burst of 5, whose burst is spent 30 ms into the run,
    the pace doubles up from the handful that got through instead of staying there, and
    from 30 s on it stays within 5 % of 40. (Slower than a sliding window: a probe above the
    rate is hidden by the refilled burst for a while, so the pace overshoots and is walked
    back down by several 429s.)"""
    time = SimTime()
    pacer = pacer_for(time, 200.0)
    trace = await drive(time, pacer, TokenBucket(LIMIT, 5), requests=1600, workers=8)
    assert len(trace.accepted) == 1600
    assert max(rate for at, rate in trace.pace if at <= 10.0) >= LIMIT
    settled = trace.pace_after(30.0)
    assert min(settled) >= 0.9 * LIMIT
    assert max(settled) <= 1.05 * LIMIT
    assert trace.accepted_between(30.0, time.now) >= 0.9 * LIMIT * (time.now - 30.0)


@pytest.mark.parametrize("limit", [SlidingWindow(LIMIT), TokenBucket(LIMIT, 5)])
async def test_the_known_limit_is_used_in_full_without_a_429(limit: Limit) -> None:
    """--rate 40 against 40/s, with every arrival jittered by up to 90 % of the allowance:
    not one 429, and 98 % or more of the ideal throughput."""
    time = SimTime()
    pacer = pacer_for(time, float(LIMIT))
    trace = await drive(
        time, pacer, limit, requests=1200, workers=8, jitter_s=0.9 * JITTER_ALLOWANCE_S
    )
    assert trace.limited == []
    assert 1200 / LIMIT / time.now >= 0.98


async def test_a_rising_limit_is_followed() -> None:
    """When the server's limit goes from 20/s to 30/s, rare probes find the new room: within
    three minutes the pace is above 27/s."""
    time = SimTime()
    pacer = pacer_for(time, 100.0, workers=4)
    window = SlidingWindow(20)

    class Rising:
        def admit(self, now: float) -> float | None:
            window.limit = 30 if now >= 20.0 else 20
            return window.admit(now)

    trace = await drive(time, pacer, Rising(), requests=5200, workers=4)
    assert time.now >= 180.0
    assert max(rate for at, rate in trace.pace if at <= 20.0) <= 100.0
    assert min(rate for at, rate in trace.pace if 5.0 <= at <= 20.0) < 20.0
    assert trace.pace_after(180.0)[-1] >= 27.0


async def test_retry_after_is_honoured_exactly_in_traffic() -> None:
    """Every 429's Retry-After holds all starts until it has passed, and the first start
    after the last such pause comes exactly when it ends."""
    time = SimTime()
    pacer = pacer_for(time, 200.0)
    trace = await drive(time, pacer, SlidingWindow(LIMIT), requests=200, workers=8)
    assert trace.holds
    for answered, retry_after in trace.holds:
        assert not [s for s in trace.starts if answered < s < answered + retry_after - 1e-9]
    end = max(answered + retry_after for answered, retry_after in trace.holds)
    assert min(s for s in trace.starts if s >= end - 1e-9) == pytest.approx(end, abs=1e-9)


async def test_the_concurrency_cap_holds_under_429s() -> None:
    """With max_in_flight=3 and a 5x guess, never more than 3 requests are open at once."""
    time = SimTime()
    pacer = pacer_for(time, 200.0, workers=3)
    peak = 0

    class Spy:
        def __init__(self) -> None:
            self.inner = SlidingWindow(LIMIT)

        def admit(self, now: float) -> float | None:
            nonlocal peak
            peak = max(peak, pacer.in_flight)
            return self.inner.admit(now)

    await drive(time, pacer, Spy(), requests=300, workers=6)
    assert peak == 3
