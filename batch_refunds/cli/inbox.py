"""``batch-refunds inbox DIR``: run every new spreadsheet in a folder once, for cron."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from batch_refunds.cli.common import (
    add_api_options,
    add_guardrail_options,
    add_input_options,
    add_order_window_options,
    client_config,
    error,
    load_options,
    order_window,
    positive_float,
)
from batch_refunds.errors import ConfigError
from batch_refunds.exit_codes import (
    EXIT_BUSY,
    EXIT_INTERRUPTED,
    EXIT_NOT_STARTED,
    EXIT_OK,
)
from batch_refunds.text import terminal_safe

if TYPE_CHECKING:
    from batch_refunds.inbox import InboxOptions, PassResult
    from batch_refunds.journal import Journal
    from batch_refunds.smartpay.config import ClientConfig

DEFAULT_WATCH_S = 60.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "inbox",
        help="run every new spreadsheet in a folder once, then file it in done/ or "
        "needs-attention/ (for cron)",
        description="One pass over DIR: every spreadsheet not seen before (by its content) is "
        "run as 'run --yes' would, then moved with its report to DIR/done/ or "
        "DIR/needs-attention/. Files still being written and temporary names wait for the "
        "next pass; a file dropped again is filed as a duplicate, not run. Exit 0: nothing "
        "new needs attention; 1: something new does; 2: usage or configuration; 75: another "
        "pass (or run) is busy with the folder or journal; 130: stopped.",
    )
    parser.add_argument("directory", type=Path, metavar="DIR", help="the inbox folder")
    add_input_options(parser, positional=False)
    add_api_options(parser)
    add_guardrail_options(parser, sending=True)  # for each file, as for run
    add_order_window_options(parser)
    parser.add_argument(
        "--new-refunds",
        action="store_true",
        help="rows held as hold.earlier-row-missing are new refunds: send them",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one line of JSON per pass on stdout"
    )
    parser.add_argument(
        "--log-file", type=Path, metavar="PATH", help="append the log lines to this file too"
    )
    parser.add_argument(
        "--watch",
        type=positive_float,
        nargs="?",
        const=DEFAULT_WATCH_S,
        metavar="SECONDS",
        help=f"keep passing, SECONDS apart (default {DEFAULT_WATCH_S:g}), until SIGTERM or Ctrl-C",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long a file's size and time must hold still to be taken (default 2)",
    )
    parser.set_defaults(func=_main)


class Logger:
    """Plain timestamped lines on stderr and, with ``--log-file``, appended to a file."""

    def __init__(self, stream: TextIO, file: Path | None) -> None:
        self.stream = stream
        self.file = file

    def __call__(self, line: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        text = f"{stamp} inbox: {terminal_safe(line)}"
        print(text, file=self.stream, flush=True)
        if self.file is not None:
            with self.file.open("a", encoding="utf-8") as handle:
                handle.write(text + "\n")


def _main(args: argparse.Namespace) -> int:
    from batch_refunds.errors import InboxBusy, JournalBusy, LiveKeyNotAllowed
    from batch_refunds.inbox import DEFAULT_SETTLE_S, InboxOptions
    from batch_refunds.journal import Journal
    from batch_refunds.runner import RunOptions

    log = Logger(sys.stderr, args.log_file)
    try:
        config = client_config(args)
        run = RunOptions(
            input_path=args.directory,
            out_dir=args.directory,
            **load_options(args),
            strict=args.strict,
            max_amount=args.max_amount,
            max_total=args.max_total,
            new_refunds=args.new_refunds,
            **order_window(args),
            concurrency=args.concurrency,
            allow_live=args.live,
        )
        settle = DEFAULT_SETTLE_S if args.settle is None else args.settle
        options = InboxOptions(directory=args.directory, run=run, settle_s=settle)
    except ConfigError as exc:
        error(str(exc))
        return EXIT_NOT_STARTED
    try:
        with Journal(args.journal) as journal:
            return asyncio.run(_passes(options, config, journal, args, log))
    except InboxBusy as exc:
        error(str(exc))
        _busy_json(args, str(exc))
        return EXIT_BUSY
    except JournalBusy as exc:
        error(str(exc))
        _busy_json(args, str(exc))
        return EXIT_BUSY
    except LiveKeyNotAllowed:
        error("this is a live key (real money): add --live to send refunds with it")
        return EXIT_NOT_STARTED
    except ConfigError as exc:
        error(str(exc))
        return EXIT_NOT_STARTED


def _busy_json(args: argparse.Namespace, message: str) -> None:
    if args.json:
        line = {"inbox": str(args.directory), "busy": True, "message": message,
                "exit_code": EXIT_BUSY}  # fmt: skip
        print(json.dumps(line, ensure_ascii=False), flush=True)


async def _passes(
    options: InboxOptions,
    config: ClientConfig,
    journal: Journal,
    args: argparse.Namespace,
    log: Logger,
) -> int:
    from batch_refunds.inbox import run_pass, watch
    from batch_refunds.smartpay import SmartpayClient

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if not stop.is_set():
            log("stopping: no new row starts; the file in hand stays for the next pass")
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    try:
        async with SmartpayClient(config, should_stop=stop.is_set) as client:
            if args.watch is None:
                result = await run_pass(options, api=client, journal=journal, stop=stop, log=log)
                _report(result, args, log)
                return result.exit_code
            interrupted = await watch(
                options, api=client, journal=journal, interval_s=args.watch, stop=stop,
                on_pass=lambda r: _report(r, args, log), log=log,
            )  # fmt: skip
            return EXIT_INTERRUPTED if interrupted else EXIT_OK
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def _report(result: PassResult, args: argparse.Namespace, log: Logger) -> None:
    summary: dict[str, Any] = result.as_json()
    if result.files or result.stopped:
        log(
            f"pass: {summary['files_processed']} file(s), {summary['rows_refunded']} row(s) "
            f"refunded (¥{summary['yen_refunded']:,}), {summary['rows_needing_attention']} "
            f"need attention ({summary['new_problems']} new), exit {result.exit_code}"
        )
    if args.json:
        print(json.dumps(summary, ensure_ascii=False), flush=True)
