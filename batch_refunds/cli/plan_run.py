"""``batch-refunds plan`` and ``batch-refunds run``: the refund run from the command line."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from batch_refunds.cli.common import (
    add_api_options,
    add_input_options,
    client_config,
    error,
    yen_amount,
)
from batch_refunds.errors import ConfigError, InputFileError
from batch_refunds.exit_codes import EXIT_NOT_STARTED
from batch_refunds.money import format_yen

if TYPE_CHECKING:
    from batch_refunds.cli.render import ProgressPrinter
    from batch_refunds.journal import Journal
    from batch_refunds.runner import PlanTotals, RunOptions, RunResult
    from batch_refunds.smartpay.config import ClientConfig

# The commands' heavy imports (aiohttp, openpyxl, the engine) happen when a command runs, so
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
    parser.add_argument(
        "--max-amount",
        type=yen_amount,
        metavar="YEN",
        help="reject any row that would refund more than this",
    )
    if not run:
        return
    parser.add_argument("--strict", action="store_true", help="send nothing if any row is invalid")
    parser.add_argument(
        "--max-total",
        type=yen_amount,
        metavar="YEN",
        help="send nothing if the plan refunds more than this in total",
    )
    parser.add_argument("--yes", action="store_true", help="do not ask before sending")
    parser.add_argument("--live", action="store_true", help="required with a sk_live_ key")


def _main(args: argparse.Namespace, *, mode: str) -> int:
    from batch_refunds.cli.render import print_summary
    from batch_refunds.journal import Journal, JournalLock
    from batch_refunds.runner import RunOptions

    try:
        config = client_config(args)
    except ConfigError as exc:
        error(str(exc))
        return EXIT_NOT_STARTED
    if mode == "run":
        if config.live and not args.live:
            error("this is a live key (real money): add --live to send refunds with it")
            return EXIT_NOT_STARTED
        if not args.yes and not sys.stdin.isatty():
            error("no terminal to confirm on: pass --yes to send without asking")
            return EXIT_NOT_STARTED
    out_dir = args.out or _default_out(args.input)
    options = RunOptions(
        input_path=args.input,
        out_dir=out_dir,
        mode=mode,
        sheet=args.sheet,
        encoding=args.encoding,
        allow_duplicate_rows=args.allow_duplicate_rows,
        strict=getattr(args, "strict", False),
        max_amount=args.max_amount,
        max_total=getattr(args, "max_total", None),
        concurrency=args.concurrency,
    )
    try:
        with JournalLock(args.journal), Journal(args.journal) as journal:
            result = asyncio.run(
                run_in_terminal(options, config, journal, ask=mode == "run" and not args.yes)
            )
    except (ConfigError, InputFileError) as exc:
        error(str(exc))
        return EXIT_NOT_STARTED
    print_summary(result, sys.stdout)
    return result.summary.exit_code


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

    def on_phase(name: str, rows: int) -> None:
        progress.start_phase(name, rows, time.monotonic())

    async def confirm(totals: PlanTotals) -> bool:
        printer.pause()
        answer = await asyncio.to_thread(_ask, totals)
        printer.resume()
        return answer

    async with SmartpayClient(config, hook=progress.on_event) as client:
        hooks = RunHooks(
            confirm=confirm if ask else None,
            on_phase=on_phase,
            on_row_planned=progress.on_row_planned,
            on_outcome=progress.on_outcome,
            request_counts=progress.request_counts,
        )

        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, _stopper(stop, printer))
        printer.start()
        try:
            return await run_batch(options, api=client, journal=journal, hooks=hooks, stop=stop)
        finally:
            await printer.stop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)


def _stopper(stop: asyncio.Event, printer: ProgressPrinter) -> Callable[[], None]:
    def handler() -> None:
        if not stop.is_set():
            printer.note("stopping: no new rows will start; finishing the ones in flight…")
        stop.set()

    return handler


def _ask(totals: PlanTotals) -> bool:
    print(
        f"\nAbout to refund {format_yen(totals.total_to_send)} over {totals.rows_to_send} row(s)"
        f" ({totals.already_refunded_rows} already refunded, {totals.rejected_rows} rejected,"
        f" {totals.invalid_rows} invalid).",
        file=sys.stderr,
    )
    try:
        answer = input("Send these refunds? Type 'yes' to continue: ")
    except EOFError:
        return False
    return answer.strip().lower() in {"yes", "y"}


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
