"""Answers that don't settle a refund: pending, failed later, or still in flight."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from batch_refunds.models import CreateRefund, Refund, Status
from tests.run.conftest import Harness, statuses


class AnswersPending:
    """The real client against the sandbox, but every refund it creates comes back as
    ``pending`` (the sandbox itself records it as the test decides)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def create_refund(self, body: CreateRefund, *, idempotency_key: str) -> Refund:
        refund: Refund = await self._client.create_refund(body, idempotency_key=idempotency_key)
        return dataclasses.replace(refund, status="pending")


async def pending_first_run(harness: Harness) -> tuple[str, Any]:
    oid, (pid,) = harness.order(5000, 5000)
    path = harness.write([(oid, None, 1000, "P-1")])
    first = await harness.run(path, wrap_api=AnswersPending)
    (row,) = first.outcomes
    assert (row.status, row.error_code) == (Status.FAILED, "refund.pending")
    assert row.refunded_amount == 0  # not counted as refunded while in flight
    return pid, path


@pytest.mark.parametrize("listed", ["objects", "ids", "absent"])
async def test_pending_refund_later_succeeded_is_found_not_sent_again(
    harness: Harness, listed: str
) -> None:
    """A refund answered pending and later listed as succeeded: the re-run finds it and
    sends no second refund, whether the payment lists refunds or a scan must find it."""
    harness.server.knobs.payment_refunds = listed  # type: ignore[assignment]
    pid, path = await pending_first_run(harness)
    posts = harness.posts()
    harness.server.clock.advance(7 * 3600)  # past the key's window: only the lookup protects
    again = await harness.run(path)
    assert statuses(again) == [Status.ALREADY_REFUNDED]
    assert harness.posts() == posts
    assert [r.amount for r in harness.refunds(pid)] == [1000]


async def test_refund_still_pending_sends_nothing_more(harness: Harness) -> None:
    """While Smartpay still holds the refund as pending, a re-run sends nothing for the row."""
    pid, path = await pending_first_run(harness)
    (record,) = harness.refunds(pid)
    record.status = "pending"
    posts = harness.posts()
    harness.server.clock.advance(7 * 3600)
    again = await harness.run(path)
    assert [(o.status, o.error_code) for o in again.outcomes] == [(Status.FAILED, "refund.pending")]
    assert harness.posts() == posts


async def test_refund_that_failed_later_is_sent_anew(harness: Harness) -> None:
    """A refund that ended failed moved no money: the re-run plans the row again."""
    pid, path = await pending_first_run(harness)
    (record,) = harness.refunds(pid)
    record.status = "failed"
    again = await harness.run(path)
    assert statuses(again) == [Status.REFUNDED]
    assert sorted(r.status for r in harness.refunds(pid)) == ["failed", "succeeded"]
