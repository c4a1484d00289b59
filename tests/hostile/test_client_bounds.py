"""Every body and every page walk is bounded, whatever the server sends."""

from __future__ import annotations

import asyncio
import gzip
import tracemalloc
from typing import Any

import pytest

from batch_refunds import errors
from batch_refunds.models import CreateRefund
from batch_refunds.smartpay import SmartpayClient

from .clients import client_for
from .server import HostileServer, Received, Reply
from .shapes import PAYMENT_ID, REFUND_ID, page_json, refund_json

CAP = 2**20  # max_response_bytes in these tests
# What the kernel may still have accepted from the server after the client stopped reading:
# both sockets' buffers (a few MB on Linux loopback). Far below the stream's safety limit.
SOCKET_SLACK = 16 * 2**20
STREAM_LIMIT = 128 * 2**20
BODY = CreateRefund(payment_id=PAYMENT_ID, amount=1980, reference="RET-000001")


async def _stream_end(server: HostileServer) -> Any:
    for _ in range(500):  # the server notices the hang-up on its next write
        if server.streams:
            return server.streams[-1]
        await asyncio.sleep(0.01)
    raise AssertionError("the server never finished its endless body")


# --- the size of one answer ------------------------------------------------------------------


async def test_an_endless_body_is_read_no_further_than_the_cap(hostile: HostileServer) -> None:
    """A 200 whose body never ends: AnswerTooLarge, and the client hung up within the cap
    (plus what socket buffers hold) instead of reading on."""
    hostile.answer("GET /refunds/{id}", Reply.endless(prefix=b'{"id": "', limit_bytes=STREAM_LIMIT))
    async with client_for(hostile, max_response_bytes=CAP) as client:
        with pytest.raises(errors.AnswerTooLarge) as caught:
            await client.get_refund(REFUND_ID)
    end = await _stream_end(hostile)
    assert end.client_hung_up
    assert end.sent_bytes < CAP + SOCKET_SLACK
    error = caught.value
    assert (error.code, error.status, error.limit_bytes, error.declared_bytes) == (
        "answer.too-large",
        200,
        CAP,
        None,
    )
    assert len(hostile.requests_to("GET /refunds/{id}")) == 1


async def test_reading_an_endless_body_holds_no_more_than_the_cap_in_memory(
    hostile: HostileServer,
) -> None:
    """While an endless body streams in, the client's memory grows by about the cap, not by
    what the server sends."""
    hostile.answer("GET /refunds/{id}", Reply.endless(limit_bytes=STREAM_LIMIT))
    async with client_for(hostile, max_response_bytes=CAP) as client:
        tracemalloc.start()
        try:
            with pytest.raises(errors.AnswerTooLarge):
                await client.get_refund(REFUND_ID)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 4 * CAP


async def test_an_endless_refund_answer_leaves_the_outcome_unknown(hostile: HostileServer) -> None:
    """POST /refunds answered with an endless body: AnswerTooLarge, an UnusableAnswer (never a
    refusal), and the POST is not sent again."""
    hostile.answer("POST /refunds", Reply.endless(limit_bytes=STREAM_LIMIT))
    async with client_for(hostile, max_response_bytes=CAP) as client:
        with pytest.raises(errors.AnswerTooLarge) as caught:
            await client.create_refund(BODY, idempotency_key="br-hostile-row2")
    assert isinstance(caught.value, errors.UnusableAnswer)
    assert not isinstance(caught.value, errors.ApiRefused | errors.ApiUnavailable)
    assert len(hostile.requests_to("POST /refunds")) == 1


async def test_a_declared_length_past_the_cap_is_refused_before_reading(
    hostile: HostileServer,
) -> None:
    """A Content-Length of 3 GB is refused on the headers: the client hangs up without waiting
    for a byte of the body (the server sends none)."""
    declared = 3 * 2**30
    hostile.answer("GET /refunds/{id}", Reply.headers_only(content_length=declared))
    # A client that waited for the body would time out instead (a bound, not a timing).
    async with client_for(hostile, max_response_bytes=CAP, request_timeout_s=10) as client:
        with pytest.raises(errors.AnswerTooLarge) as caught:
            await client.get_refund(REFUND_ID)
    assert caught.value.declared_bytes == declared
    assert "declared 3,221,225,472 bytes" in caught.value.message
    end = await _stream_end(hostile)
    assert (end.client_hung_up, end.sent_bytes) == (True, 0)


async def test_an_error_answer_with_an_endless_body_is_too_large_and_not_retried(
    hostile: HostileServer,
) -> None:
    """A 503 whose body never ends is AnswerTooLarge with its status, not a ServerError to retry."""
    hostile.answer("GET /refunds/{id}", Reply.endless(status=503, limit_bytes=STREAM_LIMIT))
    async with client_for(hostile, max_response_bytes=CAP) as client:
        with pytest.raises(errors.AnswerTooLarge) as caught:
            await client.get_refund(REFUND_ID)
    assert caught.value.status == 503
    assert len(hostile.requests_to("GET /refunds/{id}")) == 1


async def test_a_compressed_body_counts_at_its_decoded_size(hostile: HostileServer) -> None:
    """A 64 KB gzip body that inflates to 64 MB passes the cap: AnswerTooLarge."""
    bomb = gzip.compress(b" " * (64 * 2**20))
    assert len(bomb) < CAP // 8
    hostile.answer(
        "GET /refunds/{id}",
        Reply.raw(bomb, content_type="application/json", headers={"Content-Encoding": "gzip"}),
    )
    async with client_for(hostile, max_response_bytes=CAP) as client:
        with pytest.raises(errors.AnswerTooLarge):
            await client.get_refund(REFUND_ID)


