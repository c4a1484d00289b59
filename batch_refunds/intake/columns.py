"""Header cells → canonical columns: aliases, forgiving matching, and header-row detection.

Matching is case-, space-, hyphen-, underscore- and dot-insensitive after NFKC, and ignores
qualifiers in brackets, so ``Order ID``, ``order-id``, ``ＯｒｄｅｒＩＤ`` and ``注文ＩＤ`` all name
``order_id`` and ``返金額（税込）``, ``Refund amount (JPY)`` and ``返金額[円]`` all name ``amount``.
A person can also name a column's header outright (``--column amount="返金額（税込）"``); such
explicit choices win over aliases.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from batch_refunds.errors import ConfigError, InputFileError
from batch_refunds.intake.limits import MAX_CELL_CHARS, MAX_COLUMNS
from batch_refunds.text import describe, first_unsafe

ORDER_ID = "order_id"
PAYMENT_ID = "payment_id"
AMOUNT = "amount"
CURRENCY = "currency"
REASON = "reason"
DESCRIPTION = "description"
REFERENCE = "reference"
LINE_ITEMS = "line_items"
SHOP_ORDER = "shop_order"

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
NAMEABLE: tuple[str, ...] = (*CANONICAL, SHOP_ORDER)
"""Every column ``--column`` may name (the template writes only ``CANONICAL``)."""
ID_COLUMNS = frozenset({ORDER_ID, PAYMENT_ID, SHOP_ORDER})

METADATA_PREFIX = "metadata."
MAX_METADATA_KEYS = 20
MAX_METADATA_KEY_LENGTH = 40

HEADER_SEARCH_ROWS = 20
"""Finance exports put a title block above the header; look this far down for it."""

_ALIASES: dict[str, tuple[str, ...]] = {
    ORDER_ID: (
        "orderId", "order", "order id", "order no", "order number",
        "注文ID", "注文番号", "注文No", "受注番号", "受注ID", "オーダーID", "オーダー番号",
    ),
    PAYMENT_ID: (
        "paymentId", "payment", "payment id", "決済ID", "決済番号", "支払ID", "支払いID",
    ),
    AMOUNT: (
        "refund_amount", "amount_jpy", "amount_yen", "refund_yen", "refund_jpy",
        "返金額", "返金金額", "返金", "金額", "払戻金額", "払戻額", "払戻し金額", "払戻し額",
        "払い戻し金額", "払い戻し額",
    ),
    CURRENCY: ("通貨", "通貨コード", "currency code"),
    REASON: ("refund_reason", "返金理由", "返金事由", "理由"),
    DESCRIPTION: (
        "説明", "備考", "摘要", "メモ", "memo", "note", "notes", "remarks", "comment",
        "comments", "refund_description", "refund_note", "refund_memo",
    ),
    REFERENCE: ("merchant_reference", "refund_reference", "ref", "参照番号", "管理番号"),
    LINE_ITEMS: ("lineItems", "line_item_ids"),
    SHOP_ORDER: (
        "shop_order", "shop_order_id", "shop_order_no", "shop_order_number", "shopOrderId",
        "merchant_order", "merchant_order_id", "merchant_order_no", "merchant_order_number",
        "order_reference", "order_ref", "ショップ注文番号", "ショップ注文ID", "店舗注文番号",
        "自社注文番号", "EC注文番号",
    ),
}  # fmt: skip

SHOP_NUMBER_ALIASES = frozenset(
    {"order", "order no", "order number", "注文番号", "注文No", "受注番号", "オーダー番号"}
)
"""Headers that name ``order_id`` when the column holds Smartpay ids (``order_test_…``) and
the shop's own order number (``shop_order``) when none of its first cells does: finance
sheets call both 注文番号. Matched in ``header_key`` form (see ``shop_number_header``)."""

_SQUEEZE = str.maketrans("", "", " \t\u3000-_.:・\ufeff")
# After NFKC, full-width （）［］｛｝＜＞ are ASCII; 【】〔〕〈〉《》 are not changed by it.
_QUALIFIER = re.compile(
    r"\([^()]*\)|\[[^\[\]]*\]|\{[^{}]*\}|<[^<>]*>|【[^】]*】|〔[^〕]*〕|〈[^〉]*〉|《[^》]*》"
)
_BRACKETS = str.maketrans("", "", "()[]{}<>【】〔〕〈〉《》")


def normalise_header(text: str) -> str:
    """NFKC, casefolded, without spaces, ``-``, ``_``, ``.``, ``:`` and ``・``; brackets kept."""
    return unicodedata.normalize("NFKC", text).casefold().translate(_SQUEEZE)


HARMLESS_QUALIFIERS = frozenset(
    normalise_header(word)
    for word in (
        "", "税込", "税込み", "税抜", "税抜き", "税別", "内税", "外税", "円", "¥", "yen", "jpy",
        "半角", "半角数字", "全角", "必須", "任意", "required", "optional", "incl. tax",
        "tax incl.", "tax included", "excl. tax", "tax excluded", "smartpay",
    )
)  # fmt: skip
"""Bracketed qualifiers that leave a header's meaning alone; any other one (``金額（注文合計）``,
``Amount (before refund)``) may reverse it, so such a header matches no alias."""


def _drop_harmless(match: re.Match[str]) -> str:
    inner = match.group(0)[1:-1]
    return "" if normalise_header(inner) in HARMLESS_QUALIFIERS else match.group(0)


def header_key(text: str) -> str:
    """The form aliases are matched in: ``normalise_header`` after dropping bracketed
    qualifiers that don't change the meaning (``返金額（税込）`` → ``返金額``, see
    ``HARMLESS_QUALIFIERS``); a header that is all brackets keeps their text."""
    nfkc = unicodedata.normalize("NFKC", text)
    if _QUALIFIER.fullmatch(nfkc.strip()):  # 【注文ID】: the brackets are the decoration
        return nfkc.translate(_BRACKETS).casefold().translate(_SQUEEZE)
    bare = _QUALIFIER.sub(_drop_harmless, nfkc)
    if not bare.translate(_SQUEEZE):
        bare = nfkc.translate(_BRACKETS)
    return bare.casefold().translate(_SQUEEZE)


_LOOKUP: dict[str, str] = {
    header_key(name): canonical
    for canonical, aliases in _ALIASES.items()
    for name in (canonical, *aliases)
}


_SHOP_NUMBER_KEYS = frozenset(header_key(name) for name in SHOP_NUMBER_ALIASES)


def shop_number_header(header: str) -> bool:
    """True for an ``order_id`` alias that may hold shop order numbers instead (注文番号)."""
    return header_key(header) in _SHOP_NUMBER_KEYS


def canonical_name(header: str) -> str | None:
    """The canonical column a header cell names, ``metadata.<key>`` as is, or ``None``."""
    key = metadata_key(header)
    if key is not None:
        return METADATA_PREFIX + key
    return _LOOKUP.get(header_key(header))


def metadata_key(header: str) -> str | None:
    """``"metadata.campaign"`` → ``"campaign"``; ``None`` for any other header."""
    text = unicodedata.normalize("NFKC", header).strip().lstrip("\ufeff")
    if text[: len(METADATA_PREFIX)].casefold() != METADATA_PREFIX:
        return None
    return text[len(METADATA_PREFIX) :].strip()


def checked_explicit(columns: Mapping[str, str] | None) -> dict[str, str]:
    """Validate explicit ``{column name: header}`` choices; a misuse raises ``ConfigError``.

    Names are canonical (``amount``, ``order_id``, …) or ``metadata.<key>``; headers are
    matched against the file's header cells later, by ``map_columns``.
    """
    checked: dict[str, str] = {}
    for raw_name, raw_header in (columns or {}).items():
        name = raw_name.strip()
        header = raw_header.strip() if isinstance(raw_header, str) else ""
        if name.casefold() in NAMEABLE:
            name = name.casefold()
        elif name[: len(METADATA_PREFIX)].casefold() == METADATA_PREFIX:
            key = name[len(METADATA_PREFIX) :].strip()
            if not key or len(key) > MAX_METADATA_KEY_LENGTH:
                raise ConfigError(
                    f"--column {raw_name}: a metadata key needs 1 to {MAX_METADATA_KEY_LENGTH} "
                    f'characters after "{METADATA_PREFIX}".'
                )
            name = METADATA_PREFIX + key
        else:
            raise ConfigError(
                f'--column: unknown column name "{raw_name}"; use one of '
                f"{', '.join(NAMEABLE)} or metadata.<key>."
            )
        if not header:
            raise ConfigError(f"--column {name}= needs the header text after the = sign.")
        if name in checked:
            raise ConfigError(f"--column {name} is given twice; give it once.")
        checked[name] = header
    return checked


def explicit_lookup(explicit: Mapping[str, str]) -> dict[str, str]:
    """Header forms → canonical name, so header detection counts explicit headers as known."""
    lookup: dict[str, str] = {}
    for name, header in explicit.items():
        lookup[normalise_header(header)] = name
        lookup.setdefault(header_key(header), name)
    return lookup


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
    """Header cells that name no used column (blank headers are left out)."""
    width: int
    """How many cells the header row has, blank trailing ones excluded."""
    ignored_at: tuple[int, ...] = ()
    """The cell index of each ``ignored`` header, in the same order."""
    explicit: tuple[str, ...] = ()
    """Canonical names the caller chose a header for (``--column``), in sheet order."""
    header_cells: tuple[str, ...] = ()
    """Every header cell as written (stripped), up to ``width``."""

    def index(self, canonical: str) -> int | None:
        for name, i in self.indices:
            if name == canonical:
                return i
        return None


def _cell_text(cell: object) -> str:
    if isinstance(cell, str):
        return cell.strip()
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return "" if cell is None else str(cell)


def count_known(
    cells: Sequence[object], explicit: Mapping[str, str] | None = None
) -> tuple[int, bool]:
    """How many cells name a known column, and whether one of them is an id column.

    ``explicit`` is an ``explicit_lookup``: headers the caller named count as known. Only the
    first ``MAX_COLUMNS`` cells are looked at: a header wider than that is refused anyway.
    """
    known = 0
    has_id = False
    for cell in cells[:MAX_COLUMNS]:
        text = _cell_text(cell)
        if not text:
            continue
        name = None
        if explicit:
            name = explicit.get(normalise_header(text)) or explicit.get(header_key(text))
        name = name or canonical_name(text)
        if name:
            known += 1
            has_id = has_id or name in ID_COLUMNS
    return known, has_id


def find_header(
    rows: Sequence[Sequence[object]], explicit: Mapping[str, str] | None = None
) -> int | None:
    """Index of the header among the first rows: the first naming two known columns.

    A file with a single id column and nothing else is a valid (if terse) request for full
    refunds, so failing the two-column rule the first row naming an id column is taken.
    """
    scores = [count_known(row, explicit) for row in rows[:HEADER_SEARCH_ROWS]]
    for i, (known, _) in enumerate(scores):
        if known >= 2:
            return i
    for i, (_, has_id) in enumerate(scores):
        if has_id:
            return i
    return None


def map_columns(
    header: Sequence[object],
    *,
    header_row: int,
    explicit: Mapping[str, str] | None = None,
    shop_numbers: Collection[int] = (),
) -> ColumnMap:
    """Build the ``ColumnMap`` for a header row; file-level problems raise ``InputFileError``.

    ``explicit`` (from ``checked_explicit``) maps canonical names to header texts; those
    columns are taken as named, and any other header that would mean the same is ignored.
    ``shop_numbers``: cell indices of ``order_id`` aliases whose values are not Smartpay
    ids (see ``shop_number_header``), read as ``shop_order`` instead.
    """
    explicit = explicit or {}
    texts = [_cell_text(cell).lstrip("\ufeff") for cell in header]
    width = max((i + 1 for i, text in enumerate(texts) if text), default=0)
    texts = texts[:width]
    _check_size(texts, header_row)
    chosen: dict[int, str] = {}
    for wanted_name, wanted in explicit.items():
        i = _find_explicit(texts, wanted_name, wanted, header_row)
        if i in chosen:
            raise ConfigError(
                f"--column {chosen[i]} and --column {wanted_name} both name the column "
                f'"{texts[i]}"; a column can hold only one of them.'
            )
        chosen[i] = wanted_name
    indices: list[tuple[str, int]] = []
    headers: list[tuple[str, str]] = []
    metadata: list[tuple[str, int]] = []
    ignored: list[tuple[str, int]] = []
    seen: dict[str, str] = {}
    for i, text in enumerate(texts):
        if not text:
            continue
        name = chosen.get(i)
        if name is None:
            name = canonical_name(text)
            if name == ORDER_ID and i in shop_numbers:
                name = SHOP_ORDER
            if name is None or name in explicit:
                ignored.append((text, i))  # unknown, or explicitly given to another header
                continue
        if name in seen:
            raise InputFileError(
                f'Row {header_row}: the columns "{seen[name]}" and "{text}" both mean {name}. '
                f'Keep only one of them, or say which one to use: --column {name}="{seen[name]}" '
                f'or --column {name}="{text}".',
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
            'or the shop\'s order number (name one "order_id", "payment_id" or "shop_order", '
            'or pass --column order_id="<header>").',
            code="input.no_id_column",
        )
    if len(metadata) > MAX_METADATA_KEYS:
        raise InputFileError(
            f"{len(metadata)} metadata.<key> columns; Smartpay accepts at most "
            f"{MAX_METADATA_KEYS} metadata keys per refund.",
            code="input.metadata",
        )
    return ColumnMap(
        indices=tuple(indices),
        headers=tuple(headers),
        metadata=tuple(metadata),
        ignored=tuple(text for text, _ in ignored),
        width=width,
        ignored_at=tuple(i for _, i in ignored),
        explicit=tuple(name for _, name in headers if name in explicit),
        header_cells=tuple(texts),
    )


def _check_size(texts: Sequence[str], header_row: int) -> None:
    """Refuse a header wider than ``MAX_COLUMNS`` or with a cell longer than an Excel cell."""
    if len(texts) > MAX_COLUMNS:
        raise InputFileError(
            f"Row {header_row} is the header and has {len(texts):,} columns; at most "
            f"{MAX_COLUMNS:,} are read. Delete the columns the refunds do not need (a refund "
            "file needs a handful) and save the file again.",
            code="input.too_wide",
        )
    for i, text in enumerate(texts):
        if len(text) > MAX_CELL_CHARS:
            raise InputFileError(
                f"Row {header_row} is the header, and its cell in column {i + 1} has "
                f"{len(text):,} characters; a cell holds at most {MAX_CELL_CHARS:,} "
                "(Excel's limit).",
                code="input.cell_too_long",
            )


def _find_explicit(texts: Sequence[str], name: str, wanted: str, header_row: int) -> int:
    """The one header cell ``wanted`` names: exactly, then ignoring case and spacing, then
    also ignoring bracketed qualifiers. Several matches at the first level that has any, or
    none at all, is an ``InputFileError`` listing the file's headers."""
    tiers = (
        lambda text: text == wanted,
        lambda text: normalise_header(text) == normalise_header(wanted),
        lambda text: header_key(text) == header_key(wanted),
    )
    for matches_tier in tiers:
        found = [i for i, text in enumerate(texts) if text and matches_tier(text)]
        if len(found) == 1:
            return found[0]
        if found:
            listed = ", ".join(f'"{texts[i]}"' for i in found)
            raise InputFileError(
                f'--column {name}="{wanted}" matches {len(found)} columns of the header in '
                f"row {header_row} ({listed}); give the header exactly as written.",
                code="input.column",
            )
    listed = ", ".join(f'"{text}"' for text in texts if text)
    raise InputFileError(
        f'--column {name}="{wanted}": no such column in the header (row {header_row}). '
        f"The header has {listed}.",
        code="input.column",
    )


def _checked_metadata_key(name: str, text: str, header_row: int) -> str:
    key = name[len(METADATA_PREFIX) :]
    if (char := first_unsafe(key)) is not None:
        raise InputFileError(
            f'Row {header_row}: the column "{text}" holds {describe(char)} in its metadata '
            "key, a control character that can hide or fake text; delete it.",
            code="input.metadata",
        )
    if not key or len(key) > MAX_METADATA_KEY_LENGTH:
        raise InputFileError(
            f'Row {header_row}: the column "{text}" needs a metadata key of 1 to '
            f'{MAX_METADATA_KEY_LENGTH} characters after "{METADATA_PREFIX}".',
            code="input.metadata",
        )
    return key
