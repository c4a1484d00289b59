"""The overhead baseline: a bare ``aiohttp`` loop doing exactly the tool's HTTP work.

``python -m bench.bare_aiohttp RETURNS.csv BASE_URL OUT_DIR CONCURRENCY``

``CONCURRENCY`` workers share one connection pool of that size; each row is GET order +
POST refund (see ``plain.py``). At the end it writes the same two report files as the tool
— ``reconciliation.csv`` and ``reconciliation.xlsx`` with the tool's ``Rows`` columns and a
``Refunds`` sheet — with the workbook library the tool's report writer uses, so the ratio
is the tool's own cost (journal, pacing, checks) and nothing else.
"""

from __future__ import annotations

import asyncio
import csv
import sys
from pathlib import Path
from typing import Any

import aiohttp

from batch_refunds.report import xlsx_file
from batch_refunds.report.model import REFUND_COLUMNS, ROW_COLUMNS
from bench.plain import HEADERS, plan_refunds, read_rows, refund_body

Outcome = tuple[Any, ...]


async def _row(
    session: aiohttp.ClientSession, base: str, number: int, cells: dict[str, str]
) -> tuple[Outcome, list[Outcome]]:
    oid = cells["order_id"]
    async with session.get(f"{base}/orders/{oid}", params={"expand": "all"}) as response:
        order = await response.json()
    refunds: list[Outcome] = []
    status = "rejected"
    for payment_id, amount in plan_refunds(order, cells.get("amount", "")):
        body = refund_body(payment_id, amount, cells)
        key = {"Idempotency-Key": f"bare-{number}-{payment_id}"}
        async with session.post(f"{base}/refunds", json=body, headers=key) as response:
            refund = await response.json()
        status = "refunded" if response.status == 200 else "failed"
        if response.status == 200:
            refunds.append(
                (refund["id"], number, oid, payment_id, amount, refund.get("reference"),
                 refund["createdAt"])
            )  # fmt: skip
    total = sum(r[4] for r in refunds)
    payments = ";".join(r[3] for r in refunds)
    ids = ";".join(r[0] for r in refunds)
    row: Outcome = (
        number, oid, payments, "JPY", cells.get("amount") or None, None, 0, total, ids, status,
        None, None, cells.get("reference"), 1, *cells.values(),
    )  # fmt: skip
    return row, refunds


async def _run(path: Path, base: str, concurrency: int) -> tuple[list[Outcome], list[Outcome]]:
    queue: asyncio.Queue[tuple[int, dict[str, str]]] = asyncio.Queue()
    for item in read_rows(path):
        queue.put_nowait(item)
    rows: list[Outcome] = []
    refunds: list[Outcome] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=HEADERS) as session:

        async def worker() -> None:
            while not queue.empty():
                number, cells = queue.get_nowait()
                row, made = await _row(session, base, number, cells)
                rows.append(row)
                refunds.extend(made)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    rows.sort(key=lambda r: r[0])
    return rows, refunds


def _write_reports(out: Path, header: list[str], rows: list[Outcome], refunds: list[Outcome]):
    out.mkdir(parents=True, exist_ok=True)
    with (out / "reconciliation.csv").open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)
    path = out / "reconciliation.xlsx"
    if "xlsxwriter" in sys.modules:  # the tool's writer moved to XlsxWriter: follow it
        import xlsxwriter

        book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
        for name, columns, lines in (("Rows", header, rows), ("Refunds", REFUND_COLUMNS, refunds)):
            sheet = book.add_worksheet(name)
            sheet.write_row(0, 0, columns)
            for n, line in enumerate(lines, start=1):
                sheet.write_row(n, 0, line)
        book.close()
        return
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    for name, columns, lines in (("Rows", header, rows), ("Refunds", REFUND_COLUMNS, refunds)):
        sheet = book.create_sheet(name)
        sheet.append(list(columns))
        for line in lines:
            sheet.append(list(line))
    book.save(path)


def main(argv: list[str]) -> int:
    path, base, out, concurrency = Path(argv[0]), argv[1], Path(argv[2]), int(argv[3])
    rows, refunds = asyncio.run(_run(path, base, concurrency))
    with path.open(encoding="utf-8", newline="") as handle:
        inputs = next(csv.reader(handle))
    header = [*ROW_COLUMNS, *(f"input.{name}" for name in inputs)]
    _write_reports(out, header, rows, refunds)
    print(f"{len(rows)} rows, {len(refunds)} refunds; xlsx via {xlsx_file.__name__}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
