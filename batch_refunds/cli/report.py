"""``batch-refunds report RUN_ID``: re-create a run's report from the journal."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from batch_refunds.cli.common import DEFAULT_JOURNAL, error
from batch_refunds.errors import ConfigError
from batch_refunds.exit_codes import EXIT_NOT_STARTED
from batch_refunds.text import terminal_safe


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "report",
        help="re-create a run's report from the journal",
        description="Write a run's reconciliation report again from the journal alone: the "
        "same rows, refunds and summary as the report the run wrote (and its "
        "needs_attention file). Sends nothing.",
    )
    parser.add_argument("run_id", metavar="RUN_ID", help="a run id, or the start of one")
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="where to write it (default: the run's own report folder, if it holds no report)",
    )
    parser.add_argument("--journal", type=Path, default=DEFAULT_JOURNAL, metavar="PATH")
    parser.add_argument(
        "--timezone",
        metavar="ZONE",
        help="show the report's times in this zone (default: the zone the run used)",
    )
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from batch_refunds.cli.runs import find_run
    from batch_refunds.journal import Journal
    from batch_refunds.runner import recreate_report

    if not args.journal.exists():
        error(f"no journal at {args.journal}: nothing has run yet")
        return EXIT_NOT_STARTED
    try:
        with Journal(args.journal) as journal:
            record = find_run(journal, args.run_id)
            out_dir = args.out or (Path(record.report_dir) if record.report_dir else None)
            if out_dir is None:
                raise ConfigError(f"run {record.run_id} recorded no report folder: pass --out DIR")
            paths = recreate_report(journal, record.run_id, out_dir, timezone=args.timezone)
    except ConfigError as exc:
        message = str(exc)
        if "already holds a report" in message and args.out is None:
            message += " (pass --out DIR to write it elsewhere)"
        error(message)
        return EXIT_NOT_STARTED
    print(f"Report of run {record.run_id} re-created from the journal: "
          f"{terminal_safe(str(paths.directory))}/", file=sys.stdout)  # fmt: skip
    if paths.needs_attention is not None:
        print(f"  with {terminal_safe(paths.needs_attention.name)}", file=sys.stdout)
    return 0
