"""What a run shows a person: a progress line on a terminal, log lines for cron, a summary."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import unicodedata
from typing import TYPE_CHECKING, TextIO

from batch_refunds.models import Status
from batch_refunds.money import format_yen
from batch_refunds.progress import Progress, Snapshot
from batch_refunds.text import terminal_safe

if TYPE_CHECKING:
    from batch_refunds.runner import RunResult

TTY_REFRESH_S = 0.25
LOG_EVERY_S = 5.0
BAR_WIDTH = 24
DEFAULT_TERMINAL_COLUMNS = 80  # when the terminal will not say how wide it is
LOG_LINE_WIDTH = 1_000  # log lines are never redrawn, so nothing needs dropping from them
_SEPARATOR = " · "


def progress_line(s: Snapshot, *, bar: bool, width: int) -> str:
    """One progress line at most ``width`` columns wide, dropping or shortening fields to fit.

    Kept first: the phase, rows done/total and yen refunded (their words go before they
    do); then the ETA; then the rate; then the request, retry and 429 counts; the bar only
    when everything else fits beside it. Shown in the order phase, rows, yen, rate, ETA,
    counts. A full-width character (none today) counts as two columns.
    """
    done = f"{s.rows_done:,}/{s.rows_total:,}"
    yen = format_yen(s.refunded_yen)
    cores = [
        f"{s.phase}: {done} rows · {yen} refunded",
        f"{s.phase}: {done} · {yen} refunded",
        f"{s.phase}: {done} · {yen}",
        f"{s.phase}: {done} {yen}",
    ]
    eta = f"ETA {_duration(s.eta_s)}" if s.eta_s is not None and s.rows_done else "ETA –"
    rate = f"{s.rows_per_s:.1f} rows/s"
    counts = f"{s.requests:,} requests, {s.retried:,} retried, {s.rate_limited:,}×429"
    # (rank, text) in display order; rank 0 is dropped last.
    optional = [(1, rate), (0, eta), (2, counts)]

    def line(core: str, kept: int) -> str:
        return _SEPARATOR.join([core, *(text for rank, text in optional if rank < kept)])

    candidates = []
    if bar and s.rows_total:
        filled = round(BAR_WIDTH * s.rows_done / s.rows_total)
        drawn = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}]"
        candidates.append(line(f"{s.phase}: {drawn} {done} rows · {yen} refunded", 3))
    candidates += [line(core, kept) for kept in range(3, -1, -1) for core in cores]
    for candidate in candidates:
        if _columns(candidate) <= width:
            return candidate
    return _cut(cores[-1], width)


def _columns(text: str) -> int:
    """How many terminal columns ``text`` takes: East Asian wide and full-width count two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _cut(text: str, width: int) -> str:
    """``text`` cut to ``width`` columns, an ellipsis marking the cut."""
    if width <= 0:
        return ""
    kept: list[str] = []
    used = 0
    for char in text:
        used += _columns(char)
        if used > width - 1:
            break
        kept.append(char)
    return "".join(kept) + "…"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


class ProgressPrinter:
    """Redraws one line on a terminal; on anything else writes a line every few seconds."""

    def __init__(self, progress: Progress, stream: TextIO) -> None:
        self._progress = progress
        self._stream = stream
        self._tty = stream.isatty()
        self._task: asyncio.Task[None] | None = None
        self._paused = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._progress.phase != "loading":  # a file that never loaded has no progress
            self._draw(final=True)

    def pause(self) -> None:
        self._paused = True
        if self._tty:
            self._stream.write("\r\x1b[K")
            self._stream.flush()

    def resume(self) -> None:
        self._paused = False

    def note(self, message: str) -> None:
        prefix = "\r\x1b[K" if self._tty else ""
        self._stream.write(f"{prefix}{message}\n")
        self._stream.flush()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(TTY_REFRESH_S if self._tty else LOG_EVERY_S)
            if not self._paused:
                self._draw()

    def width(self) -> int:
        """The columns a line may take: one less than the terminal's (a line reaching the last
        column makes some terminals wrap, and every redraw would then scroll); unlimited for
        a log."""
        if not self._tty:
            return LOG_LINE_WIDTH
        return terminal_columns(self._stream) - 1

    def _draw(self, *, final: bool = False) -> None:
        snapshot = self._progress.snapshot(time.monotonic())
        line = progress_line(snapshot, bar=self._tty, width=self.width())
        if self._tty:
            self._stream.write(f"\r\x1b[K{line}" + ("\n" if final else ""))
        else:
            self._stream.write(f"{time.strftime('%H:%M:%S')} {line}\n")
        self._stream.flush()


