"""Exactly once when things go wrong: lost answers, crashes, expired keys, 429s, outages."""

from __future__ import annotations

import asyncio

import pytest

from batch_refunds import identity as ids
from batch_refunds.errors import SmartpayError
from batch_refunds.exit_codes import EXIT_INTERRUPTED, EXIT_NOT_STARTED
from batch_refunds.journal import PENDING, Intent, Journal
from batch_refunds.models import CreateRefund, Refund, RefundRequest, RowOutcome, Status
from batch_refunds.runner import PlanTotals, RunHooks
from batch_refunds.smartpay import SmartpayClient
from tests.run.conftest import Harness, statuses

SEVEN_HOURS_S = 7 * 3600


async def test_lost_responses_never_become_second_refunds(harness: Harness) -> None:
    """Every refund is created, then its answer lost: retries replay, one refund per row."""
    harness.server.knobs.drop_after_commit_rate = 1.0
    orders = [harness.order(2000, 2000) for _ in range(5)]
    result = await harness.run(harness.write([(oid, None, 500, None) for oid, _ in orders]))
    assert statuses(result) == [Status.REFUNDED] * 5
    for _, (pid,) in orders:
        assert [r.amount for r in harness.refunds(pid)] == [500]
    assert harness.server.state.stats.replays == 5
    assert result.summary.requests.retried >= 5
    assert [o.attempts for o in result.outcomes] == [2] * 5  # the lost try and its replay


@pytest.mark.parametrize("mode", ["objects", "ids", "absent"])
async def test_crash_mid_post_is_resolved_by_reference_after_the_key_expired(
    harness: Harness, mode: str
) -> None:
    """An answer lost with no retry left, then 7 hours pass: the re-run finds the refund
    by its reference (on the payment, or by scanning list-refunds) and sends nothing."""
    harness.server.knobs.payment_refunds = mode  # type: ignore[assignment]
    oid, (pid,) = harness.order(3000, 3000)
    other, _ = harness.order(3000, 3000)
    path = harness.write([(oid, None, 1000, None)])
    harness.server.knobs.drop_after_commit_rate = 1.0
    first = await harness.run(path, max_attempts=1)
    assert statuses(first) == [Status.FAILED]
    with Journal(harness.journal_path) as journal:
        assert journal.outcomes(first.summary.run_id)[0].error_code == "network.connection"
    assert len(harness.refunds(pid)) == 1  # it did go through; we just never heard

    harness.server.knobs.drop_after_commit_rate = 0.0
    harness.server.clock.advance(SEVEN_HOURS_S)  # Smartpay has forgotten the key by now
    for n in range(3):  # newer refunds elsewhere push ours down the newest-first list
        await harness.run(harness.write([(other, None, 10, f"N{n}")], name=f"n{n}.csv"))
    again = await harness.run(path)
    assert statuses(again) == [Status.ALREADY_REFUNDED]
    assert again.outcomes[0].already_refunded == 1000
    assert again.outcomes[0].refunded_amount == 0
    assert again.summary.refunded_total == 0  # credited to the run that sent it
    assert [r.amount for r in harness.refunds(pid)] == [1000]


async def test_unsent_intent_is_sent_again_with_its_own_key(harness: Harness) -> None:
    """A crash after the intent was committed but before its POST left: the re-run finds no
    refund for it and sends it, with exactly the key the journal holds."""
    oid, (pid,) = harness.order(3000, 3000)
    request = RefundRequest(row=2, order_id=oid, payment_id=None, amount=1000, reference="CR-1")
    identity = ids.row_identity(request, 1)
    key = ids.idempotency_key(identity, pid)
    with Journal(harness.journal_path) as journal:
        journal.record_intents([
            Intent(key=key, identity=identity, generation=0, run_id="crashed", row=2,
                   order_id=oid, payment_id=pid, amount=1000, reference="CR-1", state=PENDING)
        ])  # fmt: skip
    result = await harness.run(harness.write([(oid, None, 1000, "CR-1")]))
    assert statuses(result) == [Status.REFUNDED]
    assert [r.amount for r in harness.refunds(pid)] == [1000]
    assert [k for _scope, k in harness.server.state.idempotency] == [key]


