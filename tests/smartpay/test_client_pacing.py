"""pacing: even starts, the concurrency cap, and the client-wide slow-down on 429 (fake clock)."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from batch_refunds.smartpay.pacing import JITTER_ALLOWANCE_S, EvenThrottler, Pacer

from .client_fakes import FakeTime

# N per second means N starts spread over 1 s plus the jitter allowance.
SPACING = 1.0 + JITTER_ALLOWANCE_S


def make_pacer(time: FakeTime, **over: float) -> Pacer:
    settings: dict[str, float] = {
        "rate_per_second": 4.0,
        "max_in_flight": 100,
        "min_rate_per_second": 0.5,
        "rate_decrease_factor": 0.5,
        "rate_increase_per_second": 1.0,
        "good_responses_per_increase": 3,
    }
    settings.update(over)
    return Pacer(
        rate_per_second=settings["rate_per_second"],
        max_in_flight=int(settings["max_in_flight"]),
        min_rate_per_second=settings["min_rate_per_second"],
        rate_decrease_factor=settings["rate_decrease_factor"],
        rate_increase_per_second=settings["rate_increase_per_second"],
        good_responses_per_increase=int(settings["good_responses_per_increase"]),
        clock=time.clock,
        sleep=time.sleep,
    )


async def start_times(pacer: Pacer, count: int) -> list[float]:
    starts: list[float] = []

    async def one() -> None:
        async with pacer.slot() as started:
            starts.append(started)

    await asyncio.gather(*(one() for _ in range(count)))
    return starts


async def test_throttler_spaces_starts_evenly(fake_time: FakeTime) -> None:
    """At 4/s, eight simultaneous callers start a quarter second (plus allowance) apart,
    not four at once."""
    throttler = EvenThrottler(4.0, clock=fake_time.clock, sleep=fake_time.sleep)
    starts: list[float] = []

    async def one() -> None:
        async with throttler:
            starts.append(fake_time.now)

    await asyncio.gather(*(one() for _ in range(8)))
    gaps = [round(b - a, 9) for a, b in itertools.pairwise(starts)]
    assert starts[0] == 100.0
    assert gaps == [round(0.25 * SPACING, 9)] * 7


async def test_throttler_sleeps_exactly_until_the_next_slot(fake_time: FakeTime) -> None:
    """Waiting is one sleep per slot to its exact start, never a 10 ms polling loop."""
    throttler = EvenThrottler(2.0, clock=fake_time.clock, sleep=fake_time.sleep)
    for _ in range(4):
        await throttler.acquire()
    assert fake_time.sleeps == pytest.approx([0.5 * SPACING] * 3)


async def test_idle_time_is_not_saved_up_as_a_burst(fake_time: FakeTime) -> None:
    """After a long idle spell the next call starts at once, and the one after is paced again."""
    throttler = EvenThrottler(2.0, clock=fake_time.clock, sleep=fake_time.sleep)
    await throttler.acquire()
    fake_time.now += 60
    await throttler.acquire()
    await throttler.acquire()
    assert fake_time.sleeps == pytest.approx([0.5 * SPACING])


async def test_peak_in_flight_never_exceeds_the_cap(fake_time: FakeTime) -> None:
    """With max_in_flight=3, a spy sees at most 3 slots held at once, and the cap is reached."""
    pacer = make_pacer(fake_time, rate_per_second=1000.0, max_in_flight=3)
    release = asyncio.Event()
    running = 0
    peak = 0

    async def one() -> None:
        nonlocal running, peak
        async with pacer.slot():
            running += 1
            peak = max(peak, running, pacer.in_flight)
            await release.wait()
            running -= 1

    tasks = [asyncio.create_task(one()) for _ in range(10)]
    for _ in range(50):
        await asyncio.sleep(0)
    assert running == 3
    release.set()
    await asyncio.gather(*tasks)
    assert peak == 3
    assert pacer.in_flight == 0


async def test_429_pauses_every_start_until_retry_after(fake_time: FakeTime) -> None:
    """After a 429 with a 2 s pause, no request starts before now + 2 s."""
    pacer = make_pacer(fake_time)
    [first] = await start_times(pacer, 1)
    pacer.rate_limited(pause_s=2.0, started_at=first)
    [second] = await start_times(pacer, 1)
    assert second - fake_time.sleeps[0] == pytest.approx(first)
    assert second >= first + 2.0


async def test_429_halves_the_pace_and_respects_the_floor(fake_time: FakeTime) -> None:
    """Each 429 from a request sent at the current pace halves it, down to the floor."""
    pacer = make_pacer(fake_time, rate_per_second=4.0, min_rate_per_second=0.75)
    rates = []
    for _ in range(4):
        [started] = await start_times(pacer, 1)
        pacer.rate_limited(pause_s=0.0, started_at=started)
        rates.append(pacer.rate_per_second)
    assert rates == pytest.approx([2.0, 1.0, 0.75, 0.75])


async def test_429s_from_one_burst_slow_down_once(fake_time: FakeTime) -> None:
    """Requests already sent before the slow-down don't lower the pace again when they get 429."""
    pacer = make_pacer(fake_time, rate_per_second=4.0)
    starts = await start_times(pacer, 3)
    for started in starts:
        pacer.rate_limited(pause_s=1.0, started_at=started)
    assert pacer.rate_per_second == pytest.approx(2.0)


