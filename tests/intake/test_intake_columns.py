"""Header aliases, forgiving matching, and where the header row is."""

from __future__ import annotations

import pytest

from batch_refunds.errors import ConfigError, InputFileError
from batch_refunds.intake.columns import (
    canonical_name,
    checked_explicit,
    explicit_lookup,
    find_header,
    header_key,
    map_columns,
)


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
        # qualifiers in brackets, full-width or not, are ignored
        ("返金額（税込）", "amount"),
        ("返金額(税込)", "amount"),
        ("返金額 (円)", "amount"),
        ("金額[円]", "amount"),
        ("返金額［円］", "amount"),
        ("返金額【税込】", "amount"),
        ("Refund amount (JPY)", "amount"),
        ("【注文ID】", "order_id"),
        ("注文ID（必須）", "order_id"),
        # more spellings of the amount
        ("返金金額", "amount"),
        ("払戻金額", "amount"),
        ("払戻額", "amount"),
        ("払い戻し金額", "amount"),
        ("返金", "amount"),
        ("refund_amount", "amount"),
        ("amount_jpy", "amount"),
        ("refund_yen", "amount"),
        # and of the other columns
        ("Order No.", "order_id"),
        ("受注番号", "order_id"),
        ("決済番号", "payment_id"),
        ("refund_reason", "reason"),
        ("Refund reason", "reason"),
        ("remarks", "description"),
        ("摘要", "description"),
        ("refund_reference", "reference"),
        ("通貨コード", "currency"),
    ],
)
def test_aliases_name_canonical_columns(header: str, canonical: str) -> None:
    """Every alias in the issue's table maps to its column, whatever the case and separators."""
    assert canonical_name(header) == canonical


@pytest.mark.parametrize(
    "header",
    [
        "customer", "注文", "amount2", "", "metadata", "refund_date", "refund_id", "返品日",
        "返金日",
        "refund",  # a yes/no flag as often as an amount: refused as ambiguous when it holds yen
    ],
)  # fmt: skip
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


def test_headers_differing_only_in_a_qualifier_are_both_the_amount_and_refused() -> None:
    """返金額（税込） and 返金額（税抜） both mean amount: refused, naming --column for each."""
    with pytest.raises(InputFileError) as caught:
        map_columns(["注文ID", "返金額（税込）", "返金額（税抜）"], header_row=1)
    assert caught.value.code == "input.header"
    assert '--column amount="返金額（税込）"' in caught.value.message
    assert '--column amount="返金額（税抜）"' in caught.value.message


def test_header_key_keeps_the_text_of_a_header_that_is_all_brackets() -> None:
    """Stripping qualifiers never leaves a header empty: 【返金額】 is still 返金額."""
    assert header_key("【返金額】") == header_key("返金額") != ""


def test_an_explicit_header_is_taken_and_wins_over_an_alias() -> None:
    """--column amount=HEADER maps that header; another header meaning amount is ignored."""
    columns = map_columns(
        ["注文ID", "金額", "返金額（税込）"],
        header_row=1,
        explicit=checked_explicit({"amount": "返金額（税込）"}),
    )
    assert columns.indices == (("order_id", 0), ("amount", 2))
    assert columns.ignored == ("金額",)
    assert columns.explicit == ("amount",)


@pytest.mark.parametrize(
    ("wanted", "index"),
    [
        ("返金額（税込）", 1),  # exactly as written
        ("返金額(税込)", 1),  # full-width brackets are the same after NFKC
        ("  返金額（税抜）", 2),  # spaces around are ignored
        ("REFUND NOTE", 3),  # case and spacing are ignored
    ],
)
def test_an_explicit_header_is_matched_after_the_same_normalisation(
    wanted: str, index: int
) -> None:
    """The header given to --column is compared as headers are: NFKC, case, spaces."""
    header = ["order_id", "返金額（税込）", "返金額（税抜）", "refund_note"]
    columns = map_columns(header, header_row=1, explicit=checked_explicit({"amount": wanted}))
    assert columns.index("amount") == index


def test_an_explicit_header_naming_two_columns_is_a_file_error() -> None:
    """Without its qualifier, 返金額 would name both 税込 and 税抜: refused, not guessed."""
    with pytest.raises(InputFileError) as caught:
        map_columns(
            ["order_id", "返金額（税込）", "返金額（税抜）"],
            header_row=1,
            explicit=checked_explicit({"amount": "返金額"}),
        )
    assert caught.value.code == "input.column"
    assert '"返金額（税込）", "返金額（税抜）"' in caught.value.message


def test_an_explicit_header_missing_from_the_file_lists_the_headers_it_has() -> None:
    """A --column HEADER the header row lacks is input.column, naming every header."""
    with pytest.raises(InputFileError) as caught:
        map_columns(
            ["注文ID", "金額", "備考"],
            header_row=3,
            explicit=checked_explicit({"amount": "返金額（税込）"}),
        )
    assert caught.value.code == "input.column"
    assert "(row 3)" in caught.value.message
    assert '"注文ID", "金額", "備考"' in caught.value.message


@pytest.mark.parametrize(
    "columns",
    [
        {"amout": "x"},
        {"返金額": "x"},
        {"amount": "  "},
        {"metadata.": "x"},
        {"Amount": "a", "amount": "b"},
    ],
)
def test_a_bad_explicit_column_name_or_header_is_a_config_error(columns: dict[str, str]) -> None:
    """Unknown names, blank headers, an empty metadata key, a name twice: misuse, refused."""
    with pytest.raises(ConfigError):
        checked_explicit(columns)


def test_explicit_names_are_canonical_or_metadata_keys() -> None:
    """Canonical names are case-insensitive; metadata keys keep their case."""
    assert checked_explicit({"Amount": "a", "metadata.Ticket": "t"}) == {
        "amount": "a",
        "metadata.Ticket": "t",
    }


def test_two_explicit_names_for_one_header_are_a_config_error() -> None:
    """One column can't be both the amount and the reference."""
    with pytest.raises(ConfigError):
        map_columns(
            ["order_id", "value"],
            header_row=1,
            explicit=checked_explicit({"amount": "value", "reference": "VALUE"}),
        )


def test_header_detection_counts_explicit_headers_as_known() -> None:
    """A header of headers no alias knows is found when --column names them."""
    rows = [["Returns"], ["受注コード", "返戻額税込"], ["order_test_A1", "100"]]
    assert find_header(rows) is None
    explicit = explicit_lookup(checked_explicit({"order_id": "受注コード", "amount": "返戻額税込"}))
    assert find_header(rows, explicit) == 1


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


def test_an_exact_header_wins_over_one_that_only_normalises_the_same() -> None:
    """ "amount" and "Amount" both exist: --column amount=Amount takes the exact one."""
    columns = map_columns(
        ["order_id", "amount", "Amount"],
        header_row=1,
        explicit=checked_explicit({"amount": "Amount"}),
    )
    assert columns.index("amount") == 2


@pytest.mark.parametrize("header", ["金額（注文合計）", "Amount (before refund)", "返金額(予定)"])
def test_a_qualifier_that_may_change_the_meaning_is_kept(header: str) -> None:
    """Only harmless qualifiers (税込, 円, JPY…) are dropped: a header qualified otherwise
    names no column, so it can't be taken for the refund amount by accident."""
    assert canonical_name(header) is None


@pytest.mark.parametrize(
    "header", ["返金額（税込）", "Refund amount (JPY)", "返金額[円]", "金額【必須】"]
)
def test_harmless_qualifiers_are_dropped(header: str) -> None:
    """Tax, currency and 'required' qualifiers still let the header name the amount."""
    assert canonical_name(header) == "amount"