@pytest.mark.parametrize("mode", ["objects", "ids"])
async def test_listed_refunds_give_the_remaining_amount(harness: Harness, mode: str) -> None:
    """Whether a payment lists refund objects or ids, a full refund takes exactly what is left."""
    harness.server.knobs.payment_refunds = mode  # type: ignore[assignment]
    oid, (pid,) = harness.order(5000, 5000, refunded=[(0, 1200)])
    result = await harness.run(harness.write([(oid, None, None, "ALL")]))
    assert [(o.status, o.refunded_amount) for o in result.outcomes] == [(Status.REFUNDED, 3800)]
    assert harness.server.state.remaining(pid) == 0


async def test_absent_refunds_are_learnt_from_the_journal_then_the_scan(harness: Harness) -> None:
    """Without a refunds field: a row the journal knows needs no scan (its own refunds
    count); a new row makes the run scan list-refunds, so a refund made in the dashboard
    meanwhile is seen and a full refund sends exactly what remains."""
    harness.server.knobs.payment_refunds = "absent"
    oid, (pid,) = harness.order(5000, 5000)
    first = await harness.run(harness.write([(oid, None, 2000, "A")], name="a.csv"))
    assert statuses(first) == [Status.REFUNDED]
    harness.server.state.add_refund(pid, 500, reference="DASHBOARD")
    result = await harness.run(harness.write([(oid, None, None, "B")], name="b.csv"))
    assert statuses(result) == [Status.REFUNDED]
    assert (result.outcomes[0].refundable_before, result.outcomes[0].refunded_amount) == (
        2500, 2500,
    )  # fmt: skip
    assert harness.server.state.remaining(pid) == 0
    assert harness.server.state.requests_served("GET", "/v1/refunds") >= 1


async def test_a_429_storm_slows_the_run_but_loses_nothing(make_harness) -> None:  # type: ignore[no-untyped-def]
    """Against a sandbox allowing 3 requests/s, every row still ends refunded exactly once."""
    harness: Harness = await make_harness(rate_limit_per_s=3)
    orders = [harness.order(1000, 1000) for _ in range(12)]
    result = await harness.run(harness.write([(oid, None, 100, None) for oid, _ in orders]))
    assert statuses(result) == [Status.REFUNDED] * 12
    assert len(harness.refunds()) == 12
    assert harness.server.state.stats.rate_limited > 0
    assert result.summary.requests.rate_limited == harness.server.state.stats.rate_limited


async def test_run_stops_early_when_the_api_is_down(harness: Harness) -> None:
    """Many consecutive failures stop the run: the rest are failed without being tried."""
    harness.server.knobs.fail_rate = 1.0
    orders = [harness.order(1000, 1000) for _ in range(30)]
    result = await harness.run(
        harness.write([(oid, None, 100, None) for oid, _ in orders]),
        concurrency=1, max_attempts=1,
    )  # fmt: skip
    codes = [o.error_code for o in result.outcomes]
    assert set(statuses(result)) == {Status.FAILED}
    assert codes.count("run.stopped-early") == 11  # the access check was the first failure
    assert harness.server.state.stats.injected_failures == 20


async def test_interrupt_finishes_the_row_in_flight_and_fails_the_rest(harness: Harness) -> None:
    """After a stop request no new row starts; unstarted rows are failed; exit 130."""
    orders = [harness.order(1000, 1000) for _ in range(4)]
    stop_event = asyncio.Event()

    def on_outcome(outcome: RowOutcome) -> None:
        stop_event.set()

    stop_after_first = RunHooks(on_outcome=on_outcome)
    result = await harness.run(
        harness.write([(oid, None, 100, None) for oid, _ in orders]),
        hooks=stop_after_first, concurrency=1, stop=stop_event,
    )  # fmt: skip
    assert statuses(result) == [Status.REFUNDED] + [Status.FAILED] * 3
    assert {o.error_code for o in result.outcomes[1:]} == {"run.interrupted"}
    assert result.summary.exit_code == EXIT_INTERRUPTED
    assert len(harness.refunds()) == 1


async def test_max_total_guard_sends_nothing(harness: Harness) -> None:
    """A plan above --max-total sends nothing and exits 2; a later run can still do it."""
    oid, _ = harness.order(9000, 9000)
    path = harness.write([(oid, None, None, "BIG")])
    held = await harness.run(path, max_total=8999)
    assert [(o.status, o.error_code) for o in held.outcomes] == [(Status.FAILED, "guard.max-total")]
    assert held.summary.exit_code == EXIT_NOT_STARTED
    assert harness.posts() == 0
    done = await harness.run(path, max_total=9000)
    assert statuses(done) == [Status.REFUNDED]


