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
    one 429 spell per failed probe (30 s, then 60 s, 120 s apart; a spell that measures the
    limit lasts about a second), and the pace never drops below the cruise level."""
    time = SimTime()
    pacer = pacer_for(time, 50.0, workers=4)
    trace = await drive(time, pacer, SlidingWindow(10), requests=3000, workers=4)
    assert time.now >= 290.0
    assert trace.episodes_after(5.0, gap_s=2.0) <= 3
    assert min(trace.pace_after(5.0)) >= 10 * (1 - 2 * CRUISE_MARGIN) - 1.0
    assert trace.accepted_between(5.0, time.now) >= 0.93 * 10 * (time.now - 5.0)


@pytest.mark.parametrize("fast_refusals", [True, False], ids=["429-at-once", "429-late"])
async def test_a_token_bucket_is_found_within_5_s(fast_refusals: bool) -> None:
    """--rate 200 against a bucket of 40/s with a burst of 5 (spent 30 ms into the run),
    whether its 429s come back at once (the sandbox) or a round trip later: from 5 s on the
    pace stays within 5 % under 40/s without a 429 until the first probe is due, fewer than
    2 % of all requests are refused, and the run takes at most 1/0.95 of the ideal."""
    time = SimTime()
    pacer = pacer_for(time, 200.0)
    trace = await drive(
        time, pacer, TokenBucket(LIMIT, 5), requests=1300, workers=8, fast_refusals=fast_refusals
    )
    assert len(trace.accepted) == 1300
    settled = [rate for at, rate in trace.pace if 5.0 <= at <= 30.0]
    assert min(settled) >= 0.95 * LIMIT
    assert max(settled) < LIMIT
    assert trace.limited_after(5.0) - trace.limited_after(30.0) == 0
    assert len(trace.limited) <= 0.02 * (1300 + len(trace.limited))
    assert 1300 / LIMIT / time.now >= 0.95


async def test_a_slow_bucket_with_a_large_burst_and_few_workers_costs_few_429s() -> None:
    """A bucket of 10/s holding 20, four workers each waiting out a refused request's whole
    second: the refused ones leave too few to keep a measuring spell going, and where the
    spell ends the pace stays, instead of doubling back into the burst: under 3 % of the
    requests refused, and the ideal time or better (the burst is a bonus)."""
    time = SimTime()
    pacer = pacer_for(time, 50.0, workers=4)
    trace = await drive(
        time, pacer, TokenBucket(10, 20), requests=600, workers=4, fast_refusals=True
    )
    assert len(trace.limited) <= 0.03 * (600 + len(trace.limited))
    assert 600 / 10 / time.now >= 0.98


async def test_probes_hidden_by_a_large_burst_do_not_raise_the_ceiling() -> None:
    """Over three minutes against a bucket of 40/s holding a whole second's worth, whose
    burst hides a probe for 20 s: a probe held that long is not taken as room, it climbs on
    until a 429 and the spell that follows measures the limit again, so the pace never
    passes 1.5 x 40 after the start and the ceiling ends within 1 % of 40."""
    time = SimTime()
    pacer = pacer_for(time, 200.0)
    trace = await drive(
        time, pacer, TokenBucket(LIMIT, LIMIT), requests=8000, workers=8, fast_refusals=True
    )
    assert time.now >= 180.0
    assert max(trace.pace_after(5.0)) <= 1.5 * LIMIT
    assert pacer.ceiling_per_second == pytest.approx(LIMIT, rel=0.01)


@pytest.mark.parametrize("burst", [5, 40])
async def test_a_token_bucket_under_a_5x_guess_from_any_burst_costs_few_429s(burst: int) -> None:
    """Against 100/s buckets with a small or a large burst, from --rate 500: under 3 % of
    requests refused, 95 % of the ideal, and the pace ends within 5 % under the limit."""
    time = SimTime()
    pacer = pacer_for(time, 500.0, workers=16)
    trace = await drive(
        time, pacer, TokenBucket(100, burst), requests=3000, workers=16, fast_refusals=True
    )
    assert len(trace.limited) <= 0.03 * (3000 + len(trace.limited))
    assert 3000 / 100 / time.now >= 0.95
    assert 95.0 <= trace.pace[-1][1] < 100.0


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


async def test_a_full_window_gets_one_early_request_then_its_whole_retry_after() -> None:
    """A sliding second filled by the first burst: after its first 429 exactly one request
    goes out early, and when that one is refused too, nothing starts until that second
    429's whole Retry-After has passed, then starts resume exactly then."""
    time = SimTime()
    pacer = pacer_for(time, 200.0)
    trace = await drive(
        time, pacer, SlidingWindow(LIMIT), requests=200, workers=8, fast_refusals=True
    )
    (first, _), (second, retry_after) = trace.holds[:2]
    early = [s for s in trace.starts if first < s < second + retry_after - 1e-9]
    assert len(early) == 1
    assert min(s for s in trace.starts if s > second) == pytest.approx(second + retry_after)


async def test_a_refilling_bucket_does_not_stall_the_pipeline_for_retry_after() -> None:
    """Against a token bucket, whose whole-second Retry-After stands for 25 ms: after the
    first 429 one request goes out 1.5 slots of the 6 let through later (1/4 s), and after
    every later one the next start comes sooner still (the window rule may hold it a little
    after a slower pace is set): never the whole second later. Each refused request itself
    is resent only after its own Retry-After."""
    time = SimTime()
    pacer = pacer_for(time, 200.0)
    trace = await drive(
        time, pacer, TokenBucket(LIMIT, 5), requests=600, workers=8, fast_refusals=True
    )
    assert len(trace.holds) > 5
    for answered, _ in trace.holds:
        resumed = min(s for s in trace.starts if s > answered)
        assert resumed <= answered + 0.3
    assert min(retry_after for _, retry_after in trace.holds) >= 1.0


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