async def test_a_body_of_exactly_the_cap_is_read(hostile: HostileServer) -> None:
    """The cap is inclusive: a body of max_response_bytes is read, one byte more is not."""
    body = Reply.json(refund_json()).body
    padded = body + b" " * (CAP - len(body))
    hostile.answer("GET /refunds/{id}", Reply.raw(padded, content_type="application/json"))
    async with client_for(hostile, max_response_bytes=CAP) as client:
        assert (await client.get_refund(REFUND_ID)).id == REFUND_ID
    hostile.answer("GET /refunds/{id}", Reply.raw(padded + b" ", content_type="application/json"))
    async with client_for(hostile, max_response_bytes=CAP) as client:
        with pytest.raises(errors.AnswerTooLarge):
            await client.get_refund(REFUND_ID)


async def test_json_nested_too_deep_is_malformed_not_a_recursion_error(
    hostile: HostileServer,
) -> None:
    """A 200 of 100,000 nested arrays is a MalformedAnswer, never a RecursionError traceback."""
    hostile.answer("GET /payments/{id}", Reply.raw(b"[" * 100_000, content_type="application/json"))
    async with client_for(hostile) as client:
        with pytest.raises(errors.MalformedAnswer, match="not JSON"):
            await client.get_payment(PAYMENT_ID)


# --- walking a list --------------------------------------------------------------------------


def _fresh_token_pages(got: Received) -> dict[str, Any]:
    """An empty page with a new token every time: a list that never ends (it does end after
    10,000 pages, so a client without a bound fails its test instead of hanging it)."""
    return page_json([], next_token=f"t{got.number}" if got.number < 10_000 else None)


async def test_a_list_handing_out_fresh_tokens_for_ever_stops_at_max_list_pages(
    hostile: HostileServer,
) -> None:
    """GET /refunds with a new token on every page: EndlessList after exactly max_list_pages
    requests."""
    hostile.answer("GET /refunds", _fresh_token_pages)
    async with client_for(hostile, max_list_pages=25) as client:
        with pytest.raises(errors.EndlessList, match="past max_list_pages=25 pages") as caught:
            _ = [r async for r in client.list_refunds()]
    assert caught.value.code == "answer.endless-list"
    assert len(hostile.requests_to("GET /refunds")) == 25


async def test_a_list_past_max_list_items_stops_after_that_many(hostile: HostileServer) -> None:
    """Pages of refunds that go on for ever: exactly max_list_items refunds are yielded, then
    EndlessList, so memory stays bounded."""

    def page(got: Received) -> dict[str, Any]:
        items = [refund_json(id=f"refund_test_{got.number}_{n}") for n in range(10)]
        return page_json(items, next_token=f"t{got.number}")

    hostile.answer("GET /refunds", page)
    seen: list[str] = []

    async def walk(client: SmartpayClient) -> None:
        async for refund in client.list_refunds(page_size=10):
            seen.append(refund.id)

    async with client_for(hostile, max_list_items=35) as client:
        with pytest.raises(errors.EndlessList, match="past max_list_items=35 refunds"):
            await walk(client)
    assert len(seen) == 35
    assert len(hostile.requests_to("GET /refunds")) == 4


async def test_a_list_of_exactly_the_bounds_ends_normally(hostile: HostileServer) -> None:
    """A list of max_list_items refunds on max_list_pages pages is read whole, no error."""

    def page(got: Received) -> dict[str, Any]:
        items = [refund_json(id=f"refund_test_{got.number}_{n}") for n in range(10)]
        return page_json(items, next_token=None if got.number == 3 else f"t{got.number}")

    hostile.answer("GET /refunds", page)
    async with client_for(hostile, max_list_items=30, max_list_pages=3) as client:
        ids = [r.id async for r in client.list_refunds(page_size=10)]
    assert len(ids) == 30


async def test_a_page_token_that_comes_back_stops_the_walk(hostile: HostileServer) -> None:
    """Tokens a → b → a: EndlessList on the repeat, after three requests, not a loop."""
    tokens = {None: "a", "a": "b", "b": "a"}
    hostile.answer(
        "GET /refunds",
        lambda got: page_json([refund_json()], next_token=tokens[got.query.get("pageToken")]),
    )
    async with client_for(hostile) as client:
        with pytest.raises(errors.EndlessList, match="page token 'a' a second time"):
            _ = [r async for r in client.list_refunds()]
    assert len(hostile.requests_to("GET /refunds")) == 3


async def test_a_listed_refund_with_an_impossible_amount_stops_the_walk(
    hostile: HostileServer,
) -> None:
    """A refund on a list page with an amount of 10^20 is an ImplausibleAnswer, like anywhere."""
    hostile.answer("GET /refunds", page_json([refund_json(amount=10**20)]))
    async with client_for(hostile) as client:
        with pytest.raises(errors.ImplausibleAnswer):
            _ = [r async for r in client.list_refunds()]


async def test_check_access_answers_are_bounded_too(hostile: HostileServer) -> None:
    """The access probe reads its answer under the same cap."""
    hostile.answer("GET /orders", Reply.endless(limit_bytes=STREAM_LIMIT))
    async with client_for(hostile, max_response_bytes=CAP) as client:
        with pytest.raises(errors.AnswerTooLarge):
            await client.check_access()


async def test_a_servers_words_on_an_error_are_cut_to_size(hostile: HostileServer) -> None:
    """A 10 kB errorCode and a 100 kB message are kept as 100 and 500 characters, enough for a
    report line."""
    hostile.answer("GET /refunds/{id}", Reply.error(400, "c" * 10_000, "m" * 100_000))
    async with client_for(hostile) as client:
        with pytest.raises(errors.BadRequest) as caught:
            await client.get_refund(REFUND_ID)
    assert caught.value.code == "c" * 99 + "…"
    assert caught.value.message == "m" * 499 + "…"
