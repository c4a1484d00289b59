"""A file that leaves the refund amount in doubt is refused, never read as "refund all"."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch_refunds.errors import ConfigError, InputFileError
from batch_refunds.intake import load_requests

from .conftest import WriteFile

INCIDENT = (
    "注文ID,返金額（税込）,返金理由,備考\r\n"
    'order_test_A1,"1,500",顧客都合,サイズ交換\r\n'
    "order_test_A2,2000,,\r\n"
)


@pytest.mark.parametrize("encoding", ["cp932", "utf-8", "utf-8-sig"])
def test_the_incident_file_loads_its_amounts(write_file: WriteFile, encoding: str) -> None:
    """A CSV headed 返金額（税込） refunds the amounts written, not everything that remains."""
    result = load_requests(write_file("returns.csv", INCIDENT, encoding))
    assert [(r.order_id, r.amount) for r in result.requests] == [
        ("order_test_A1", 1500),
        ("order_test_A2", 2000),
    ]
    assert result.full_refund_count == 0
    assert ("返金額（税込）", "amount") in result.detected.columns


def test_a_file_without_an_amount_column_is_refused(write_file: WriteFile) -> None:
    """No amount column: input.no_amount_column, naming both ways out and the headers."""
    path = write_file("ids.csv", "order_id,備考\norder_test_A1,recall\n")
    with pytest.raises(InputFileError) as caught:
        load_requests(path)
    message = caught.value.message
    assert caught.value.code == "input.no_amount_column"
    assert '--column amount="<header>"' in message
    assert "--full-refunds" in message
    assert '(the header has "order_id" and "備考")' in message


def test_the_refusal_names_the_likeliest_amount_columns(write_file: WriteFile) -> None:
    """Columns with cells that read as yen are named first, the most yen-like first."""
    path = write_file(
        "ids.csv",
        "order_id,Betrag,Kommentar,Wert\n"
        "order_test_A1,1500,x,abc\norder_test_A2,2000,y,2500\norder_test_A3,zero,z,n/a\n",
    )
    with pytest.raises(InputFileError) as caught:
        load_requests(path)
    assert caught.value.code == "input.no_amount_column"
    assert '(the likeliest: "Betrag" or "Wert")' in caught.value.message


def test_full_refunds_loads_a_file_of_bare_order_ids(write_file: WriteFile) -> None:
    """--full-refunds: every row is a full refund, and a note says so."""
    path = write_file("recall.csv", "order_id\norder_test_A1\norder_test_A2\n")
    result = load_requests(path, full_refunds=True)
    assert [(r.order_id, r.amount) for r in result.requests] == [
        ("order_test_A1", None),
        ("order_test_A2", None),
    ]
    assert any(
        "--full-refunds" in w and "every row refunds everything" in w for w in result.warnings
    )


def test_full_refunds_beside_an_amount_column_is_a_config_error(write_file: WriteFile) -> None:
    """--full-refunds contradicts a file that has amounts: refused, naming the column."""
    path = write_file("a.csv", "order_id,返金額\norder_test_A1,1500\n")
    with pytest.raises(ConfigError, match="返金額"):
        load_requests(path, full_refunds=True)


def test_full_refunds_with_an_explicit_amount_column_is_a_config_error(
    write_file: WriteFile,
) -> None:
    """--full-refunds and --column amount=… can't both hold."""
    path = write_file("a.csv", "order_id,value\norder_test_A1,1500\n")
    with pytest.raises(ConfigError, match="--column amount"):
        load_requests(path, full_refunds=True, columns={"amount": "value"})


def test_an_explicit_amount_column_is_used(write_file: WriteFile) -> None:
    """columns={"amount": HEADER} takes the amounts from that column, shown as explicit."""
    path = write_file("a.csv", "受注コード,返戻額 税込\norder_test_A1,1500\n")
    result = load_requests(path, columns={"order_id": "受注コード", "amount": "返戻額 税込"})
    assert [(r.order_id, r.amount) for r in result.requests] == [("order_test_A1", 1500)]
    assert result.detected.explicit_columns == ("order_id", "amount")


def test_an_explicit_header_missing_from_the_file_is_input_column(write_file: WriteFile) -> None:
    """A --column HEADER the file lacks is refused listing the file's headers."""
    path = write_file("a.csv", "order_id,金額\norder_test_A1,1500\n")
    with pytest.raises(InputFileError) as caught:
        load_requests(path, columns={"amount": "返金額（税込）"})
    assert caught.value.code == "input.column"
    assert '"order_id", "金額"' in caught.value.message


def test_an_unknown_explicit_column_name_is_a_config_error(write_file: WriteFile) -> None:
    """columns={"amout": …}: a misspelt name is misuse, not a file problem."""
    path = write_file("a.csv", "order_id,金額\norder_test_A1,1500\n")
    with pytest.raises(ConfigError, match="amout"):
        load_requests(path, columns={"amout": "金額"})


