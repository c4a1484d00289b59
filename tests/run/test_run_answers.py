"""Answers that don't settle a refund: pending, failed later, or still in flight."""

from __future__ import annotations

import asyncio
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


class StopsAfterFirstPost:
    """The real client; a stop is requested as soon as the first refund POST is answered."""

    def __init__(self, client: Any, stop: Any) -> None:
        self._client = client
        self._stop = stop

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def create_refund(self, body: CreateRefund, *, idempotency_key: str) -> Refund:
        refund: Refund = await self._client.create_refund(body, idempotency_key=idempotency_key)
        self._stop.set()
        return refund


async def test_a_stop_between_the_parts_of_one_row_sends_no_more(harness: Harness) -> None:
    """A stop while one row splits over five payments: no POST after it; the row is failed
    and a re-run sends the four unsent parts exactly once."""
    oid, _ = harness.order(5000, 1000, 1000, 1000, 1000, 1000)
    path = harness.write([(oid, None, 5000, "SPLIT")])
    stop = asyncio.Event()
    first = await harness.run(path, stop=stop, wrap_api=lambda c: StopsAfterFirstPost(c, stop))
    assert [(o.status, o.error_code) for o in first.outcomes] == [
        (Status.FAILED, "run.interrupted")
    ]
    assert harness.posts() == 1
    assert first.outcomes[0].refunded_amount == 1000
    again = await harness.run(path)
    assert statuses(again) == [Status.REFUNDED]
    assert sorted(r.amount for r in harness.refunds()) == [1000] * 5


async def test_two_runs_at_once_on_two_journals_never_both_claim_a_refund(
    harness: Harness,
) -> None:
    """The same file run at once against two journals: one refund per row, and the refunds
    each report claims as its own add up to exactly those refunds (a replayed answer is
    reported as already refunded, made by the other run)."""
    orders = [harness.order(5000, 5000)[0] for _ in range(4)]
    rows = [(oid, None, 1000 + i, f"C{i}") for i, oid in enumerate(orders)]
    path = harness.write(rows)
    other = Harness(server=harness.server, tmp=harness.tmp / "other", journal_path=harness.tmp
                    / "other" / "journal.sqlite3")  # fmt: skip
    other.tmp.mkdir()
    one, two = await asyncio.gather(harness.run(path), other.run(path))
    assert len(harness.refunds()) == 4
    claimed = one.summary.refunded_total + two.summary.refunded_total
    assert claimed == sum(r.amount for r in harness.refunds())
    for a, b in zip(one.outcomes, two.outcomes, strict=True):
        assert {a.status, b.status} <= {Status.REFUNDED, Status.ALREADY_REFUNDED}
        assert (a.refunded_amount == 0) != (b.refunded_amount == 0)  # exactly one claims it
