"""``batch-refunds runs``: recent runs recorded in the journal."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from batch_refunds.cli.common import DEFAULT_JOURNAL, error, positive_int
from batch_refunds.journal import Journal
from batch_refunds.models import Status
from batch_refunds.money import format_yen


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "runs",
        help="list recent runs recorded in the journal",
        description="List recent runs and plans with their row counts by status.",
    )
    parser.add_argument("--journal", type=Path, default=DEFAULT_JOURNAL, metavar="PATH")
    parser.add_argument("--limit", type=positive_int, default=20, metavar="N")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    if not args.journal.exists():
        error(f"no journal at {args.journal}: nothing has run yet")
        return 1
    with Journal(args.journal) as journal:
        records = journal.recent_runs(args.limit)
    out = sys.stdout
    if not records:
        print("No runs yet.", file=out)
        return 0
    short = {s: s.value.replace("already_refunded", "already") for s in Status}
    header = ["run", "mode", "started", "exit", "rows", *short.values(), "requested",
              "refunded now", "input", "report"]  # fmt: skip
    lines = [header]
    for r in records:
        state = "…" if r.finished_at is None else str(r.exit_code)
        lines.append(
            [r.run_id, r.mode, r.started_at, state, str(r.rows)]
            + [str(r.counts.get(s.value, 0)) for s in Status]
            + [_yen(r.requested), _yen(r.refunded), r.input_path, r.report_dir or ""]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    amounts = {header.index("requested"), header.index("refunded now")}
    for line in lines:
        cells = [
            cell.rjust(w) if i in amounts else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=False))
        ]
        print("  ".join([*cells, line[-1]]).rstrip(), file=out)
    return 0


def _yen(amount: int | None) -> str:
    """The same totals as the run's summary.json; blank for a run that never finished."""
    return "" if amount is None else format_yen(amount)
