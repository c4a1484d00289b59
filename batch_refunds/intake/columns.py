"""Header cells → canonical columns: aliases, forgiving matching, and header-row detection.

Matching is case-, space-, hyphen- and underscore-insensitive after NFKC, so ``Order ID``,
``order-id``, ``ＯｒｄｅｒＩＤ`` and ``注文ＩＤ`` all name ``order_id``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from batch_refunds.errors import InputFileError

ORDER_ID = "order_id"
PAYMENT_ID = "payment_id"
AMOUNT = "amount"
CURRENCY = "currency"
REASON = "reason"
DESCRIPTION = "description"
REFERENCE = "reference"
LINE_ITEMS = "line_items"

CANONICAL: tuple[str, ...] = (
    ORDER_ID,
    PAYMENT_ID,
    AMOUNT,
    CURRENCY,
    REASON,
    DESCRIPTION,
    REFERENCE,
    LINE_ITEMS,
)
ID_COLUMNS = frozenset({ORDER_ID, PAYMENT_ID})

METADATA_PREFIX = "metadata."
MAX_METADATA_KEYS = 20
MAX_METADATA_KEY_LENGTH = 40

HEADER_SEARCH_ROWS = 20
"""Finance exports put a title block above the header; look this far down for it."""

_ALIASES: dict[str, tuple[str, ...]] = {
    ORDER_ID: ("orderId", "order", "order id", "注文ID", "注文番号"),
    PAYMENT_ID: ("paymentId", "payment", "決済ID"),
    AMOUNT: ("refund_amount", "返金額", "金額"),
    CURRENCY: ("通貨",),
    REASON: ("返金理由", "理由"),
    DESCRIPTION: ("説明", "備考", "memo", "note"),
    REFERENCE: ("merchant_reference", "参照番号", "管理番号"),
    LINE_ITEMS: ("lineItems",),
}

_SQUEEZE = str.maketrans("", "", " \t\u3000-_\ufeff")


def normalise_header(text: str) -> str:
    """The form headers are compared in: NFKC, casefolded, without spaces, ``-`` and ``_``."""
    return unicodedata.normalize("NFKC", text).casefold().translate(_SQUEEZE)


_LOOKUP: dict[str, str] = {
    normalise_header(name): canonical
    for canonical, aliases in _ALIASES.items()
    for name in (canonical, *aliases)
}


def canonical_name(header: str) -> str | None:
    """The canonical column a header cell names, ``metadata.<key>`` as is, or ``None``."""
    key = metadata_key(header)
    if key is not None:
        return METADATA_PREFIX + key
    return _LOOKUP.get(normalise_header(header))


def metadata_key(header: str) -> str | None:
    """``"metadata.campaign"`` → ``"campaign"``; ``None`` for any other header."""
    text = unicodedata.normalize("NFKC", header).strip().lstrip("\ufeff")
    if text[: len(METADATA_PREFIX)].casefold() != METADATA_PREFIX:
        return None
    return text[len(METADATA_PREFIX) :].strip()


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """Where each canonical column sits in a row (0-based), and what was ignored."""

    indices: tuple[tuple[str, int], ...]
    """(canonical name, cell index) for each recognised column, in sheet order."""
    headers: tuple[tuple[str, str], ...]
    """(header text as written, canonical name) for each recognised column."""
    metadata: tuple[tuple[str, int], ...]
    """(metadata key, cell index) for each ``metadata.<key>`` column."""
    ignored: tuple[str, ...]
    """Header cells that name no known column (blank headers are left out)."""
    width: int
    """How many cells the header row has, blank trailing ones excluded."""

    def index(self, canonical: str) -> int | None:
        for name, i in self.indices:
            if name == canonical:
                return i
        return None


def _cell_text(cell: object) -> str:
    if isinstance(cell, str):
        return cell.strip()
    return "" if cell is None else str(cell)


def count_known(cells: Sequence[object]) -> tuple[int, bool]:
    """How many cells name a known column, and whether one of them is an id column."""
    known = 0
    has_id = False
    for cell in cells:
        name = canonical_name(_cell_text(cell))
        if name:
            known += 1
            has_id = has_id or name in ID_COLUMNS
    return known, has_id


def find_header(rows: Sequence[Sequence[object]]) -> int | None:
    """Index of the header among the first rows: the first naming two known columns.

    A file with a single id column and nothing else is a valid (if terse) request for full
    refunds, so failing the two-column rule the first row naming an id column is taken.
    """
    scores = [count_known(row) for row in rows[:HEADER_SEARCH_ROWS]]
    for i, (known, _) in enumerate(scores):
        if known >= 2:
            return i
    for i, (_, has_id) in enumerate(scores):
        if has_id:
            return i
    return None


def map_columns(header: Sequence[object], *, header_row: int) -> ColumnMap:
    """Build the ``ColumnMap`` for a header row; file-level problems raise ``InputFileError``."""
    indices: list[tuple[str, int]] = []
    headers: list[tuple[str, str]] = []
    metadata: list[tuple[str, int]] = []
    ignored: list[str] = []
    seen: dict[str, str] = {}
    width = 0
    for i, cell in enumerate(header):
        text = _cell_text(cell).lstrip("\ufeff")
        if not text:
            continue
        width = i + 1
        name = canonical_name(text)
        if name is None:
            ignored.append(text)
            continue
        if name in seen:
            raise InputFileError(
                f'Row {header_row}: the columns "{seen[name]}" and "{text}" both mean {name}; '
                "keep only one of them.",
                code="input.header",
            )
        seen[name] = text
        headers.append((text, name))
        if name.startswith(METADATA_PREFIX):
            metadata.append((_checked_metadata_key(name, text, header_row), i))
        else:
            indices.append((name, i))
    if not ID_COLUMNS & seen.keys():
        raise InputFileError(
            f"Row {header_row} is the header, but no column holds the order or payment id "
            '(name one "order_id" or "payment_id").',
            code="input.no_id_column",
        )
    if len(metadata) > MAX_METADATA_KEYS:
        raise InputFileError(
            f"{len(metadata)} metadata.<key> columns; Smartpay accepts at most "
            f"{MAX_METADATA_KEYS} metadata keys per refund.",
            code="input.metadata",
        )
    return ColumnMap(tuple(indices), tuple(headers), tuple(metadata), tuple(ignored), width)


def _checked_metadata_key(name: str, text: str, header_row: int) -> str:
    key = name[len(METADATA_PREFIX) :]
    if not key or len(key) > MAX_METADATA_KEY_LENGTH:
        raise InputFileError(
            f'Row {header_row}: the column "{text}" needs a metadata key of 1 to '
            f'{MAX_METADATA_KEY_LENGTH} characters after "{METADATA_PREFIX}".',
            code="input.metadata",
        )
    return key
