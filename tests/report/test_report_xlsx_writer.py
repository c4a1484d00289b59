"""The XlsxWriter workbook says what the openpyxl one did, and fails without leftovers."""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from batch_refunds.models import RefundRecord, RowOutcome, Status
from batch_refunds.report import XLSX_NAME, RunReport, write_report
from batch_refunds.report.atomic import TEMP_SUFFIX
from batch_refunds.report.xlsx_file import write_xlsx
from bench.xlsx_openpyxl import write_xlsx as openpyxl_write_xlsx

from .conftest import CREATED_MS


@pytest.fixture
def representative(report: RunReport) -> RunReport:
    """The shared fixture, plus carried input columns, hundreds of rows, Japanese text,
    error look-alikes, a URL, control characters and full-width formula triggers."""
    many = tuple(
        RowOutcome(
            row=n,
            status=Status.REFUNDED if n % 3 else Status.FAILED,
            order_id=f"order_test_{n:06d}",
            payment_ids=(f"payment_test_{n}a", f"payment_test_{n}b")[: 1 + n % 2],
            requested_amount=None if n % 7 == 0 else n * 10,
            refundable_before=n * 100,
            already_refunded=n,
            refunded_amount=n * 10 - n,
            refund_ids=(f"refund_test_{n}",),
            error_code=None if n % 3 else "http.500",
            message=(
                "返金可能額を超えています",
                "#N/A",
                "http://evil.example",
                "bad\x00\x1b",
                "=1+1",
                "＝1+1",
                None,
            )[n % 7],
            reference=("＋81", "－2", "＠x", f"RF-{n}", "=HYPERLINK(1)", " padded ")[n % 6],
            attempts=n % 4,
        )
        for n in range(6, 306)
    )
    refunds = tuple(
        RefundRecord(
            f"refund_test_{n}",
            n,
            f"order_test_{n:06d}",
            f"payment_test_{n}a",
            n * 10 - n,
            f"RF-{n}",
            CREATED_MS + n,
        )
        for n in range(6, 306)
    )
    header = ("order_id", "金額（税込）", "", "=cmd", "備考")
    cells = {o.row: (o.order_id or "", str(o.row), "メモ", "＝x", "") for o in many}
    return replace(
        report,
        rows=report.rows + many,
        refunds=report.refunds + refunds,
        input_header=header,
        input_cells=cells,
    )


def _cells(book: Any) -> dict[str, list[list[tuple[object, str, str, bool]]]]:
    """Every sheet's cells as (value, data type, number format, bold)."""
    return {
        sheet.title: [
            [(c.value, c.data_type, c.number_format, bool(c.font.bold)) for c in line]
            for line in sheet.iter_rows()
        ]
        for sheet in book.worksheets
    }


def _layout(book: Any) -> dict[str, object]:
    """Panes, filter and the width of each column (a <col> element may span several)."""
    return {
        sheet.title: (
            sheet.freeze_panes,
            sheet.auto_filter.ref,
            {
                i: d.width
                for d in sheet.column_dimensions.values()
                if d.customWidth
                for i in range(d.min, d.max + 1)
            },
        )
        for sheet in book.worksheets
    }


def _render(write: Any, report: RunReport) -> bytes:
    stream = io.BytesIO()
    write(report, stream)
    return stream.getvalue()


def test_same_cells_formats_and_sheets_as_the_openpyxl_writer(representative: RunReport) -> None:
    """Read back with openpyxl, both writers give the same sheets, values, types, number
    formats, bold header, panes, filters and column widths, cell for cell."""
    new = openpyxl.load_workbook(io.BytesIO(_render(write_xlsx, representative)))
    old = openpyxl.load_workbook(io.BytesIO(_render(openpyxl_write_xlsx, representative)))
    assert new.sheetnames == old.sheetnames == ["Summary", "Rows", "Refunds"]
    assert _cells(new) == _cells(old)
    assert _layout(new) == _layout(old)
    assert (new.properties.title, new.properties.creator) == (
        old.properties.title,
        old.properties.creator,
    )


