"""SmartpayClient against the sandbox over real loopback HTTP: the wire format, end to end."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from batch_refunds import errors
from batch_refunds.models import CreateRefund, Payment, Refund
from batch_refunds.sandbox import SandboxServer
from batch_refunds.smartpay import ClientConfig, SmartpayClient
from batch_refunds.smartpay.events import RequestFinished, RequestRetried

from .client_fakes import FakeTime, Recorder

KEY = "br-test-row2"


class LinkedTime(FakeTime):
    """Fake client time whose sleeps also move the sandbox's ManualClock."""

    def __init__(self, server: SandboxServer) -> None:
        super().__init__()
        self.server = server

    async def sleep(self, seconds: float) -> None:
        self.server.clock.advance(seconds)
        await super().sleep(seconds)


def client_for(
    server: SandboxServer, key: str, time: FakeTime, hook: Any = None, **settings: Any
) -> SmartpayClient:
    settings.setdefault("rate_per_second", 1000.0)
    config = ClientConfig(key, base_url=server.base_url, **settings)
    return SmartpayClient(
        config, hook=hook or (lambda event: None), clock=time.clock, sleep=time.sleep
    )


@pytest.fixture
async def world(sandbox: SandboxServer) -> dict[str, str]:
    """One order captured in two payments (3000 + 2000 yen); 500 already refunded on the first."""
    order = sandbox.state.add_order(amount=5000, reference="ORD-1")
    first = sandbox.state.add_payment(order.id, 3000)
    second = sandbox.state.add_payment(order.id, 2000)
    prior = sandbox.state.add_refund(first.id, 500, reference="RET-0")
    return {"order": order.id, "p1": first.id, "p2": second.id, "prior": prior.id}


@pytest.fixture
async def client(sandbox: SandboxServer, sandbox_key: str) -> AsyncIterator[SmartpayClient]:
    async with client_for(sandbox, sandbox_key, LinkedTime(sandbox)) as opened:
        yield opened


async def test_get_order_expanded_has_payment_objects(
    client: SmartpayClient, world: dict[str, str]
) -> None:
    """GET /orders/{id}?expand=all gives Payment objects with their amounts, in capture order."""
    order = await client.get_order(world["order"])
    assert (order.id, order.amount, order.currency, order.reference) == (
        world["order"],
        5000,
        "JPY",
        "ORD-1",
    )
    payments = [p for p in order.payments if isinstance(p, Payment)]
    assert [(p.id, p.amount, p.order_id) for p in payments] == [
        (world["p1"], 3000, world["order"]),
        (world["p2"], 2000, world["order"]),
    ]


async def test_get_order_unexpanded_has_payment_ids(
    client: SmartpayClient, world: dict[str, str]
) -> None:
    """With expand=False the order lists its payments by id."""
    order = await client.get_order(world["order"], expand=False)
    assert order.payments == (world["p1"], world["p2"])


@pytest.mark.parametrize("mode", ["objects", "ids", "absent"])
async def test_payment_refunds_in_every_shape(
    make_sandbox: Any, sandbox_key: str, mode: str
) -> None:
    """Whether the sandbox renders payment.refunds as objects, ids or not at all, it parses."""
    server = await make_sandbox(payment_refunds=mode)
    order = server.state.add_order(amount=3000)
    payment = server.state.add_payment(order.id, 3000)
    refund = server.state.add_refund(payment.id, 700)
    async with client_for(server, sandbox_key, FakeTime()) as client:
        got = await client.get_payment(payment.id)
    assert (got.id, got.amount, got.order_id) == (payment.id, 3000, order.id)
    if mode == "absent":
        assert got.refunds is None
    elif mode == "ids":
        assert got.refunds == (refund.id,)
    else:
        assert got.refunds is not None
        [only] = got.refunds
        assert isinstance(only, Refund)
        assert (only.id, only.amount) == (refund.id, 700)


async def test_create_refund_creates_exactly_that_refund(
    client: SmartpayClient, sandbox: SandboxServer, world: dict[str, str]
) -> None:
    """POST /refunds returns the new refund, and the sandbox holds it with the same fields."""
    body = CreateRefund(
        payment_id=world["p2"],
        amount=1200,
        reference="RET-000002",
        description="wrong size",
        metadata=(("row", "2"),),
    )
    refund = await client.create_refund(body, idempotency_key=KEY)
    assert (refund.payment_id, refund.amount, refund.status, refund.reference) == (
        world["p2"],
        1200,
        "succeeded",
        "RET-000002",
    )
    assert refund.metadata == (("row", "2"),)
    [stored] = sandbox.state.refunds_for_payment(world["p2"])
    assert (stored.id, stored.amount, stored.description) == (refund.id, 1200, "wrong size")


