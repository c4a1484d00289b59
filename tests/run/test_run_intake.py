"""What intake decided reaches the run: amounts it could not be sure of move no money, the
options that settle the doubt are honoured, and the report keeps what a person typed."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from batch_refunds.errors import InputFileError
from batch_refunds.models import Status
from tests.run.conftest import Harness, statuses


def write(path: Path, header: list[str], rows: list[list[object]], encoding: str = "utf-8") -> Path:
    with path.open("w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def report_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def read_json(path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return data


async def test_the_japanese_amount_column_is_read_not_ignored(harness: Harness) -> None:
    """The incident: a CP932 file headed 返金額（税込） refunds exactly ¥3,500, not everything."""
    orders = [harness.order(43_140, 43_140)[0] for _ in range(2)]
    path = write(
        harness.tmp / "返品.csv",
        ["注文ID", "返金額（税込）", "返品日", "備考"],
        [[orders[0], "￥1,500", "2026-11-30", "サイズ違い"], [orders[1], "2,000円", "", ""]],
        encoding="cp932",
    )
    result = await harness.run(path)
    assert statuses(result) == [Status.REFUNDED] * 2
    assert result.summary.refunded_total == 3_500
    assert sorted(r.amount for r in harness.refunds()) == [1_500, 2_000]


async def test_an_unrecognised_amount_column_stops_the_file_before_any_request(
    harness: Harness,
) -> None:
    """An amount under a header the tool does not know refuses the whole file: no request."""
    oid, _ = harness.order(5000, 5000)
    path = write(harness.tmp / "r.csv", ["order_id", "払戻予定額"], [[oid, "1500"]])
    with pytest.raises(InputFileError) as caught:
        await harness.run(path)
    assert caught.value.code in {"input.ambiguous_amount", "input.no_amount_column"}
    assert "--column" in caught.value.message
    assert harness.server.state.stats.requests == {}


async def test_column_option_maps_the_amount_for_the_run(harness: Harness) -> None:
    """--column amount=… (RunOptions.columns) makes the run read that column's amounts."""
    oid, _ = harness.order(5000, 5000)
    path = write(harness.tmp / "r.csv", ["order_id", "払戻予定額"], [[oid, "1500"]])
    result = await harness.run(path, columns={"amount": "払戻予定額"})
    assert statuses(result) == [Status.REFUNDED]
    assert [r.amount for r in harness.refunds()] == [1_500]


async def test_a_file_of_bare_ids_needs_full_refunds_said_outright(harness: Harness) -> None:
    """A recall file with no amount column refunds nothing unless full_refunds is given."""
    oid, _ = harness.order(5000, 5000)
    path = write(harness.tmp / "recall.csv", ["order_id"], [[oid]])
    with pytest.raises(InputFileError, match="full-refunds"):
        await harness.run(path)
    assert harness.refunds() == []
    result = await harness.run(path, full_refunds=True)
    assert statuses(result) == [Status.REFUNDED]
    assert [r.amount for r in harness.refunds()] == [5_000]


async def test_invalid_rows_keep_what_identifies_them_as_typed(harness: Harness) -> None:
    """An invalid row's report line still shows its order id, payment id, reference and
    amount cell as typed, beside the input's other columns, so finance can find and fix it."""
    oid, _ = harness.order(5000, 5000)
    path = write(
        harness.tmp / "r.csv",
        ["order_id", "payment_id", "amount", "reference", "返品日"],
        [[oid, "", "1000", "OK-1", "11/29"], ["order_test_typo!", "payment_x", "1500.5", "BAD-1",
                                               "11/30"]],
    )  # fmt: skip
    result = await harness.run(path)
    assert statuses(result) == [Status.REFUNDED, Status.INVALID]
    bad = report_rows(result.report.csv)[1]
    assert (bad["order_id"], bad["payment_ids"], bad["reference"]) == (
        "order_test_typo!", "payment_x", "BAD-1",
    )  # fmt: skip
    assert (bad["amount"], bad["返品日"]) == ("1500.5", "11/30")
    assert bad["requested_amount"] == ""  # an amount that could not be read is not made up


async def test_intake_notes_reach_the_run_summary(harness: Harness) -> None:
    """Every note validate prints (here: a total line that disagrees with the rows) is in
    summary.json's warnings and the run's summary."""
    a, _ = harness.order(5000, 5000)
    b, _ = harness.order(5000, 5000)
    path = write(
        harness.tmp / "r.csv",
        ["order_id", "amount", "reference"],
        [[a, "1000", "R1"], [b, "2000", "R2"], ["合計", "3500", ""]],
    )
    result = await harness.run(path)
    assert statuses(result) == [Status.REFUNDED] * 2  # the total line is no refund
    warnings = read_json(result.report.summary)["warnings"]
    assert isinstance(warnings, list)
    assert any("¥3,500" in w and "¥3,000" in w for w in warnings)
    assert result.summary.warnings == tuple(warnings)
