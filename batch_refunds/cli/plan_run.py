"""``batch-refunds plan`` and ``batch-refunds run``: the refund run from the command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from batch_refunds.cli.common import (
    add_api_options,
    add_guardrail_options,
    add_input_options,
    add_order_window_options,
    add_timezone_option,
    client_config,
    error,
    load_options,
    order_window,
    timezone_of,
)
from batch_refunds.errors import ConfigError, InputFileError
from batch_refunds.exit_codes import EXIT_NOT_STARTED, EXIT_ROWS_NOT_DONE
from batch_refunds.money import format_yen

if TYPE_CHECKING:
    from batch_refunds.journal import Journal
    from batch_refunds.runner import PlanTotals, RunOptions, RunResult
    from batch_refunds.smartpay.config import ClientConfig

# The commands' heavy imports (aiohttp, XlsxWriter, the engine) happen when a command runs, so
# `--help` and the other commands start quickly.


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    plan = sub.add_parser(
        "plan",
        help="show what a run would refund (GET requests only; never sends a refund)",
        description="Validate the file and read each order from Smartpay, then report what "
        "a run would refund, row by row. Sends no refund.",
    )
    _add_options(plan, run=False)
    plan.set_defaults(func=lambda args: _main(args, mode="plan"))

    run = sub.add_parser(
        "run",
        help="refund every row of a spreadsheet, exactly once",
        description="Plan, confirm, then refund every row exactly once, journaling each step, "
        "and write a reconciliation report.",
    )
    _add_options(run, run=True)
    run.set_defaults(func=lambda args: _main(args, mode="run"))


def _add_options(parser: argparse.ArgumentParser, *, run: bool) -> None:
    add_input_options(parser)
    add_api_options(parser)
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="report folder (default reports/<input>-<time>/)"
    )
    add_timezone_option(parser, default_help="this machine's")
    add_guardrail_options(parser, sending=run)
    parser.add_argument(
        "--new-refunds",
        action="store_true",
        help="rows held because an earlier run refunded the same payment for a row without a "
        "reference that is no longer in the file (hold.earlier-row-missing) are new refunds: "
        "send them",
    )
    add_order_window_options(parser)
    if run:
        parser.add_argument("--yes", action="store_true", help="do not ask before sending")


# The options a person sets with a flag, for messages that name the RunOptions field.
FLAGS = {"out_dir": "--out"}


def _main(args: argparse.Namespace, *, mode: str) -> int:
    from batch_refunds.cli.render import print_summary
    from batch_refunds.errors import JournalBusy, LiveKeyNotAllowed
    from batch_refunds.journal import Journal
    from batch_refunds.models import Mode
    from batch_refunds.runner import ReportNotWritten, RunOptions

    try:
        config = client_config(args)
        load = load_options(args)
        zone = timezone_of(args)
    except ConfigError as exc:
        error(str(exc))
        return EXIT_NOT_STARTED
    if mode == "run" and not args.yes and not sys.stdin.isatty():
        error("no terminal to confirm on: pass --yes to send without asking")
        return EXIT_NOT_STARTED
    out_dir = args.out or _default_out(args.input)
    options = RunOptions(
        input_path=args.input,
        out_dir=out_dir,
        mode=Mode(mode),
        **load,
        strict=getattr(args, "strict", False),
        max_amount=args.max_amount,
        new_refunds=args.new_refunds,
        max_total=getattr(args, "max_total", None),
        concurrency=args.concurrency,
        allow_live=getattr(args, "live", False),
        **order_window(args),
        timezone=zone,
    )
    try:
        with Journal(args.journal) as journal:
            result = asyncio.run(
                run_in_terminal(options, config, journal, ask=mode == "run" and not args.yes)
            )
    except InputFileError as exc:
        error(f"cannot use {args.input}: {exc}")
        return EXIT_NOT_STARTED
    except LiveKeyNotAllowed:
        error("this is a live key (real money): add --live to send refunds with it")
        return EXIT_NOT_STARTED
    except (ConfigError, JournalBusy) as exc:
        error(_with_flag(exc))
        return EXIT_NOT_STARTED
    except ReportNotWritten as exc:  # the run happened; only its report is missing
        error(str(exc))
        return EXIT_ROWS_NOT_DONE
    print_summary(result, sys.stdout)
    return result.summary.exit_code


def _with_flag(exc: Exception) -> str:
    """The library's message, with the flag that sets the option it names."""
    flag = FLAGS.get(getattr(exc, "option", None) or "")
    return f"{exc} ({flag})" if flag else str(exc)