async def test_same_key_replays_the_same_refund(
    sandbox: SandboxServer, sandbox_key: str, world: dict[str, str]
) -> None:
    """Sending the same refund under the same key returns the first refund, marked as a
    replay of an earlier request, and creates no other."""
    recorder = Recorder()
    body = CreateRefund(payment_id=world["p2"], amount=800)
    async with client_for(sandbox, sandbox_key, FakeTime(), recorder) as client:
        first = await client.create_refund(body, idempotency_key=KEY)
        again = await client.create_refund(body, idempotency_key=KEY)
    assert (first.replayed, again.replayed) == (False, True)
    assert dataclasses.replace(again, replayed=False) == first
    assert len(sandbox.state.refunds_for_payment(world["p2"])) == 1
    assert [e.replayed for e in recorder.of(RequestFinished)] == [False, True]


async def test_over_refund_is_forbidden_amount_insufficient(
    client: SmartpayClient, sandbox: SandboxServer, world: dict[str, str]
) -> None:
    """Asking for more than remains (3000 − 500) → Forbidden amount.insufficient, nothing made."""
    body = CreateRefund(payment_id=world["p1"], amount=2501)
    with pytest.raises(errors.Forbidden) as caught:
        await client.create_refund(body, idempotency_key=KEY)
    assert caught.value.error_code == "amount.insufficient"
    assert caught.value.status == 403
    assert [r.id for r in sandbox.state.refunds_for_payment(world["p1"])] == [world["prior"]]
    assert sandbox.state.requests_served("POST", "/v1/refunds") == 1


async def test_unknown_ids_are_not_found(client: SmartpayClient) -> None:
    """Unknown order, payment and refund ids → NotFound with Smartpay's error codes."""
    with pytest.raises(errors.NotFound) as order:
        await client.get_order("order_test_missing")
    body = CreateRefund(payment_id="payment_test_missing", amount=100)
    with pytest.raises(errors.NotFound) as refund:
        await client.create_refund(body, idempotency_key=KEY)
    assert order.value.error_code == "order.not-found"
    assert refund.value.error_code == "payment.not-found"


async def test_wrong_key_is_unauthorized_without_showing_it(make_sandbox: Any) -> None:
    """A key the server rejects → Unauthorized (no errorCode), and the key is not in its text."""
    server = await make_sandbox(secret="sk_test_TheRightOne")
    wrong = "sk_test_TheWrongOne123"
    async with client_for(server, wrong, FakeTime()) as client:
        with pytest.raises(errors.Unauthorized) as caught:
            await client.get_order("order_test_any")
    assert caught.value.status == 401
    assert caught.value.error_code is None
    assert wrong not in str(caught.value)
    assert wrong not in repr(caught.value)
    assert server.state.requests_served("GET", "/v1/orders/{id}") == 1


async def test_list_refunds_pages_through_everything_newest_first(
    client: SmartpayClient, sandbox: SandboxServer, world: dict[str, str]
) -> None:
    """Seven refunds read two per page come back complete, newest first, in four requests."""
    for n in range(6):
        body = CreateRefund(payment_id=world["p2"], amount=100 + n)
        await client.create_refund(body, idempotency_key=f"{KEY}-{n}")
    listed = [r.id async for r in client.list_refunds(page_size=2)]
    assert listed == [r.id for r in reversed(sandbox.state.all_refunds())]
    assert len(listed) == 7
    assert sandbox.state.requests_served("GET", "/v1/refunds") == 4


async def test_dropped_response_is_retried_into_a_replay_not_a_second_refund(
    make_sandbox: Any, sandbox_key: str
) -> None:
    """The server commits then cuts the connection: the retry (same key) gets the same refund."""
    server = await make_sandbox(drop_after_commit_rate=1.0)
    order = server.state.add_order(amount=4000)
    payment = server.state.add_payment(order.id, 4000)
    async with client_for(server, sandbox_key, FakeTime()) as client:
        refund = await client.create_refund(
            CreateRefund(payment_id=payment.id, amount=4000), idempotency_key=KEY
        )
    [stored] = server.state.refunds_for_payment(payment.id)
    assert refund.id == stored.id
    assert server.state.stats.dropped == 1
    assert server.state.stats.replays == 1


