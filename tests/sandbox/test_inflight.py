"""The in-flight gauge: how many /v1 requests the sandbox handles at once, per 100 ms."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from batch_refunds.sandbox.inflight import InFlightGauge

from .conftest import MakeSandbox, Wire


class Ticks:
    """A millisecond clock the test moves by hand."""

    def __init__(self, now_ms: int = 0) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


def test_mean_is_time_weighted_within_each_bucket() -> None:
    """Two requests held for half a bucket and one for the other half average 1.5."""
    ticks = Ticks(1_000)
    gauge = InFlightGauge(ticks, bucket_ms=100)
    gauge.enter()
    gauge.enter()
    ticks.now_ms = 1_050
    gauge.leave()
    ticks.now_ms = 1_100
    gauge.leave()
    snap = gauge.snapshot()
    assert snap["startMs"] == 1_000
    assert snap["mean"][0] == 1.5
    assert snap["peak"][0] == 2
    assert (snap["current"], snap["max"]) == (0, 2)
    assert (snap["firstEnterMs"], snap["lastLeaveMs"]) == (1_000, 1_100)


def test_a_long_request_credits_every_bucket_it_spans_and_gaps_are_zeros() -> None:
    """One request held 250 ms, then 200 ms idle, then one more: a regular series."""
    ticks = Ticks(0)
    gauge = InFlightGauge(ticks, bucket_ms=100)
    gauge.enter()
    ticks.now_ms = 250
    gauge.leave()
    ticks.now_ms = 450
    gauge.enter()
    ticks.now_ms = 500
    gauge.leave()
    snap = gauge.snapshot()
    assert snap["mean"] == [1.0, 1.0, 0.5, 0.0, 0.5, 0.0]
    assert snap["peak"] == [1, 1, 1, 0, 1, 0]


def test_only_the_newest_buckets_are_kept() -> None:
    """Beyond max_buckets the oldest go, so a long-lived sandbox stays small."""
    ticks = Ticks(0)
    gauge = InFlightGauge(ticks, bucket_ms=100, max_buckets=3)
    gauge.enter()
    ticks.now_ms = 10_000_000  # a request held for hours does not loop over every bucket
    gauge.leave()
    snap = gauge.snapshot()
    assert len(snap["mean"]) == 3
    assert snap["startMs"] == 9_999_800


def test_a_clock_that_steps_back_credits_nothing() -> None:
    """Time never runs backwards in the series, even if the clock does."""
    ticks = Ticks(500)
    gauge = InFlightGauge(ticks)
    gauge.enter()
    ticks.now_ms = 400
    gauge.leave()
    assert gauge.snapshot()["mean"] == [0.0]


@pytest.mark.parametrize(
    ("bucket_ms", "max_buckets", "named"), [(0, 10, "bucket_ms"), (100, 0, "max_buckets")]
)
def test_bad_sizes_are_refused_by_name(bucket_ms: int, max_buckets: int, named: str) -> None:
    """Sizes below 1 fail fast, naming the argument."""
    with pytest.raises(ValueError, match=named):
        InFlightGauge(Ticks(), bucket_ms=bucket_ms, max_buckets=max_buckets)


async def test_stats_count_requests_held_in_flight(
    make_sandbox: MakeSandbox, session: aiohttp.ClientSession, sandbox_key: str
) -> None:
    """Four requests waiting on latency show as four in flight; none once they are answered."""
    gate, all_in = asyncio.Event(), asyncio.Event()
    waiting: list[float] = []

    async def held(seconds: float) -> None:
        waiting.append(seconds)
        if len(waiting) == 4:
            all_in.set()
        await gate.wait()

    wire = Wire(session, await make_sandbox(latency_ms=100, sleep=held), sandbox_key)
    tasks = [asyncio.create_task(wire.get("/refunds")) for _ in range(4)]
    await asyncio.wait_for(all_in.wait(), timeout=30)  # a bound, not a timing claim
    during = (await wire.admin("stats")).body["inFlight"]
    assert (during["current"], during["max"]) == (4, 4)
    gate.set()
    assert [r.status for r in await asyncio.gather(*tasks)] == [200] * 4
    after = (await wire.admin("stats")).body["inFlight"]
    assert (after["current"], after["max"], after["bucketMs"]) == (0, 4, 100)
    assert max(after["peak"]) == 4


async def test_admin_requests_are_not_counted(wire: Wire) -> None:
    """Only /v1 traffic is what a client achieves; the admin routes stay out of it."""
    await wire.admin("stats")
    snap = (await wire.admin("stats")).body["inFlight"]
    assert (snap["max"], snap["firstEnterMs"], snap["mean"]) == (0, None, [])