async def run_in_terminal(
    options: RunOptions, config: ClientConfig, journal: Journal, *, ask: bool
) -> RunResult:
    """Run with a progress display on stderr, Ctrl-C/SIGTERM as a graceful stop, and (when
    ``ask``) a confirmation prompt before anything is sent."""
    from batch_refunds.cli.render import ProgressPrinter
    from batch_refunds.progress import Progress
    from batch_refunds.runner import RunHooks, run_batch
    from batch_refunds.smartpay import SmartpayClient

    progress = Progress()
    printer = ProgressPrinter(progress, sys.stderr)
    stop = asyncio.Event()
    asking = False

    def on_phase(name: str, rows: int) -> None:
        progress.start_phase(name, rows, time.monotonic())

    async def confirm(totals: PlanTotals) -> bool:
        nonlocal asking
        printer.pause()
        asking = True
        try:
            return await _ask(totals, stop)
        finally:
            asking = False
            printer.resume()

    def on_stop_signal() -> None:
        # At the question nothing is in flight: the prompt says what happened instead.
        if not stop.is_set() and not asking:
            printer.note(
                "stopping: no new rows will start; answers in flight get 5 s, then are "
                "looked up next run…"
            )
        stop.set()

    async with SmartpayClient(config, hook=progress.on_event, should_stop=stop.is_set) as client:
        hooks = RunHooks(
            confirm=confirm if ask else None,
            on_phase=on_phase,
            on_row_planned=progress.on_row_planned,
            on_outcome=progress.on_outcome,
        )

        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, on_stop_signal)
        printer.start()
        try:
            return await run_batch(options, api=client, journal=journal, hooks=hooks, stop=stop)
        finally:
            await printer.stop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)


CONFIRM_WORD = "yes"
CONFIRM_PROMPT = (
    f"Send these refunds? Type '{CONFIRM_WORD}' (lower case) to send, anything else cancels: "
)


async def _ask(
    totals: PlanTotals,
    stop: asyncio.Event,
    *,
    stdin: TextIO | None = None,
    out: TextIO | None = None,
) -> bool:
    """Show the plan and ask; True only for the exact word ``yes`` (surrounding spaces aside).

    Returns False as soon as ``stop`` is set (Ctrl-C, SIGTERM) or the input ends (Ctrl-D),
    without waiting for Enter; at the end of input it sets ``stop`` itself, so the run ends
    as interrupted. Anything else typed is a no: only the word the prompt names sends money,
    and only when typed after the question was shown.
    """
    stdin = sys.stdin if stdin is None else stdin
    out = sys.stderr if out is None else out
    # Before the question is shown, so that nothing typed after it can be lost.
    _discard_type_ahead(stdin)
    out.write(
        f"\nAbout to refund {format_yen(totals.total_to_send)} over {totals.rows_to_send} row(s).\n"
        f"  requested {format_yen(totals.requested)}, already refunded"
        f" {format_yen(totals.already_refunded)}\n"
        f"  other rows: {totals.already_refunded_rows} already refunded, {totals.rejected_rows}"
        f" rejected, {totals.held_rows} held, {totals.invalid_rows} invalid\n{CONFIRM_PROMPT}"
    )
    out.flush()
    answer = await _read_line(stdin, stop)
    if answer is None:
        stop.set()
        out.write("\nStopped at the question: nothing was sent.\n")
        out.flush()
        return False
    if answer.strip() == CONFIRM_WORD:
        return True
    out.write(f"Cancelled: nothing was sent (only '{CONFIRM_WORD}' sends).\n")
    out.flush()
    return False


