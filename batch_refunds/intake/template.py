"""An empty refund sheet with the canonical headers and two example rows that load as-is."""

from __future__ import annotations

import csv
from pathlib import Path

from batch_refunds.intake.columns import CANONICAL

FORMATS = ("csv", "xlsx")

EXAMPLE_ROWS: tuple[tuple[str | int | None, ...], ...] = (
    # order_id, payment_id, amount, currency, reason, description, reference, line_items
    (
        "order_test_ReplaceWithYourOrderId1",
        None,
        None,
        "JPY",
        "requested_by_customer",
        "Blank amount: refund everything that remains on the order",
        "RF-EXAMPLE-0001",
        None,
    ),
    (
        "order_test_ReplaceWithYourOrderId2",
        None,
        1500,
        "JPY",
        "requested_by_customer",
        "Partial refund: one item returned",
        "RF-EXAMPLE-0002",
        None,
    ),
)


def template_format(path: Path, requested: str | None) -> str:
    """The format to write: the one asked for, else the file's suffix, else CSV."""
    if requested is not None:
        return requested
    return "xlsx" if path.suffix.lower() == ".xlsx" else "csv"


def write_template(path: Path, fmt: str = "csv") -> None:
    """Write the template to ``path`` as ``csv`` (UTF-8 with BOM, for Excel) or ``xlsx``."""
    if fmt == "csv":
        _write_csv(path)
    elif fmt == "xlsx":
        _write_xlsx(path)
    else:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")


def _write_csv(path: Path) -> None:
    # The BOM makes Excel open the file as UTF-8 instead of guessing the local code page.
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CANONICAL)
        for row in EXAMPLE_ROWS:
            writer.writerow("" if cell is None else cell for cell in row)


def _write_xlsx(path: Path) -> None:
    from xlsxwriter import Workbook

    book = Workbook(str(path))
    sheet = book.add_worksheet("Refunds")
    bold = book.add_format({"bold": True})
    # Ids typed into a General column can be turned into numbers or dates by Excel; Text
    # format keeps them as typed. Amounts get a thousands separator for readability.
    text = book.add_format({"num_format": "@"})
    yen = book.add_format({"num_format": "#,##0"})
    for column, name in enumerate(CANONICAL):
        sheet.write_string(0, column, name, bold)
        # In pixels, so the file says 36 and 22 characters as before (set_column adds padding).
        sheet.set_column_pixels(column, column, (36 if name.endswith("_id") else 22) * 7)
        style = yen if name == "amount" else text
        for row in range(1, 1000):  # rows 2 to 1000 carry the format, filled or not
            cell = EXAMPLE_ROWS[row - 1][column] if row <= len(EXAMPLE_ROWS) else None
            if isinstance(cell, str):
                sheet.write_string(row, column, cell, style)
            elif isinstance(cell, int):
                sheet.write_number(row, column, cell, style)
            else:
                sheet.write_blank(row, column, None, style)
    sheet.freeze_panes(1, 0)
    book.close()
