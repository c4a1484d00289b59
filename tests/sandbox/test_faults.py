"""Misbehaviour on purpose: latency, rate limits, injected 5xx, connections cut after commit."""

from __future__ import annotations

import aiohttp
import pytest

from batch_refunds.sandbox.faults import Knobs, RateLimiter

from .conftest import MakeSandbox, Wire


async def _wire(
    make_sandbox: MakeSandbox, session: aiohttp.ClientSession, key: str, **config: object
) -> Wire:
    return Wire(session, await make_sandbox(**config), key)


def _payment(wire: Wire, amount: int = 5000) -> str:
    order = wire.server.state.add_order(amount=amount)
    return wire.server.state.add_payment(order.id, amount).id


async def test_latency_goes_through_the_injected_sleep(
    make_sandbox: MakeSandbox, session: aiohttp.ClientSession, sandbox_key: str
) -> None:
    """Every response, 401 and 400 included, waits latency_ms via the configured sleep, once."""
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    wire = await _wire(make_sandbox, session, sandbox_key, latency_ms=250, sleep=record)
    payment = _payment(wire)
    await wire.get(f"/payments/{payment}")
    await wire.refund(payment, 100, idempotency_key="k")
    await wire.refund(payment, 100, idempotency_key="k")
    await wire.get("/refunds", key=None)
    await wire.refund(payment, -1)
    assert slept == [0.25] * 5


async def test_manual_clock_latency_costs_no_real_time_but_moves_the_clock(
    make_sandbox: MakeSandbox, session: aiohttp.ClientSession, sandbox_key: str
) -> None:
    """With the default ManualClock sleep, latency advances the sandbox clock instead."""
    wire = await _wire(make_sandbox, session, sandbox_key, latency_ms=90_000)
    before = wire.server.clock.now_ms()
    await wire.get("/refunds")
    assert wire.server.clock.now_ms() - before == 90_000


async def test_rate_limit_answers_429_with_retry_after(
    make_sandbox: MakeSandbox, session: aiohttp.ClientSession, sandbox_key: str
) -> None:
    """Above rate_limit_per_s in one second: 429 with an integer Retry-After; later it passes."""
    wire = await _wire(make_sandbox, session, sandbox_key, rate_limit_per_s=2)
    assert [(await wire.get("/refunds")).status for _ in range(2)] == [200, 200]
    limited = await wire.get("/refunds")
    assert limited.status == 429
    assert limited.headers["Retry-After"] == "1"
    assert limited.body["statusCode"] == 429
    wire.server.clock.advance(1)
    assert (await wire.get("/refunds")).status == 200
    assert wire.server.state.stats.rate_limited == 1


async def test_rate_limited_refund_is_not_created_nor_stored_under_its_key(
    make_sandbox: MakeSandbox, session: aiohttp.ClientSession, sandbox_key: str
) -> None:
    """A 429 changes nothing: the retry with the same key creates the refund normally."""
    wire = await _wire(make_sandbox, session, sandbox_key, rate_limit_per_s=1)
    payment = _payment(wire)
    await wire.get(f"/payments/{payment}")
    assert (await wire.refund(payment, 100, idempotency_key="k")).status == 429
    assert wire.server.state.all_refunds() == []
    wire.server.clock.advance(1)
    created = await wire.refund(payment, 100, idempotency_key="k")
    assert created.status == 200
    assert "Idempotency-Replayed" not in created.headers


def test_retry_after_rounds_up_to_the_end_of_the_window() -> None:
    """The sliding window's Retry-After is whole seconds, never 0, enough to get through."""
    limiter = RateLimiter()
    assert limiter.check(0, 3) is None
    assert limiter.check(100, 3) is None
    assert limiter.check(200, 3) is None
    assert limiter.check(300, 3) == 1
    assert limiter.check(999, 3) == 1
    assert limiter.check(1000, 3) is None
    assert limiter.check(1000, None) is None


async def test_fail_rate_gives_5xx_and_changes_nothing(
    make_sandbox: MakeSandbox, session: aiohttp.ClientSession, sandbox_key: str
) -> None:
    """With fail_rate=1 every request is a 500/502/503 and no refund or key is stored."""
    wire = await _wire(make_sandbox, session, sandbox_key, fail_rate=1.0)
    payment = _payment(wire)
    statuses = {(await wire.refund(payment, 100, idempotency_key="k")).status for _ in range(30)}
    assert statuses <= {500, 502, 503}
    assert len(statuses) > 1
    assert wire.server.state.all_refunds() == []
    assert wire.server.state.idempotency == {}
    assert wire.server.state.stats.injected_failures == 30
    wire.server.knobs.update({"fail_rate": 0.0})
    created = await wire.refund(payment, 100, idempotency_key="k")
    assert created.status == 200
    assert "Idempotency-Replayed" not in created.headers


async def test_drop_after_commit_cuts_the_connection_after_creating_the_refund(
    make_sandbox: MakeSandbox, session: aiohttp.ClientSession, sandbox_key: str
) -> None:
    """The client sees a connection error, the refund exists, a retry with the key replays it."""
    wire = await _wire(make_sandbox, session, sandbox_key, drop_after_commit_rate=1.0)
    payment = _payment(wire)
    with pytest.raises(aiohttp.ClientConnectionError):
        await wire.refund(payment, 700, idempotency_key="k")
    [refund] = wire.server.state.refunds_for_payment(payment)
    assert refund.amount == 700
    wire.server.knobs.update({"drop_after_commit_rate": 0.0})
    retry = await wire.refund(payment, 700, idempotency_key="k")
    assert retry.status == 200
    assert retry.body["id"] == refund.id
    assert retry.headers["Idempotency-Replayed"] == "true"
    assert len(wire.server.state.refunds_for_payment(payment)) == 1
    assert wire.server.state.stats.dropped == 1
    assert wire.server.state.requests_served("POST", "/v1/refunds", 0) == 1


async def test_drop_without_a_key_is_the_double_refund_trap(
    make_sandbox: MakeSandbox, session: aiohttp.ClientSession, sandbox_key: str
) -> None:
    """Without an Idempotency-Key, retrying a dropped request refunds twice."""
    wire = await _wire(make_sandbox, session, sandbox_key, drop_after_commit_rate=1.0)
    payment = _payment(wire)
    with pytest.raises(aiohttp.ClientConnectionError):
        await wire.refund(payment, 700)
    wire.server.knobs.update({"drop_after_commit_rate": 0.0})
    assert (await wire.refund(payment, 700)).status == 200
    assert len(wire.server.state.refunds_for_payment(payment)) == 2


def test_knobs_are_validated_with_their_names() -> None:
    """Out-of-range knobs fail fast, naming the knob; a bad update changes nothing."""
    knobs = Knobs()
    with pytest.raises(ValueError, match="fail_rate"):
        knobs.update({"fail_rate": 1.5})
    with pytest.raises(ValueError, match="rate_limit_per_s"):
        knobs.update({"fail_rate": 0.5, "rate_limit_per_s": 0})
    with pytest.raises(ValueError, match="payment_refunds"):
        Knobs(payment_refunds="maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown knob"):
        knobs.update({"speed": 1})
    assert knobs.fail_rate == 0.0
