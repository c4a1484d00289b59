"""A small run report with every awkward case the renderer must cope with."""

from __future__ import annotations

import pytest

from batch_refunds.models import RefundRecord, RequestCounts, RowOutcome, RunSummary, Status
from batch_refunds.report import RunReport

JAPANESE_MESSAGE = "返金可能額（¥1,000）を超えています"
CREATED_MS = 1_764_230_810_123  # 2025-11-27T08:06:50.123Z


def make_summary(**overrides: object) -> RunSummary:
    """A plausible summary; keyword arguments replace fields."""
    fields: dict[str, object] = {
        "run_id": "run_20261127_080650",
        "mode": "run",
        "input_path": "inputs/返金リスト.xlsx",
        "input_sha256": "ab" * 32,
        "rows": 4,
        "counts": ((Status.REFUNDED, 2), (Status.REJECTED, 1), (Status.INVALID, 1)),
        "requested_total": 4_500,
        "refunded_total": 3_500,
        "started_at": "2026-11-27T08:06:50.000+00:00",
        "finished_at": "2026-11-27T08:06:52.345+00:00",
        "duration_s": 2.3456789,
        "requests": RequestCounts(total=9, retried=2, rate_limited=1),
        "exit_code": 1,
    }
    fields.update(overrides)
    return RunSummary(**fields)  # type: ignore[arg-type]


ROWS = (
    # Given out of order on purpose: the renderer sorts by row.
    RowOutcome(
        row=3,
        status=Status.REFUNDED,
        order_id="order_test_B",
        payment_ids=("payment_test_B1", "payment_test_B2"),
        requested_amount=None,
        refundable_before=2_500,
        refunded_amount=2_500,
        refund_ids=("refund_test_B1", "refund_test_B2"),
        reference='=HYPERLINK("http://evil.example","click")',
        attempts=2,
    ),
    RowOutcome(
        row=2,
        status=Status.REFUNDED,
        order_id="order_test_A",
        payment_ids=("payment_test_A1",),
        requested_amount=1_000,
        refundable_before=12_345,
        refunded_amount=1_000,
        refund_ids=("refund_test_A1",),
        reference="RMA-0001",
        attempts=1,
    ),
    RowOutcome(
        row=4,
        status=Status.REJECTED,
        order_id="order_test_C",
        payment_ids=("payment_test_C1",),
        requested_amount=1_000,
        refundable_before=0,
        error_code="amount.insufficient",
        message=JAPANESE_MESSAGE,
        reference="+1",
        attempts=1,
    ),
    RowOutcome(
        row=5,
        status=Status.INVALID,
        error_code="input.amount",
        message="amount must be a whole number of yen,\nnot 12.5",
        reference="-2",
    ),
)

REFUNDS = (
    RefundRecord("refund_test_B2", 3, "order_test_B", "payment_test_B2", 500, "@x", CREATED_MS + 1),
    RefundRecord("refund_test_B1", 3, "order_test_B", "payment_test_B1", 2_000, "@x", CREATED_MS),
    RefundRecord("refund_test_A1", 2, "order_test_A", "payment_test_A1", 1_000, "\tx", CREATED_MS),
)


@pytest.fixture
def report() -> RunReport:
    """Mixed statuses, Japanese text, a full-refund row, multi-payment rows, hostile references."""
    return RunReport(summary=make_summary(), rows=ROWS, refunds=REFUNDS)
