"""Atomic writes: a failure mid-write leaves old files (or none) and no temporary files."""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

import pytest

from batch_refunds.models import RowOutcome, Status
from batch_refunds.report import CSV_NAME, SUMMARY_NAME, XLSX_NAME, RunReport, write_report
from batch_refunds.report.atomic import TEMP_SUFFIX, write_atomically

REPORT_NAMES = {CSV_NAME, XLSX_NAME, SUMMARY_NAME}


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(TEMP_SUFFIX))


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def new_a(stream: BinaryIO) -> None:
    stream.write(b"new a")


def half_then_fail(stream: BinaryIO) -> None:
    stream.write(b"half a file")
    raise OSError("disk full")


def test_write_report_creates_missing_directory(report: RunReport, tmp_path: Path) -> None:
    """out_dir is created with its parents; the returned paths name the three files in it."""
    out = tmp_path / "reports" / "run-1"
    paths = write_report(report, out)
    assert paths.directory == out
    assert (paths.csv.name, paths.xlsx.name, paths.summary.name) == (
        "reconciliation.csv",
        "reconciliation.xlsx",
        "summary.json",
    )
    assert {p.name for p in out.iterdir()} == REPORT_NAMES


def test_failure_mid_row_keeps_previous_report(report: RunReport, tmp_path: Path) -> None:
    """A bad row deep in the CSV aborts the write: all three old files stay byte for byte."""
    write_report(report, tmp_path)
    before = snapshot(tmp_path)
    many = tuple(RowOutcome(row=n, status=Status.PLANNED, order_id=f"o{n}") for n in range(2, 3000))
    broken = (*many, RowOutcome(row=3000, status=Status.PLANNED, refunded_amount=1.5))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="row 3000: refunded_amount"):
        write_report(replace(report, rows=broken), tmp_path)
    assert snapshot(tmp_path) == before
    assert leftovers(tmp_path) == []


def test_failure_on_first_write_leaves_no_files(report: RunReport, tmp_path: Path) -> None:
    """With no earlier report, a failed write leaves the directory empty: no partial file."""
    broken = (RowOutcome(row=2, status=Status.PLANNED, attempts="1"),)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="attempts"):
        write_report(replace(report, rows=broken), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_render_failing_midway_removes_its_temp_and_keeps_old_file(tmp_path: Path) -> None:
    """A renderer that wrote half its bytes then failed: old content stays, temp removed."""
    target = tmp_path / "out.csv"
    target.write_bytes(b"old complete file")
    with pytest.raises(OSError, match="disk full"):
        write_atomically([(target, half_then_fail)])
    assert target.read_bytes() == b"old complete file"
    assert leftovers(tmp_path) == []


def test_later_render_failure_renames_nothing(tmp_path: Path) -> None:
    """Files are all rendered before any is renamed: one failure leaves even the first untouched."""
    first, second = tmp_path / "a.csv", tmp_path / "b.json"
    first.write_bytes(b"old a")
    with pytest.raises(OSError, match="disk full"):
        write_atomically([(first, new_a), (second, half_then_fail)])
    assert first.read_bytes() == b"old a"
    assert not second.exists()
    assert leftovers(tmp_path) == []


def test_interrupt_during_render_cleans_up(tmp_path: Path) -> None:
    """Ctrl-C while rendering also removes the temp file and propagates."""

    def interrupted(stream: BinaryIO) -> None:
        stream.write(b"partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically([(tmp_path / "x.xlsx", interrupted)])
    assert list(tmp_path.iterdir()) == []


def test_summary_is_renamed_last(
    report: RunReport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """summary.json lands after the CSV and workbook, so its presence marks a complete set."""
    renamed: list[str] = []
    real_replace = os.replace

    def recording_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        renamed.append(Path(dst).name)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", recording_replace)
    write_report(report, tmp_path)
    assert renamed == [CSV_NAME, XLSX_NAME, SUMMARY_NAME]


def test_failed_rename_removes_remaining_temps(
    report: RunReport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the workbook can't be renamed (say Excel holds it open), no temp file is left."""
    write_report(report, tmp_path)
    old_xlsx = (tmp_path / XLSX_NAME).read_bytes()
    old_summary = (tmp_path / SUMMARY_NAME).read_bytes()
    real_replace = os.replace

    def locked_workbook(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if Path(dst).name == XLSX_NAME:
            raise PermissionError("file is open in another program")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", locked_workbook)
    changed = replace(report, summary=replace(report.summary, run_id="run_second"))
    with pytest.raises(PermissionError):
        write_report(changed, tmp_path)
    assert (tmp_path / XLSX_NAME).read_bytes() == old_xlsx
    assert (tmp_path / SUMMARY_NAME).read_bytes() == old_summary  # still names the old run
    assert leftovers(tmp_path) == []


def test_temp_files_are_hidden_siblings(tmp_path: Path) -> None:
    """Work in progress is a dot-file beside the target, so os.replace stays one filesystem."""
    seen: list[Path] = []

    def spy(stream: BinaryIO) -> None:
        seen.extend(p for p in tmp_path.iterdir())
        stream.write(b"x")

    write_atomically([(tmp_path / "report.csv", spy)])
    assert len(seen) == 1
    assert seen[0].parent == tmp_path
    assert seen[0].name.startswith(".report.csv.")
    assert seen[0].name.endswith(TEMP_SUFFIX)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_files_get_umask_permissions_not_0600(report: RunReport, tmp_path: Path) -> None:
    """Report files are created like any user file (0666 less umask), not mkstemp's 0600."""
    previous = os.umask(0o022)
    try:
        paths = write_report(report, tmp_path)
    finally:
        os.umask(previous)
    for path in (paths.csv, paths.xlsx, paths.summary):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_rewrite_replaces_whole_files(report: RunReport, tmp_path: Path) -> None:
    """A second, smaller report fully replaces the first: nothing of the longer one remains."""
    write_report(report, tmp_path)
    smaller = replace(report, rows=report.rows[:1], refunds=())
    paths = write_report(smaller, tmp_path)
    assert paths.csv.read_bytes().count(b"\r\n") == 2
    assert {p.name for p in tmp_path.iterdir()} == REPORT_NAMES


def test_directory_fsync_refusal_does_not_fail_the_report(
    report: RunReport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A filesystem that can't fsync a directory still gets a complete report, no error."""
    real_fsync = os.fsync

    def files_only(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(22, "Invalid argument")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", files_only)
    paths = write_report(report, tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == REPORT_NAMES
    assert paths.summary.read_bytes().endswith(b"}\n")
