"""One pass over an inbox folder: which files are taken, where they go, what is new."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from batch_refunds.errors import InboxBusy
from batch_refunds.inbox import (
    ATTENTION_DIR,
    DONE_DIR,
    DUPLICATE_NOTE,
    PROBLEM_NOTE,
    InboxLock,
    is_temporary,
)
from batch_refunds.journal import Journal
from batch_refunds.models import CreateRefund, Refund
from tests.inbox.conftest import Inbox


def _filed(inbox: Inbox, parent: str) -> list[Path]:
    folder = inbox.dir / parent
    return sorted(folder.iterdir()) if folder.is_dir() else []


def _runs(inbox: Inbox) -> int:
    with Journal(inbox.journal_path) as journal:
        return len(journal.recent_runs(limit=-1))


async def test_a_clean_file_is_run_then_filed_in_done_with_its_report(inbox: Inbox) -> None:
    """Every row refunded: the report folder goes to done/<stem>-<run>/ and the file into it;
    the journal's report folder follows the move."""
    a, b = inbox.order(5000), inbox.order(3000)
    inbox.drop("returns.csv", [(a, 5000, "R-1"), (b, 1000, "R-2")])
    result = await inbox.run_pass()
    (filed,) = result.files
    assert (filed.outcome, filed.rows, filed.refunded_rows, filed.refunded_yen) == (
        "done", 2, 2, 6000,
    )  # fmt: skip
    (folder,) = _filed(inbox, DONE_DIR)
    assert folder.name == f"returns-{filed.run_id}"
    assert sorted(p.name for p in folder.iterdir()) == [
        "reconciliation.csv", "reconciliation.xlsx", "returns.csv", "summary.json",
    ]  # fmt: skip
    assert not (inbox.dir / "returns.csv").exists()
    assert result.exit_code == 0
    assert inbox.refunded() == {a: 5000, b: 1000}
    with Journal(inbox.journal_path) as journal:
        (record,) = journal.recent_runs()
    assert record.report_dir == str(folder)


async def test_a_file_still_being_written_waits_for_the_next_pass(inbox: Inbox) -> None:
    """A file that grows between the two looks is skipped (nothing sent for it), the settled
    one beside it is run; the next pass takes the grown file whole."""
    a, b = inbox.order(5000), inbox.order(4000)
    inbox.drop("settled.csv", [(a, 5000, "R-1")])
    growing = inbox.drop("growing.csv", [(b, 1000, "R-2")])

    async def still_writing(seconds: float) -> None:
        assert seconds == 2.0  # the default settle interval, never slept for real
        with growing.open("a", encoding="utf-8") as handle:
            handle.write(f"{b},3000,R-3\r\n")

    first = await inbox.run_pass(sleep=still_writing)
    assert [f.file for f in first.files] == ["settled.csv"]
    assert [(s.file, s.reason) for s in first.skipped] == [("growing.csv", "still being written")]
    assert growing.exists()
    assert inbox.refunded() == {a: 5000}
    assert "growing.csv: still being written, left for the next pass" in inbox.log

    second = await inbox.run_pass()
    assert [(f.file, f.outcome, f.refunded_yen) for f in second.files] == [
        ("growing.csv", "done", 4000)
    ]
    assert inbox.refunded() == {a: 5000, b: 4000}


async def test_a_file_whose_mtime_changes_at_the_same_size_waits(inbox: Inbox) -> None:
    """Same size, a new modification time (rewritten in place): still being written."""
    path = inbox.drop("same-size.csv", [(inbox.order(1000), 1000, "R-1")])

    async def touched(_seconds: float) -> None:
        info = path.stat()
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000))

    result = await inbox.run_pass(sleep=touched)
    assert result.files == []
    assert [s.file for s in result.skipped] == ["same-size.csv"]
    assert inbox.posts() == 0


