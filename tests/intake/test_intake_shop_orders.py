"""A column of the shop's own order numbers: its names, and 注文番号 read by its values."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch_refunds.errors import InputFileError
from batch_refunds.intake import load_requests


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "returns.csv"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "header", ["shop_order", "Shop Order ID", "merchant_order_id", "ショップ注文番号", "注文番号",
               "Order Number", "受注番号"],
)  # fmt: skip
def test_a_column_of_shop_numbers_is_read_as_shop_order(tmp_path: Path, header: str) -> None:
    """Its unambiguous names, and 注文番号-like ones whose cells are not Smartpay ids."""
    result = load_requests(_csv(tmp_path, f"{header},amount\nORD-2026-00001,1200\nORD-7,\n"))
    assert dict((name, h) for h, name in result.detected.columns)["shop_order"] == header
    assert [(r.order_id, r.shop_order, r.amount) for r in result.requests] == [
        (None, "ORD-2026-00001", 1200), (None, "ORD-7", None),
    ]  # fmt: skip


def test_a_注文番号_column_of_smartpay_ids_stays_the_order_id(tmp_path: Path) -> None:
    """One Smartpay id among its first cells makes the column the order id, as before (its
    other cells then get the order id's own errors)."""
    result = load_requests(_csv(tmp_path, "注文番号,返金額\norder_test_AAAA1111,1200\nORD-7,500\n"))
    assert ("注文番号", "order_id") in result.detected.columns
    assert [r.order_id for r in result.requests] == ["order_test_AAAA1111"]
    assert [e.code for e in result.errors] == ["input.order_id"]


def test_an_order_id_beside_a_shop_number_column_reads_both(tmp_path: Path) -> None:
    """order_id and 注文番号 (shop numbers) side by side: each row carries both, for the run
    to check one against the other."""
    result = load_requests(
        _csv(tmp_path, "order_id,注文番号,amount\norder_test_AAAA1111,ORD-1,100\n")
    )
    (request,) = result.requests
    assert (request.order_id, request.shop_order) == ("order_test_AAAA1111", "ORD-1")


def test_a_row_without_any_id_or_shop_number_is_invalid(tmp_path: Path) -> None:
    """A blank shop number is no id: the row is invalid, not a request for nothing."""
    result = load_requests(_csv(tmp_path, "shop_order,amount,description\n,100,note\n"))
    assert [e.code for e in result.errors] == ["input.missing_id"]


def test_identical_shop_number_rows_are_duplicates(tmp_path: Path) -> None:
    """Two identical shop-number rows would refund twice: refused as for order ids."""
    result = load_requests(_csv(tmp_path, "shop_order,amount\nORD-1,100\nORD-1,100\nORD-2,100\n"))
    assert [e.code for e in result.errors] == ["input.duplicate"]
    assert [r.shop_order for r in result.requests] == ["ORD-1", "ORD-2"]


def test_two_shop_number_columns_are_refused(tmp_path: Path) -> None:
    """shop_order and a 注文番号 of shop numbers both mean shop_order: say which one."""
    with pytest.raises(InputFileError, match="both mean shop_order"):
        load_requests(_csv(tmp_path, "shop_order,注文番号,amount\nORD-1,ORD-1,100\n"))


def test_column_can_name_the_shop_number_column(tmp_path: Path) -> None:
    """``--column shop_order=HEADER`` picks a header no alias knows."""
    result = load_requests(
        _csv(tmp_path, "伝票,amount\nORD-1,100\n"), columns={"shop_order": "伝票"}
    )
    assert [r.shop_order for r in result.requests] == ["ORD-1"]
