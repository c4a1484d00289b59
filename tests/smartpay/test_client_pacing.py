"""pacing: even starts, the window rule, the concurrency cap, FIFO order, Retry-After holds
(fake clock)."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from batch_refunds.smartpay.pacing import JITTER_ALLOWANCE_S, EvenPace, Pacer

from .client_fakes import FakeTime
from .pacing_sim import SimTime

# N per second means N starts spread over 1 s plus the jitter allowance.
SPACING = 1.0 + JITTER_ALLOWANCE_S


def make_pacer(time: FakeTime, **over: float) -> Pacer:
    settings: dict[str, float] = {
        "rate_per_second": 4.0,
        "max_in_flight": 100,
        "min_rate_per_second": 0.5,
    }
    settings.update(over)
    return Pacer(
        rate_per_second=settings["rate_per_second"],
        max_in_flight=int(settings["max_in_flight"]),
        min_rate_per_second=settings["min_rate_per_second"],
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


async def test_pace_spaces_starts_evenly(fake_time: FakeTime) -> None:
    """At 4/s, eight simultaneous callers start a quarter second (plus allowance) apart,
    not four at once."""
    pace = EvenPace(4.0, clock=fake_time.clock, sleep=fake_time.sleep)
    starts: list[float] = []

    async def one() -> None:
        async with pace:
            starts.append(fake_time.now)

    await asyncio.gather(*(one() for _ in range(8)))
    gaps = [round(b - a, 9) for a, b in itertools.pairwise(starts)]
    assert starts[0] == 100.0
    assert gaps == [round(0.25 * SPACING, 9)] * 7


async def test_pace_sleeps_exactly_until_the_next_slot(fake_time: FakeTime) -> None:
    """Waiting is one sleep per slot to its exact start, never a polling loop."""
    pace = EvenPace(2.0, clock=fake_time.clock, sleep=fake_time.sleep)
    for _ in range(4):
        await pace.acquire()
    assert fake_time.sleeps == pytest.approx([0.5 * SPACING] * 3)


async def test_idle_time_is_not_saved_up_as_a_burst(fake_time: FakeTime) -> None:
    """After a long idle spell the next call starts at once, and the one after is paced again."""
    pace = EvenPace(2.0, clock=fake_time.clock, sleep=fake_time.sleep)
    await pace.acquire()
    fake_time.now += 60
    await pace.acquire()
    await pace.acquire()
    assert fake_time.sleeps == pytest.approx([0.5 * SPACING])


async def test_idle_pace_does_not_bank_slots(fake_time: FakeTime) -> None:
    """After a long idle spell the next starts are paced from now, not bunched to catch up."""
    pace = EvenPace(4.0, clock=fake_time.clock, sleep=fake_time.sleep)
    async with pace:
        pass
    fake_time.now += 10.0
    starts: list[float] = []

    async def one() -> None:
        async with pace:
            starts.append(fake_time.now)

    await asyncio.gather(*(one() for _ in range(3)))
    assert [b - a for a, b in itertools.pairwise(starts)] == pytest.approx([0.25 * SPACING] * 2)


class LateWaker(FakeTime):
    """A clock whose sleeps always end 3 ms late, as real event-loop sleeps do."""

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds + 0.003)


async def test_late_wake_ups_do_not_slow_the_pace() -> None:
    """Sleep overshoot is absorbed: 41 starts at 40/s span 1 s (plus allowance), not 1.12 s."""
    late = LateWaker()
    pace = EvenPace(40.0, clock=late.clock, sleep=late.sleep)
    starts: list[float] = []

    async def one() -> None:
        async with pace:
            starts.append(late.now)

    await asyncio.gather(*(one() for _ in range(41)))
    assert starts[-1] - starts[0] == pytest.approx(SPACING + 0.003, abs=1e-6)
    assert all(gap > 0.024 for gap in (b - a for a, b in itertools.pairwise(starts)))


async def test_a_late_start_holds_back_the_start_one_window_later(fake_time: FakeTime) -> None:
    """A request sent 20 ms after its slot (a busy loop) keeps the request one window later
    from starting less than 1 s + allowance after it: no second ever holds 5 starts at 4/s."""
    pace = EvenPace(4.0, clock=fake_time.clock, sleep=fake_time.sleep)
    starts = [await pace.acquire()]
    fake_time.now += 0.25 * SPACING + 0.020  # the loop was busy past the next slot
    starts.append(await pace.acquire())
    starts += [await pace.acquire() for _ in range(4)]
    windows = [b - a for a, b in zip(starts, starts[4:], strict=False)]
    assert min(windows) >= SPACING - 1e-9
    assert starts[5] - starts[1] == pytest.approx(SPACING)


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


async def test_callers_start_in_arrival_order_across_a_hold(fake_time: FakeTime) -> None:
    """First come, first served: twelve callers queued in order start in that order, also
    when a 429's hold and a change of pace fall in the middle of the queue."""
    pacer = make_pacer(fake_time, rate_per_second=4.0, max_in_flight=2)
    order: list[int] = []

    async def one(number: int) -> None:
        async with pacer.slot() as started:
            order.append(number)
            if number == 3:
                pacer.rate_limited(pause_s=2.0, started_at=started)
            await fake_time.sleep(0)

    await asyncio.gather(*(one(n) for n in range(12)))
    assert order == list(range(12))