@pytest.mark.parametrize(
    ("header", "cells", "why"),
    [
        ("返金額 税込", ("1500", "2000"), "its header mentions 金額"),  # rule 1
        ("Price", ("abc", ""), "its header mentions Price"),  # rule 1: header alone
        ("Value (JPY)", ("1500", "2000"), "its header mentions JPY"),  # rule 1, in brackets
        ("refund value", ("1500", "n/a"), "its header mentions refund and 1 of its 2"),  # rule 2
        ("払戻", ("¥1,500", "2000円"), "its header mentions 払戻 and all 2"),  # rule 2
        ("Betrag", ("1500", "2,000"), "all 2 of its filled cells"),  # rule 3: no amount column
    ],
)
def test_an_ignored_amount_like_column_without_an_amount_column_is_refused(
    write_file: WriteFile, header: str, cells: tuple[str, str], why: str
) -> None:
    """Any of the three rules makes the file unusable: input.ambiguous_amount, with the fix."""
    path = write_file(
        "a.csv",
        f'order_id,"{header}"\norder_test_A1,"{cells[0]}"\norder_test_A2,"{cells[1]}"\n',
    )
    with pytest.raises(InputFileError) as caught:
        load_requests(path)
    assert caught.value.code == "input.ambiguous_amount"
    assert f'--column amount="{header}"' in caught.value.message
    assert why in caught.value.message


def test_an_amount_like_column_beside_the_amount_column_is_refused(write_file: WriteFile) -> None:
    """An amount column was found, but another column looks like one: say which."""
    path = write_file(
        "a.csv", "order_id,金額,refund value\norder_test_A1,9800,1500\norder_test_A2,4400,2000\n"
    )
    with pytest.raises(InputFileError) as caught:
        load_requests(path)
    message = caught.value.message
    assert caught.value.code == "input.ambiguous_amount"
    assert 'taken from "金額"' in message
    assert '--column amount="金額" or --column amount="refund value"' in message
    assert 'such as "1500"' in message


def test_rule_three_applies_only_when_no_column_is_the_amount(write_file: WriteFile) -> None:
    """A numeric column with no amount-like header is fine when the amount column exists."""
    path = write_file("a.csv", "order_id,amount,Kunde\norder_test_A1,1500,4711\n")
    result = load_requests(path)
    assert result.requests[0].amount == 1500
    assert result.warnings == ('The column "Kunde" is not used for refunds.',)


def test_a_refund_column_mostly_not_yen_is_no_suspect(write_file: WriteFile) -> None:
    """Rule 2 needs at least half of the filled cells to read as yen."""
    path = write_file(
        "a.csv",
        "order_id,amount,refund state\n"
        "order_test_A1,1500,done\norder_test_A2,100,pending\norder_test_A3,200,1\n",
    )
    assert len(load_requests(path).requests) == 3


def test_full_refunds_does_not_overrule_an_amount_like_column(write_file: WriteFile) -> None:
    """With --full-refunds, a column that looks like the amount is still refused."""
    path = write_file("a.csv", "order_id,返金額 税込\norder_test_A1,1500\n")
    with pytest.raises(InputFileError) as caught:
        load_requests(path, full_refunds=True)
    assert caught.value.code == "input.ambiguous_amount"
    assert "--full-refunds does not settle this" in caught.value.message


def test_an_explicit_amount_turns_other_amount_like_columns_into_a_note(
    write_file: WriteFile,
) -> None:
    """When the person named the amount column, other amount-like columns are only noted."""
    path = write_file(
        "a.csv",
        "注文ID,返金額（税込）,返金額（税抜）,price\norder_test_A1,1650,1500,3000\n",
    )
    result = load_requests(path, columns={"amount": "返金額（税込）"})
    assert result.requests[0].amount == 1650
    [note] = [w for w in result.warnings if "also look like an amount" in w]
    assert '"返金額（税抜）"' in note
    assert '"price"' in note
    assert 'amounts come from "返金額（税込）" only' in note


@pytest.mark.parametrize(
    "header",
    [
        "refund_date",
        "refundDate",
        "refund_id",
        "RefundID",
        "返品日",
        "返金日",
        "返金番号",
        "refund_count",
        "数量",
        "refunded_at",
    ],
)
def test_dates_ids_and_counts_are_no_false_alarm(write_file: WriteFile, header: str) -> None:
    """Columns naming a date, an id or a count never count as the amount, even numeric ones."""
    path = write_file(
        "a.csv",
        f"order_id,amount,{header}\norder_test_A1,1500,20261101\norder_test_A2,200,10024\n",
    )
    result = load_requests(path)
    assert [r.amount for r in result.requests] == [1500, 200]
    path = write_file("b.csv", f"order_id,{header}\norder_test_A1,20261101\n")
    assert load_requests(path, full_refunds=True).requests[0].amount is None


