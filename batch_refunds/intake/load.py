"""The public entry: a spreadsheet path → typed refund requests plus row errors.

Never sends anything anywhere. Only a file that can't be used as a whole raises
(``InputFileError``, with a stable ``code``); every row problem is a ``RowError`` value.
Where the file leaves doubt about what a person meant (no amount column, a column that may
be the amount but isn't used), it is refused with the way out named, never read as
"refund everything".
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from batch_refunds.errors import ConfigError
from batch_refunds.intake.amount_columns import (
    SAMPLE_ROWS,
    Suspect,
    ambiguous_error,
    explicit_note,
    find_suspects,
    likely_amounts,
    no_amount_error,
)
from batch_refunds.intake.cells import KeptCells, cell_text
from batch_refunds.intake.columns import (
    AMOUNT,
    ORDER_ID,
    SHOP_ORDER,
    ColumnMap,
    canonical_name,
    checked_explicit,
    explicit_lookup,
    map_columns,
    shop_number_header,
)
from batch_refunds.intake.read import Row, Table, read_table
from batch_refunds.intake.scan import Scan, scan_rows
from batch_refunds.intake.totals import total_notes
from batch_refunds.intake.validate import RowValidator
from batch_refunds.models import RefundRequest, RowError
from batch_refunds.money import format_yen


@dataclass(frozen=True, slots=True)
class Detection:
    """What the loader worked out about the file, for a person to check."""

    format: str
    """``csv``, ``tsv``, ``xlsx``, ``xlsm``, ``xlsb``, ``xls`` or ``ods``."""
    encoding: str | None
    """Python codec name for text files (``utf-8``, ``utf-8-sig``, ``utf-16``, ``cp932``)."""
    delimiter: str | None
    sheet: str | None
    sheet_names: tuple[str, ...]
    header_row: int
    """The header's row number as a person sees it (1-based)."""
    columns: tuple[tuple[str, str], ...]
    """(header as written, canonical column) for every recognised column."""
    ignored_columns: tuple[str, ...]
    explicit_columns: tuple[str, ...] = ()
    """Canonical columns whose header the caller named (``--column``), not guessed."""


@dataclass(frozen=True, slots=True)
class LoadResult:
    """Everything below the header, accounted for.

    Every row below the header is exactly one of: a request, an invalid row (one or more
    ``errors`` share its row number), a skipped blank row, or a skipped total line, so
    ``total_rows == len(requests) + len(invalid_rows) + skipped_blank_rows
    + skipped_total_rows``.
    """

    requests: tuple[RefundRequest, ...]
    errors: tuple[RowError, ...]
    detected: Detection
    warnings: tuple[str, ...]
    """Complete sentences for a person: every note ``validate`` prints comes from here."""
    total_rows: int
    skipped_blank_rows: int
    skipped_total_rows: int = 0
    total_line_rows: tuple[int, ...] = ()
    """Row numbers of the skipped total lines (合計, Total, …)."""
    input_header: tuple[str, ...] = ()
    """The header row's cells as written, up to its last non-blank cell."""
    cells: Mapping[int, tuple[str, ...]] = field(default_factory=dict, hash=False)
    """With ``keep_cells``: row number → its cells as a person sees them, cut or padded to
    ``input_header``'s width, for every request and invalid row. Empty otherwise."""
    positions: tuple[tuple[str, int], ...] = ()
    """(canonical column, its index in ``input_header``) for every recognised column."""

    def typed(self, row: int, column: str) -> str | None:
        """What a person typed in ``column`` (canonical name) on ``row``, with ``keep_cells``;
        ``None`` when the cell is blank, the file has no such column, or cells were not kept."""
        at = dict(self.positions).get(column)
        cells = self.cells.get(row, ())
        if at is None or at >= len(cells):
            return None
        return cells[at].strip() or None

    @property
    def written_cells(self) -> Mapping[int, tuple[str, ...]]:
        """Like ``cells``, but a row wider than the header keeps its extra cells."""
        return self.cells.uncut() if isinstance(self.cells, KeptCells) else self.cells

    @property
    def invalid_rows(self) -> tuple[int, ...]:
        """Row numbers with at least one error, ascending."""
        return tuple(sorted({e.row for e in self.errors}))

    @property
    def full_refund_count(self) -> int:
        """Valid rows that leave the amount blank: refund everything that remains."""
        return sum(1 for r in self.requests if r.amount is None)

    @property
    def requested_yen(self) -> int:
        """The sum of the amounts written on valid rows (full refunds are not included)."""
        return sum(r.amount for r in self.requests if r.amount is not None)