@pytest.mark.parametrize(
    "name", ["~$returns.xlsx", "returns.csv.part", "returns.tmp", "returns.csv.crdownload",
             ".returns.csv", "returns.csv~", "RETURNS.CSV.PART"],
)  # fmt: skip
async def test_temporary_names_are_left_alone(inbox: Inbox, name: str) -> None:
    """Lock files, partial downloads and dotfiles are never run, moved or counted."""
    path = inbox.drop(name, [(inbox.order(1000), 1000, "R-1")])
    result = await inbox.run_pass()
    assert result.files == []
    assert path.exists()
    assert inbox.posts() == 0
    assert _runs(inbox) == 0
    assert inbox.settle_sleeps == []
    assert is_temporary(name)


def test_ordinary_spreadsheet_names_are_not_temporary() -> None:
    """Real files, Japanese names and dotted stems are taken."""
    for name in ("returns.csv", "返金 2026-12-01.xlsx", "a.b.c.tsv", "returns.txt", "tmp.csv"):
        assert not is_temporary(name)


async def test_an_empty_inbox_sends_nothing_and_does_not_wait(inbox: Inbox) -> None:
    """No candidate file: no request at all (not even the access check), no settle wait."""
    result = await inbox.run_pass()
    assert result.as_json()["files_processed"] == 0
    assert result.exit_code == 0
    assert inbox.settle_sleeps == []
    assert sum(inbox.server.state.stats.requests.values()) == 0


async def test_a_file_dropped_twice_is_filed_as_a_duplicate_not_run(inbox: Inbox) -> None:
    """The same content under another name: moved to done/ with a duplicate-of note naming
    the first run; no run, no request beyond the access check."""
    a = inbox.order(5000)
    rows = [(a, 2000, "R-1")]
    inbox.drop("monday.csv", rows)
    first = await inbox.run_pass()
    inbox.drop("monday (copy).csv", rows)
    posts, runs = inbox.posts(), _runs(inbox)
    second = await inbox.run_pass()
    (dup,) = second.files
    assert (dup.outcome, dup.duplicate_of, dup.new_problems) == (
        "duplicate", first.files[0].run_id, 0,
    )  # fmt: skip
    folder = Path(dup.destination or "")
    assert folder.parent == inbox.dir / DONE_DIR
    assert folder.name.startswith("monday (copy)-dup")
    note = (folder / DUPLICATE_NOTE).read_text(encoding="utf-8")
    assert first.files[0].run_id in note
    assert str(first.files[0].destination) in note
    assert (folder / "monday (copy).csv").exists()
    assert (inbox.posts(), _runs(inbox), second.exit_code) == (posts, runs, 0)
    assert inbox.refunded() == {a: 2000}


async def test_a_file_whose_run_sent_nothing_runs_again_when_dropped_again(inbox: Inbox) -> None:
    """A guardrail stopped the first run (exit 2, nothing sent): dropping the file again
    after raising the limit runs it; it is not a duplicate."""
    a = inbox.order(9000)
    rows = [(a, 9000, "R-1")]
    inbox.drop("big.csv", rows)
    first = await inbox.run_pass(max_total=5000)
    assert (first.files[0].outcome, first.files[0].exit_code) == (ATTENTION_DIR, 2)
    assert first.exit_code == 1
    assert inbox.posts() == 0
    inbox.drop("big.csv", rows)
    second = await inbox.run_pass(max_total=10_000)
    assert [(f.outcome, f.refunded_yen) for f in second.files] == [("done", 9000)]


async def test_an_unusable_file_goes_to_needs_attention_with_the_reason(inbox: Inbox) -> None:
    """A file that is no refund spreadsheet: filed with problem.txt, a new problem (exit 1),
    nothing sent."""
    (inbox.dir / "notes.csv").write_text("hello,world\nnothing,here\n", encoding="utf-8")
    result = await inbox.run_pass()
    (filed,) = result.files
    assert (filed.outcome, filed.new_problems, result.exit_code) == ("unusable", 1, 1)
    folder = Path(filed.destination or "")
    assert folder.parent == inbox.dir / ATTENTION_DIR
    assert "cannot use notes.csv" in (folder / PROBLEM_NOTE).read_text(encoding="utf-8")
    assert (folder / "notes.csv").exists()
    assert inbox.posts() == 0


