"""A whole run against the sandbox: what gets refunded, once, and what the report says."""

from __future__ import annotations

import csv
import json

from batch_refunds.exit_codes import EXIT_OK, EXIT_ROWS_NOT_DONE
from batch_refunds.models import Mode, Status
from batch_refunds.runner import PlanTotals, RunHooks
from tests.run.conftest import KEY, Harness, statuses


async def test_full_run_refunds_every_row_with_two_requests_each(harness: Harness) -> None:
    """Fresh single-payment orders: each row is one GET and one POST, and is refunded; the
    run adds one request of its own, proving the key and the API prefix first."""
    orders = [harness.order(5000, 5000) for _ in range(3)]
    path = harness.write([(oid, None, 1200, f"RET-{i}") for i, (oid, _) in enumerate(orders)])
    result = await harness.run(path)
    assert statuses(result) == [Status.REFUNDED] * 3
    assert result.summary.exit_code == EXIT_OK
    assert result.summary.requests.total == 1 + 6
    for _, (pid,) in orders:
        (refund,) = harness.refunds(pid)
        assert refund.amount == 1200
    assert result.summary.refunded_total == 3600


async def test_report_accounts_for_every_row(harness: Harness) -> None:
    """Valid, invalid and rejected rows all appear, in input order, with a terminal status."""
    oid, _ = harness.order(1000, 1000)
    path = harness.write(
        [(oid, None, 400, "A"), ("nonsense", None, 5, "B"), (oid, None, 9999, "C")]
    )
    result = await harness.run(path)
    with result.report.csv.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["row"], r["status"]) for r in rows] == [
        ("2", "refunded"),
        ("3", "invalid"),
        ("4", "rejected"),
    ]
    assert rows[2]["error_code"] == "amount.insufficient"
    summary = json.loads(result.report.summary.read_text(encoding="utf-8"))
    assert summary["counts"]["refunded"] == 1
    assert summary["exit_code"] == EXIT_ROWS_NOT_DONE == result.summary.exit_code


async def test_plan_sends_no_post(harness: Harness) -> None:
    """plan reads orders and reports what it would do, without a single POST."""
    oid, _ = harness.order(3000, 3000)
    result = await harness.run(harness.write([(oid, None, None, "R1")]), mode=Mode.PLAN)
    assert statuses(result) == [Status.PLANNED]
    assert result.outcomes[0].refundable_before == 3000
    assert harness.posts() == 0
    assert harness.refunds() == []


async def test_rerun_of_the_same_file_sends_nothing(harness: Harness) -> None:
    """A second run of a finished file reports already_refunded and sends no request."""
    oid, _ = harness.order(3000, 3000)
    path = harness.write([(oid, None, 1000, "R1"), (oid, None, None, "R2")])
    await harness.run(path)
    posts = harness.posts()
    again = await harness.run(path)
    assert statuses(again) == [Status.ALREADY_REFUNDED] * 2
    assert harness.posts() == posts
    assert again.summary.requests.total == 0
    assert again.summary.exit_code == EXIT_OK


async def test_cumulative_file_refunds_only_the_new_rows(harness: Harness) -> None:
    """Rows repeated on other lines of a later file are recognised; only new ones are sent."""
    a, _ = harness.order(3000, 3000)
    b, _ = harness.order(3000, 3000)
    await harness.run(harness.write([(a, None, 1000, None)], name="monday.csv"))
    later = harness.write([(b, None, 500, None), (a, None, 1000, None)], name="tuesday.csv")
    result = await harness.run(later)
    assert statuses(result) == [Status.REFUNDED, Status.ALREADY_REFUNDED]
    assert len(harness.refunds()) == 2


async def test_rows_of_one_order_see_each_other(harness: Harness) -> None:
    """A full-refund row after a partial one on the same order takes only what is left."""
    oid, (pid,) = harness.order(5000, 5000)
    result = await harness.run(harness.write([(oid, None, 3000, "A"), (oid, None, None, "B")]))
    assert [o.refunded_amount for o in result.outcomes] == [3000, 2000]
    assert sorted(r.amount for r in harness.refunds(pid)) == [2000, 3000]


async def test_amount_is_split_across_payments_in_order(harness: Harness) -> None:
    """More than one payment holds is split across the order's payments, first one first."""
    oid, (p1, p2) = harness.order(9000, 4000, 5000, refunded=[(0, 1000)])
    result = await harness.run(harness.write([(oid, None, 6000, "SPLIT")]))
    (outcome,) = result.outcomes
    assert outcome.status is Status.REFUNDED
    assert outcome.refundable_before == 8000
    assert outcome.refunded_amount == 6000
    assert len(outcome.refund_ids) == 2
    assert [r.amount for r in harness.refunds(p1) if r.reference == "SPLIT"] == [3000]
    assert [r.amount for r in harness.refunds(p2)] == [3000]


async def test_over_refund_is_rejected_before_sending(harness: Harness) -> None:
    """More than the whole order holds is rejected without a POST."""
    oid, _ = harness.order(4000, 4000, refunded=[(0, 3000)])
    result = await harness.run(harness.write([(oid, None, 1001, "X")]))
    (outcome,) = result.outcomes
    assert (outcome.status, outcome.error_code) == (Status.REJECTED, "amount.insufficient")
    assert outcome.refundable_before == 1000
    assert harness.posts() == 0


