"""One row of cells → a ``RefundRequest``, or every reason it can't be one.

Pure apart from the column map: no I/O, no pandas. Messages are written for the finance
person who will fix the spreadsheet; codes (``input.amount``, ...) are stable for reports.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter

from batch_refunds.intake.cells import UnreadCell, parse_amount
from batch_refunds.intake.cells import cell_text as cell_text  # re-exported: validate.cell_text
from batch_refunds.intake.columns import (
    AMOUNT,
    CURRENCY,
    DESCRIPTION,
    ID_COLUMNS,
    LINE_ITEMS,
    ORDER_ID,
    PAYMENT_ID,
    REASON,
    REFERENCE,
    SHOP_ORDER,
    ColumnMap,
)
from batch_refunds.intake.limits import MAX_CELL_CHARS
from batch_refunds.intake.totals import is_total_label
from batch_refunds.models import CURRENCY as JPY
from batch_refunds.models import Reason, RefundRequest, RowError
from batch_refunds.money import YenParseError
from batch_refunds.text import describe, first_unsafe, terminal_safe

MAX_TEXT_LENGTH = 255
CACHE_LIMIT = 1 << 16
AMOUNT_CACHE_LIMIT = 1 << 18
MAX_METADATA_VALUE_LENGTH = 200

FIELDS = (ORDER_ID, PAYMENT_ID, AMOUNT, CURRENCY, REASON, DESCRIPTION, REFERENCE, LINE_ITEMS)
# Smartpay's ids have about 20 characters after the prefix; 100 bounds what goes in a URL.
ORDER_ID_PATTERN = re.compile(r"order_(?:test|live)_[0-9A-Za-z]{1,100}")
PAYMENT_ID_PATTERN = re.compile(r"payment_(?:test|live)_[0-9A-Za-z]{1,100}")
_SPLIT_THOUSANDS = re.compile(r"[¥￥\\]?[0-9]{1,3}(?:,[0-9]{3})+円?")
_NUMBER_LIKE = re.compile(r"[0-9][0-9.,Ee+\- ]*")
_NUMBER_TEXT = re.compile(r"[-+]?[¥\\]?[-+]?[0-9][0-9.,\s]*(?:円|yen|jpy)?", re.IGNORECASE)

JPY_SPELLINGS = frozenset({JPY, "円", "YEN", "¥", "\\", "日本円"})
"""What a currency cell may say, after NFKC and upper-casing (``￥`` and ``yen`` included;
the backslash is the byte Japanese keyboards type as ¥, as CP932 decodes it)."""

_OTHER = {"order": "payment", "payment": "order"}
_ARTICLE = {"order": "An", "payment": "A"}

REASONS: dict[str, Reason] = {
    "requested_by_customer": Reason.REQUESTED_BY_CUSTOMER,
    "顧客都合": Reason.REQUESTED_BY_CUSTOMER,
    "お客様都合": Reason.REQUESTED_BY_CUSTOMER,
    "fraudulent": Reason.FRAUDULENT,
    "不正": Reason.FRAUDULENT,
}


def is_jpy(text: str) -> bool:
    """True for a currency cell naming the yen: ``JPY``, ``jpy``, ``円``, ``YEN``, ``¥``, ``￥``…"""
    return text == JPY or unicodedata.normalize("NFKC", text).strip().upper() in JPY_SPELLINGS


def is_number_text(text: str) -> bool:
    """True for text that is a number, signed or with ¥/円 (``3,100``, ``-500``, ``¥1,500``)."""
    return bool(_NUMBER_TEXT.fullmatch(unicodedata.normalize("NFKC", text).strip()))


def is_blank(cells: Sequence[object]) -> bool:
    """True when every cell is empty or whitespace: such rows are skipped, not errors."""
    for cell in cells:
        if cell is None or cell == "":
            continue
        if isinstance(cell, str) and not cell.strip():
            continue
        return False
    return True


def is_clean(text: str) -> bool:
    """True when ``text`` holds no control character or bidi override (see ``text``)."""
    return text.isprintable() or first_unsafe(text) is None


def normalise_reason(text: str) -> Reason | None:
    """``"Fraudulent"``, ``"requested-by customer"``, ``"不正"`` → ``Reason``; unknown → None."""
    found = REASONS.get(text)
    if found is None:
        key = unicodedata.normalize("NFKC", text).strip().casefold()
        found = REASONS.get(re.sub(r"[\s\-]+", "_", key))
    return found


@dataclass(slots=True)
class RowValidator:
    """Checks rows against one header. ``check_width``: flag cells beyond the header (text).

    ``check`` is the authority on what a row means. ``scan.scan_rows`` accepts clean rows
    without calling it, for speed, but only ever with the result ``check`` would give.
    """

    columns: ColumnMap
    check_width: bool = False
    unread_cells: bool = False
    """Rows may hold ``UnreadCell`` values (a workbook with formulas): look for them."""
    _width: int = field(init=False)
    _fields: Callable[[Sequence[object]], tuple[object, ...]] = field(init=False)
    _reach: int = field(init=False)
    _blanks: tuple[str, ...] = field(init=False)
    _unchecked: tuple[tuple[int, str], ...] = field(init=False)
    _id_column: str = field(init=False)
    _shop_at: int | None = field(init=False)
    _id_indices: tuple[int, ...] = field(init=False)
    # Descriptions, metadata and amounts repeat across a big file; sharing one object per
    # distinct value keeps a million requests well inside the memory budget. Bounded, so a
    # file of all-distinct values costs no more than it would without the caches.
    amount_cache: dict[str, int] = field(init=False, default_factory=dict)
    text_cache: dict[str, str] = field(init=False, default_factory=dict)
    metadata_cache: dict[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] = field(
        init=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        at = dict(self.columns.indices)
        self._width = self.columns.width
        # Absent columns read index -1, which the padding in ``check`` always makes blank.
        self._fields = itemgetter(*(at.get(name, -1) for name in FIELDS))
        # Short rows are padded up to the last cell anything reads, plus the blank that
        # index -1 reads: one tuple of that length, sliced, so the cost stays linear in the
        # columns (a table of every padding length would grow with their square).
        used = [i for _, i in self.columns.indices] + [i for _, i in self.columns.metadata]
        self._reach = max(used, default=-1) + 1
        self._blanks = ("",) * (self._reach + 1)
        # Ignored columns go into reports as written; nothing else bounds their cells.
        self._unchecked = tuple(zip(self.columns.ignored_at, self.columns.ignored, strict=True))
        self._id_column = (
            ORDER_ID if ORDER_ID in at else PAYMENT_ID if PAYMENT_ID in at else SHOP_ORDER
        )
        self._shop_at = at.get(SHOP_ORDER)
        self._id_indices = tuple(i for name, i in self.columns.indices if name in ID_COLUMNS)

    def total_label(self, cells: Sequence[object]) -> str | None:
        """The label when the row is a total line (合計, ``Total:``, …), else None.

        A total line has no id (its id cells are blank or hold the label itself) and its
        first text cell, numbers and dates passed over, is a total label.
        """
        n = len(cells)
        for i in self._id_indices:
            if i < n:
                text = cell_text(cells[i])
                if text and not is_total_label(text):
                    return None
        for cell in cells:
            if type(cell) is not str:
                continue  # numbers, dates, unread formulas: not a label
            text = cell.strip()
            if text and not is_number_text(text):
                return text if is_total_label(text) else None
        return None

    def check(self, row: int, cells: Sequence[object]) -> RefundRequest | list[RowError]:
        """Validate one non-blank row, collecting every problem rather than the first."""
        n = len(cells)
        padded = [*cells, *self._blanks[: self._reach - n + 1 if n < self._reach else 1]]
        fields = self._fields(padded)
        unread: list[RowError] = []
        if self.unread_cells:
            for name, cell in zip(FIELDS, fields, strict=True):
                if type(cell) is UnreadCell and (name == AMOUNT or not cell.empty):
                    unread.append(
                        RowError(row, name, _short(str(cell)), "input.formula", cell.message)
                    )
            fields = tuple("" if type(cell) is UnreadCell else cell for cell in fields)
        order, payment, amount_cell, currency, reason_cell, desc, ref, items = fields
        errors: list[RowError] = []

        order_id: str | None = order.strip() if type(order) is str else cell_text(order)
        if not order_id:
            order_id = None
        elif not (order_id.isascii() and ORDER_ID_PATTERN.fullmatch(order_id)):
            order_id = _check_id(row, order, ORDER_ID, ORDER_ID_PATTERN, errors)
        payment_id: str | None = payment.strip() if type(payment) is str else cell_text(payment)
        if not payment_id:
            payment_id = None
        elif not (payment_id.isascii() and PAYMENT_ID_PATTERN.fullmatch(payment_id)):
            payment_id = _check_id(row, payment, PAYMENT_ID, PAYMENT_ID_PATTERN, errors)
        shop_order: str | None = None
        if self._shop_at is not None:
            shop_order = self._shop_order(row, padded[self._shop_at], errors)
        if (
            order_id is None
            and payment_id is None
            and shop_order is None
            and not errors
            and not any(e.column in ID_COLUMNS for e in unread)
        ):
            _missing_id(row, self._id_column, cells, errors)
        errors.extend(unread)

        amount: int | None
        if type(amount_cell) is str:
            text = amount_cell.strip()
            if not text:
                amount = None  # blank: refund everything that remains
            elif (amount := self.amount_cache.get(text)) is None:
                amount = _check_amount(row, text, errors)
                if amount is not None and len(self.amount_cache) < AMOUNT_CACHE_LIMIT:
                    self.amount_cache[text] = amount
        else:
            amount = _check_amount(row, amount_cell, errors)

        if currency != "":
            text = currency.strip() if type(currency) is str else cell_text(currency)
            if text and not is_jpy(text):
                errors.append(
                    RowError(
                        row,
                        CURRENCY,
                        _short(text),
                        "input.currency",
                        "Only JPY (円, ¥) can be refunded.",
                    )
                )

        reason = Reason.REQUESTED_BY_CUSTOMER
        if reason_cell != "":
            text = reason_cell.strip() if type(reason_cell) is str else cell_text(reason_cell)
            if text:
                found = REASONS.get(text) or normalise_reason(text)
                if found is None:
                    errors.append(_reason_error(row, text))
                else:
                    reason = found

        description = desc.strip() if type(desc) is str else cell_text(desc)
        if len(description) > MAX_TEXT_LENGTH:
            errors.append(_length_error(row, DESCRIPTION, description))
        elif not is_clean(description):
            errors.append(_unsafe_error(row, DESCRIPTION, description))
        elif len(self.text_cache) < CACHE_LIMIT:
            description = self.text_cache.setdefault(description, description)
        reference = ref.strip() if type(ref) is str else cell_text(ref)
        if len(reference) > MAX_TEXT_LENGTH:
            errors.append(_length_error(row, REFERENCE, reference))
        elif not is_clean(reference):
            errors.append(_unsafe_error(row, REFERENCE, reference))
        line_items = _check_line_items(row, items, errors) if items != "" else ()
        metadata: tuple[tuple[str, str], ...] = ()
        if self.columns.metadata:
            pairs = []
            for key, i in self.columns.metadata:
                value = padded[i]
                if type(value) is UnreadCell:
                    errors.append(
                        RowError(
                            row,
                            f"metadata.{key}",
                            _short(str(value)),
                            "input.formula",
                            value.message,
                        )
                    )
                    continue
                text = value.strip() if type(value) is str else cell_text(value)
                if text:
                    if len(text) > MAX_METADATA_VALUE_LENGTH:
                        errors.append(_metadata_error(row, key, text))
                    elif not is_clean(text):
                        errors.append(_unsafe_error(row, f"metadata.{key}", text))
                    pairs.append((key, text))
            metadata = tuple(pairs)
            if len(self.metadata_cache) < CACHE_LIMIT:
                metadata = self.metadata_cache.setdefault(metadata, metadata)
        for i, header in self._unchecked:
            if i < n and type(cell := cells[i]) is str and len(cell) > MAX_CELL_CHARS:
                errors.append(cell_too_long(row, header, cell))
        if self.check_width and n > self._width:
            self._check_extra_cells(row, cells, errors)
        if errors:
            return errors
        return RefundRequest(
            row,
            order_id,
            payment_id,
            amount,
            JPY,
            reason,
            description or None,
            reference or None,
            line_items,
            metadata,
            shop_order,
        )

    def _shop_order(self, row: int, cell: object, errors: list[RowError]) -> str | None:
        """The shop's order number as typed (trimmed), or ``None`` when the cell is blank."""
        if type(cell) is UnreadCell:
            if not cell.empty:
                errors.append(
                    RowError(row, SHOP_ORDER, _short(str(cell)), "input.formula", cell.message)
                )
            return None
        text = cell.strip() if type(cell) is str else cell_text(cell)
        if not text:
            return None
        if len(text) > MAX_TEXT_LENGTH:
            errors.append(_length_error(row, SHOP_ORDER, text))
            return None
        if not is_clean(text):
            errors.append(_unsafe_error(row, SHOP_ORDER, text))
            return None
        return text

    def _check_extra_cells(self, row: int, cells: Sequence[object], errors: list[RowError]) -> None:
        extra = [t for t in map(cell_text, cells[self._width :]) if t]
        # "1,500" unquoted in a comma-separated file becomes "1" and "500" and shifts every
        # later cell right; the trailing cells are often blank, so look at the amount too.
        at = self.columns.index(AMOUNT)
        joined = f"{cell_text(cells[at])},{cell_text(cells[at + 1])}" if at is not None else ""
        split = bool(_SPLIT_THOUSANDS.fullmatch(joined))
        if extra or split:
            errors.append(
                RowError(
                    row,
                    AMOUNT if split else None,
                    _short(joined if split else ", ".join(extra)),
                    "input.row_shape",
                    f"This row has {len(cells)} cells but the header has {self._width}. "
                    "An unquoted comma (as in 1,500) may have split a cell; quote "
                    "such values or remove the separators.",
                )
            )


