"""Idempotency-Key on POST /refunds: replay, reuse, in-flight, expiry, what is stored."""

from __future__ import annotations

import asyncio

import aiohttp

from .conftest import MakeSandbox, Wire

SIX_HOURS_S = 6 * 60 * 60


def _payment(wire: Wire, amount: int = 5000) -> str:
    order = wire.server.state.add_order(amount=amount)
    return wire.server.state.add_payment(order.id, amount).id


async def test_same_key_same_body_replays_the_first_response(wire: Wire) -> None:
    """A resend with the same key returns the same status and body, flagged as replayed."""
    payment = _payment(wire)
    first = await wire.refund(payment, 1000, idempotency_key="row-1")
    again = await wire.refund(payment, 1000, idempotency_key="row-1")
    assert first.status == again.status == 200
    assert again.body == first.body
    assert again.headers["Idempotency-Replayed"] == "true"
    assert "Idempotency-Replayed" not in first.headers
    assert len(wire.server.state.refunds_for_payment(payment)) == 1
    assert wire.server.state.stats.replays == 1


async def test_replay_is_the_stored_body_even_after_state_moved_on(wire: Wire) -> None:
    """A replay returns what was answered then, not a fresh rendering."""
    payment = _payment(wire)
    first = await wire.refund(payment, 1000, idempotency_key="row-1")
    wire.server.clock.advance(60)
    await wire.refund(payment, 4000)
    again = await wire.refund(payment, 1000, idempotency_key="row-1")
    assert again.body == first.body


async def test_same_key_different_body_is_422(wire: Wire) -> None:
    """Reusing a key for a different request is refused with 422 and creates nothing."""
    payment = _payment(wire)
    await wire.refund(payment, 1000, idempotency_key="row-1")
    reply = await wire.refund(payment, 1001, idempotency_key="row-1")
    assert reply.status == 422
    assert reply.body["statusCode"] == 422
    assert len(wire.server.state.refunds_for_payment(payment)) == 1


async def test_null_fields_do_not_make_a_body_different(wire: Wire) -> None:
    """{"reference": null} and no reference are the same request for the key check."""
    payment = _payment(wire)
    await wire.refund(payment, 1000, idempotency_key="k")
    reply = await wire.refund(payment, 1000, reference=None, idempotency_key="k")
    assert reply.status == 200
    assert reply.headers["Idempotency-Replayed"] == "true"


async def test_same_key_while_first_in_flight_is_409(
    make_sandbox: MakeSandbox, session: aiohttp.ClientSession, sandbox_key: str
) -> None:
    """A retry that arrives while the first request is still processing gets 409."""
    both_waiting = asyncio.Event()
    release = asyncio.Event()
    waits = 0

    async def gated_sleep(seconds: float) -> None:
        nonlocal waits
        waits += 1
        if waits == 2:
            both_waiting.set()
        await release.wait()

    server = await make_sandbox(latency_ms=500, sleep=gated_sleep)
    wire = Wire(session, server, sandbox_key)
    payment = _payment(wire)
    first = asyncio.create_task(wire.refund(payment, 1000, idempotency_key="k"))
    second = asyncio.create_task(wire.refund(payment, 1000, idempotency_key="k"))
    await both_waiting.wait()
    release.set()
    replies = sorted([await first, await second], key=lambda r: r.status)
    assert [r.status for r in replies] == [200, 409]
    assert len(server.state.refunds_for_payment(payment)) == 1
    # Once the first has finished, the same retry is a plain replay.
    assert (await wire.refund(payment, 1000, idempotency_key="k")).status == 200
    assert server.state.stats.replays == 1


async def test_key_expires_after_six_hours(wire: Wire) -> None:
    """Within 6 h a resend is replayed; after 6 h the key is forgotten and a second refund made."""
    payment = _payment(wire)
    first = await wire.refund(payment, 1000, idempotency_key="k")
    wire.server.clock.advance(SIX_HOURS_S - 1)
    assert (await wire.refund(payment, 1000, idempotency_key="k")).body == first.body
    wire.server.clock.advance(1)
    late = await wire.refund(payment, 1000, idempotency_key="k")
    assert late.status == 200
    assert late.body["id"] != first.body["id"]
    assert "Idempotency-Replayed" not in late.headers
    assert len(wire.server.state.refunds_for_payment(payment)) == 2


async def test_refusals_from_the_books_are_stored_and_replayed(wire: Wire) -> None:
    """A 403 or 404 is the answer to that request: a retry with the key gets it again."""
    payment = _payment(wire, 1000)
    over = await wire.refund(payment, 5000, idempotency_key="over")
    missing = await wire.refund("payment_test_Gone", 5, idempotency_key="gone")
    assert over.status == 403
    assert missing.status == 404
    again_over = await wire.refund(payment, 5000, idempotency_key="over")
    again_missing = await wire.refund("payment_test_Gone", 5, idempotency_key="gone")
    assert (again_over.status, again_over.body) == (403, over.body)
    assert (again_missing.status, again_missing.body) == (404, missing.body)
    assert again_over.headers["Idempotency-Replayed"] == "true"


async def test_validation_errors_are_not_stored(wire: Wire) -> None:
    """A 400 leaves the key unused, so the fixed request can be sent under the same key."""
    payment = _payment(wire)
    bad = await wire.refund(payment, 1000, reason="bogus", idempotency_key="k")
    assert bad.status == 400
    fixed = await wire.refund(payment, 1000, idempotency_key="k")
    assert fixed.status == 200
    assert "Idempotency-Replayed" not in fixed.headers


async def test_keys_are_scoped_to_the_api_key(wire: Wire) -> None:
    """The same Idempotency-Key under another secret key is a separate request."""
    payment = _payment(wire)
    body = {"payment": payment, "amount": 100, "currency": "JPY", "reason": "fraudulent"}
    mine = await wire.post("/refunds", body, idempotency_key="k")
    theirs = await wire.post("/refunds", body, key="sk_test_OtherMerchant", idempotency_key="k")
    assert mine.body["id"] != theirs.body["id"]


async def test_idempotency_key_on_get_is_accepted_and_ignored(wire: Wire) -> None:
    """GETs with an Idempotency-Key (the SDKs send one) are served normally each time."""
    payment = _payment(wire)
    headers = {**wire.auth(), "Idempotency-Key": "same"}
    for _ in range(2):
        async with wire.session.get(
            f"{wire.server.base_url}/payments/{payment}", headers=headers
        ) as response:
            assert response.status == 200
            assert "Idempotency-Replayed" not in response.headers


async def test_overlong_idempotency_key_is_400(wire: Wire) -> None:
    """Keys longer than 255 characters are refused before anything happens."""
    reply = await wire.refund(_payment(wire), 100, idempotency_key="k" * 256)
    assert reply.status == 400
    assert wire.server.state.all_refunds() == []