async def test_slower_pace_spaces_later_starts(fake_time: FakeTime) -> None:
    """Once halved from 4/s to 2/s, starts after the pause are 0.5 s apart."""
    pacer = make_pacer(fake_time, rate_per_second=4.0)
    [started] = await start_times(pacer, 1)
    pacer.rate_limited(pause_s=1.0, started_at=started)
    later = await start_times(pacer, 3)
    assert later[0] == pytest.approx(started + 1.0)
    assert [b - a for a, b in itertools.pairwise(later)] == pytest.approx([0.5 * SPACING] * 2)


async def test_pace_climbs_back_after_good_responses(fake_time: FakeTime) -> None:
    """Every 3 good answers add 1/s back, never beyond the configured rate."""
    pacer = make_pacer(fake_time, rate_per_second=4.0, min_rate_per_second=0.5)
    [started] = await start_times(pacer, 1)
    pacer.rate_limited(pause_s=0.0, started_at=started)  # 4 → 2
    seen = []
    for _ in range(9):
        pacer.good_response()
        seen.append(pacer.rate_per_second)
    assert seen == pytest.approx([2, 2, 3, 3, 3, 4, 4, 4, 4])


async def test_a_429_resets_the_good_streak(fake_time: FakeTime) -> None:
    """Good answers only count in a row: a 429 in between starts the count again."""
    pacer = make_pacer(fake_time, rate_per_second=4.0)
    [started] = await start_times(pacer, 1)
    pacer.rate_limited(pause_s=0.0, started_at=started)  # 4 → 2
    pacer.good_response()
    pacer.good_response()
    pacer.rate_limited(pause_s=0.0, started_at=started)  # same burst: no further decrease
    pacer.good_response()
    pacer.good_response()
    assert pacer.rate_per_second == pytest.approx(2.0)
    pacer.good_response()
    assert pacer.rate_per_second == pytest.approx(3.0)


async def test_later_pause_wins_over_earlier(fake_time: FakeTime) -> None:
    """A shorter pause never cuts a longer one short."""
    pacer = make_pacer(fake_time)
    pacer.rate_limited(pause_s=5.0, started_at=fake_time.now)
    pacer.rate_limited(pause_s=1.0, started_at=fake_time.now)
    assert pacer.paused_until == pytest.approx(fake_time.now + 5.0)


class LateWaker(FakeTime):
    """A clock whose sleeps always end 3 ms late, as real event-loop sleeps do."""

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds + 0.003)


async def test_late_wake_ups_do_not_slow_the_pace() -> None:
    """Sleep overshoot is absorbed: 41 starts at 40/s span 1 s (plus allowance), not 1.12 s."""
    late = LateWaker()
    throttler = EvenThrottler(40.0, clock=late.clock, sleep=late.sleep)
    starts: list[float] = []

    async def one() -> None:
        async with throttler:
            starts.append(late.now)

    await asyncio.gather(*(one() for _ in range(41)))
    assert starts[-1] - starts[0] == pytest.approx(SPACING + 0.003, abs=1e-6)
    assert all(gap > 0.024 for gap in (b - a for a, b in itertools.pairwise(starts)))


async def test_idle_throttler_does_not_bank_slots(fake_time: FakeTime) -> None:
    """After a long idle spell the next starts are paced from now, not bunched to catch up."""
    throttler = EvenThrottler(4.0, clock=fake_time.clock, sleep=fake_time.sleep)
    async with throttler:
        pass
    fake_time.now += 10.0
    starts: list[float] = []

    async def one() -> None:
        async with throttler:
            starts.append(fake_time.now)

    await asyncio.gather(*(one() for _ in range(3)))
    assert [b - a for a, b in itertools.pairwise(starts)] == pytest.approx([0.25 * SPACING] * 2)
