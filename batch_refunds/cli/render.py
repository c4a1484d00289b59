"""What a run shows a person: a progress line on a terminal, log lines for cron, a summary."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, TextIO

from batch_refunds.models import Status
from batch_refunds.money import format_yen
from batch_refunds.progress import Progress, Snapshot

if TYPE_CHECKING:
    from batch_refunds.runner import RunResult

TTY_REFRESH_S = 0.25
LOG_EVERY_S = 5.0
BAR_WIDTH = 24


def progress_line(s: Snapshot, *, bar: bool) -> str:
    done = f"{s.rows_done}/{s.rows_total} rows"
    if bar and s.rows_total:
        filled = round(BAR_WIDTH * s.rows_done / s.rows_total)
        done = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}"
    eta = f"ETA {_duration(s.eta_s)}" if s.eta_s is not None and s.rows_done else "ETA –"
    return (
        f"{s.phase}: {done} · {format_yen(s.refunded_yen)} refunded · {s.rows_per_s:.1f} rows/s · "
        f"{eta} · {s.requests} requests, {s.retried} retried, {s.rate_limited}×429"
    )


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

    def _draw(self, *, final: bool = False) -> None:
        line = progress_line(self._progress.snapshot(time.monotonic()), bar=self._tty)
        if self._tty:
            self._stream.write(f"\r\x1b[K{line}" + ("\n" if final else ""))
        else:
            self._stream.write(f"{time.strftime('%H:%M:%S')} {line}\n")
        self._stream.flush()


def print_summary(result: RunResult, out: TextIO) -> None:
    summary = result.summary
    counts = dict(summary.counts)
    width = max(len(s.value) for s in Status)
    print(f"\nRun {summary.run_id} ({summary.mode}) of {summary.input_path}", file=out)
    print(f"  {'rows':<{width}}  {summary.rows:>6}", file=out)
    for status in Status:
        if counts.get(status, 0):
            print(f"  {status.value:<{width}}  {counts[status]:>6}", file=out)
    amounts = (
        ("requested", summary.requested_total),
        ("already refunded", summary.already_refunded_total),
        ("refunded now", summary.refunded_total),
    )
    for label, amount in amounts:
        print(f"  {label:<{width}}  {format_yen(amount):>12}", file=out)
    r = summary.requests
    print(
        f"  {summary.duration_s:.1f} s, {r.total} requests ({r.retried} retried, "
        f"{r.rate_limited} rate-limited)",
        file=out,
    )
    if result.guard:
        print(f"  Nothing was sent: {result.guard.message}", file=out)
    elif summary.stop_reason:
        print(f"  Stopped early: {summary.stop_reason}", file=out)
    for warning in summary.warnings:
        print(f"  Note: {warning}", file=out)
    print(f"Report: {result.report.directory}/", file=out)
    print(f"exit {summary.exit_code}", file=out)