async def test_new_problems_are_told_from_known_ones_across_nights(inbox: Inbox) -> None:
    """A cumulative sheet: night 1's rejected and invalid rows come back on nights 2 and 3
    as known; only a row that is newly wrong is new, and a night with nothing new exits 0
    though its old problems remain."""
    a, b, c, d = (inbox.order(5000) for _ in range(4))
    night1 = [(a, 5000, "R-1"), (b, 9000, "R-2"), ("order_test_", 100, "R-3")]
    result1 = await _night(inbox, "night1.csv", night1)
    assert (result1.new_problems, result1.as_json()["known_problems"], result1.exit_code) == (
        2, 0, 1,
    )  # fmt: skip

    night2 = [*night1, (c, 1000, "R-4"), (d, 7000, "R-5")]
    result2 = await _night(inbox, "night2.csv", night2)
    (filed2,) = result2.files
    assert (filed2.attention_rows, filed2.new_problems, filed2.known_problems) == (3, 1, 2)
    assert (filed2.refunded_rows, filed2.refunded_yen, result2.exit_code) == (1, 1000, 1)

    night3 = [*night2, (d, 1500, "R-6")]
    result3 = await _night(inbox, "night3.csv", night3)
    (filed3,) = result3.files
    assert (filed3.attention_rows, filed3.new_problems, filed3.known_problems) == (3, 0, 3)
    assert (filed3.outcome, result3.exit_code) == (ATTENTION_DIR, 0)
    assert inbox.refunded() == {a: 5000, c: 1000, d: 1500}


async def test_a_row_newly_wrong_in_another_way_is_new(inbox: Inbox) -> None:
    """The same row rejected for another reason than last night (over the limit then, its
    order since refunded in the dashboard now): a new problem, not a known one."""
    a = inbox.order(5000)
    first = await _night(inbox, "n1.csv", [(a, 3000, "R-1")], max_amount=1000)
    inbox.server.state.add_refund(inbox.payments[a], 5000, reference="DASHBOARD")
    second = await _night(inbox, "n2.csv", [(a, 3000, "R-1"), (inbox.order(100), 100, "R-2")])
    with Journal(inbox.journal_path) as journal:
        codes = [next(o.error_code for o in journal.outcomes(r.files[0].run_id or ""))
                 for r in (first, second)]  # fmt: skip
    assert codes[0] != codes[1]
    (filed,) = second.files
    assert (filed.new_problems, filed.known_problems, second.exit_code) == (1, 0, 1)


async def test_one_earlier_report_makes_one_identical_row_known_not_two(inbox: Inbox) -> None:
    """Identical rows count one by one: one reported on each of two nights, a second
    identical row is new."""
    a = inbox.order(5000)
    bad = ("order_test_", 100, "R-X")
    await _night(inbox, "n1.csv", [(a, 1000, "R-1"), bad])
    await _night(inbox, "n2.csv", [(a, 1000, "R-1"), bad, (a, 1, "R-2")])
    result = await _night(inbox, "n3.csv", [(a, 1000, "R-1"), bad, bad], allow_duplicate_rows=True)
    (filed,) = result.files
    assert (filed.new_problems, filed.known_problems) == (1, 1)  # two nights' one is still one


async def _night(inbox: Inbox, name: str, rows: list[Any], **options: Any) -> Any:
    inbox.drop(name, rows)
    return await inbox.run_pass(**options)


