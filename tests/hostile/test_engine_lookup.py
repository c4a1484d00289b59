"""Whole runs against the hostile server: what the engine does with answers it cannot use.

These use the run harness of ``tests/run`` with its API prefix pointed at the hostile server
(the sandbox it starts is left idle).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from batch_refunds.models import Status
from tests.conftest import MakeSandbox
from tests.run.conftest import Harness, statuses

from .server import HostileServer, Received, Reply
from .shapes import order_json, page_json, payment_json

ORDERS = ("order_test_A", "order_test_B")


def _order(got: Received) -> dict[str, Any]:
    """Each order with one payment of ¥5,000 whose refunds Smartpay does not list."""
    order_id = got.match["id"]
    payment = payment_json(id=f"payment_{order_id}", order=order_id)
    del payment["refunds"]
    return order_json(id=order_id, payments=[payment])


@pytest.fixture
async def harness(make_sandbox: MakeSandbox, tmp_path: Path) -> Harness:
    server = await make_sandbox()
    return Harness(server=server, tmp=tmp_path, journal_path=tmp_path / "journal.sqlite3")


async def test_a_refund_scan_that_fails_never_lets_a_row_be_sent_again(
    harness: Harness, hostile: HostileServer
) -> None:
    """Two rows whose POSTs went unanswered; on the re-run the refund list loops: neither row
    is sent again (the outcome stays unknown), however the failed scan is shared."""
    hostile.answer("GET /orders", page_json([]))
    hostile.answer("GET /orders/{id}", _order)
    hostile.answer("POST /refunds", Reply.hang_up())
    hostile.answer("GET /refunds", page_json([]))  # the payments list no refunds: a scan looks
    path = harness.write([(order, None, 1000, f"RET-{order}") for order in ORDERS])
    first = await harness.run(path, base_url=hostile.base_url, max_attempts=1)
    assert statuses(first) == [Status.FAILED, Status.FAILED]
    posts_before = len(hostile.requests_to("POST /refunds"))

    hostile.answer("GET /refunds", page_json([], next_token="same"))
    again = await harness.run(path, base_url=hostile.base_url, max_attempts=1)
    assert statuses(again) == [Status.FAILED, Status.FAILED]
    assert len(hostile.requests_to("POST /refunds")) == posts_before
