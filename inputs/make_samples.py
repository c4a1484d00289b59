"""Regenerate the sample refund files in this folder: ``python inputs/make_samples.py``.

Order ids are derived from a fixed seed, so the files, and the sandbox seed that matches
them, are the same on every machine.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font

HERE = Path(__file__).resolve().parent
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def order_id(label: str) -> str:
    """``order_test_`` + 20 base62 characters derived from ``label``."""
    n = int.from_bytes(hashlib.sha256(f"batch_refunds sample {label}".encode()).digest(), "big")
    chars = []
    for _ in range(20):
        n, r = divmod(n, 62)
        chars.append(BASE62[r])
    return "order_test_" + "".join(chars)


# (order total captured in the sandbox, refund cell as written, reason, description, reference)
ENGLISH = [
    (12800, "", "requested_by_customer", "Cancelled before shipping", "RF-2026-1101"),
    (5400, "1200", "requested_by_customer", "One item returned", "RF-2026-1102"),
    (33000, "", "fraudulent", "Chargeback: card reported stolen", "RF-2026-1103"),
    (8900, "8900", "requested_by_customer", "Wrong size, full return", "RF-2026-1104"),
    (15600, "3,000", "Requested By Customer", "Late delivery goodwill credit", "RF-2026-1105"),
    (2980, "980", "", "Shipping fee refunded", "RF-2026-1106"),
    (44000, "22000", "requested_by_customer", "Half of a double order", "RF-2026-1107"),
    (7700, "", "requested_by_customer", "Out of stock", "RF-2026-1108"),
    (19800, "4500", "fraudulent", "Suspicious partial order", "RF-2026-1109"),
    (6600, "6600", "", "Damaged in transit", "RF-2026-1110"),
    (120000, "15000", "requested_by_customer", "Price adjustment", "RF-2026-1111"),
    (3300, "500", "requested_by_customer", "Coupon not applied", "RF-2026-1112"),
]
# CP932 has no U+00A5: Japanese Excel writes ¥ as the full-width ￥, or as byte 0x5C, which
# Japanese fonts draw as ¥ and Python decodes as a backslash. Both spellings appear below.
JAPANESE = [
    (9800, "￥2,000", "顧客都合", "サイズ交換①", "KR-0001"),
    (25300, "", "顧客都合", "注文キャンセル（発送前）", "KR-0002"),
    (4400, "１，５００円", "顧客都合", "一部返品", "KR-0003"),
    (58000, "\\58,000", "不正", "不正利用の疑い", "KR-0004"),
    (11000, "3300円", "", "送料返金", "KR-0005"),
    (7150, "", "お客様都合", "在庫切れ", "KR-0006"),
]
EXCEL = [
    (16500, 16500, "requested_by_customer", "Event cancelled", "EV-7001"),
    (8250, 2750, "requested_by_customer", "One ticket returned", "EV-7002"),
    (41800, None, "requested_by_customer", "Venue change, full refund", "EV-7003"),
    (13200, 1320, "fraudulent", "Duplicate charge investigation", "EV-7004"),
    (5500, 5500, "requested_by_customer", "Customer request", "EV-7005"),
]


def write_english() -> None:
    with (HERE / "refunds_en.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "order_id",
                "amount",
                "currency",
                "reason",
                "description",
                "reference",
                "metadata.ticket",
            ]
        )
        for i, (_, amount, reason, description, reference) in enumerate(ENGLISH, start=1):
            if i == 7:
                w.writerow([])  # a blank line, as exports often have; skipped, not an error
            currency = "JPY" if i % 3 else ""
            w.writerow(
                [
                    order_id(f"en-{i}"),
                    amount,
                    currency,
                    reason,
                    description,
                    reference,
                    f"ZD-{48000 + i}",
                ]
            )


def write_japanese() -> None:
    with (HERE / "refunds_ja_cp932.csv").open("w", encoding="cp932", newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(["注文番号", "返金額", "返金理由", "備考", "管理番号"])
        for i, (_, amount, reason, memo, reference) in enumerate(JAPANESE, start=1):
            w.writerow([order_id(f"ja-{i}"), amount, reason, memo, reference])


def write_excel() -> None:
    book = Workbook()
    sheet = book.active
    sheet.title = "返金依頼"
    sheet["A1"] = "Refund request — November 2026 events"
    sheet["A1"].font = Font(bold=True, size=14)
    sheet["A2"] = "Prepared by Finance, approved 2026-11-26"
    sheet.append([])
    sheet.append(["Order ID", "Refund Amount", "Reason", "Description", "Merchant Reference"])
    for cell in sheet[4]:
        cell.font = Font(bold=True)
    for i, (_, amount, reason, description, reference) in enumerate(EXCEL, start=1):
        sheet.append([order_id(f"xlsx-{i}"), amount, reason, description, reference])
        sheet.cell(row=sheet.max_row, column=2).number_format = "#,##0"
    book.save(HERE / "refunds_titled.xlsx")


def orders() -> list[tuple[str, str, int, int | None]]:
    """(file, order id, order total, refund asked for or None = all remaining) per sample row."""
    from batch_refunds.money import parse_yen

    out: list[tuple[str, str, int, int | None]] = []
    for name, label, rows in (
        ("refunds_en.csv", "en", ENGLISH),
        ("refunds_ja_cp932.csv", "ja", JAPANESE),
        ("refunds_titled.xlsx", "xlsx", EXCEL),
    ):
        for i, (total, amount, *_rest) in enumerate(rows, start=1):
            asked = parse_yen(amount) if amount not in ("", None) else None
            out.append((name, order_id(f"{label}-{i}"), total, asked))
    return out


if __name__ == "__main__":
    write_english()
    write_japanese()
    write_excel()
    for name, oid, total, asked in orders():
        print(f"| {name} | {oid} | {total:,} | {'' if asked is None else f'{asked:,}'} |")
