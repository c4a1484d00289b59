"""The sample files in inputs/ are valid and match the order table in inputs/README.md."""

from __future__ import annotations

import re

from batch_refunds.intake import load_requests

from .conftest import INPUTS

_ROW = re.compile(r"^\| (refunds_\S+) \| (order_test_\w+) \| ([\d,]+) \| ([\d,]*) \|$")


def _readme_table() -> dict[str, list[tuple[str, int, int | None]]]:
    table: dict[str, list[tuple[str, int, int | None]]] = {}
    for line in (INPUTS / "README.md").read_text(encoding="utf-8").splitlines():
        if m := _ROW.match(line):
            refund = int(m[4].replace(",", "")) if m[4] else None
            table.setdefault(m[1], []).append((m[2], int(m[3].replace(",", "")), refund))
    return table


def test_every_sample_loads_without_errors_and_matches_the_readme() -> None:
    """Each sample is all valid; its order ids and amounts are the ones the README lists."""
    table = _readme_table()
    assert sorted(table) == ["refunds_en.csv", "refunds_ja_cp932.csv", "refunds_titled.xlsx"]
    for name, orders in table.items():
        result = load_requests(INPUTS / name)
        assert result.errors == (), name
        assert [(r.order_id, r.amount) for r in result.requests] == [
            (oid, refund) for oid, _, refund in orders
        ], name
        for (_, total, refund), request in zip(orders, result.requests, strict=True):
            assert refund is None or refund <= total
            assert request.order_id is not None
            assert len(request.order_id) == len("order_test_") + 20


def test_samples_cover_what_the_demo_needs() -> None:
    """Full refunds, partial refunds, a fraudulent reason, references and metadata appear."""
    en = load_requests(INPUTS / "refunds_en.csv")
    assert en.skipped_blank_rows == 1
    assert len(en.requests) == 12
    assert any(r.amount is None for r in en.requests)
    assert any(r.reason == "fraudulent" for r in en.requests)
    assert all(r.reference and r.metadata for r in en.requests)
    ja = load_requests(INPUTS / "refunds_ja_cp932.csv")
    assert ja.detected.encoding == "cp932"
    assert any(r.amount is None for r in ja.requests)
    xlsx = load_requests(INPUTS / "refunds_titled.xlsx")
    assert xlsx.detected.header_row == 4
    ids = [r.order_id for s in (en, ja, xlsx) for r in s.requests]
    assert len(ids) == len(set(ids))