def _missing_id(row: int, column: str, cells: Sequence[object], errors: list[RowError]) -> None:
    first = next((t for t in map(cell_text, cells) if t), "")
    errors.append(
        RowError(
            row,
            column,
            _short(first),
            "input.missing_id",
            "No order_id, payment_id or shop order number on this row. If it is a total or "
            "a note, delete it; otherwise add the id.",
        )
    )


def cell_too_long(row: int, column: str, text: str) -> RowError:
    """The error for a cell longer than any Excel cell (``MAX_CELL_CHARS``)."""
    return RowError(
        row,
        column,
        _short(terminal_safe(text)),
        "input.cell_too_long",
        f"This cell has {len(text):,} characters; a cell holds at most {MAX_CELL_CHARS:,} "
        "(Excel's limit).",
    )


def _unsafe_error(row: int, column: str, text: str) -> RowError:
    char = first_unsafe(text) or ""
    return RowError(
        row,
        column,
        _short(terminal_safe(text)),
        "input.control_character",
        f"This cell holds {describe(char)}, a control character that can hide or fake text "
        "on a screen; delete it (and any others) from the cell.",
    )


def _metadata_error(row: int, key: str, text: str) -> RowError:
    return RowError(
        row,
        f"metadata.{key}",
        _short(text),
        "input.metadata",
        f"Metadata values may be at most {MAX_METADATA_VALUE_LENGTH} characters; "
        f"this one has {len(text)}.",
    )


