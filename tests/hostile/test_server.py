"""The hostile server itself: each kind of scripted answer arrives as scripted."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from .server import HostileServer, Reply, run_hostile


async def test_replies_come_in_order_and_the_last_repeats(hostile: HostileServer) -> None:
    """answer(route, a, b) serves a, then b for every later request; each request is recorded."""
    hostile.answer("GET /refunds/{id}", Reply.error(503), {"id": "refund_test_1"})
    async with aiohttp.ClientSession() as session:
        statuses = []
        for _ in range(3):
            async with session.get(f"{hostile.base_url}/refunds/refund_test_1") as response:
                statuses.append(response.status)
    assert statuses == [503, 200, 200]
    assert [r.number for r in hostile.requests_to("GET /refunds/{id}")] == [1, 2, 3]
    assert hostile.received[0].match == {"id": "refund_test_1"}


async def test_a_function_answers_from_the_request(hostile: HostileServer) -> None:
    """A callable reply sees the query and the JSON body of the request it answers."""
    hostile.answer("POST /refunds", lambda got: {"echo": got.body, "q": dict(got.query)})
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{hostile.base_url}/refunds?x=1", json={"amount": 5}) as response,
    ):
        assert await response.json() == {"echo": {"amount": 5}, "q": {"x": "1"}}


async def test_raw_bytes_status_reason_and_headers_are_sent_as_given(
    hostile: HostileServer,
) -> None:
    """Reply.raw sends its bytes, status, reason phrase and headers untouched."""
    hostile.answer(
        "GET /orders",
        Reply.raw(b"<html>oops</html>", status=502, reason="Bad Thing", headers={"X-A": "b"}),
    )
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{hostile.base_url}/orders") as response,
    ):
        assert (response.status, response.reason, response.headers["X-A"]) == (
            502,
            "Bad Thing",
            "b",
        )
        assert await response.read() == b"<html>oops</html>"


async def test_an_endless_body_stops_when_the_client_hangs_up(hostile: HostileServer) -> None:
    """Reply.endless streams until the client closes, and records that it did."""
    hostile.answer("GET /refunds", Reply.endless(prefix=b"[", chunk=b"0," * 32768))
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{hostile.base_url}/refunds") as response,
    ):
        read = 0
        async for chunk in response.content.iter_any():
            read += len(chunk)
            if read > 2**20:
                break
        response.close()
    for _ in range(100):  # let the server notice the closed connection
        if hostile.streams:
            break
        await asyncio.sleep(0.01)
    [end] = hostile.streams
    assert end.client_hung_up
    assert end.sent_bytes < 64 * 2**20


async def test_hang_up_and_wire_break_the_connection(hostile: HostileServer) -> None:
    """Reply.hang_up closes without an answer; Reply.wire sends a response no server would."""
    hostile.answer("GET /payments/{id}", Reply.hang_up())
    hostile.answer("GET /orders/{id}", Reply.wire(b"HTTP/1.1 2x0 OK\r\n\r\n"))
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await session.get(f"{hostile.base_url}/payments/p")
        with pytest.raises(aiohttp.ClientResponseError):
            await session.get(f"{hostile.base_url}/orders/o")


async def test_an_unscripted_route_answers_418_and_is_kept() -> None:
    """A request nothing was scripted for is answered 418 and listed in unscripted."""
    async with run_hostile() as server, aiohttp.ClientSession() as session:
        async with session.get(f"{server.base_url}/refunds/r") as response:
            assert response.status == 418
        assert [r.path for r in server.unscripted] == ["/v1/refunds/r"]


def test_an_unknown_route_cannot_be_scripted() -> None:
    """A typo in a route name fails at once instead of leaving the route unscripted."""
    with pytest.raises(ValueError, match="no such route"):
        HostileServer().answer("GET /order/{id}", {})
