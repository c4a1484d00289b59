"""The loop over every row: a fast path for clean rows, ``RowValidator.check`` for the rest.

A million-row file must load in a few seconds (see ``bench/bench_intake.py``), and a per-row
method call that handles every possible cell costs too much. So clean rows (text cells or
Excel numbers, well-formed ids, an amount ``parse_yen`` takes, an exact reason spelling,
nothing too long, no control character, no line items) are accepted inline here, and
anything else goes through ``RowValidator.check``, which is the authority: the fast path
only ever accepts what ``check`` would accept, with the same result (a property test pins
this).
"""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter

from batch_refunds.intake.cells import KeptCells, cell_text, parse_amount
from batch_refunds.intake.columns import AMOUNT, ORDER_ID, PAYMENT_ID, REFERENCE, SHOP_ORDER
from batch_refunds.intake.limits import MAX_CELL_CHARS
from batch_refunds.intake.read import Row
from batch_refunds.intake.totals import TotalLine
from batch_refunds.intake.validate import (
    AMOUNT_CACHE_LIMIT,
    CACHE_LIMIT,
    FIELDS,
    MAX_METADATA_VALUE_LENGTH,
    MAX_TEXT_LENGTH,
    ORDER_ID_PATTERN,
    PAYMENT_ID_PATTERN,
    REASONS,
    RowValidator,
    is_blank,
    is_clean,
)
from batch_refunds.models import CURRENCY as JPY
from batch_refunds.models import Reason, RefundRequest, RowError
from batch_refunds.money import YenParseError

DuplicateKey = tuple[str | None, str | None, int | None, str | None, str | None]

FAST_CURRENCIES = frozenset({"", JPY, "jpy", "円", "YEN", "yen", "Yen", "¥", "￥"})
"""Currency cells the fast path takes as they are; ``validate.is_jpy`` accepts each one."""


@dataclass(frozen=True, slots=True)
class Scan:
    """Every row below the header, accounted for: requests, errors, blank and total lines."""

    requests: list[RefundRequest]
    errors: list[RowError]
    total_rows: int
    blank_rows: int
    total_lines: list[TotalLine] = field(default_factory=list)
    kept: KeptCells | None = None
    same_id: list[list[RefundRequest]] | None = None
    """When duplicates were looked for: the requests of every id on more than one request,
    grouped by that id (the index the duplicate check built anyway)."""


def duplicate_key(request: RefundRequest) -> DuplicateKey:
    """What makes two rows the same refund; the run engine's row identity uses the same key."""
    return (
        request.order_id, request.payment_id, request.amount, request.reference,
        request.shop_order,
    )  # fmt: skip


def duplicate_error(request: RefundRequest, first_row: int) -> RowError:
    return RowError(
        request.row,
        ORDER_ID if request.order_id else PAYMENT_ID if request.payment_id else SHOP_ORDER,
        request.order_id or request.payment_id or request.shop_order or "",
        "input.duplicate",
        f"Same order, amount and reference as row {first_row}; a second line would refund "
        "twice. Delete one, or pass --allow-duplicate-rows if both refunds are intended.",
    )


def scan_rows(
    rows: Iterable[tuple[int, Row]],
    validator: RowValidator,
    *,
    allow_duplicate_rows: bool,
    text_cells: bool = False,
    keep_cells: bool = False,
) -> Scan:
    """Validate every row, skip blank ones and total lines, and flag duplicates of earlier
    valid rows.

    ``text_cells`` promises that every cell is a ``str`` (true of text files), which lets
    clean rows skip the per-cell type checks. ``keep_cells`` keeps each request's and
    invalid row's cells (``Scan.kept``); the rows must then be numbered consecutively.
    """
    # Millions of small containers and no reference cycles: the cyclic collector would
    # rescan them again and again (about 40% of the load time of a big file).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _scan(rows, validator, allow_duplicate_rows, text_cells, keep_cells)
    finally:
        if gc_was_enabled:
            gc.enable()