def load_requests(
    path: str | Path,
    *,
    sheet: str | None = None,
    encoding: str | None = None,
    allow_duplicate_rows: bool = False,
    columns: Mapping[str, str] | None = None,
    full_refunds: bool = False,
    keep_cells: bool = False,
) -> LoadResult:
    """Read a CSV/TSV/Excel file of refunds and validate every row.

    ``sheet`` picks an Excel sheet (default: the first), ``encoding`` overrides detection
    for text files, ``allow_duplicate_rows`` keeps identical rows as separate requests.
    ``columns`` names headers outright (``{"amount": "返金額（税込）"}``; keys are canonical
    columns or ``metadata.<key>``). A file without an amount column is refused unless
    ``full_refunds`` says every row means "refund everything that remains". ``keep_cells``
    also returns each row's cells (``LoadResult.cells``) for a report.

    Raises ``InputFileError`` for an unreadable file, a missing header, id or amount column,
    a column that may be the amount but is not used, or a ``columns`` header the file lacks;
    ``ConfigError`` for a misused option (``--sheet`` on a CSV, an unknown encoding or
    column name, ``full_refunds`` with an amount column).
    """
    explicit = checked_explicit(columns)
    if full_refunds and AMOUNT in explicit:
        raise ConfigError(
            "--full-refunds means every row refunds everything that remains, and "
            "--column amount names the column of amounts to refund: give one or the other."
        )
    table = read_table(
        Path(path), sheet=sheet, encoding=encoding, explicit=explicit_lookup(explicit)
    )
    # 注文番号 and its kin name Smartpay's order id or the shop's own order number: read as
    # the shop's number first, then given back to order_id if its first cells hold ids.
    maybe_shop = (
        set()
        if ORDER_ID in explicit or SHOP_ORDER in explicit
        else {i for i, cell in enumerate(table.header)
              if isinstance(cell, str) and shop_number_header(cell)}
    )  # fmt: skip
    column_map = map_columns(
        table.header, header_row=table.header_row, explicit=explicit, shop_numbers=maybe_shop
    )
    amount_header = next((h for h, name in column_map.headers if name == AMOUNT), None)
    if full_refunds and amount_header is not None:
        raise ConfigError(
            f"--full-refunds says every row refunds everything that remains, but the column "
            f'"{amount_header}" holds refund amounts. Drop --full-refunds to refund the '
            "amounts written; to refund everything instead, delete that column from the file."
        )
    used = {i for _, i in column_map.indices} | {i for _, i in column_map.metadata}
    marked = table.mark_unread(used)
    head = list(itertools.islice(table.rows, SAMPLE_ROWS))
    shop_at = column_map.index(SHOP_ORDER)
    if shop_at is not None and shop_at in maybe_shop and not _shop_numbers(head, shop_at):
        column_map = map_columns(
            table.header, header_row=table.header_row, explicit=explicit,
            shop_numbers=maybe_shop - {shop_at},
        )  # fmt: skip
    # An amount column left blank on every row (beside, say, a column of yen) decides
    # nothing: every row would refund everything. It counts as no amount column at all.
    amount_at = column_map.index(AMOUNT)
    amount_used = amount_at is not None and any(
        amount_at < len(cells) and cell_text(cells[amount_at]) for _, cells in head
    )
    suspects = find_suspects(
        column_map, [cells for _, cells in head], amount_mapped=amount_used or AMOUNT in explicit
    )
    amount_notes = _check_amount_column(
        column_map, head, suspects, amount_header, explicit=AMOUNT in explicit,
        full_refunds=full_refunds,
    )  # fmt: skip
    text = table.delimiter is not None
    validator = RowValidator(column_map, check_width=text, unread_cells=marked > 0)
    scan = scan_rows(
        itertools.chain(head, table.rows),
        validator,
        allow_duplicate_rows=allow_duplicate_rows,
        text_cells=text,
        keep_cells=keep_cells,
    )
    errors = tuple(scan.errors)
    requests = tuple(scan.requests)
    invalid_rows = sorted({e.row for e in errors})
    warnings = [
        *_column_notes(column_map, suspects, explicit),
        *amount_notes,
        *_sheet_notes(table),
        *total_notes(scan.total_lines, requests, invalid_rows, table.header_row + 1),
        *_shared_reference_notes(requests, scan.same_id),
    ]
    return LoadResult(
        requests=requests,
        errors=errors,
        detected=_detection(table, column_map),
        warnings=tuple(warnings),
        total_rows=scan.total_rows,
        skipped_blank_rows=scan.blank_rows,
        skipped_total_rows=len(scan.total_lines),
        total_line_rows=tuple(line.row for line in scan.total_lines),
        input_header=column_map.header_cells,
        positions=column_map.indices,
        cells=_cells(scan),
    )


