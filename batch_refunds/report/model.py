"""What a report holds, and the one mapping from outcomes to table cells.

The CSV and the workbook's ``Rows``/``Refunds`` sheets are drawn from the same cell
tuples built here, so the two can't drift apart. Pure: no I/O, no third-party imports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from pathlib import Path

from batch_refunds.models import InputLayout, RefundRecord, RowOutcome, RunSummary, Status
from batch_refunds.report.cells import text_cell
from batch_refunds.report.zones import shown_epoch_ms

Cell = int | str | None
"""A table cell: whole numbers stay numbers, text is already neutralised, ``None`` is blank."""

LIST_SEPARATOR = ";"

ROW_COLUMNS: tuple[str, ...] = (
    "row",
    "order_id",
    "shop_order",
    "payment_ids",
    "currency",
    "requested_amount",
    "refundable_before",
    "already_refunded",
    "refunded_amount",
    "refund_ids",
    "status",
    "error_code",
    "message",
    "reference",
    "attempts",
)
ROW_AMOUNT_COLUMNS = frozenset(
    {"requested_amount", "refundable_before", "already_refunded", "refunded_amount"}
)

REFUND_COLUMNS: tuple[str, ...] = (
    "refund_id",
    "row",
    "order_id",
    "payment_id",
    "amount",
    "reference",
    "created_at",
)
REFUND_AMOUNT_COLUMNS = frozenset({"amount"})

CSV_NAME = "reconciliation.csv"
XLSX_NAME = "reconciliation.xlsx"
SUMMARY_NAME = "summary.json"


INPUT_PREFIX = "input:"
"""Marks a carried input column whose header is also the name of one of the tool's columns."""


@dataclass(frozen=True, slots=True)
class RunReport:
    """Everything a reconciliation report shows about one run.

    ``input_header`` and ``input_cells`` carry the spreadsheet's own columns through, after
    the tool's, so finance can join the report back to their system: the header cells as
    written, and each row's cells as a person saw them (by row number). ``layout`` says how
    the input was written, for ``needs_attention``; ``zone`` is the time zone the workbook
    shows its times in (``summary.timezone`` names it).
    """

    summary: RunSummary
    rows: tuple[RowOutcome, ...]  # one per input data row, in input order
    refunds: tuple[RefundRecord, ...]
    input_header: tuple[str, ...] = ()
    input_cells: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    layout: InputLayout | None = None
    zone: tzinfo = UTC

    @property
    def row_columns(self) -> tuple[str, ...]:
        """The Rows header: the tool's columns, then the input's (see ``input_column_names``),
        neutralised like any text cell: a header is spreadsheet content too."""
        return ROW_COLUMNS + tuple(
            text_cell(name) or "" for name in input_column_names(self.input_header)
        )


@dataclass(frozen=True, slots=True)
class ReportPaths:
    """Where :func:`~batch_refunds.report.write_report` put the files."""

    directory: Path
    csv: Path
    xlsx: Path
    summary: Path
    fallback_from: Path | None = None
    """The folder the report was meant for, when it could not be written there."""
    needs_attention: Path | None = None
    """The input's rows that need a person, as the input was written; None if none do."""

    @classmethod
    def in_directory(cls, directory: Path) -> ReportPaths:
        """The fixed file names inside ``directory``."""
        return cls(
            directory=directory,
            csv=directory / CSV_NAME,
            xlsx=directory / XLSX_NAME,
            summary=directory / SUMMARY_NAME,
        )


def whole(value: object, field: str, row: int | None = None) -> int:
    """``value`` as an ``int``; anything else (a float, bool or str) is a bug upstream, so
    fail loudly rather than ever print ``1000.0`` yen."""
    if type(value) is int:
        return value
    where = f"row {row}: " if row is not None else ""
    raise TypeError(f"{where}{field} must be a whole number, got {type(value).__name__} {value!r}")


def _optional_whole(value: object, field: str, row: int) -> int | None:
    return None if value is None else whole(value, field, row)


def rows_in_order(report: RunReport) -> list[RowOutcome]:
    """Rows sorted by input line; the sort is stable, so equal lines keep their order."""
    return sorted(report.rows, key=lambda outcome: outcome.row)


def refunds_in_order(report: RunReport) -> list[RefundRecord]:
    """Refunds by input line, then by Smartpay's creation time."""
    return sorted(report.refunds, key=lambda refund: (refund.row, refund.created_at))


def input_column_names(header: tuple[str, ...]) -> tuple[str, ...]:
    """The carried columns' names: each header as written; ``input:<header>`` where it is
    also one of the tool's column names; ``input:column <n>`` for a blank header cell."""
    own = {name.casefold() for name in ROW_COLUMNS}
    names = []
    for number, text in enumerate(header, start=1):
        text = text.strip()
        if not text:
            names.append(f"{INPUT_PREFIX}column {number}")
        elif text.casefold() in own:
            names.append(f"{INPUT_PREFIX}{text}")
        else:
            names.append(text)
    return tuple(names)


def report_row_cells(report: RunReport, outcome: RowOutcome) -> tuple[Cell, ...]:
    """One ``Rows`` line of ``report``: the tool's cells, then the row's own input cells
    (blank where the row has none, e.g. a header wider than the row)."""
    own = row_cells(outcome)
    width = len(report.input_header)
    if not width:
        return own
    given = report.input_cells.get(outcome.row, ())
    carried = [text_cell(given[i]) if i < len(given) else None for i in range(width)]
    return own + tuple(carried)


def row_cells(outcome: RowOutcome) -> tuple[Cell, ...]:
    """One ``Rows`` line, in :data:`ROW_COLUMNS` order."""
    row = whole(outcome.row, "row")
    return (
        row,
        text_cell(outcome.order_id),
        text_cell(outcome.shop_order),
        text_cell(LIST_SEPARATOR.join(outcome.payment_ids)),
        text_cell(outcome.currency),
        _optional_whole(outcome.requested_amount, "requested_amount", row),
        _optional_whole(outcome.refundable_before, "refundable_before", row),
        whole(outcome.already_refunded, "already_refunded", row),
        whole(outcome.refunded_amount, "refunded_amount", row),
        text_cell(LIST_SEPARATOR.join(outcome.refund_ids)),
        text_cell(Status(outcome.status).value),
        text_cell(outcome.error_code),
        text_cell(outcome.message),
        text_cell(outcome.reference),
        whole(outcome.attempts, "attempts", row),
    )


def refund_cells(refund: RefundRecord, zone: tzinfo = UTC) -> tuple[Cell, ...]:
    """One ``Refunds`` line, in :data:`REFUND_COLUMNS` order, its time shown in ``zone``."""
    row = whole(refund.row, "row")
    return (
        text_cell(refund.refund_id),
        row,
        text_cell(refund.order_id),
        text_cell(refund.payment_id),
        whole(refund.amount, "amount", row),
        text_cell(refund.reference),
        shown_epoch_ms(whole(refund.created_at, "created_at", row), zone),
    )


def iso_utc_ms(epoch_ms: int) -> str:
    """Smartpay's epoch milliseconds as ``2026-11-27T08:06:50.123Z``.

    Integer arithmetic only, so no float rounding can shift a millisecond.
    """
    return shown_epoch_ms(epoch_ms, UTC)