def _reason_error(row: int, text: str) -> RowError:
    return RowError(
        row,
        REASON,
        _short(text),
        "input.reason",
        "The reason must be requested_by_customer (顧客都合) or fraudulent (不正), or left blank.",
    )


def _length_error(row: int, column: str, text: str) -> RowError:
    return RowError(
        row,
        column,
        _short(text),
        f"input.{column}",
        f"At most {MAX_TEXT_LENGTH} characters are allowed; this has {len(text)}.",
    )


def _check_id(
    row: int, cell: object, column: str, pattern: re.Pattern[str], errors: list[RowError]
) -> str | None:
    text = cell_text(cell)
    if not text:
        return None
    if not is_clean(text):
        errors.append(_unsafe_error(row, column, text))
        return None
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    if pattern.fullmatch(text):
        return text
    kind = column.split("_")[0]
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        hint = (
            f"Excel turned this {kind} id into a number. Format the column as Text and "
            "paste the ids again from the original export."
        )
    elif _NUMBER_LIKE.fullmatch(text):
        hint = (
            f"This looks like a number, not {_ARTICLE[kind].lower()} {kind} id; if Excel "
            "converted it, format the "
            "column as Text and paste the ids again."
        )
    elif text.startswith(f"{_OTHER[kind]}_"):
        other = _OTHER[kind]
        article = "an" if other == "order" else "a"
        hint = f"This is {article} {other} id; put it in the {other}_id column."
    elif text.casefold().startswith(kind):
        hint = (
            f"{_ARTICLE[kind]} {kind} id looks like {kind}_test_… or {kind}_live_… followed "
            "by letters and digits only."
        )
    else:
        hint = (
            f"This is not {_ARTICLE[kind].lower()} {kind} id. If the row is a total or a note, "
            f"delete it; {kind} ids look like {kind}_test_… or {kind}_live_…."
        )
    errors.append(RowError(row, column, _short(text), f"input.{column}", hint))
    return None


