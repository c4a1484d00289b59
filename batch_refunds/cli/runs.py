"""``batch-refunds runs``: recent runs recorded in the journal; ``runs show RUN_ID``: one run."""

from __future__ import annotations

import argparse
import sys
from datetime import tzinfo
from pathlib import Path
from typing import TextIO

from batch_refunds.cli.common import (
    DEFAULT_JOURNAL,
    add_timezone_option,
    error,
    positive_int,
    timezone_of,
)
from batch_refunds.errors import ConfigError
from batch_refunds.journal import Journal, RunRecord
from batch_refunds.models import RowOutcome, Status
from batch_refunds.money import format_yen
from batch_refunds.text import terminal_safe

ATTENTION = (Status.INVALID, Status.REJECTED, Status.HELD, Status.FAILED)
ATTENTION_SHOWN = 50


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "runs",
        help="list recent runs recorded in the journal; 'runs show RUN_ID' shows one",
        description="List recent runs and plans: rows by status, yen totals and where each "
        "report went. 'runs show RUN_ID' shows one run in full.",
    )
    parser.add_argument("--journal", type=Path, default=DEFAULT_JOURNAL, metavar="PATH")
    parser.add_argument("--limit", type=positive_int, default=20, metavar="N")
    add_timezone_option(parser, default_help="this machine's")
    parser.set_defaults(func=_list)
    commands = parser.add_subparsers(dest="runs_command", metavar="show")
    show = commands.add_parser(
        "show",
        help="one run: its input, totals, timing, requests and the rows that need attention",
        description="One run as the journal recorded it, also one that never finished: its "
        "input (path, sha256), mode and API, counts, yen totals, timing, requests, and the "
        "rows that need attention with their reasons.",
    )
    show.add_argument("run_id", metavar="RUN_ID", help="a run id, or the start of one")
    # SUPPRESS: given after "show" it counts; not given, the one before "show" stands.
    show.add_argument("--journal", type=Path, default=argparse.SUPPRESS, metavar="PATH")
    show.add_argument("--all", action="store_true", help="list every row that needs attention")
    show.add_argument("--timezone", metavar="ZONE", default=argparse.SUPPRESS,
                      help="as for runs")  # fmt: skip
    show.set_defaults(func=_show)


def find_run(journal: Journal, given: str) -> RunRecord:
    """The run ``given`` names, or a prefix of exactly one run's id; ``ConfigError`` else."""
    record = journal.run(given)
    if record is not None:
        return record
    matches = journal.run_ids_starting(given) if given else []
    if not matches:
        raise ConfigError(f"the journal {journal.path} has no run {given}; 'runs' lists them")
    if len(matches) > 1:
        shown = ", ".join(matches[:5]) + (", …" if len(matches) > 5 else "")
        raise ConfigError(f"{given} is the start of {len(matches)} runs ({shown}): give more")
    found = journal.run(matches[0])
    assert found is not None
    return found


def _zone(args: argparse.Namespace) -> tzinfo | None:
    """``--timezone`` resolved, or ``None`` after saying what is wrong with it."""
    from batch_refunds.report.zones import resolve_zone

    try:
        return resolve_zone(timezone_of(args))
    except ConfigError as exc:
        error(str(exc))
        return None


def _open(path: Path) -> Journal | None:
    if not path.exists():
        error(f"no journal at {path}: nothing has run yet")
        return None
    return Journal(path)


def _list(args: argparse.Namespace) -> int:
    zone = _zone(args)
    if zone is None:
        return 2
    opened = _open(args.journal)
    if opened is None:
        return 1
    with opened as journal:
        records = journal.recent_runs(args.limit)
    out = sys.stdout
    if not records:
        print("No runs yet.", file=out)
        return 0
    print_runs(records, zone, out)
    return 0


def print_runs(records: list[RunRecord], zone: tzinfo, out: TextIO) -> None:
    """The table of ``runs``. Two kinds of numbers, told apart by the line above the header:
    rows (all of them, then by status) and yen (the run's summary.json totals)."""
    from batch_refunds.report.zones import shown_time

    short = {s: s.value.replace("already_refunded", "already") for s in Status}
    header = ["run", "mode", "started", "exit", "all", *short.values(), "requested",
              "already refunded", "refunded now", "input", "report"]  # fmt: skip
    lines = [header]
    for r in records:
        state = "…" if r.finished_at is None else str(r.exit_code)
        lines.append(
            [r.run_id, r.mode, shown_time(r.started_at, zone) or "", state, str(r.rows)]
            + [str(r.counts.get(s.value, 0)) for s in Status]
            + [_yen(r.requested), _yen(r.already_refunded), _yen(r.refunded)]
            + [terminal_safe(r.input_path), terminal_safe(r.report_dir or "")]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    first_yen = header.index("requested")
    amounts = set(range(first_yen, first_yen + 3))
    rendered = []
    for line in lines:
        cells = [
            cell.rjust(w) if i in amounts else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=False))
        ]
        rendered.append("  ".join([*cells, line[-1]]).rstrip())
    rows_at = sum(w + 2 for w in widths[: header.index("all")])
    yen_at = sum(w + 2 for w in widths[:first_yen])
    rows_label = "rows: all, then by status"
    groups = " " * rows_at + rows_label.ljust(max(yen_at - rows_at, len(rows_label) + 2))
    print((groups + "yen").rstrip(), file=out)
    for line_text in rendered:
        print(line_text, file=out)


