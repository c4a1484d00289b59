"""Nightly jobs: every new spreadsheet dropped in a folder, run once, then filed away.

A *pass* looks at the folder twice, ``settle_s`` apart, and takes only the files whose size
and modification time did not change between the looks (a file still being copied or
saved waits for the next pass), leaving temporary names alone (``~$…``, ``.part``, ``.tmp``,
``.crdownload``, dotfiles). Each file is known by its content (sha256), never its name:

- content no finished run of the journal has seen → ``runner.run_batch`` runs it exactly
  as ``run --yes`` would (the same call; this module adds no refund logic), its report is
  written under ``.inbox-work/``, then the report folder becomes ``done/<stem>-<run>/`` (every
  row refunded or already refunded) or ``needs-attention/<stem>-<run>/``, and the file is
  moved into it. The file is moved only after its run finished, so a crash leaves it in the
  folder and the next pass runs it again: the journal makes that exactly once.
- content whose run finished but whose filing was cut short (a crash between the two) →
  filed now, not run again.
- content a finished run already processed (dropped twice, or under another name) → not
  run again: moved to ``done/<stem>-duplicate-<time>/`` with ``duplicate-of.txt`` naming
  that run and its report. A run that sent nothing (exit 2: a guardrail) does not count,
  so a file dropped again after its limit was raised runs.
- a file that cannot be used at all (not a spreadsheet, no amount column…) →
  ``needs-attention/<stem>-<time>/`` with ``problem.txt``.

A run stopped by SIGTERM or Ctrl-C (exit 130) files its report in ``needs-attention/`` and
leaves the file in the folder for the next pass.

A row that needs attention is *known* when an earlier finished run in the journal reported
a row asking the same (order, amount, reference — a row without a reference carries its
identity in its derived ``br-…`` reference) with the same status and code, as many times in
one run: a cumulative sheet whose old rejected rows come back every night raises no new
alarm. Everything else is *new*.

One pass at a time per folder: ``InboxLock`` is an OS lock on ``<DIR>/.inbox.lock``
(dropped by the OS when the process dies); a second pass raises ``InboxBusy`` at once. The
journal's own lock still stands behind it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from batch_refunds.api import SmartpayApi
from batch_refunds.errors import (
    CONFIGURATION_ERRORS,
    ConfigError,
    InboxBusy,
    InputFileError,
    JournalBusy,
    LiveKeyNotAllowed,
    SmartpayError,
)
from batch_refunds.exit_codes import (
    EXIT_BUSY,
    EXIT_INTERRUPTED,
    EXIT_NOT_STARTED,
    EXIT_OK,
    EXIT_ROWS_NOT_DONE,
)
from batch_refunds.filelock import FileLock
from batch_refunds.journal import Journal, ReportedProblem, RunRecord
from batch_refunds.models import RowOutcome, Status
from batch_refunds.money import format_yen
from batch_refunds.runner import ReportNotWritten, RunOptions, file_sha256, iso_utc, run_batch

DONE_DIR = "done"
ATTENTION_DIR = "needs-attention"
WORK_DIR = ".inbox-work"
LOCK_NAME = ".inbox.lock"
DUPLICATE_NOTE = "duplicate-of.txt"
PROBLEM_NOTE = "problem.txt"
INTERRUPTED_NOTE = "interrupted.txt"
DEFAULT_SETTLE_S = 2.0
DEFAULT_WATCH_INTERVAL_S = 60.0

TEMPORARY_SUFFIXES = (".part", ".partial", ".tmp", ".temp", ".crdownload", ".download", "~")
_DONE = {Status.REFUNDED, Status.ALREADY_REFUNDED, Status.PLANNED}
_REPORT_FILES = {"summary.json", "reconciliation.csv", "reconciliation.xlsx"}

Log = Callable[[str], None]
Sleep = Callable[[float], Awaitable[None]]


def is_temporary(name: str) -> bool:
    """A name that something is still writing, or that is nobody's spreadsheet: Excel's
    ``~$`` lock files, download and copy parts, editor backups, dotfiles (our own lock)."""
    lowered = name.lower()
    return name.startswith((".", "~$")) or lowered.endswith(TEMPORARY_SUFFIXES)


class InboxLock(FileLock):
    """An exclusive OS lock on ``<DIR>/.inbox.lock``: one pass at a time per inbox."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory / LOCK_NAME)

    def busy(self, holder: str) -> Exception:
        return InboxBusy(
            f"the inbox {self.path.parent} is being processed by {holder}; nothing was "
            "touched, the next pass will pick up what is new"
        )

    def unwritable(self, exc: OSError) -> Exception:
        return ConfigError(
            f"the inbox {self.path.parent} cannot be written: {exc.strerror or exc}",
            option="directory",
        )