def terminal_columns(stream: TextIO) -> int:
    """How wide the terminal behind ``stream`` is: asked each time, so a resize is followed;
    else ``$COLUMNS``; else 80."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        columns = 0
    if columns <= 0:  # a pseudo-terminal nobody sized reports 0
        try:
            columns = int(os.environ.get("COLUMNS", ""))
        except ValueError:
            columns = 0
    return columns if columns > 0 else DEFAULT_TERMINAL_COLUMNS


def print_summary(result: RunResult, out: TextIO) -> None:
    """The end of a run on the terminal. The file's path, intake's notes and the rows'
    messages quote what the file and Smartpay said, so they go through ``terminal_safe``."""
    summary = result.summary
    counts = dict(summary.counts)
    width = max(len(s.value) for s in Status)
    path = terminal_safe(summary.input_path)
    print(f"\nRun {summary.run_id} ({summary.mode}) of {path}", file=out)
    print(f"  {api_line(summary.key_mode, summary.api_base_url)}", file=out)
    print(f"  {'rows':<{width}}  {summary.rows:>6}", file=out)
    for status in Status:
        if counts.get(status, 0):
            print(f"  {status.value:<{width}}  {counts[status]:>6}", file=out)
    amounts = [
        ("requested", summary.requested_total),
        ("already refunded", summary.already_refunded_total),
        ("refunded now", summary.refunded_total),
    ]
    if summary.mode == "plan":
        planned = [o for o in result.outcomes if o.status is Status.PLANNED]
        to_send = sum(o.requested_yen - o.already_refunded for o in planned)
        amounts.append(("would refund", to_send))
    for label, amount in amounts:
        print(f"  {label:<{width}}  {format_yen(amount):>12}", file=out)
    r = summary.requests
    print(
        f"  {summary.duration_s:.1f} s, {r.total} requests ({r.retried} retried, "
        f"{r.rate_limited} rate-limited)",
        file=out,
    )
    if result.guard:
        print(f"  Nothing was sent: {terminal_safe(result.guard.message)}", file=out)
    elif summary.stop_reason:
        tried = any(o.attempts for o in result.outcomes) or summary.refunded_total
        lead = "Stopped early" if tried else "Nothing was sent"
        print(f"  {lead}: {terminal_safe(summary.stop_reason)}", file=out)
    for warning in summary.warnings:
        print(f"  Note: {terminal_safe(warning)}", file=out)
    _print_attention(result, out)
    if result.report.fallback_from is not None:
        shown = terminal_safe(str(result.report.fallback_from))
        print(f"  Note: {shown} could not be written; the report is here:", file=out)
    if result.report.needs_attention is not None:
        shown = terminal_safe(str(result.report.needs_attention))
        print(f"  Rows needing attention, as the input has them: {shown}", file=out)
    print(f"Report: {terminal_safe(str(result.report.directory))}/", file=out)
    print(f"exit {summary.exit_code}", file=out)


def api_line(key_mode: str | None, base_url: str | None) -> str:
    """Which money a run was about: ``LIVE key (real money) against https://…`` or ``test
    key against http://127.0.0.1:8700/v1``, so a rehearsal is never read as the real run."""
    if key_mode is None:
        return "API not recorded"
    mode = "LIVE key (real money)" if key_mode == "live" else f"{key_mode} key"
    return f"{mode} against {terminal_safe(base_url or '?')}"


ATTENTION = (Status.INVALID, Status.REJECTED, Status.HELD, Status.FAILED)
ATTENTION_SHOWN = 10
EXPLAINED_ABOVE = frozenset({"run.interrupted", "run.stopped-early", "run.misconfigured"})
"""Codes the summary's own "Stopped early" or "Nothing was sent" line already explains."""


FLAG_HINTS = {
    "hold.earlier-row-missing": "Rows held as hold.earlier-row-missing that are new refunds: "
    "run again with --new-refunds.",
}
"""The command-line way out of a row code whose message names none (the library's messages
name no flag; the console offers the same choice as a checkbox on the file's page)."""


def _print_attention(result: RunResult, out: TextIO) -> None:
    """The rows a person must look at, with their reasons, so nobody has to open the CSV to
    learn why a run exited 1; the report has them all. Rows that a guardrail or a stop held
    back are counted by the line above, not listed one by one."""
    explained = EXPLAINED_ABOVE | ({result.guard.code} if result.guard else set())
    rows = [o for o in result.outcomes if o.status in ATTENTION and o.error_code not in explained]
    if not rows:
        return
    shown = rows[:ATTENTION_SHOWN]
    more = (
        f" (first {len(shown)} of {len(rows)}; all are in the report)"
        if len(rows) > len(shown)
        else ""
    )
    print(f"  Rows to look at{more}:", file=out)
    width = terminal_columns(out) if out.isatty() else None
    for o in shown:
        code, message = terminal_safe(o.error_code or ""), terminal_safe(o.message or "")
        line = f"    row {o.row:<5} {o.status.value:<8} {code:<24} {message}"
        if width is not None and _columns(line) > width:
            line = _cut(line, width)
        print(line, file=out)
    codes = {o.error_code for o in rows}
    for code, hint in FLAG_HINTS.items():
        if code in codes:
            print(f"  {hint}", file=out)