async def test_persistent_5xx_gives_up_without_creating_anything(
    make_sandbox: Any, sandbox_key: str
) -> None:
    """With every request failing 5xx, the client stops at max_attempts and no refund exists."""
    server = await make_sandbox(fail_rate=1.0)
    order = server.state.add_order(amount=4000)
    payment = server.state.add_payment(order.id, 4000)
    async with client_for(server, sandbox_key, FakeTime(), max_attempts=3) as client:
        with pytest.raises(errors.ServerError):
            await client.create_refund(
                CreateRefund(payment_id=payment.id, amount=100), idempotency_key=KEY
            )
    assert server.state.requests_served("POST", "/v1/refunds") == 3
    assert server.state.all_refunds() == []


async def test_rate_limit_429_slows_the_client_and_then_succeeds(
    make_sandbox: Any, sandbox_key: str
) -> None:
    """Over the sandbox's limit of 1/s, the 429's Retry-After is waited out and the pace
    settles under the 1/s that got through."""
    server = await make_sandbox(rate_limit_per_s=1)
    order = server.state.add_order(amount=1000)
    time = LinkedTime(server)
    async with client_for(server, sandbox_key, time, rate_per_second=8.0) as client:
        await client.get_order(order.id)
        again = await client.get_order(order.id)
        assert client.pacer.ceiling_per_second == pytest.approx(1.0)
        assert client.pacer.rate_per_second < 1.0
    assert again.id == order.id
    assert server.state.stats.rate_limited == 1
    assert 1.0 in time.sleeps


async def test_connection_refused_is_retried_then_raised(sandbox_key: str) -> None:
    """Nothing listening: ConnectionFailed after max_attempts tries, chained to aiohttp's error."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    time = FakeTime()
    recorder = Recorder()
    config = ClientConfig(sandbox_key, base_url=f"http://127.0.0.1:{port}/v1", max_attempts=3)
    async with SmartpayClient(
        config, hook=recorder, clock=time.clock, sleep=time.sleep, random=lambda: 1.0
    ) as client:
        with pytest.raises(errors.ConnectionFailed) as caught:
            await client.create_refund(
                CreateRefund(payment_id="payment_test_x", amount=1), idempotency_key=KEY
            )
    assert caught.value.__cause__ is not None
    assert [e.attempt for e in recorder.of(RequestRetried)] == [1, 2]
    assert time.sleeps == [0.5, 1.0]
    assert sandbox_key not in str(caught.value)


async def test_a_silent_server_times_out(sandbox_key: str) -> None:
    """A server that accepts but never answers → RequestTimedOut, from the configured timeout."""
    never = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await never.wait()
        return web.Response()

    app = web.Application()
    app.router.add_get("/v1/refunds/{id}", hang)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        config = ClientConfig(
            sandbox_key,
            base_url=f"http://127.0.0.1:{port}/v1",
            request_timeout_s=0.05,
            max_attempts=1,
        )
        async with SmartpayClient(config) as client:
            with pytest.raises(errors.RequestTimedOut):
                await client.get_refund("refund_test_r1")
    finally:
        never.set()
        await runner.cleanup()


async def test_list_orders_pages_newest_first_by_creation_time(
    client: SmartpayClient, sandbox: SandboxServer
) -> None:
    """Orders seeded in any order of createdAt come back newest first by it, with their
    references, two a page, each page fetched once; ``max_items`` bounds the walk."""
    state = sandbox.state
    base = 1_900_000_000_000  # newer than every order the fixture made
    made = [state.add_order(amount=1000, reference=f"ORD-{n}", created_at=base + n * 1000)
            for n in (3, 1, 4, 2, 5)]  # fmt: skip
    before = state.requests_served("GET", "/v1/orders")
    listed = [o async for o in client.list_orders(page_size=2)]
    newest = sorted(made, key=lambda o: o.created_at, reverse=True)
    assert [o.id for o in listed[:5]] == [o.id for o in newest]
    assert [o.reference for o in listed[:5]] == ["ORD-5", "ORD-4", "ORD-3", "ORD-2", "ORD-1"]
    assert state.requests_served("GET", "/v1/orders") - before == -(-len(state.orders) // 2)
    with pytest.raises(errors.EndlessList, match="past 3 orders"):
        _ = [o async for o in client.list_orders(page_size=2, max_items=3)]