def _check_amount(row: int, cell: object, errors: list[RowError]) -> int | None:
    if cell is None or (isinstance(cell, str) and not cell.strip()):
        return None  # blank: refund everything that remains
    if not isinstance(cell, str | int | float):
        errors.append(
            RowError(
                row,
                AMOUNT,
                cell_text(cell),
                "input.amount",
                "This cell is not a number (Excel may show it as a date or time); "
                "format the column as Number.",
            )
        )
        return None
    try:
        return parse_amount(cell)
    except YenParseError as exc:
        errors.append(RowError(row, AMOUNT, _short(cell_text(cell)), "input.amount", exc.message))
        return None


def _check_line_items(row: int, cell: object, errors: list[RowError]) -> tuple[str, ...]:
    text = cell_text(cell)
    if not text:
        return ()
    if len(text) > MAX_CELL_CHARS:
        errors.append(cell_too_long(row, LINE_ITEMS, text))
        return ()
    if not is_clean(text):
        errors.append(_unsafe_error(row, LINE_ITEMS, text))
        return ()
    items = tuple(item.strip() for item in text.split(";") if item.strip())
    if any(len(item.split()) > 1 or "," in item for item in items):
        errors.append(
            RowError(
                row,
                LINE_ITEMS,
                _short(text),
                "input.line_items",
                "Separate line-item ids with ; (semicolons), e.g. li_test_A1;li_test_B2.",
            )
        )
    return items


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