@dataclass(frozen=True, slots=True)
class FileResult:
    """What a pass did with one file. ``outcome``: ``done``, ``needs-attention``,
    ``duplicate``, ``unusable`` or ``interrupted`` (the file stays for the next pass)."""

    file: str
    sha256: str
    outcome: str
    destination: str | None
    run_id: str | None = None
    exit_code: int | None = None
    rows: int = 0
    refunded_rows: int = 0
    refunded_yen: int = 0
    attention_rows: int = 0
    new_problems: int = 0
    known_problems: int = 0
    duplicate_of: str | None = None
    message: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file, "sha256": self.sha256, "outcome": self.outcome,
            "destination": self.destination, "run_id": self.run_id,
            "exit_code": self.exit_code, "rows": self.rows,
            "rows_refunded": self.refunded_rows, "yen_refunded": self.refunded_yen,
            "rows_needing_attention": self.attention_rows, "new_problems": self.new_problems,
            "known_problems": self.known_problems, "duplicate_of": self.duplicate_of,
            "message": self.message,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class Skipped:
    file: str
    reason: str  # "still being written" or "temporary name"


@dataclass
class PassResult:
    """One pass over the inbox. ``stopped``: why the pass ended before its last file."""

    directory: Path
    started_at: str
    files: list[FileResult] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    stopped: str | None = None
    busy: bool = False
    interrupted: bool = False

    @property
    def new_problems(self) -> int:
        return sum(f.new_problems for f in self.files)

    @property
    def exit_code(self) -> int:
        """130 stopped by a signal; 75 the journal was busy; 1 something new needs
        attention (or Smartpay could not be reached); otherwise 0."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.busy:
            return EXIT_BUSY
        if self.new_problems or self.stopped:
            return EXIT_ROWS_NOT_DONE
        return EXIT_OK

    def as_json(self) -> dict[str, Any]:
        processed = [f for f in self.files if f.outcome != "interrupted"]
        return {
            "inbox": str(self.directory),
            "started_at": self.started_at,
            "files_processed": len(processed),
            "rows_refunded": sum(f.refunded_rows for f in self.files),
            "yen_refunded": sum(f.refunded_yen for f in self.files),
            "rows_needing_attention": sum(f.attention_rows for f in self.files),
            "new_problems": self.new_problems,
            "known_problems": sum(f.known_problems for f in self.files),
            "files": [f.as_json() for f in self.files],
            "skipped": [{"file": s.file, "reason": s.reason} for s in self.skipped],
            "stopped": self.stopped,
            "exit_code": self.exit_code,
        }


@dataclass(frozen=True, slots=True)
class InboxOptions:
    """``run``: the options every file is run with, as ``run --yes`` would take them; its
    ``input_path`` and ``out_dir`` are replaced for each file."""

    directory: Path
    run: RunOptions
    settle_s: float = DEFAULT_SETTLE_S

    def __post_init__(self) -> None:
        if not self.directory.is_dir():
            raise ConfigError(f"the inbox {self.directory} is not a folder", option="directory")
        if not self.settle_s >= 0:
            raise ConfigError(f"settle_s must be 0 or more, got {self.settle_s}", option="settle_s")


async def run_pass(
    options: InboxOptions,
    *,
    api: SmartpayApi,
    journal: Journal,
    stop: asyncio.Event | None = None,
    sleep: Sleep = asyncio.sleep,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    log: Log = lambda _line: None,
) -> PassResult:
    """One pass, holding the inbox's lock. Raises only when nothing was touched:
    ``InboxBusy``, ``ConfigError`` (``LiveKeyNotAllowed``; a key or API prefix Smartpay
    refuses)."""
    with InboxLock(options.directory):
        return await _pass(options, api, journal, stop or asyncio.Event(), sleep, now, log)


async def watch(
    options: InboxOptions,
    *,
    api: SmartpayApi,
    journal: Journal,
    interval_s: float = DEFAULT_WATCH_INTERVAL_S,
    stop: asyncio.Event,
    on_pass: Callable[[PassResult], None],
    sleep: Sleep = asyncio.sleep,
    idle: Callable[[asyncio.Event, float], Awaitable[None]] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    log: Log = lambda _line: None,
) -> bool:
    """Pass after pass, ``interval_s`` apart, holding the inbox's lock throughout, until
    ``stop`` is set. True when a run was interrupted by the stop."""
    if not interval_s > 0:
        raise ConfigError(f"interval_s must be above 0, got {interval_s}", option="interval_s")
    wait = idle or _wait_for_stop
    with InboxLock(options.directory):
        while not stop.is_set():
            result = await _pass(options, api, journal, stop, sleep, now, log)
            on_pass(result)
            if result.interrupted:
                return True
            await wait(stop, interval_s)
    return False


async def _wait_for_stop(stop: asyncio.Event, seconds: float) -> None:
    with suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _pass(
    options: InboxOptions,
    api: SmartpayApi,
    journal: Journal,
    stop: asyncio.Event,
    sleep: Sleep,
    now: Callable[[], datetime],
    log: Log,
) -> PassResult:
    inbox = options.directory
    result = PassResult(inbox, iso_utc(now()))
    if api.live and not options.run.allow_live:
        raise LiveKeyNotAllowed(
            "this is a live key (real money): sending refunds with it needs the caller's "
            "explicit permission (RunOptions.allow_live)",
            option="allow_live",
        )
    stable = await _settled_files(inbox, result, options.settle_s, sleep, log)
    if not stable:
        return result
    try:
        await api.check_access()
    except CONFIGURATION_ERRORS as exc:
        raise ConfigError(str(exc), option="api") from None
    except SmartpayError as exc:
        result.stopped = f"Smartpay could not be reached: {exc}"
        log(f"pass stopped, {len(stable)} file(s) left for the next pass: {result.stopped}")
        return result
    for path in stable:
        if stop.is_set():
            result.interrupted = True
            break
        try:
            filed = await _one_file(options, path, api, journal, stop, now)
        except JournalBusy as exc:
            result.busy = True
            result.stopped = str(exc)
            log(f"pass stopped, {path.name} and the rest left for the next pass: {exc}")
            break
        result.files.append(filed)
        log(_describe(filed))
        if filed.outcome == "interrupted":
            result.interrupted = True
            break
    return result


async def _settled_files(
    inbox: Path, result: PassResult, settle_s: float, sleep: Sleep, log: Log
) -> list[Path]:
    """The files whose size and modification time held still across two looks, oldest
    first; the others are noted as skipped."""
    first = _look(inbox, result)
    if not first:
        return []
    await sleep(settle_s)
    second = _look(inbox, None)
    stable, moving = [], []
    for name, signature in first.items():
        if second.get(name) == signature:
            stable.append((signature[1], name))
        elif name in second:
            moving.append(name)
    for name in sorted(moving):
        result.skipped.append(Skipped(name, "still being written"))
        log(f"{name}: still being written, left for the next pass")
    return [inbox / name for _, name in sorted(stable)]


def _look(inbox: Path, result: PassResult | None) -> dict[str, tuple[int, int]]:
    seen: dict[str, tuple[int, int]] = {}
    with os.scandir(inbox) as entries:
        for entry in entries:
            if not entry.is_file(follow_symlinks=False):
                continue
            if is_temporary(entry.name):
                if result is not None and not entry.name.startswith("."):
                    result.skipped.append(Skipped(entry.name, "temporary name"))
                continue
            info = entry.stat(follow_symlinks=False)
            seen[entry.name] = (info.st_size, info.st_mtime_ns)
    return seen


async def _one_file(
    options: InboxOptions,
    path: Path,
    api: SmartpayApi,
    journal: Journal,
    stop: asyncio.Event,
    now: Callable[[], datetime],
) -> FileResult:
    inbox = options.directory
    digest = file_sha256(path)
    earlier = [r for r in journal.runs_of_input(digest) if r.mode == "run" and r.finished_at]
    for record in reversed(earlier):
        if record.exit_code == EXIT_INTERRUPTED:
            continue
        folder = _report_folder(inbox, record)
        if folder is not None and not _holds_content(folder, digest):
            # The run finished but the pass ended before filing it: file it, don't run it.
            return _file_run(inbox, path, digest, journal, record.run_id, record.exit_code,
                             folder)  # fmt: skip
    processed = [r for r in earlier if r.exit_code in (EXIT_OK, EXIT_ROWS_NOT_DONE)]
    if processed:
        return _file_duplicate(inbox, path, digest, processed[-1], now)

    out_dir = _fresh(inbox / WORK_DIR / f"{path.stem}-{_stamp(now())}")
    run_options = replace(options.run, input_path=path, out_dir=out_dir)
    try:
        ran = await run_batch(run_options, api=api, journal=journal, stop=stop)
    except InputFileError as exc:
        return _file_unusable(inbox, path, digest, f"cannot use {path.name}: {exc}", now)
    except ReportNotWritten as exc:
        return _file_unusable(inbox, path, digest, str(exc), now)
    summary = ran.summary
    if ran.interrupted:
        target = _fresh(inbox / ATTENTION_DIR / f"{path.stem}-{summary.run_id}-interrupted")
        _move_report(journal, summary.run_id, ran.report.directory, target)
        _write_note(
            target / INTERRUPTED_NOTE,
            f"Run {summary.run_id} of {path.name} was stopped before it finished. The file was "
            "left in the inbox and the next pass runs it again; the journal makes every row "
            "exactly once.\n",
        )
        tally = _tally(journal, summary.run_id, list(ran.outcomes))
        return replace(tally, file=path.name, sha256=digest, outcome="interrupted",
                       destination=str(target), exit_code=summary.exit_code)  # fmt: skip
    return _file_run(inbox, path, digest, journal, summary.run_id, summary.exit_code,
                     ran.report.directory)  # fmt: skip


def _file_run(
    inbox: Path,
    path: Path,
    digest: str,
    journal: Journal,
    run_id: str,
    exit_code: int | None,
    report_dir: Path,
) -> FileResult:
    """Move a finished run's report folder to ``done/`` or ``needs-attention/`` (unless it
    is there already), then the file into it: the report first, so that a crash between
    the two leaves a report the next pass finds, and the file for it to run or file."""
    outcome = DONE_DIR if exit_code == EXIT_OK else ATTENTION_DIR
    if report_dir.parent.resolve() != (inbox / outcome).resolve():
        target = _fresh(inbox / outcome / f"{path.stem}-{run_id}")
        _move_report(journal, run_id, report_dir, target)
        report_dir = target
    os.replace(path, _fresh(report_dir / path.name))
    tally = _tally(journal, run_id, journal.outcomes(run_id))
    return replace(tally, file=path.name, sha256=digest, outcome=outcome,
                   destination=str(report_dir), exit_code=exit_code)  # fmt: skip


def _tally(journal: Journal, run_id: str, outcomes: list[RowOutcome]) -> FileResult:
    attention = [o for o in outcomes if o.status not in _DONE]
    new, known = split_new_problems(attention, journal.problems_reported_before(run_id))
    return FileResult(
        file="", sha256="", outcome="", destination=None, run_id=run_id,
        rows=len(outcomes),
        refunded_rows=sum(o.status is Status.REFUNDED for o in outcomes),
        refunded_yen=sum(o.refunded_amount for o in outcomes),
        attention_rows=len(attention), new_problems=new, known_problems=known,
    )  # fmt: skip


ProblemKey = tuple[str | None, int | None, str | None, str, str | None]


def problem_key(
    order_id: str | None, requested: int | None, reference: str | None, status: str,
    code: str | None,
) -> ProblemKey:  # fmt: skip
    """What a not-done row asks for, and what was wrong with it."""
    return (order_id, requested, reference, status, code)


def split_new_problems(
    attention: Iterable[RowOutcome], earlier: Iterable[ReportedProblem]
) -> tuple[int, int]:
    """(new, known): a row is known when one earlier run reported as many rows asking the
    same with the same status and code (identical rows count one by one)."""
    per_run: dict[str, Counter[ProblemKey]] = {}
    for p in earlier:
        key = problem_key(p.order_id, p.requested_amount, p.reference, p.status, p.error_code)
        per_run.setdefault(p.run_id, Counter())[key] += 1
    reported: Counter[ProblemKey] = Counter()
    for counts in per_run.values():
        reported |= counts  # the most any one run reported, not the sum over nights
    now: Counter[ProblemKey] = Counter(
        problem_key(o.order_id, o.requested_amount, o.reference, o.status.value, o.error_code)
        for o in attention
    )
    known = sum(min(n, reported[key]) for key, n in now.items())
    return sum(now.values()) - known, known


def _file_duplicate(
    inbox: Path, path: Path, digest: str, earlier: RunRecord, now: Callable[[], datetime]
) -> FileResult:
    target = _fresh(inbox / DONE_DIR / f"{path.stem}-duplicate-{_stamp(now())}")
    target.mkdir(parents=True)
    report = _report_folder(inbox, earlier)
    where = str(report) if report is not None else (earlier.report_dir or "(unknown)")
    _write_note(
        target / DUPLICATE_NOTE,
        f"{path.name} has the same content (sha256 {digest}) as the input of run "
        f"{earlier.run_id} ({Path(earlier.input_path).name}, {earlier.started_at}), whose "
        f"report is in {where}.\nIt was not run again. Running it again is safe (the journal "
        f"refunds each row once) and would refund nothing already refunded: to retry rows "
        f"that failed, use batch-refunds run on this file.\n",
    )
    os.replace(path, target / path.name)
    return FileResult(
        file=path.name, sha256=digest, outcome="duplicate", destination=str(target),
        duplicate_of=earlier.run_id,
        message=f"same content as run {earlier.run_id}; not run again",
    )  # fmt: skip


def _file_unusable(
    inbox: Path, path: Path, digest: str, message: str, now: Callable[[], datetime]
) -> FileResult:
    target = _fresh(inbox / ATTENTION_DIR / f"{path.stem}-{_stamp(now())}")
    target.mkdir(parents=True)
    _write_note(target / PROBLEM_NOTE, message + "\nNothing was sent for this file.\n")
    os.replace(path, target / path.name)
    return FileResult(
        file=path.name, sha256=digest, outcome="unusable", destination=str(target),
        exit_code=EXIT_NOT_STARTED, new_problems=1, message=message,
    )  # fmt: skip


def _move_report(journal: Journal, run_id: str, source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(source, target)  # a rename, unless the report fell back outside the inbox
    journal.moved_report(run_id, str(target))


def _report_folder(inbox: Path, record: RunRecord) -> Path | None:
    """Where a finished run's report is inside the inbox: where the journal says, or (the
    journal's note of a move lost) a filed folder named for the run."""
    candidates = [Path(record.report_dir)] if record.report_dir else []
    for parent in (DONE_DIR, ATTENTION_DIR):
        candidates.extend(sorted((inbox / parent).glob(f"*-{record.run_id}")))
    root = inbox.resolve()
    for folder in candidates:
        resolved = folder.resolve()
        if resolved.is_dir() and resolved.is_relative_to(root) and _is_report(resolved):
            return folder
    return None


def _is_report(folder: Path) -> bool:
    return (folder / "summary.json").is_file()


def _holds_content(folder: Path, digest: str) -> bool:
    """Whether the report folder already holds the input (by content)."""
    for entry in folder.iterdir():
        if entry.is_file() and entry.name not in _REPORT_FILES and file_sha256(entry) == digest:
            return True
    return False


def _describe(filed: FileResult) -> str:
    where = f" -> {filed.destination}" if filed.destination else ""
    if filed.outcome in ("duplicate", "unusable"):
        return f"{filed.file}: {filed.outcome}: {filed.message}{where}"
    return (
        f"{filed.file}: {filed.outcome}, run {filed.run_id} exit {filed.exit_code}: "
        f"{filed.rows} rows, {filed.refunded_rows} refunded ({format_yen(filed.refunded_yen)}), "
        f"{filed.attention_rows} need attention ({filed.new_problems} new, "
        f"{filed.known_problems} known){where}"
    )


def _write_note(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def _fresh(path: Path) -> Path:
    """``path``, or beside it (``-2``, ``-3``…) if that is taken: nothing is overwritten."""
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.name}-{number}")
    return candidate


def _stamp(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y%m%dT%H%M%SZ}"
