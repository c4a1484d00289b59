"""A server that echoes the secret key back never gets it into anything the client keeps."""

from __future__ import annotations

import pytest

from batch_refunds import errors
from batch_refunds.smartpay.events import ClientEvent

from .clients import SECRET, client_for, texts_of
from .server import HostileServer, Reply
from .shapes import ORDER_ID, REFUND_ID, order_json

MASKED = "sk_test_***"


def _leaks(error: BaseException, events: list[ClientEvent]) -> list[str]:
    shown = texts_of(error) + [repr(event) for event in events]
    return [text for text in shown if SECRET in text]


@pytest.mark.parametrize("status", [400, 403, 404, 422, 503])
async def test_a_key_echoed_in_error_code_message_and_details_is_masked_everywhere(
    hostile: HostileServer, status: int
) -> None:
    """The key sent back inside errorCode, message and details appears in no attribute, str or
    repr of the error (or its chain), nor in any event."""
    hostile.answer(
        "GET /refunds/{id}",
        Reply.error(
            status,
            error_code=f"request.invalid.{SECRET}",
            message=f"Bad Authorization: Basic {SECRET}",
            details=[SECRET, {"header": f"Basic {SECRET}", SECRET: [SECRET]}],
        ),
    )
    events: list[ClientEvent] = []
    async with client_for(hostile, max_attempts=2, hook=events.append) as client:
        with pytest.raises(errors.SmartpayError) as caught:
            await client.get_refund(REFUND_ID)
    assert _leaks(caught.value, events) == []
    error = caught.value
    assert error.error_code == f"request.invalid.{MASKED}"
    assert error.code == f"request.invalid.{MASKED}"
    assert MASKED in error.message
    assert error.details == (MASKED, {"header": f"Basic {MASKED}", MASKED: [MASKED]})


async def test_a_key_in_an_html_500_page_and_its_reason_phrase_is_masked(
    hostile: HostileServer,
) -> None:
    """A 500 HTML page and a reason phrase that quote the key: the error says the reason with
    the key masked, and nothing it carries holds the key."""
    hostile.answer(
        "POST /refunds",
        Reply.raw(
            f"<html><body>Authorization: Basic {SECRET}</body></html>",
            status=500,
            content_type="text/html",
            reason=f"Upstream refused {SECRET}",
        ),
    )
    events: list[ClientEvent] = []
    async with client_for(hostile, max_attempts=1, hook=events.append) as client:
        with pytest.raises(errors.ServerError) as caught:
            await client._answer("POST", "/refunds", body={}, idempotency_key="k")
    assert _leaks(caught.value, events) == []
    assert caught.value.message == f"Upstream refused {MASKED}"


async def test_a_key_echoed_in_a_200_answer_is_masked_in_the_mismatch(
    hostile: HostileServer,
) -> None:
    """An order answered under the key as its id: the AnswerMismatch shows it masked."""
    hostile.answer("GET /orders/{id}", order_json(id=SECRET))
    async with client_for(hostile) as client:
        with pytest.raises(errors.AnswerMismatch) as caught:
            await client.get_order(ORDER_ID)
    assert _leaks(caught.value, []) == []
    assert caught.value.message.endswith(f"the answer is order {MASKED}")


@pytest.mark.parametrize("where", ["message", "reason"])
async def test_a_key_past_the_kept_length_leaves_no_part_behind(
    hostile: HostileServer, where: str
) -> None:
    """A long message or reason phrase is cut only after the key is masked, so no piece of the
    key survives the cut."""
    text = "x" * 490 + SECRET
    reply = (
        Reply.error(400, message=text)
        if where == "message"
        else Reply.raw("<html></html>", status=400, content_type="text/html", reason=text)
    )
    hostile.answer("GET /refunds/{id}", reply)
    async with client_for(hostile) as client:
        with pytest.raises(errors.BadRequest) as caught:
            await client.get_refund(REFUND_ID)
    shown_of_the_key = len("sk_test_")  # the mode prefix is what a mask shows anyway
    assert SECRET[: shown_of_the_key + 1] not in caught.value.message
    assert len(caught.value.message) <= 500


async def test_a_broken_status_line_quoting_the_key_leaves_no_trace(
    hostile: HostileServer,
) -> None:
    """A response no HTTP parser accepts, echoing the key: ConnectionFailed, and neither it nor
    the exception it is chained to (aiohttp's keeps the request headers) holds the key."""
    hostile.answer("GET /refunds/{id}", Reply.wire(f"HTTP/1.1 2x0 {SECRET}\r\n\r\n".encode()))
    async with client_for(hostile, max_attempts=1) as client:
        with pytest.raises(errors.ConnectionFailed) as caught:
            await client.get_refund(REFUND_ID)
    assert _leaks(caught.value, []) == []
