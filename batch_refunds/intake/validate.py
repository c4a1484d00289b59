"""One row of cells → a ``RefundRequest``, or every reason it can't be one.

Pure apart from the column map: no I/O, no pandas. Messages are written for the finance
person who will fix the spreadsheet; codes (``input.amount``, ...) are stable for reports.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, time

from batch_refunds.intake.columns import (
    AMOUNT,
    CURRENCY,
    DESCRIPTION,
    LINE_ITEMS,
    ORDER_ID,
    PAYMENT_ID,
    REASON,
    REFERENCE,
    ColumnMap,
)
from batch_refunds.models import CURRENCY as JPY
from batch_refunds.models import Reason, RefundRequest, RowError
from batch_refunds.money import YenParseError, parse_yen

MAX_TEXT_LENGTH = 255
MAX_METADATA_VALUE_LENGTH = 200

_ORDER_ID = re.compile(r"order_(?:test|live)_[0-9A-Za-z]+")
_PAYMENT_ID = re.compile(r"payment_(?:test|live)_[0-9A-Za-z]+")
_NUMBER_LIKE = re.compile(r"[0-9][0-9.,Ee+\- ]*")

_OTHER = {"order": "payment", "payment": "order"}
_ARTICLE = {"order": "An", "payment": "A"}

_REASONS: dict[str, Reason] = {
    "requested_by_customer": Reason.REQUESTED_BY_CUSTOMER,
    "顧客都合": Reason.REQUESTED_BY_CUSTOMER,
    "お客様都合": Reason.REQUESTED_BY_CUSTOMER,
    "fraudulent": Reason.FRAUDULENT,
    "不正": Reason.FRAUDULENT,
}


def cell_text(cell: object) -> str:
    """A cell as the text a person sees: stripped, Excel numbers without a spurious ``.0``."""
    if isinstance(cell, str):
        return cell.strip()
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "TRUE" if cell else "FALSE"
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, date | time):
        return cell.isoformat()
    return str(cell)


def is_blank(cells: Sequence[object]) -> bool:
    """True when every cell is empty or whitespace: such rows are skipped, not errors."""
    for cell in cells:
        if cell is None or cell == "":
            continue
        if isinstance(cell, str) and not cell.strip():
            continue
        return False
    return True


def normalise_reason(text: str) -> Reason | None:
    """``"Fraudulent"``, ``"requested-by customer"``, ``"不正"`` → ``Reason``; unknown → None."""
    found = _REASONS.get(text)
    if found is None:
        key = unicodedata.normalize("NFKC", text).strip().casefold()
        found = _REASONS.get(re.sub(r"[\s\-]+", "_", key))
    return found


@dataclass(slots=True)
class RowValidator:
    """Checks rows against one header. ``check_width``: flag cells beyond the header (text)."""

    columns: ColumnMap
    check_width: bool = False
    _at: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self._at = dict(self.columns.indices)

    def check(self, row: int, cells: Sequence[object]) -> RefundRequest | list[RowError]:
        """Validate one non-blank row, collecting every problem rather than the first."""
        errors: list[RowError] = []
        at = self._at
        n = len(cells)

        def get(name: str) -> object:
            i = at.get(name)
            return cells[i] if i is not None and i < n else None

        order_id = _check_id(row, get(ORDER_ID), ORDER_ID, _ORDER_ID, errors)
        payment_id = _check_id(row, get(PAYMENT_ID), PAYMENT_ID, _PAYMENT_ID, errors)
        if order_id is None and payment_id is None and not errors:
            first = next(t for t in map(cell_text, cells) if t)
            errors.append(
                RowError(
                    row,
                    ORDER_ID if ORDER_ID in at else PAYMENT_ID,
                    first,
                    "input.missing_id",
                    "No order_id or payment_id on this row. If it is a total or a note, "
                    "delete it; otherwise add the id.",
                )
            )
        amount = _check_amount(row, get(AMOUNT), errors)
        currency = cell_text(get(CURRENCY))
        if currency and currency.upper() != JPY:
            errors.append(
                RowError(row, CURRENCY, currency, "input.currency", "Only JPY can be refunded.")
            )
        reason = Reason.REQUESTED_BY_CUSTOMER
        reason_text = cell_text(get(REASON))
        if reason_text:
            found = normalise_reason(reason_text)
            if found is None:
                errors.append(
                    RowError(
                        row,
                        REASON,
                        reason_text,
                        "input.reason",
                        "The reason must be requested_by_customer (顧客都合) or "
                        "fraudulent (不正), or left blank.",
                    )
                )
            else:
                reason = found
        description = _check_length(row, get(DESCRIPTION), DESCRIPTION, errors)
        reference = _check_length(row, get(REFERENCE), REFERENCE, errors)
        line_items = _check_line_items(row, get(LINE_ITEMS), errors)
        metadata = self._metadata(row, cells, errors)
        if self.check_width and n > self.columns.width:
            extra = [cell_text(c) for c in cells[self.columns.width :]]
            if any(extra):
                errors.append(
                    RowError(
                        row,
                        None,
                        ", ".join(t for t in extra if t),
                        "input.row_shape",
                        f"This row has {n} cells but the header has {self.columns.width}. "
                        "An unquoted comma (as in 1,500) may have split a cell; quote "
                        "such values or remove the separators.",
                    )
                )
        if errors:
            return errors
        return RefundRequest(
            row=row,
            order_id=order_id,
            payment_id=payment_id,
            amount=amount,
            currency=JPY,
            reason=reason,
            description=description,
            reference=reference,
            line_items=line_items,
            metadata=metadata,
        )

    def _metadata(
        self, row: int, cells: Sequence[object], errors: list[RowError]
    ) -> tuple[tuple[str, str], ...]:
        pairs: list[tuple[str, str]] = []
        n = len(cells)
        for key, i in self.columns.metadata:
            value = cell_text(cells[i]) if i < n else ""
            if not value:
                continue
            if len(value) > MAX_METADATA_VALUE_LENGTH:
                errors.append(
                    RowError(
                        row,
                        f"metadata.{key}",
                        _short(value),
                        "input.metadata",
                        f"Metadata values may be at most {MAX_METADATA_VALUE_LENGTH} characters; "
                        f"this one has {len(value)}.",
                    )
                )
            pairs.append((key, value))
        return tuple(pairs)


def _check_id(
    row: int, cell: object, column: str, pattern: re.Pattern[str], errors: list[RowError]
) -> str | None:
    text = cell_text(cell)
    if not text:
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
        return parse_yen(cell)
    except YenParseError as exc:
        errors.append(RowError(row, AMOUNT, _short(cell_text(cell)), "input.amount", exc.message))
        return None


def _check_length(row: int, cell: object, column: str, errors: list[RowError]) -> str | None:
    text = cell_text(cell)
    if not text:
        return None
    if len(text) > MAX_TEXT_LENGTH:
        errors.append(
            RowError(
                row,
                column,
                _short(text),
                f"input.{column}",
                f"At most {MAX_TEXT_LENGTH} characters are allowed; this has {len(text)}.",
            )
        )
    return text


def _check_line_items(row: int, cell: object, errors: list[RowError]) -> tuple[str, ...]:
    text = cell_text(cell)
    if not text:
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


@dataclass(slots=True)
class DuplicateGuard:
    """Flags a request identical to an earlier one: same order/payment, amount, reference."""

    _first_row: dict[tuple[str | None, str | None, int | None, str | None], int] = field(
        default_factory=dict
    )

    def check(self, request: RefundRequest) -> RowError | None:
        # Keep this key in step with the run engine's row identity.
        key = (request.order_id, request.payment_id, request.amount, request.reference)
        first = self._first_row.setdefault(key, request.row)
        if first == request.row:
            return None
        return RowError(
            request.row,
            ORDER_ID if request.order_id else PAYMENT_ID,
            request.order_id or request.payment_id or "",
            "input.duplicate",
            f"Same order, amount and reference as row {first}; a second line would refund "
            "twice. Delete one, or pass --allow-duplicate-rows if both refunds are intended.",
        )