def _check_amount_column(
    columns: ColumnMap,
    head: list[tuple[int, Row]],
    suspects: list[Suspect],
    amount_header: str | None,
    *,
    explicit: bool,
    full_refunds: bool,
) -> list[str]:
    """Refuse a file that leaves the amount in doubt; the notes for one that does not."""
    if amount_header is None:
        if suspects:
            raise ambiguous_error(suspects, None, full_refunds=full_refunds)
        if not full_refunds:
            sample = [cells for _, cells in head]
            raise no_amount_error(columns, likely_amounts(columns, sample))
        return [
            "The file has no amount column: as asked (--full-refunds), every row refunds "
            "everything that remains on its order."
        ]
    if suspects:
        if not explicit:
            raise ambiguous_error(suspects, amount_header, full_refunds=False)
        return [explicit_note(suspects, amount_header)]
    return []


def _shop_numbers(head: list[tuple[int, Row]], at: int) -> bool:
    """True when a 注文番号-like column holds shop order numbers: some cell among the first
    rows is filled and none looks like a Smartpay order id (``order_…``, even a mistyped
    one, which stays an order id and gets its own error)."""
    values = [cell_text(cells[at]) for _, cells in head if at < len(cells)]
    filled = [v for v in values if v]
    return bool(filled) and not any(v.casefold().startswith("order_") for v in filled)


def _cells(scan: Scan) -> Mapping[int, tuple[str, ...]]:
    return scan.kept if scan.kept is not None else {}


def _detection(table: Table, columns: ColumnMap) -> Detection:
    return Detection(
        format=table.format,
        encoding=table.encoding,
        delimiter=table.delimiter,
        sheet=table.sheet,
        sheet_names=table.sheet_names,
        header_row=table.header_row,
        columns=columns.headers,
        ignored_columns=columns.ignored,
        explicit_columns=columns.explicit,
    )


def _column_notes(
    columns: ColumnMap, suspects: list[Suspect], explicit: Mapping[str, str]
) -> list[str]:
    noted = {s.header for s in suspects}
    notes = []
    chosen = {name: header for header, name in columns.headers}
    overridden = []
    unused = []
    for header in columns.ignored:
        if header in noted:
            continue
        name = canonical_name(header)
        if name is not None and name in explicit:
            overridden.append(f'"{header}" (--column {name} chose "{chosen[name]}")')
        else:
            unused.append(f'"{header}"')
    for listed in (unused, overridden):
        if listed:
            one = len(listed) == 1
            notes.append(
                f"{'The column' if one else 'The columns'} {_listed(listed)} "
                f"{'is' if one else 'are'} not used for refunds."
            )
    return notes


def _sheet_notes(table: Table) -> list[str]:
    if len(table.sheet_names) > 1:
        return [
            f'The workbook has {len(table.sheet_names)} sheets; only "{table.sheet}" was read '
            "(choose another with --sheet)."
        ]
    return []


def _listed(items: list[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


SHARED_REFERENCES_SHOWN = 3


def _shared_reference_notes(
    requests: tuple[RefundRequest, ...], same_id: list[list[RefundRequest]] | None = None
) -> list[str]:
    """Rows of one order that share a reference but ask different amounts are refunded
    together (a reference names the refunds under it): say so, since a corrected amount
    left beside the old line would add up instead of replacing it.

    Such rows share their id, so ``same_id`` (the scan's rows grouped by a shared id) holds
    them all. Without it, rows are first grouped by a shared reference: one dict entry per
    reference, no key tuple or list per row (for a million rows those were a third of the
    load time and 150 MB)."""
    candidates: Iterable[list[RefundRequest]]
    if same_id is not None:
        candidates = same_id
    else:
        first: dict[str, RefundRequest] = {}
        repeated: dict[str, list[RefundRequest]] = {}
        for r in requests:
            if r.reference is not None and (earlier := first.setdefault(r.reference, r)) is not r:
                repeated.setdefault(r.reference, [earlier]).append(r)
        candidates = repeated.values()
    groups: dict[tuple[str, str], list[RefundRequest]] = {}
    for under in candidates:
        for r in under:
            if r.reference is not None:
                groups.setdefault((r.order_id or r.payment_id or "", r.reference), []).append(r)
    shared = sorted(
        (g for g in groups.values() if len({r.amount for r in g}) > 1), key=lambda g: g[0].row
    )
    notes = []
    for group in shared[:SHARED_REFERENCES_SHOWN]:
        rows = ", ".join(str(r.row) for r in group)
        fixed = [r.amount for r in group if r.amount is not None]
        total = format_yen(sum(fixed)) if len(fixed) == len(group) else "everything that remains"
        notes.append(
            f"Rows {rows} share the order and the reference {group[0].reference} with different "
            f"amounts: they are refunded together ({total} under {group[0].reference}). If one "
            "corrects another, keep only the corrected line."
        )
    if len(shared) > SHARED_REFERENCES_SHOWN:
        notes.append(
            f"{len(shared) - SHARED_REFERENCES_SHOWN} more references are shared by rows of one "
            "order with different amounts."
        )
    return notes
