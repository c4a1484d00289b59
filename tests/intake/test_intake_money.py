"""Yen parsing at the edge and yen formatting."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batch_refunds.money import MAX_YEN, YenParseError, format_yen, parse_yen

_FULL_WIDTH = str.maketrans("0123456789,", "０１２３４５６７８９，")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1500", 1500),
        (" 1500 ", 1500),
        ("1,500", 1500),
        ("¥1,500", 1500),
        ("￥1,500", 1500),
        ("1,500円", 1500),
        ("１，５００円", 1500),
        ("￥１５００", 1500),
        ("\\1,500", 1500),
        ("1 500", 1500),
        ("1500.0", 1500),
        ("+1500", 1500),
        ("100000000", MAX_YEN),
    ],
)
def test_parse_yen_accepts_the_spellings_people_type(text: str, expected: int) -> None:
    """Yen signs, 円, thousands separators, full-width digits and .0 all parse to whole yen."""
    assert parse_yen(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [(1500, 1500), (1500.0, 1500), (Decimal("1500.00"), 1500)]
)
def test_parse_yen_accepts_whole_excel_numbers(value: int | float | Decimal, expected: int) -> None:
    """Numbers as Excel stores them (floats) are fine when they are whole."""
    assert parse_yen(value) == expected
    assert type(parse_yen(value)) is int


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("1500.5", "not a whole number"),
        (1500.5, "not a whole number"),
        ("0", "more than ¥0"),
        ("-500", "more than ¥0"),
        (-1, "more than ¥0"),
        ("abc", "not an amount"),
        ("1.5e3", "not an amount"),
        ("NaN", "not an amount"),
        (float("nan"), "not an amount"),
        (float("inf"), "not an amount"),
        ("Infinity", "not an amount"),
        ("", "blank"),
        ("¥", "blank"),
        ("100000001", "more than ¥100,000,000"),
        (1e20, "more than ¥100,000,000"),
        (True, "not an amount"),
    ],
)
def test_parse_yen_rejects_with_a_message_naming_the_value(value: object, fragment: str) -> None:
    """Fractions, zero, negatives, text and absurd sizes raise YenParseError (a ValueError)."""
    with pytest.raises(YenParseError) as caught:
        parse_yen(value)  # type: ignore[arg-type]
    assert fragment in caught.value.message
    assert isinstance(caught.value, ValueError)
    assert caught.value.value == value or value != value  # NaN is not equal to itself


@pytest.mark.parametrize(
    ("amount", "text"), [(0, "¥0"), (1500, "¥1,500"), (1_000_000, "¥1,000,000"), (-20, "-¥20")]
)
def test_format_yen(amount: int, text: str) -> None:
    """Yen print with a yen sign and thousands separators."""
    assert format_yen(amount) == text


def _spellings(n: int) -> list[str | int | float]:
    grouped = f"{n:,}"
    return [
        str(n),
        grouped,
        f"¥{grouped}",
        f"￥{grouped}",
        f"{grouped}円",
        f"{grouped}円".translate(_FULL_WIDTH),
        f"¥{n}".translate(_FULL_WIDTH),
        f" {n}.0 ",
        format_yen(n),
        n,
        float(n),
    ]


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=1, max_value=MAX_YEN))
def test_every_accepted_spelling_round_trips(n: int) -> None:
    """Any amount in range, written any accepted way, parses back to the same whole yen."""
    for spelling in _spellings(n):
        assert parse_yen(spelling) == n, spelling


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=20))
def test_arbitrary_text_parses_or_raises_yen_parse_error_only(text: str) -> None:
    """No input text makes parse_yen raise anything but YenParseError, or return a bad amount."""
    try:
        amount = parse_yen(text)
    except YenParseError:
        return
    assert type(amount) is int
    assert 0 < amount <= MAX_YEN


@pytest.mark.parametrize("text", ["1500,00", "12,5", "1,00", "1,5000", "1.500,00", "¥12,34"])
def test_a_comma_that_does_not_separate_thousands_is_refused(text: str) -> None:
    """A decimal comma or a misplaced separator is an error, never a silently bigger amount
    (before, "1500,00" read as ¥150,000)."""
    with pytest.raises(YenParseError, match="does not separate thousands"):
        parse_yen(text)


@pytest.mark.parametrize(
    ("text", "yen"), [("1,500", 1500), ("¥12,345,678", 12_345_678), ("１，５００円", 1500)]
)
def test_thousands_separators_still_read(text: str, yen: int) -> None:
    """Commas grouping thousands, half- or full-width, read as before."""
    assert parse_yen(text) == yen