async def test_fully_refunded_order_rejects_a_full_refund_row(harness: Harness) -> None:
    """A blank amount on an order with nothing left is rejected, not reported as done."""
    oid, _ = harness.order(4000, 4000, refunded=[(0, 4000)])
    result = await harness.run(harness.write([(oid, None, None, "X")]))
    assert [(o.status, o.error_code) for o in result.outcomes] == [
        (Status.REJECTED, "amount.insufficient")
    ]


async def test_order_without_payments_is_rejected(harness: Harness) -> None:
    """Nothing captured means nothing to refund."""
    order = harness.server.state.add_order(amount=1000, status="requires_capture")
    result = await harness.run(harness.write([(order.id, None, 100, "X")]))
    assert result.outcomes[0].error_code == "order.no-payments"


async def test_unknown_order_is_rejected_with_smartpays_code(harness: Harness) -> None:
    """A 404 from Smartpay becomes a rejected row carrying its errorCode."""
    result = await harness.run(harness.write([("order_test_Missing0001", None, 100, "X")]))
    assert [(o.status, o.error_code) for o in result.outcomes] == [
        (Status.REJECTED, "order.not-found")
    ]


async def test_payment_only_row_refunds_that_payment(harness: Harness) -> None:
    """A row naming only a payment refunds from it and reports its order."""
    oid, (p1, p2) = harness.order(6000, 3000, 3000)
    result = await harness.run(harness.write([(None, p2, 1000, "P")]))
    (outcome,) = result.outcomes
    assert (outcome.status, outcome.order_id, outcome.payment_ids) == (Status.REFUNDED, oid, (p2,))
    assert harness.refunds(p1) == []


async def test_existing_refund_with_the_rows_reference_counts_as_done(harness: Harness) -> None:
    """A refund made in the dashboard with the row's reference: already_refunded, no POST."""
    oid, (pid,) = harness.order(5000, 5000)
    harness.server.state.add_refund(pid, 700, reference="RMA-77")
    result = await harness.run(harness.write([(oid, None, 700, "RMA-77")]))
    assert statuses(result) == [Status.ALREADY_REFUNDED]
    assert harness.posts() == 0


async def test_rows_sharing_a_reference_are_each_refunded_once(harness: Harness) -> None:
    """Two different rows with one merchant reference both go through, and only once."""
    oid, (pid,) = harness.order(5000, 5000)
    path = harness.write([(oid, None, 1000, "RMA-1"), (oid, None, 2000, "RMA-1")])
    first = await harness.run(path)
    assert statuses(first) == [Status.REFUNDED] * 2
    harness.journal_path = harness.tmp / "another-machine.sqlite3"  # the journal lost
    # even with the journal lost, the markers tell them apart
    again = await harness.run(path, mode=Mode.PLAN)
    assert statuses(again) == [Status.ALREADY_REFUNDED] * 2
    assert sorted(r.amount for r in harness.refunds(pid)) == [1000, 2000]


async def test_duplicate_rows_are_invalid_unless_allowed(harness: Harness) -> None:
    """Identical rows: the repeat is invalid by default, a second refund when allowed."""
    oid, (pid,) = harness.order(5000, 5000)
    path = harness.write([(oid, None, 1000, None), (oid, None, 1000, None)])
    strict = await harness.run(path, mode=Mode.PLAN)
    assert statuses(strict) == [Status.PLANNED, Status.INVALID]
    assert strict.outcomes[1].error_code == "input.duplicate"
    allowed = await harness.run(path, allow_duplicate_rows=True)
    assert statuses(allowed) == [Status.REFUNDED] * 2
    again = await harness.run(path, allow_duplicate_rows=True)
    assert statuses(again) == [Status.ALREADY_REFUNDED] * 2
    assert [r.amount for r in harness.refunds(pid)] == [1000, 1000]


async def test_secret_is_in_no_file_the_run_writes(harness: Harness) -> None:
    """The key appears in neither the journal nor any report file."""
    oid, _ = harness.order(1000, 1000)
    result = await harness.run(harness.write([(oid, None, 100, None), ("bad", None, 1, None)]))
    written = [harness.journal_path, *result.report.directory.iterdir()]
    for path in written:
        assert KEY.encode() not in path.read_bytes(), path


async def test_confirmed_two_phase_run_matches_the_streamed_run(
    make_harness,  # type: ignore[no-untyped-def]
) -> None:
    """Planning everything before sending (to confirm a total) refunds exactly what planning
    and sending order by order does."""
    results = []
    for confirm in (None, _yes):
        harness: Harness = await make_harness()
        a, _ = harness.order(9000, 4000, 5000, refunded=[(0, 1000)])
        b, _ = harness.order(5000, 5000)
        c, _ = harness.order(3000, 3000, refunded=[(0, 3000)])
        rows = [(a, None, 6000, "S"), (b, None, 3000, "X"), (b, None, None, "Y"),
                (c, None, None, "Z")]  # fmt: skip
        result = await harness.run(harness.write(rows), hooks=RunHooks(confirm=confirm))
        results.append([(o.status, o.refunded_amount, o.refundable_before, o.error_code)
                        for o in result.outcomes])  # fmt: skip
    assert results[0] == results[1]
    assert [status for status, *_ in results[0]] == [
        Status.REFUNDED,
        Status.REFUNDED,
        Status.REFUNDED,
        Status.REJECTED,
    ]


async def _yes(totals: PlanTotals) -> bool:
    return True
