"""Yen amounts at the edge: parse what people type into whole yen, and print yen back.

Pure: no I/O, no third-party imports. Parsing goes through ``Decimal`` so that ``1500.0``
is exact and ``1500.5`` is caught rather than rounded.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

from batch_refunds.models import Yen

MAX_YEN: Yen = 100_000_000
"""Anything above this is far more likely a typo (an extra zero, a pasted id) than a refund."""

# After NFKC, full-width ￥ ， and digits have become ¥ , and ASCII digits. The backslash is
# there because CP932 decodes the byte Japanese keyboards type as ¥ (0x5C) to a backslash.
_DECORATION = str.maketrans("", "", "¥\\円, \t\u3000")
_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
_GROUPED = re.compile(r"[+-]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?")
_NOT_COMMAS = str.maketrans("", "", "¥\\円 \t\u3000")


class YenParseError(ValueError):
    """A cell that is not a whole, positive, plausible number of yen."""

    def __init__(self, value: object, message: str) -> None:
        super().__init__(message)
        self.value = value
        self.message = message


def parse_yen(value: str | int | float | Decimal) -> Yen:
    """Return whole yen from ``"1500"``, ``"¥1,500"``, ``"１，５００円"``, ``1500.0`` and friends.

    Raises ``YenParseError`` for blanks, fractions, zero, negatives, text and sums over
    ``MAX_YEN``. A blank cell meaning "refund all that remains" is the caller's business.
    """
    if isinstance(value, bool):  # bool is an int subclass; TRUE in an amount cell is a mistake
        raise YenParseError(value, f"{value!r} is not an amount in yen")
    if isinstance(value, str):
        if "," in value or "，" in value:
            _check_grouping(value)
        # The common spellings ("1500", "1,500", "¥1,500") are kept cheap for big files.
        quick = value.translate(_DECORATION)
        if quick.isdigit() and quick.isascii():
            return _checked(int(quick), value)
        amount = _parse_text(value)
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float | Decimal):
        amount = Decimal(value)  # exact: Decimal(1500.0) == 1500, Decimal(0.1) is not whole
        if not amount.is_finite():
            raise YenParseError(value, f"{value!r} is not an amount in yen")
    else:
        raise YenParseError(value, f"{value!r} is not an amount in yen")
    if amount != amount.to_integral_value():
        raise YenParseError(value, f"{_show(value)} is not a whole number of yen (yen has no sen)")
    return _checked(int(amount), value)


def _check_grouping(text: str) -> None:
    """A comma may only separate thousands: ``1,500`` is ¥1,500, but ``1500,00`` (a decimal
    comma) or ``12,5`` would silently become ¥150,000 or ¥125."""
    bare = unicodedata.normalize("NFKC", text).translate(_NOT_COMMAS)
    if not _GROUPED.fullmatch(bare):
        raise YenParseError(
            text,
            f"{_show(text)}: a comma here does not separate thousands (1,500); write the "
            "amount in whole yen without a decimal comma",
        )


def _parse_text(text: str) -> Decimal:
    cleaned = unicodedata.normalize("NFKC", text).translate(_DECORATION)
    if not cleaned:
        raise YenParseError(text, "the amount is blank")
    if not _NUMBER.fullmatch(cleaned):
        raise YenParseError(text, f"{_show(text)} is not an amount in yen")
    try:
        return Decimal(cleaned)
    except InvalidOperation:  # unreachable after the regex, kept as a guard
        raise YenParseError(text, f"{_show(text)} is not an amount in yen") from None


def _checked(amount: int, original: object) -> Yen:
    if amount <= 0:
        raise YenParseError(original, f"{_show(original)} must be more than ¥0")
    if amount > MAX_YEN:
        raise YenParseError(
            original, f"{_show(original)} is more than {format_yen(MAX_YEN)}; check for a typo"
        )
    return amount


def _show(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f'"{text}"'


def format_yen(amount: Yen) -> str:
    """``1500`` → ``"¥1,500"``; negatives as ``"-¥1,500"``."""
    sign = "-" if amount < 0 else ""
    return f"{sign}¥{abs(amount):,}"
