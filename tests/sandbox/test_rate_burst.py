"""The token-bucket rate limit (``rate_burst``) beside the default one-second window."""

from __future__ import annotations

import aiohttp
import pytest

from batch_refunds.sandbox.faults import Knobs, RateLimiter

from .conftest import MakeSandbox, Wire


def test_bucket_lets_the_burst_through_then_one_request_per_refill() -> None:
    """40/s with burst 5: five at once pass, the sixth waits; each 25 ms refills one."""
    limiter = RateLimiter()
    assert [limiter.check(0, 40, 5) for _ in range(5)] == [None] * 5
    assert limiter.check(0, 40, 5) == 1
    assert limiter.check(24, 40, 5) == 1
    assert limiter.check(25, 40, 5) is None
    assert limiter.check(25, 40, 5) == 1
    assert [limiter.check(25 * k, 40, 5) for k in range(2, 42)] == [None] * 40


def test_bucket_refills_only_up_to_the_burst() -> None:
    """However long the client was idle, at most ``burst`` requests pass back to back."""
    limiter = RateLimiter()
    assert limiter.check(0, 40, 5) is None
    passed = [limiter.check(600_000, 40, 5) for _ in range(8)]
    assert passed == [None] * 5 + [1] * 3


def test_smooth_pacing_at_the_limit_never_sees_a_429_but_a_burst_does() -> None:
    """Evenly spaced requests at exactly the rate all pass; the same rate in bursts does not."""
    smooth = RateLimiter()
    assert all(smooth.check(25 * k, 40, 5) is None for k in range(400))
    bursty = RateLimiter()
    # 40 requests each second, all in its first millisecond: only the burst passes.
    refused = sum(bursty.check(1000 * s, 40, 5) is not None for s in range(5) for _ in range(40))
    assert refused == 5 * 35


def test_lowering_the_burst_at_run_time_caps_the_saved_tokens() -> None:
    """A bucket full under burst 10 holds only 2 once the knob says 2."""
    limiter = RateLimiter()
    assert limiter.check(0, 40, 10) is None
    assert [limiter.check(0, 40, 2) for _ in range(3)] == [None, None, 1]


def test_without_a_burst_the_sliding_window_is_unchanged() -> None:
    """The default stays the one-second sliding log: a whole second's allowance at once."""
    limiter = RateLimiter()
    assert [limiter.check(0, 40) for _ in range(40)] == [None] * 40
    assert limiter.check(999, 40) == 1
    assert limiter.check(1000, 40) is None


@pytest.mark.parametrize("burst", [0, -1, True, 2.5, "5"])
def test_bad_burst_is_refused_by_name(burst: object) -> None:
    """rate_burst must be a positive integer or null, and the message names it."""
    with pytest.raises(ValueError, match="rate_burst"):
        Knobs(rate_limit_per_s=40, rate_burst=burst)  # type: ignore[arg-type]


async def test_burst_over_http_gives_429_with_retry_after(
    make_sandbox: MakeSandbox, session: aiohttp.ClientSession, sandbox_key: str
) -> None:
    """Over the wire: burst 2 at 10/s lets two through, then 429 + Retry-After until refilled."""
    wire = Wire(session, await make_sandbox(rate_limit_per_s=10, rate_burst=2), sandbox_key)
    assert [(await wire.get("/refunds")).status for _ in range(3)] == [200, 200, 429]
    limited = await wire.get("/refunds")
    assert limited.headers["Retry-After"] == "1"
    wire.server.clock.advance(0.1)
    assert (await wire.get("/refunds")).status == 200
    assert wire.server.state.stats.rate_limited == 2


async def test_burst_is_a_run_time_knob(wire: Wire) -> None:
    """POST /__admin/config sets rate_burst like any other knob, and refuses a bad one."""
    changed = await wire.admin("config", {"rate_limit_per_s": 40, "rate_burst": 5})
    assert changed.status == 200
    assert changed.body["rate_burst"] == 5
    refused = await wire.admin("config", {"rate_burst": 0})
    assert refused.status == 400
    assert "rate_burst" in refused.body["message"]