def test_ordinary_refund_columns_are_no_false_alarm(write_file: WriteFile) -> None:
    """refund_reason, refund_date, refund_id, 返金理由 and 返品日 leave a file usable."""
    path = write_file(
        "a.csv",
        "order_id,amount,refund_reason,refund_date,refund_id,返品日\n"
        "order_test_A1,1500,fraudulent,2026-11-01,refund_test_X1,2026/11/01\n"
        "order_test_A2,,顧客都合,2026-11-02,RF-1002,2026/11/02\n",
    )
    result = load_requests(path)
    assert [(r.amount, r.reason) for r in result.requests] == [
        (1500, "fraudulent"),
        (None, "requested_by_customer"),
    ]
    assert result.warnings == (
        'The columns "refund_date", "refund_id" and "返品日" are not used for refunds.',
    )


def test_only_the_first_two_hundred_rows_are_looked_at(write_file: WriteFile) -> None:
    """Rule 3 reads the first 200 rows: a yen cell further down does not count."""
    rows = "".join(f"order_test_A{i},\n" for i in range(200)) + "order_test_B1,1500\n"
    path = write_file("a.csv", "order_id,Kommentar\n" + rows)
    assert len(load_requests(path, full_refunds=True).requests) == 201
    path = write_file("b.csv", "order_id,Kommentar\norder_test_B1,1500\n" + rows)
    with pytest.raises(InputFileError):
        load_requests(path, full_refunds=True)


@pytest.mark.parametrize("header", [["order_id", "amount", "total"], ["注文ID", "返金額", "税込"]])
def test_a_blank_amount_column_beside_yen_values_is_refused(
    tmp_path: Path, header: list[str]
) -> None:
    """An amount column blank on every row, beside a column of yen, is no amount column:
    the file is refused instead of every row refunding everything."""
    path = tmp_path / "r.csv"
    path.write_text(
        ",".join(header) + "\norder_test_X1,,500\norder_test_X2,,700\n", encoding="utf-8"
    )
    with pytest.raises(InputFileError) as caught:
        load_requests(path)
    assert caught.value.code == "input.ambiguous_amount"
    assert header[2] in caught.value.message


def test_rows_sharing_a_reference_with_other_amounts_are_noted(tmp_path: Path) -> None:
    """A corrected line left beside the old one (same order and reference, other amount)
    gets a note with the total the two will refund together."""
    path = tmp_path / "r.csv"
    path.write_text(
        "order_id,amount,reference\norder_test_A1,1000,HR-T2\norder_test_A1,1200,HR-T2\n"
        "order_test_B1,500,R-9\norder_test_B1,500,R-8\n",
        encoding="utf-8",
    )
    notes = load_requests(path).warnings
    assert any("Rows 2, 3" in n and "¥2,200 under HR-T2" in n for n in notes)
    assert not any("R-9" in n or "R-8" in n for n in notes)


@pytest.mark.parametrize("allow_duplicate_rows", [False, True])
def test_shared_reference_notes_keep_file_order_and_count_the_rest(
    tmp_path: Path, allow_duplicate_rows: bool
) -> None:
    """Groups are noted in the order their first row appears, three at most and then a count;
    rows of other orders under the same reference are not grouped with them, and a blank
    amount makes the total "everything that remains". The same whether or not duplicates
    are looked for (the groups then come from the duplicate check's index of ids)."""
    lines = ["order_id,amount,reference"]
    # Reference R-1 is shared by orders A and B; only A's two rows differ in amount.
    lines += ["order_test_B1,700,R-1", "order_test_A1,100,R-1", "order_test_C1,300,R-5"]
    # R-4's second row comes before R-5's: the notes still follow the first rows.
    lines += ["order_test_A1,200,R-1", "order_test_D1,,R-4", "order_test_D1,50,R-4"]
    lines += ["order_test_C1,400,R-5", "order_test_E1,1,R-6", "order_test_E1,2,R-6"]
    lines += ["order_test_F1,1,R-7", "order_test_F1,1,R-7x"]
    lines += ["order_test_G1,5,", "order_test_G1,6,"]  # no reference: nothing shared
    path = tmp_path / "r.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = load_requests(path, allow_duplicate_rows=allow_duplicate_rows)
    notes = [n for n in result.warnings if "share the order" in n or "more ref" in n]
    assert notes == [
        "Rows 3, 5 share the order and the reference R-1 with different amounts: they are "
        "refunded together (¥300 under R-1). If one corrects another, keep only the "
        "corrected line.",
        "Rows 4, 8 share the order and the reference R-5 with different amounts: they are "
        "refunded together (¥700 under R-5). If one corrects another, keep only the "
        "corrected line.",
        "Rows 6, 7 share the order and the reference R-4 with different amounts: they are "
        "refunded together (everything that remains under R-4). If one corrects another, "
        "keep only the corrected line.",
        "1 more references are shared by rows of one order with different amounts.",
    ]