async def test_strict_sends_nothing_when_any_row_is_invalid(harness: Harness) -> None:
    """--strict: one invalid row holds back every valid one."""
    oid, _ = harness.order(9000, 9000)
    result = await harness.run(harness.write([(oid, None, 10, None), ("x", None, 1, None)]),
                               strict=True)  # fmt: skip
    assert statuses(result) == [Status.FAILED, Status.INVALID]
    assert result.summary.exit_code == EXIT_NOT_STARTED
    assert harness.posts() == 0


async def test_max_amount_rejects_a_large_row(harness: Harness) -> None:
    """A row above --max-amount (blank amounts included) is rejected; the others go."""
    big, _ = harness.order(9000, 9000)
    small, _ = harness.order(9000, 9000)
    result = await harness.run(
        harness.write([(big, None, None, "B"), (small, None, 100, "S")]), max_amount=5000
    )
    assert [(o.status, o.error_code) for o in result.outcomes] == [
        (Status.REJECTED, "guard.max-amount"),
        (Status.REFUNDED, None),
    ]


async def test_declined_confirmation_sends_nothing(harness: Harness) -> None:
    """Answering no at the prompt leaves every row unsent and exits 2."""
    oid, _ = harness.order(1000, 1000)

    async def decline(totals: object) -> bool:
        return False

    result = await harness.run(
        harness.write([(oid, None, 10, None)]), hooks=RunHooks(confirm=decline)
    )
    assert statuses(result) == [Status.FAILED]
    assert result.summary.exit_code == EXIT_NOT_STARTED
    assert harness.posts() == 0


async def test_refusal_mid_split_keeps_the_part_that_went_through(harness: Harness) -> None:
    """Part 1 refunded, part 2 refused (the dashboard refunded that payment meanwhile): the
    row is rejected showing the yen that did go through, and a re-run never repeats part 1."""
    oid, (p1, p2) = harness.order(6000, 3000, 3000)

    async def meanwhile_in_the_dashboard(totals: PlanTotals) -> bool:  # while the prompt waits
        harness.server.state.add_refund(p2, 2500, reference="DASHBOARD")
        return True

    path = harness.write([(oid, None, 5000, "SPLIT")])
    first = await harness.run(path, hooks=RunHooks(confirm=meanwhile_in_the_dashboard))
    (outcome,) = first.outcomes
    assert (outcome.status, outcome.error_code) == (Status.REJECTED, "amount.insufficient")
    assert outcome.refunded_amount == 3000
    assert first.summary.refunded_total == 3000  # a rejected row's refunded part counts too
    again = await harness.run(path)
    (outcome,) = again.outcomes
    assert (outcome.status, outcome.error_code) == (Status.REJECTED, "amount.insufficient")
    assert "¥2,000" in (outcome.message or "")
    assert (outcome.already_refunded, outcome.refunded_amount) == (3000, 0)
    assert [r.amount for r in harness.refunds(p1)] == [3000]
    assert [r.reference for r in harness.refunds(p2)] == ["DASHBOARD"]


class GarbledRefundAnswers:
    """The real client, except that every refund POST's answer arrives unreadable after the
    refund was made (a proxy page, a truncated body): the outcome is unknown to the tool."""

    def __init__(self, api: SmartpayClient) -> None:
        self._api = api

    def __getattr__(self, name: str) -> object:
        return getattr(self._api, name)

    async def create_refund(self, body: CreateRefund, *, idempotency_key: str) -> Refund:
        await self._api.create_refund(body, idempotency_key=idempotency_key)
        raise SmartpayError("the response was not JSON", status=200)


async def test_unreadable_answer_is_treated_as_maybe_refunded(harness: Harness) -> None:
    """A refund answer that can't be read fails the row without crashing the run, and the
    re-run finds the refund instead of making a second one."""
    oid, (pid,) = harness.order(2000, 2000)
    other, _ = harness.order(2000, 2000)
    path = harness.write([(oid, None, 800, None), (other, None, 300, None)])
    first = await harness.run(path, wrap_api=GarbledRefundAnswers)
    assert statuses(first) == [Status.FAILED, Status.FAILED]
    again = await harness.run(path)
    assert statuses(again) == [Status.ALREADY_REFUNDED, Status.ALREADY_REFUNDED]
    assert [r.amount for r in harness.refunds(pid)] == [800]