def test_calamine_reads_the_model_back(representative: RunReport) -> None:
    """A second reader (calamine) sees each Rows line exactly as the CSV's cells say."""
    from batch_refunds.report.model import report_row_cells, rows_in_order

    book = CalamineWorkbook.from_filelike(io.BytesIO(_render(write_xlsx, representative)))
    rows = book.get_sheet_by_name("Rows").to_python()
    expected = [list(representative.row_columns)] + [
        ["" if c is None else c.replace("\x00", "\ufffd").replace("\x1b", "\ufffd")
         if isinstance(c, str) else c for c in report_row_cells(representative, o)]
        for o in rows_in_order(representative)
    ]  # fmt: skip
    width = len(representative.row_columns)
    got = [[int(c) if type(c) is float else c for c in line] + [""] * (width - len(line))
           for line in rows]  # fmt: skip
    assert got == expected
    assert "'＝1+1" in {line[12] for line in got}  # the full-width trigger, neutralised


def test_text_that_looks_escaped_or_erroneous_reads_back_as_typed(
    report: RunReport,
) -> None:
    """Text shaped like Excel's _xHHHH_ escape, and a header shaped like an error value,
    read back (by calamine, which follows Excel) as typed. openpyxl's writer got both
    wrong: "_x0041_" came back as "A", and a "#N/A" header became an error cell."""
    odd = replace(
        report,
        rows=(RowOutcome(row=2, status=Status.FAILED, reference="_x0041_", message="_x00_"),),
        input_header=("#N/A",),
        input_cells={2: ("#DIV/0!",)},
    )
    rows = CalamineWorkbook.from_filelike(io.BytesIO(_render(write_xlsx, odd)))
    header, line = rows.get_sheet_by_name("Rows").to_python()
    assert (line[12], line[13], header[15], line[15]) == ("_x00_", "_x0041_", "#N/A", "#DIV/0!")


class _Boom(Exception):
    pass


def _fail_after(monkeypatch: pytest.MonkeyPatch, target: Any, name: str, calls: int) -> None:
    real = getattr(target, name)
    count = 0

    def failing(*args: Any, **kwargs: Any) -> Any:
        nonlocal count
        count += 1
        if count > calls:
            raise _Boom(f"{name} failed")
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, failing)


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system temporary directory, redirected so that leftovers there can be seen."""
    where = tmp_path / "system-tmp"
    where.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(where))
    return where


@pytest.mark.parametrize(
    ("target", "name", "calls"),
    [
        ("worksheet", "write_string", 2_000),  # mid-way through the Rows sheet
        ("worksheet", "write_number", 1_500),
        pytest.param(
            "zipfile",
            "write",
            3,  # while close() assembles the archive
            # XlsxWriter leaves its ZipFile unclosed; collected later, it complains.
            marks=pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
        ),
    ],
)
def test_failure_mid_write_leaves_no_partial_file(
    representative: RunReport,
    tmp_path: Path,
    scratch: Path,
    monkeypatch: pytest.MonkeyPatch,
    target: str,
    name: str,
    calls: int,
) -> None:
    """The workbook failing part-way (rows half streamed, or the archive half built) leaves
    the previous report byte for byte, no temporary file beside it, and none of
    XlsxWriter's row files in the system's temporary directory."""
    from xlsxwriter.worksheet import Worksheet

    out = tmp_path / "report"
    write_report(replace(representative, rows=representative.rows[:3]), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    _fail_after(monkeypatch, Worksheet if target == "worksheet" else zipfile.ZipFile, name, calls)
    with pytest.raises(_Boom):
        write_report(representative, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not [p for p in out.iterdir() if p.name.endswith(TEMP_SUFFIX)]
    assert list(scratch.iterdir()) == []


def test_failure_without_earlier_report_leaves_no_workbook(
    representative: RunReport, tmp_path: Path, scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With nothing there before, a workbook that fails mid-sheet leaves an empty folder."""
    from xlsxwriter.worksheet import Worksheet

    _fail_after(monkeypatch, Worksheet, "write_string", 500)
    with pytest.raises(_Boom):
        write_report(representative, tmp_path / "report")
    assert os.listdir(tmp_path / "report") == []
    assert not (tmp_path / "report" / XLSX_NAME).exists()
    assert list(scratch.iterdir()) == []