async def test_a_crash_between_the_run_and_the_filing_files_without_running(
    inbox: Inbox,
) -> None:
    """The run finished and its report was filed, but the file was never moved in: the next
    pass files it beside that report instead of running it or calling it a duplicate."""
    a = inbox.order(5000)
    inbox.drop("returns.csv", [(a, 5000, "R-1")])
    first = await inbox.run_pass()
    folder = Path(first.files[0].destination or "")
    os.replace(folder / "returns.csv", inbox.dir / "returns.csv")
    runs, posts = _runs(inbox), inbox.posts()
    second = await inbox.run_pass()
    assert [(f.outcome, f.run_id, f.destination) for f in second.files] == [
        ("done", first.files[0].run_id, str(folder))
    ]
    assert (folder / "returns.csv").exists()
    assert (_runs(inbox), inbox.posts()) == (runs, posts)


class StopsAfterFirstPost:
    """The real client; SIGTERM arrives as soon as the first refund POST is answered."""

    def __init__(self, client: Any, stop: asyncio.Event) -> None:
        self._client, self._stop = client, stop

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def create_refund(self, body: CreateRefund, *, idempotency_key: str) -> Refund:
        refund: Refund = await self._client.create_refund(body, idempotency_key=idempotency_key)
        self._stop.set()
        return refund


async def test_a_stopped_pass_leaves_the_file_for_the_next_one(inbox: Inbox) -> None:
    """SIGTERM mid-file: exit 130, the report filed as interrupted, the file left in the
    inbox and the next file untouched; the next pass finishes the job exactly once."""
    orders = [inbox.order(3000) for _ in range(4)]
    path = inbox.drop("a.csv", [(o, 3000, f"R-{n}") for n, o in enumerate(orders)])
    later = inbox.drop("b.csv", [(inbox.order(1000), 1000, "R-9")])
    os.utime(later, (path.stat().st_mtime + 10, path.stat().st_mtime + 10))
    stop = asyncio.Event()
    first = await inbox.run_pass(stop=stop, concurrency=1,
                                 wrap_api=lambda c: StopsAfterFirstPost(c, stop))  # fmt: skip
    assert first.exit_code == 130
    assert [f.outcome for f in first.files] == ["interrupted"]
    assert path.exists()
    assert later.exists()
    (report,) = _filed(inbox, ATTENTION_DIR)
    assert report.name.endswith("-interrupted")
    assert json.loads((report / "summary.json").read_text(encoding="utf-8"))["exit_code"] == 130

    second = await inbox.run_pass()
    assert [(f.file, f.outcome) for f in second.files] == [("a.csv", "done"), ("b.csv", "done")]
    assert len(inbox.server.state.all_refunds()) == 5


async def test_a_second_pass_while_one_holds_the_inbox_is_refused_at_once(inbox: Inbox) -> None:
    """The inbox lock is held: the pass raises InboxBusy before looking at any file."""
    path = inbox.drop("returns.csv", [(inbox.order(1000), 1000, "R-1")])
    with InboxLock(inbox.dir), pytest.raises(InboxBusy, match="is being processed by pid"):
        await inbox.run_pass()
    assert path.exists()
    assert inbox.settle_sleeps == []
    assert inbox.posts() == 0


async def test_the_pass_summary_adds_up_its_files(inbox: Inbox) -> None:
    """The JSON summary's totals are the sums over its files, with each file's fields."""
    a, b = inbox.order(5000), inbox.order(5000)
    inbox.drop("one.csv", [(a, 1000, "R-1")])
    inbox.drop("two.csv", [(b, 2000, "R-2"), (b, 9000, "R-3")])
    summary = (await inbox.run_pass()).as_json()
    assert {k: summary[k] for k in ("files_processed", "rows_refunded", "yen_refunded",
                                    "rows_needing_attention", "new_problems",
                                    "known_problems", "exit_code")} == {
        "files_processed": 2, "rows_refunded": 2, "yen_refunded": 3000,
        "rows_needing_attention": 1, "new_problems": 1, "known_problems": 0, "exit_code": 1,
    }  # fmt: skip
    assert [(f["file"], f["outcome"]) for f in summary["files"]] == [
        ("one.csv", "done"), ("two.csv", ATTENTION_DIR),
    ]  # fmt: skip
    assert set(summary["files"][0]) >= {"sha256", "destination", "run_id", "exit_code", "rows"}
