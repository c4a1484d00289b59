"""Header aliases, forgiving matching, and where the header row is."""

from __future__ import annotations

import pytest

from batch_refunds.errors import InputFileError
from batch_refunds.intake.columns import canonical_name, find_header, map_columns


@pytest.mark.parametrize(
    ("header", "canonical"),
    [
        ("order_id", "order_id"),
        ("Order ID", "order_id"),
        ("order-id", "order_id"),
        ("ORDERID", "order_id"),
        ("orderId", "order_id"),
        ("order", "order_id"),
        ("注文ID", "order_id"),
        ("注文ＩＤ", "order_id"),
        ("ｏｒｄｅｒ＿ｉｄ", "order_id"),
        ("注文番号", "order_id"),
        ("paymentId", "payment_id"),
        ("決済ID", "payment_id"),
        ("Refund Amount", "amount"),
        ("返金額", "amount"),
        ("金額", "amount"),
        ("通貨", "currency"),
        ("返金理由", "reason"),
        ("理由", "reason"),
        ("備考", "description"),
        ("Memo", "description"),
        ("note", "description"),
        ("説明", "description"),
        ("Merchant Reference", "reference"),
        ("管理番号", "reference"),
        ("参照番号", "reference"),
        ("lineItems", "line_items"),
        ("line items", "line_items"),
        ("\ufefforder_id", "order_id"),
        ("metadata.campaign", "metadata.campaign"),
        ("Metadata.Campaign", "metadata.Campaign"),
    ],
)
def test_aliases_name_canonical_columns(header: str, canonical: str) -> None:
    """Every alias in the issue's table maps to its column, whatever the case and separators."""
    assert canonical_name(header) == canonical


@pytest.mark.parametrize("header", ["customer", "注文", "amount2", "", "metadata"])
def test_unknown_headers_name_nothing(header: str) -> None:
    """Headers that are not aliases are unknown (and later ignored with a warning)."""
    assert canonical_name(header) is None


def test_header_is_first_row_naming_two_known_columns() -> None:
    """Title rows above the header are passed over."""
    rows = [["Refunds November"], ["order list"], [], ["order_id", "amount"], ["x", "1"]]
    assert find_header(rows) == 3


def test_a_lone_id_column_is_a_header_when_nothing_better_exists() -> None:
    """A one-column list of orders (all full refunds) still has a header."""
    assert find_header([["Refunds"], ["order_id"], ["order_test_a"]]) == 1


def test_header_beyond_the_first_twenty_rows_is_not_found() -> None:
    """Only the first 20 rows are searched."""
    rows = [["title"]] * 20 + [["order_id", "amount"]]
    assert find_header(rows) is None


def test_map_columns_records_positions_metadata_and_ignored_headers() -> None:
    """Recognised columns keep their cell index; unknown ones are listed as ignored."""
    columns = map_columns(["", "注文ID", "customer", "返金額", "metadata.ticket"], header_row=3)
    assert columns.indices == (("order_id", 1), ("amount", 3))
    assert columns.metadata == (("ticket", 4),)
    assert columns.ignored == ("customer",)
    assert columns.headers[0] == ("注文ID", "order_id")
    assert columns.width == 5


def test_two_headers_for_one_column_are_a_file_error() -> None:
    """Two columns that both mean amount are ambiguous, so the file is refused."""
    with pytest.raises(InputFileError) as caught:
        map_columns(["order_id", "金額", "返金額"], header_row=1)
    assert caught.value.code == "input.header"
    assert "金額" in caught.value.message
    assert "返金額" in caught.value.message


def test_a_header_without_an_id_column_is_a_file_error() -> None:
    """Without order_id or payment_id nothing can be refunded."""
    with pytest.raises(InputFileError) as caught:
        map_columns(["amount", "reason"], header_row=2)
    assert caught.value.code == "input.no_id_column"
    assert "Row 2" in caught.value.message


def test_more_than_twenty_metadata_columns_is_a_file_error() -> None:
    """Smartpay accepts at most 20 metadata keys per refund."""
    header = ["order_id", *(f"metadata.k{i}" for i in range(21))]
    with pytest.raises(InputFileError) as caught:
        map_columns(header, header_row=1)
    assert caught.value.code == "input.metadata"


def test_a_metadata_key_over_forty_characters_is_a_file_error() -> None:
    """Metadata keys are limited to 40 characters."""
    with pytest.raises(InputFileError) as caught:
        map_columns(["order_id", "metadata." + "k" * 41], header_row=1)
    assert caught.value.code == "input.metadata"