def _discard_type_ahead(stdin: TextIO) -> None:
    """Drop what was typed on the terminal before the question appeared: an Enter or a 'yes'
    pressed during planning answers nothing the person has read."""
    try:
        import termios  # POSIX only; elsewhere there is nothing to drop this way
    except ImportError:
        return
    with contextlib.suppress(AttributeError, ValueError, OSError, termios.error):
        if stdin.isatty():
            termios.tcflush(stdin.fileno(), termios.TCIFLUSH)


async def _read_line(stdin: TextIO, stop: asyncio.Event) -> str | None:
    """One line typed on ``stdin`` (without its newline), or None at the end of input or once
    ``stop`` is set, whichever comes first.

    The event loop watches the descriptor (``add_reader``), so no thread sits blocked in
    ``read()`` after a Ctrl-C: ``input()`` in ``asyncio.to_thread`` would keep the process
    waiting for Enter, and the executor's thread would hold up interpreter exit. Where the
    loop cannot watch stdin (a regular file; Windows), a daemon thread reads instead, which
    exit does not wait for. Input ending before a newline (Ctrl-D after typing) is not an
    answer.
    """
    loop = asyncio.get_running_loop()
    line: asyncio.Future[str | None] = loop.create_future()

    def finish(value: str | None) -> None:
        if not line.done():
            line.set_result(value)

    watched = _watch_for_line(loop, stdin, finish)
    if watched is None:
        _read_line_in_daemon_thread(loop, stdin, finish)
    stopped = loop.create_task(stop.wait())
    stopped.add_done_callback(lambda _: finish(None))
    try:
        answer = await line
    finally:
        stopped.cancel()
        if watched is not None:
            loop.remove_reader(watched)
    return None if stop.is_set() else answer


def _watch_for_line(
    loop: asyncio.AbstractEventLoop, stdin: TextIO, finish: Callable[[str | None], None]
) -> int | None:
    """Have the loop read ``stdin`` as it becomes readable; the descriptor, or None if it can't."""
    try:
        fd = stdin.fileno()
    except (AttributeError, ValueError, OSError):
        return None
    encoding = getattr(stdin, "encoding", None) or "utf-8"
    pending = bytearray()

    def on_readable() -> None:
        try:
            chunk = os.read(fd, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            finish(None)
            return
        pending.extend(chunk)
        if b"\n" in pending:
            finish(bytes(pending).split(b"\n", 1)[0].decode(encoding, "replace"))

    try:
        loop.add_reader(fd, on_readable)
    except (NotImplementedError, ValueError, OSError):  # e.g. EPERM for a regular file
        return None
    return fd


def _read_line_in_daemon_thread(
    loop: asyncio.AbstractEventLoop, stdin: TextIO, finish: Callable[[str | None], None]
) -> None:
    def read() -> None:
        try:
            text: str | None = stdin.readline()
        except (OSError, ValueError):
            text = None
        answer = text[:-1] if text and text.endswith("\n") else None
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting
            loop.call_soon_threadsafe(finish, answer)

    threading.Thread(target=read, name="confirm-prompt", daemon=True).start()


def _default_out(input_path: Path) -> Path:
    """``reports/<input>-<UTC time>/``, or beside it (``-2``, ``-3``…) when two runs start in
    the same second: a report is never replaced."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = Path("reports") / f"{input_path.stem}-{stamp}"
    candidate, number = base, 1
    while candidate.exists():
        number += 1
        candidate = base.with_name(f"{base.name}-{number}")
    return candidate