async def test_retry_after_holds_every_start_exactly_that_long(fake_time: FakeTime) -> None:
    """After a 429 with a 2.5 s Retry-After at time T, the next start is at T + 2.5 exactly:
    not earlier, and not a pace interval or a polling step later."""
    pacer = make_pacer(fake_time, rate_per_second=1000.0)
    [first] = await start_times(pacer, 1)
    fake_time.now += 0.030  # the 429 arrives one round trip later
    answered = fake_time.now
    pacer.rate_limited(pause_s=2.5, started_at=first)
    starts = await start_times(pacer, 3)
    assert starts[0] == pytest.approx(answered + 2.5, abs=1e-9)
    assert pacer.paused_until == pytest.approx(answered + 2.5)


async def test_a_shorter_later_pause_does_not_cut_a_longer_one(fake_time: FakeTime) -> None:
    """A shorter pause never cuts a longer one short; the longer one is not stretched either."""
    pacer = make_pacer(fake_time)
    pacer.rate_limited(pause_s=5.0, started_at=fake_time.now)
    pacer.rate_limited(pause_s=1.0, started_at=fake_time.now)
    assert pacer.paused_until == pytest.approx(fake_time.now + 5.0)
    [started] = await start_times(pacer, 1)
    assert started == pytest.approx(100.0 + 5.0)


async def test_429s_from_one_burst_slow_down_once(fake_time: FakeTime) -> None:
    """Requests already sent before the slow-down don't lower the pace again when they get 429."""
    pacer = make_pacer(fake_time, rate_per_second=4.0)
    starts = await start_times(pacer, 3)
    pacer.rate_limited(pause_s=1.0, started_at=starts[0])
    after_first = pacer.rate_per_second
    for started in starts[1:]:
        pacer.rate_limited(pause_s=1.0, started_at=started)
    assert pacer.rate_per_second == after_first


async def test_only_the_head_of_the_queue_sleeps() -> None:
    """Eight callers queued at 4/s make seven sleeps in all, one per slot: the rest wait in
    line, in order, instead of each sleeping and racing for the same slot."""
    time = SimTime()
    sleeps: list[float] = []

    async def counted_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await time.sleep(seconds)

    pace = EvenPace(4.0, clock=time.clock, sleep=counted_sleep)
    order: list[int] = []

    async def one(number: int) -> None:
        await pace.acquire()
        order.append(number)

    async def everyone() -> None:
        await asyncio.gather(*(one(n) for n in range(8)))

    await time.run(everyone())
    assert order == list(range(8))
    assert len(sleeps) == 7


async def test_a_raised_pace_wakes_the_head_of_the_queue() -> None:
    """A caller asleep until the next slot at 1/s starts as soon as the pace is raised to
    100/s, not a second later."""
    time = SimTime()
    pace = EvenPace(1.0, clock=time.clock, sleep=time.sleep)
    starts: list[float] = []

    async def two() -> None:
        starts.append(await pace.acquire())
        starts.append(await pace.acquire())

    async def raise_it() -> None:
        await time.sleep(0.1)
        pace.rate_per_second = 100.0

    async def everyone() -> None:
        await asyncio.gather(two(), raise_it())

    await time.run(everyone())
    assert starts == [0.0, pytest.approx(0.1)]


async def test_a_hold_cut_short_wakes_the_head_of_the_queue() -> None:
    """A caller held for 5 s starts at 0.2 s when the hold is moved back to 0.2 s."""
    time = SimTime()
    pace = EvenPace(100.0, clock=time.clock, sleep=time.sleep)
    pace.hold(5.0)
    starts: list[float] = []

    async def one() -> None:
        starts.append(await pace.acquire())

    async def cut() -> None:
        await time.sleep(0.1)
        pace.hold(0.2)

    async def everyone() -> None:
        await asyncio.gather(one(), cut())

    await time.run(everyone())
    assert starts == [pytest.approx(0.2)]
