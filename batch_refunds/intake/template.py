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
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "Refunds"
    sheet.append(list(CANONICAL))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in EXAMPLE_ROWS:
        sheet.append(list(row))
    # Ids typed into a General column can be turned into numbers or dates by Excel; Text
    # format keeps them as typed. Amounts get a thousands separator for readability.
    for letter, name in zip("ABCDEFGH", CANONICAL, strict=True):
        sheet.column_dimensions[letter].width = 36 if name.endswith("_id") else 22
        style = "#,##0" if name == "amount" else "@"
        for r in range(2, 1001):
            sheet[f"{letter}{r}"].number_format = style
    sheet.freeze_panes = "A2"
    book.save(path)
