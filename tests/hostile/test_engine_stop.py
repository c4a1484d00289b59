"""A stop while a refund's answer is awaited: the run ends without waiting out the timeout,
and the refund is neither lost nor sent twice."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from batch_refunds.journal import PENDING
from batch_refunds.models import Status
from tests.conftest import MakeSandbox
from tests.run.conftest import Harness, statuses

from .server import HostileServer, Received, Reply
from .shapes import order_json, page_json, payment_json, refund_json

ORDER = "order_test_STOP"
PAYMENT = "payment_test_STOP"


@pytest.fixture
async def harness(make_sandbox: MakeSandbox, tmp_path: Path) -> Harness:
    server = await make_sandbox()
    return Harness(server=server, tmp=tmp_path, journal_path=tmp_path / "journal.sqlite3")


def _order(got: Received) -> dict[str, Any]:
    return order_json(id=ORDER, payments=[payment_json(id=PAYMENT, order=ORDER, refunds=[])])


async def test_a_refund_awaited_at_a_stop_is_abandoned_as_unknown_and_later_sent_once(
    harness: Harness, hostile: HostileServer
) -> None:
    """SIGTERM while a POST waits for its answer: the request is hung up on, the row is failed
    with its outcome unknown, and the next run sends it under the same key, once."""
    stop = asyncio.Event()

    def stall(got: Received) -> Reply:
        stop.set()  # the stop comes while this POST is on the wire
        return Reply.headers_only(content_length=100)  # … and its answer never comes

    hostile.answer("GET /orders", page_json([]))
    hostile.answer("GET /orders/{id}", _order)
    hostile.answer("POST /refunds", stall)
    path = harness.write([(ORDER, None, 1200, "RET-STOP")])

    first = await harness.run(path, base_url=hostile.base_url, stop=stop, stop_grace_s=0.0)

    assert statuses(first) == [Status.FAILED]
    assert first.outcomes[0].error_code == "run.stopped-waiting"
    assert first.outcomes[0].refunded_amount == 0
    for _ in range(500):  # the server notices the hang-up by polling; wait for it, bounded
        if hostile.streams:
            break
        await asyncio.sleep(0.01)
    assert [end.client_hung_up for end in hostile.streams] == [True]
    with sqlite3.connect(harness.journal_path) as db:
        assert db.execute("SELECT state FROM intents").fetchall() == [(PENDING,)]
    (sent,) = hostile.requests_to("POST /refunds")

    def made(got: Received) -> dict[str, Any]:
        return refund_json(id="refund_test_STOP", payment=PAYMENT, amount=1200,
                           reference="RET-STOP", metadata=got.body["metadata"])  # fmt: skip

    hostile.answer("POST /refunds", made)
    hostile.answer("GET /refunds", page_json([]))
    again = await harness.run(path, base_url=hostile.base_url)

    assert statuses(again) == [Status.REFUNDED]
    assert again.outcomes[0].refunded_amount == 1200
    first_key, *later = [r.headers["Idempotency-Key"] for r in hostile.requests_to("POST /refunds")]
    assert first_key == sent.headers["Idempotency-Key"]
    assert later == [first_key]