def _scan(
    rows: Iterable[tuple[int, Row]],
    validator: RowValidator,
    allow_duplicate_rows: bool,
    text_cells: bool,
    keep_cells: bool,
) -> Scan:
    columns = validator.columns
    width = columns.width
    strict_width = validator.check_width
    at = dict(columns.indices)
    fields = itemgetter(*(at.get(name, -1) for name in FIELDS))  # -1: the appended blank
    metadata_columns = columns.metadata
    metadata_cells = _tuple_getter([i for _, i in metadata_columns])
    metadata_by_cells: dict[tuple[object, ...], tuple[tuple[str, str], ...]] = {}
    metadata_cache = validator.metadata_cache
    amounts = validator.amount_cache
    texts = validator.text_cache
    order_match = ORDER_ID_PATTERN.fullmatch
    payment_match = PAYMENT_ID_PATTERN.fullmatch
    default_reason = Reason.REQUESTED_BY_CUSTOMER
    check = validator.check
    total_label = validator.total_label
    amount_at = at.get(AMOUNT)
    ignored_at = columns.ignored_at
    # A file of shop order numbers is read by ``check`` alone: such files are resolved
    # through Smartpay's order list, which costs far more than the fast path saves.
    shop_numbers = SHOP_ORDER in at
    seen: dict[str, RefundRequest | list[RefundRequest]] = {}
    requests: list[RefundRequest] = []
    errors: list[RowError] = []
    total_lines: list[TotalLine] = []
    kept: list[Row | None] | None = [] if keep_cells else None
    # A million kept rows repeat the same reasons, descriptions and amounts; one object per
    # distinct text (ids and references are already shared with the requests).
    unique = {i for name, i in columns.indices if name in (ORDER_ID, PAYMENT_ID, REFERENCE)}
    shared_at = [i for i in range(width) if i not in unique]
    shared: dict[str, str] = {}
    first = 0
    total = blank = 0

    for number, cells in rows:
        total += 1
        if kept is not None:
            if not kept:
                first = number
            elif number != first + len(kept):
                raise ValueError(f"keep_cells needs consecutive row numbers, got {number}")
            kept.append(cells)
            if type(cells) is list:
                _share_texts(cells, shared_at, shared)
        request: RefundRequest | None = None
        n = len(cells)
        if not shop_numbers and (n == width or (n > width and not strict_width)):
            order, payment, amount_cell, currency, reason_cell, desc, ref, items = fields(
                [*cells, ""]
            )
            if text_cells or (
                type(order) is str
                and type(payment) is str
                and type(currency) is str
                and type(reason_cell) is str
                and type(desc) is str
                and type(ref) is str
            ):
                order_id = order.strip()
                payment_id = payment.strip()
                if text_cells or type(amount_cell) is str:
                    amount_text = amount_cell.strip()
                    amount = amounts.get(amount_text) if amount_text else None
                    if amount is None and amount_text:
                        amount = _yen_or_none(amount_text)
                        if amount is not None and len(amounts) < AMOUNT_CACHE_LIMIT:
                            amounts[amount_text] = amount
                elif type(amount_cell) is int or type(amount_cell) is float:
                    amount_text = "number"  # an Excel number: never blank
                    amount = _yen_or_none(amount_cell)
                else:
                    amount_text, amount = "other", None  # dates and the like: ``check`` says why
                reason_text = reason_cell.strip()
                reason = REASONS.get(reason_text) if reason_text else default_reason
                description = desc.strip()
                reference = ref.strip()
                if (
                    (order_id or payment_id)
                    and (not order_id or order_match(order_id))
                    and (not payment_id or payment_match(payment_id))
                    and (amount is not None or not amount_text)
                    and reason is not None
                    and items == ""
                    and currency.strip() in FAST_CURRENCIES
                    and len(description) <= MAX_TEXT_LENGTH
                    and len(reference) <= MAX_TEXT_LENGTH
                    # A description already in the cache was found clean when it went in;
                    # isprintable() is the quick yes, is_clean the exact answer.
                    and (description in texts or description.isprintable() or is_clean(description))
                    and (reference.isprintable() or is_clean(reference))
                    and (not ignored_at or _fit(cells, ignored_at))
                ):
                    metadata: tuple[tuple[str, str], ...] | None = ()
                    if metadata_columns:
                        raw = metadata_cells(cells)
                        metadata = metadata_by_cells.get(raw)
                        if metadata is None:
                            metadata = _metadata(metadata_columns, raw)
                            if metadata is not None and len(metadata_by_cells) < CACHE_LIMIT:
                                metadata = metadata_cache.setdefault(metadata, metadata)
                                metadata_by_cells[raw] = metadata
                    if metadata is not None:
                        if len(texts) < CACHE_LIMIT:
                            description = texts.setdefault(description, description)
                        request = _make_request(
                            number,
                            order_id or None,
                            payment_id or None,
                            amount,
                            JPY,
                            reason,
                            description or None,
                            reference or None,
                            (),
                            metadata,
                        )
        if request is None:
            if is_blank(cells):
                blank += 1
                if kept is not None:
                    kept[-1] = None
                continue
            label = total_label(cells)
            if label is not None:
                total_lines.append(_total_line(number, label, cells, amount_at))
                if kept is not None:
                    kept[-1] = None
                continue
            outcome = check(number, cells)
            if not isinstance(outcome, RefundRequest):
                errors.extend(outcome)
                continue
            request = outcome
        if not allow_duplicate_rows:
            # Keyed by the id string alone (its hash is cached, no tuple is built per row);
            # the rare rows that share an id are then compared on the whole key.
            ident = request.order_id or request.payment_id or request.shop_order or ""
            earlier = seen.get(ident)
            if earlier is None:
                seen[ident] = request
            else:
                same = _same_refund(earlier, request)
                if same is not None:
                    errors.append(duplicate_error(request, same.row))
                    continue
                seen[ident] = (
                    [*earlier, request] if isinstance(earlier, list) else [earlier, request]
                )
        requests.append(request)
    cells_kept = KeptCells(first, kept, width) if kept is not None else None
    same_id = None if allow_duplicate_rows else [g for g in seen.values() if type(g) is list]
    return Scan(requests, errors, total, blank, total_lines, cells_kept, same_id)


