"""The disk: a report folder or journal that can't be used stops the run before it sends
anything, and a journal is never silently replaced by a fresh one."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from batch_refunds.errors import ConfigError
from batch_refunds.journal import Journal
from batch_refunds.models import Status
from tests.run.conftest import Harness, statuses


async def test_report_folder_that_cannot_be_written_stops_before_sending(
    harness: Harness,
) -> None:
    """--out under a regular file (so no folder can be made there): exit 2 before any
    request, instead of refunding everything and then failing to write the report."""
    oid, _ = harness.order(3000, 3000)
    blocker = harness.tmp / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot be written"):
        await harness.run(harness.write([(oid, None, 1000, "R")]), out_dir=blocker / "report")
    assert harness.server.state.stats.requests == {}


async def test_a_report_that_fails_after_sending_lands_beside_the_journal(
    harness: Harness,
) -> None:
    """If the report folder is taken between the check and the end of the run, the report
    is written to a fresh folder beside the journal and the result says so."""
    oid, _ = harness.order(3000, 3000)
    out = harness.tmp / "out"

    async def meanwhile(totals: object) -> bool:  # another process writes a report there
        (out / "summary.json").write_text("{}", encoding="utf-8")
        return True

    from batch_refunds.runner import RunHooks

    result = await harness.run(
        harness.write([(oid, None, 1000, "R")]), out_dir=out, hooks=RunHooks(confirm=meanwhile)
    )
    assert statuses(result) == [Status.REFUNDED]
    assert result.report.fallback_from == out
    assert (
        result.report.directory == harness.journal_path.parent / f"report-{result.summary.run_id}"
    )
    assert result.report.csv.exists()
    assert (out / "summary.json").read_text(encoding="utf-8") == "{}"  # not replaced


def test_a_file_that_is_no_journal_is_a_clear_error(tmp_path: Path) -> None:
    """A corrupt journal names the file and says not to start afresh."""
    path = tmp_path / "journal.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError, match=r"journal .*journal.sqlite3 cannot be used.*backup"):
        Journal(path)


def test_a_journal_folder_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    """A journal path under a regular file: a ConfigError naming it, not a traceback."""
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot be opened"):
        Journal(tmp_path / "file" / "journal.sqlite3")


def make_used_journal(path: Path) -> None:
    with Journal(path) as journal:
        journal.start_run("20260101T000000Z-aaaaaa", mode="run", input_path="r.csv",
                          input_sha256="x", rows=1, started_at="2026-01-01T00:00:00Z")  # fmt: skip


def test_an_emptied_journal_is_refused_not_started_afresh(tmp_path: Path) -> None:
    """A journal truncated to nothing (or deleted) beside its .id file is refused."""
    path = tmp_path / "journal.sqlite3"
    make_used_journal(path)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(b"")
    with pytest.raises(ConfigError, match="not the one used before"):
        Journal(path)


def test_a_journal_replaced_by_another_is_refused(tmp_path: Path) -> None:
    """Another journal copied over this one is refused: its id is not the remembered one."""
    path, other = tmp_path / "journal.sqlite3", tmp_path / "other" / "journal.sqlite3"
    make_used_journal(path)
    make_used_journal(other)
    shutil.copyfile(other, path)
    with pytest.raises(ConfigError, match="not the one used before"):
        Journal(path)


def test_a_journal_that_lost_its_latest_run_is_refused(tmp_path: Path) -> None:
    """A journal without the run its .id file remembers (a deleted -wal file, an older copy
    restored) is refused, naming the run."""
    path = tmp_path / "journal.sqlite3"
    make_used_journal(path)
    db = sqlite3.connect(path)
    db.execute("DELETE FROM runs")
    db.commit()
    db.close()
    with pytest.raises(ConfigError, match="lost its latest run 20260101T000000Z-aaaaaa"):
        Journal(path)


def test_deleting_the_id_file_too_is_the_way_out(tmp_path: Path) -> None:
    """Removing <journal>.id as the message says lets a new journal start."""
    path = tmp_path / "journal.sqlite3"
    make_used_journal(path)
    path.unlink()
    path.with_name(path.name + ".id").unlink()
    with Journal(path) as journal:
        assert journal.recent_runs() == []


@pytest.mark.parametrize("name", ["summary.json", "reconciliation.csv", "reconciliation.xlsx"])
def test_any_one_report_file_makes_a_folder_taken(tmp_path: Path, name: str) -> None:
    """A folder holding any of the three report files is refused, not only summary.json."""
    from batch_refunds.runner import check_out_dir

    (tmp_path / name).write_bytes(b"earlier")
    with pytest.raises(ConfigError, match="already holds a report"):
        check_out_dir(tmp_path)
    assert (tmp_path / name).read_bytes() == b"earlier"


def test_an_out_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    """--out naming an existing file: refused before anything is sent, not a traceback
    after every refund went out."""
    from batch_refunds.runner import check_out_dir

    (tmp_path / "notadir").write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot be written"):
        check_out_dir(tmp_path / "notadir")