def _yen(amount: int | None) -> str:
    """The same totals as the run's summary.json; blank for a run that never finished."""
    return "" if amount is None else format_yen(amount)


def _show(args: argparse.Namespace) -> int:
    zone = _zone(args)
    if zone is None:
        return 2
    opened = _open(args.journal)
    if opened is None:
        return 1
    with opened as journal:
        try:
            record = find_run(journal, args.run_id)
        except ConfigError as exc:
            error(str(exc))
            return 1
        outcomes = journal.outcomes(record.run_id)
        credited = journal.refunds_credited_to(record.run_id)
        own = journal.refunds_credited_to(record.run_id, found_later=False)
        unanswered = journal.unanswered_requests(record.run_id)
    show_run(record, outcomes, zone, sys.stdout, found_later=len(credited) - len(own),
             found_later_yen=sum(r.amount for r in credited) - sum(r.amount for r in own),
             unanswered=unanswered, every_row=args.all)  # fmt: skip
    return 0


def show_run(
    record: RunRecord,
    outcomes: list[RowOutcome],
    zone: tzinfo,
    out: TextIO,
    *,
    found_later: int = 0,
    found_later_yen: int = 0,
    unanswered: int = 0,
    every_row: bool = False,
) -> None:
    """``runs show``: what the journal knows of one run, finished or not."""
    from batch_refunds.cli.render import api_line
    from batch_refunds.report.zones import shown_time

    s = record.summary
    finished = record.finished_at is not None

    def line(label: str, value: str) -> None:
        print(f"  {label:<20}{value}", file=out)

    print(f"Run {record.run_id} ({record.mode})", file=out)
    if not finished:
        print("  This run did not finish (its process was killed or its machine stopped): "
              "below is what the journal has. It wrote no report; running the same file "
              "again completes its rows, exactly once.", file=out)  # fmt: skip
    line("API", api_line(s.key_mode, s.api_base_url) if s else "not recorded")
    line("input", terminal_safe(record.input_path))
    line("input sha256", record.input_sha256)
    line("started", shown_time(record.started_at, zone) or "")
    if finished:
        duration = f" ({s.duration_s:.1f} s)" if s else ""
        line("finished", f"{shown_time(record.finished_at, zone)}{duration}")
        line("exit", str(record.exit_code))
    else:
        line("finished", "did not finish")
    if s:
        r = s.requests
        line("requests", f"{r.total} ({r.retried} retried, {r.rate_limited} rate-limited)")
    else:
        line("requests", "not recorded (counted only when a run finishes)")
    counts: dict[str, int] = dict(record.counts)
    if not finished:
        counts = {}
        for o in outcomes:
            counts[o.status.value] = counts.get(o.status.value, 0) + 1
    recorded = "" if finished else f", {len(outcomes)} with an outcome recorded"
    line("rows", f"{record.rows}{recorded}")
    for status in Status:
        if counts.get(status.value):
            line(f"  {status.value}", f"{counts[status.value]:>6}")
    if finished and record.requested is not None:
        requested, already = record.requested, record.already_refunded
        refunded: int | None = record.refunded
    else:  # from the outcomes the journal has
        requested = sum(o.requested_yen for o in outcomes)
        already = sum(o.already_refunded for o in outcomes)
        refunded = sum(o.refunded_amount for o in outcomes)
    line("requested", f"{format_yen(requested):>12}")
    if already is not None:
        line("already refunded", f"{format_yen(already):>12}")
    if refunded is not None:
        line("refunded now", f"{format_yen(refunded):>12}")
    if found_later:
        line("found later", f"{found_later} refund(s), {format_yen(found_later_yen)}, that this "
             "run sent without learning the answer were found by a later run and are "
             "credited to this run (its report, written before, does not list them)")  # fmt: skip
    if unanswered:
        line("unanswered", f"{unanswered} refund request(s) sent with no answer recorded: the "
             "next run of the same file looks them up before sending anything")  # fmt: skip
    if s and s.stop_reason:
        line("stopped", terminal_safe(s.stop_reason))
    if s:
        for warning in s.warnings:
            line("note", terminal_safe(warning))
    line("report", terminal_safe(record.report_dir) + "/" if record.report_dir else "none written")
    rows = [o for o in outcomes if o.status in ATTENTION]
    if not rows:
        return
    shown = rows if every_row else rows[:ATTENTION_SHOWN]
    more = f" (first {len(shown)}; --all lists every one)" if len(shown) < len(rows) else ""
    print(f"  Rows that need attention: {len(rows)}{more}", file=out)
    for o in shown:
        code, message = terminal_safe(o.error_code or ""), terminal_safe(o.message or "")
        print(f"    row {o.row:<5} {o.status.value:<8} {code:<24} {message}", file=out)
