"""Columns that may hold the refund amount without being used as it.

A row without an amount refunds everything that remains on its order. So a file whose
amount column went unrecognised (a header the aliases don't cover) would silently turn
every row into a full refund. Before any row is read, the ignored columns are checked
against the rules below; a suspect stops the file unless the person has said which column
holds the amount (``--column amount=…``), and then it is only noted.

An ignored column is *amount-like* when, with its header NFKC-normalised and casefolded:

1. the header mentions 金額, 額, amount, yen, 円, JPY, ¥, price, 価格 or 代金; or
2. the header mentions refund, 返金, 払戻 or 払い戻, does not name an id, date, time, count
   or reason (below), and at least half of its non-blank cells in the first 200 rows read
   as yen; or
3. no column is the amount, the header does not name an id, date, time, count or reason,
   and every one of its non-blank cells in the first 200 rows (at least one) reads as yen.

"Names an id, date, …" means a word of the header (split at non-letters and camelCase) is
one of ``NOT_MONEY_WORDS`` or the header contains one of ``NOT_MONEY_PARTS``
(``refund_id``, ``refundDate``, ``返金日``, ``返品日``, ``返金番号``, ``数量``).
"Reads as yen" is exactly what an amount cell accepts (``money.parse_yen``): dates such as
``2026-11-01``, ids such as ``RF-1001`` and ``order_test_…``, and 0 do not.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from batch_refunds.errors import InputFileError
from batch_refunds.intake.cells import cell_text, parse_amount
from batch_refunds.intake.columns import ColumnMap, normalise_header
from batch_refunds.money import YenParseError

SAMPLE_ROWS = 200
AMOUNT_WORDS = ("金額", "額", "amount", "yen", "円", "jpy", "¥", "price", "価格", "代金")
REFUND_WORDS = ("refund", "返金", "払戻", "払い戻")
NOT_MONEY_WORDS = frozenset(
    {
        "id", "ids", "no", "nr", "number", "num", "code", "key", "ref",
        "date", "day", "time", "timestamp", "at", "on", "year", "month",
        "count", "qty", "quantity", "status", "type", "reason", "flag",
    }
)  # fmt: skip
NOT_MONEY_PARTS = ("番号", "日", "時", "コード", "数", "年", "月", "理由", "状態", "区分")

_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True, slots=True)
class Suspect:
    """An ignored column that may be the amount, and why it looks like one."""

    header: str
    why: str
    """A clause for a message: "its header mentions 額", "…12 of its 12 filled cells…"."""


@dataclass(frozen=True, slots=True)
class _Cells:
    filled: int
    yen: int
    example: str | None


def find_suspects(
    columns: ColumnMap, sample: Sequence[Sequence[object]], *, amount_mapped: bool
) -> list[Suspect]:
    """The amount-like ignored columns, in sheet order (rules in the module docstring)."""
    found: list[Suspect] = []
    for header, index in zip(columns.ignored, columns.ignored_at, strict=True):
        text = normalise_header(header)
        word = next((w for w in AMOUNT_WORDS if w in text), None)
        if word is not None:
            found.append(Suspect(header, f"its header mentions {_shown_word(header, word)}"))
            continue
        if names_no_money(header):
            continue
        cells = _look(sample, index)
        refund = next((w for w in REFUND_WORDS if w in text), None)
        if refund is not None and cells.filled and cells.yen * 2 >= cells.filled:
            found.append(
                Suspect(
                    header,
                    f"its header mentions {_shown_word(header, refund)} and {_yen_clause(cells)}",
                )
            )
        elif not amount_mapped and cells.filled and cells.yen == cells.filled:
            found.append(Suspect(header, _yen_clause(cells)))
    return found


def likely_amounts(columns: ColumnMap, sample: Sequence[Sequence[object]]) -> list[str]:
    """Ignored columns with some cells that read as yen, most such cells first."""
    scored: list[tuple[float, int, str]] = []
    for header, index in zip(columns.ignored, columns.ignored_at, strict=True):
        if names_no_money(header):
            continue
        cells = _look(sample, index)
        if cells.yen:
            scored.append((-cells.yen / cells.filled, len(scored), header))
    return [header for *_, header in sorted(scored)]


def names_no_money(header: str) -> bool:
    """True when the header names an id, a date or time, a count, a status or a reason."""
    nfkc = unicodedata.normalize("NFKC", header)
    words = set(_WORD.findall(_CAMEL.sub(" ", nfkc).casefold()))
    return bool(words & NOT_MONEY_WORDS) or any(part in nfkc for part in NOT_MONEY_PARTS)


def ambiguous_error(
    suspects: Sequence[Suspect], amount_header: str | None, *, full_refunds: bool
) -> InputFileError:
    """The refusal when amount-like columns are ignored and nobody said which is the amount."""
    named = _listed([f'"{s.header}" ({s.why})' for s in suspects])
    options = [f'--column amount="{s.header}"' for s in suspects]
    if amount_header is not None:
        they = "it" if len(suspects) == 1 else "they"
        message = (
            f"{'The column' if len(suspects) == 1 else 'The columns'} {named} "
            f"{'is' if len(suspects) == 1 else 'are'} not used, but {they} may hold the refund "
            f'amount, which was taken from "{amount_header}". Nothing is refunded until you '
            "say which column holds the amount: "
            + _listed([f'--column amount="{amount_header}"', *options], "or")
            + "."
        )
    else:
        message = (
            f"No column is named as the refund amount, but {named} may hold it, and a row "
            "without an amount refunds everything that remains on its order. If "
            f"{'it holds' if len(suspects) == 1 else 'one of them holds'} the amounts, pass "
            + _listed(options, "or")
            + "."
        )
        if full_refunds:
            message += (
                " --full-refunds does not settle this, because the file itself looks as if "
                "it has amounts; if every row really is a full refund, delete "
                f"{'that column' if len(suspects) == 1 else 'those columns'} from the file."
            )
        else:
            message += (
                f" If not, delete {'that column' if len(suspects) == 1 else 'those columns'} "
                "from the file."
            )
    return InputFileError(message, code="input.ambiguous_amount")


def no_amount_error(columns: ColumnMap, likely: Sequence[str]) -> InputFileError:
    """The refusal of a file with no amount column when full refunds were not asked for."""
    if likely:
        hint = " (the likeliest: " + _listed(_quoted(likely[:3]), "or") + ")"
    else:
        hint = " (the header has " + _listed(_quoted(h for h in columns.header_cells if h)) + ")"
    return InputFileError(
        "No column holds the refund amount, and a row without an amount refunds everything "
        "that remains on its order. If the file has the amounts, name their column: "
        f'--column amount="<header>"{hint}. If every row really means "refund everything '
        'that remains", pass --full-refunds.',
        code="input.no_amount_column",
    )


def explicit_note(suspects: Sequence[Suspect], amount_header: str) -> str:
    """The note when the amount column was named and other columns look like amounts too."""
    named = _listed([f'"{s.header}" ({s.why})' for s in suspects])
    verb = "looks" if len(suspects) == 1 else "look"
    return (
        f"{'The column' if len(suspects) == 1 else 'The columns'} {named} also {verb} like "
        f'an amount; as asked (--column amount), amounts come from "{amount_header}" only.'
    )


def _look(sample: Sequence[Sequence[object]], index: int) -> _Cells:
    filled = yen = 0
    example = None
    for row in sample:
        if index >= len(row):
            continue
        cell = row[index]
        if cell is None or (isinstance(cell, str) and not cell.strip()):
            continue
        filled += 1
        if isinstance(cell, str | int | float) and not isinstance(cell, bool):
            try:
                parse_amount(cell.strip() if isinstance(cell, str) else cell)
            except YenParseError:
                continue
            yen += 1
            if example is None:
                example = cell_text(cell)
    return _Cells(filled, yen, example)


def _yen_clause(cells: _Cells) -> str:
    """``all 12 of its filled cells in the first 200 rows read as yen, such as "3,500"``."""
    if cells.yen == cells.filled:
        count = (
            "its one filled cell in the first {rows} rows reads"
            if cells.filled == 1
            else f"all {cells.filled} of its filled cells in the first {{rows}} rows read"
        )
    else:
        count = f"{cells.yen} of its {cells.filled} filled cells in the first {{rows}} rows read"
    example = f', such as "{cells.example}"' if cells.example else ""
    return count.format(rows=SAMPLE_ROWS) + " as yen" + example


def _shown_word(header: str, word: str) -> str:
    """The word as the header writes it (``Amount``, not ``amount``) where that is easy."""
    nfkc = unicodedata.normalize("NFKC", header)
    at = nfkc.casefold().find(word)
    return nfkc[at : at + len(word)] if at >= 0 else word


def _quoted(texts: Iterable[str]) -> list[str]:
    return [f'"{text}"' for text in texts]


def _listed(items: Sequence[str], conjunction: str = "and") -> str:
    if len(items) <= 2:
        return f" {conjunction} ".join(items)
    return ", ".join(items[:-1]) + f" {conjunction} " + items[-1]