def _share_texts(cells: list[object], at: list[int], shared: dict[str, str]) -> None:
    n = len(cells)
    for i in at:
        if i < n and type(value := cells[i]) is str:
            same = shared.get(value)
            if same is not None:
                cells[i] = same
            elif len(shared) < CACHE_LIMIT:
                shared[value] = value


def _total_line(number: int, label: str, cells: Row, amount_at: int | None) -> TotalLine:
    cell = cells[amount_at] if amount_at is not None and amount_at < len(cells) else ""
    shown = cell_text(cell)
    amount = None
    if shown and isinstance(cell, str | int | float):
        amount = _yen_or_none(cell.strip() if isinstance(cell, str) else cell)
    return TotalLine(number, label, amount, shown)


_REQUEST_FIELDS = (
    "row",
    "order_id",
    "payment_id",
    "amount",
    "currency",
    "reason",
    "description",
    "reference",
    "line_items",
    "metadata",
    "shop_order",
)


def _request_factory() -> Callable[..., RefundRequest]:
    """``RefundRequest`` itself, or an equivalent constructor at half its cost.

    A frozen dataclass's ``__init__`` sets each field with ``object.__setattr__`` by name,
    which is 1.3 µs for these eleven fields and a third of the time a million-row file takes.
    Setting the slots through their descriptors stores exactly the same values. It is used
    only while ``RefundRequest`` is a plain frozen, slotted dataclass with exactly these
    fields and nothing run at construction; any other shape gets the class itself.
    """
    names = tuple(f.name for f in dataclasses.fields(RefundRequest))
    plain = (
        names == _REQUEST_FIELDS
        and getattr(RefundRequest, "__slots__", ()) == names
        and not hasattr(RefundRequest, "__post_init__")
        and RefundRequest.__dataclass_params__.frozen  # type: ignore[attr-defined]
    )
    if not plain:
        return RefundRequest
    new = object.__new__
    (s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10) = (
        getattr(RefundRequest, name).__set__ for name in names
    )

    def make(
        row: int,
        order_id: str | None,
        payment_id: str | None,
        amount: int | None,
        currency: str,
        reason: Reason,
        description: str | None,
        reference: str | None,
        line_items: tuple[str, ...],
        metadata: tuple[tuple[str, str], ...],
        shop_order: str | None = None,
    ) -> RefundRequest:
        request: RefundRequest = new(RefundRequest)
        s0(request, row)
        s1(request, order_id)
        s2(request, payment_id)
        s3(request, amount)
        s4(request, currency)
        s5(request, reason)
        s6(request, description)
        s7(request, reference)
        s8(request, line_items)
        s9(request, metadata)
        s10(request, shop_order)
        return request

    return make


_make_request = _request_factory()


def _yen_or_none(value: str | int | float) -> int | None:
    """``parse_amount`` exactly as ``check`` calls it, with None where ``check`` must explain."""
    try:
        return parse_amount(value)
    except YenParseError:
        return None


def _fit(cells: Row, at: tuple[int, ...]) -> bool:
    """True when no cell at these indices is longer than an Excel cell may be."""
    n = len(cells)
    for i in at:
        if i < n and type(cell := cells[i]) is str and len(cell) > MAX_CELL_CHARS:
            return False
    return True


def _same_refund(
    earlier: RefundRequest | list[RefundRequest], request: RefundRequest
) -> RefundRequest | None:
    """The first earlier request with the same duplicate key, if any."""
    key = duplicate_key(request)
    for candidate in earlier if isinstance(earlier, list) else (earlier,):
        if duplicate_key(candidate) == key:
            return candidate
    return None


def _tuple_getter(indices: list[int]) -> Callable[[Row], tuple[object, ...]]:
    """``itemgetter`` that returns a tuple even for one index (and ``()`` for none)."""
    if len(indices) == 1:
        only = indices[0]
        return lambda cells: (cells[only],)
    if not indices:
        return lambda cells: ()
    return itemgetter(*indices)


def _metadata(
    columns: tuple[tuple[str, int], ...], raw: tuple[object, ...]
) -> tuple[tuple[str, str], ...] | None:
    """Metadata pairs from raw cells, or None when ``check`` must look (not text, too long,
    a control character)."""
    pairs = []
    for (key, _), value in zip(columns, raw, strict=True):
        if type(value) is not str or len(value) > MAX_METADATA_VALUE_LENGTH or not is_clean(value):
            return None
        value = value.strip()
        if value:
            pairs.append((key, value))
    return tuple(pairs)
