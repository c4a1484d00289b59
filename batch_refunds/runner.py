"""One refund run from file to report, with no user interface in it.

Take the journal's lock, load and validate the spreadsheet, plan against Smartpay, apply
the guardrails, ask the caller's ``confirm`` callback, execute exactly once, and write the
reconciliation report from the journal. The CLI and the browser console supply the API
client, the confirmation and the progress hooks, and turn a ``RunResult`` into output.

The guarantees live here, not in a front end: one run at a time per journal
(``JournalBusy``), no live key without ``RunOptions.allow_live`` (``LiveKeyNotAllowed``),
``mode`` only a ``Mode``, and per-row tries and request counts taken from the client itself
(``attempts``), whatever hooks the caller wired.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from batch_refunds.api import SmartpayApi
from batch_refunds.attempts import tallying
from batch_refunds.engine import DEFAULT_CONCURRENCY, Engine, OutcomeHook
from batch_refunds.errors import BatchRefundsError, ConfigError, LiveKeyNotAllowed
from batch_refunds.exit_codes import EXIT_INTERRUPTED, EXIT_NOT_STARTED, EXIT_OK, EXIT_ROWS_NOT_DONE
from batch_refunds.intake import load_requests
from batch_refunds.intake.columns import ORDER_ID, PAYMENT_ID, REFERENCE, SHOP_ORDER
from batch_refunds.intake.load import LoadResult
from batch_refunds.journal import Journal, JournalLock
from batch_refunds.models import (
    InputLayout,
    Mode,
    RequestCounts,
    RowError,
    RowOutcome,
    RunSummary,
    Status,
    Yen,
)
from batch_refunds.money import format_yen
from batch_refunds.planning import Action, Plan
from batch_refunds.report import REPORT_NAMES, ReportPaths, RunReport, write_report
from batch_refunds.report.zones import UTC_NAME, resolve_zone
from batch_refunds.shop_orders import DEFAULT_MAX_ORDERS_SCANNED, DEFAULT_WINDOW_DAYS, OrderBounds
from batch_refunds.stopping import STOP_GRACE_S, StoppableApi

_DONE = {Status.REFUNDED, Status.ALREADY_REFUNDED, Status.PLANNED}


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What to run, and the guardrails. ``mode`` is a ``Mode``: ``Mode.PLAN`` sends GETs only.
    ``allow_live``: the caller's explicit word that a ``sk_live_`` key may send refunds."""

    input_path: Path
    out_dir: Path
    mode: Mode = Mode.RUN
    sheet: str | None = None
    encoding: str | None = None
    allow_duplicate_rows: bool = False
    columns: Mapping[str, str] = field(default_factory=dict)
    """Canonical column → the header that holds it (``--column``), instead of a guess."""
    full_refunds: bool = False
    """The file has no amount column on purpose: every row refunds what remains."""
    new_refunds: bool = False
    """Rows held as possibly changed versions of rows refunded earlier (``hold.earlier-row-
    missing``) are new refunds: send them."""
    strict: bool = False
    max_amount: Yen | None = None
    max_total: Yen | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    allow_live: bool = False
    timezone: str = UTC_NAME
    """The zone the report shows its times in (an IANA name such as ``Asia/Tokyo``);
    ``summary.json`` keeps UTC and names it."""
    orders_since: datetime | None = None
    """Shop order numbers are looked for among orders created since then (an aware
    datetime; default: the last ``shop_orders.DEFAULT_WINDOW_DAYS`` days)."""
    max_orders_scanned: int = DEFAULT_MAX_ORDERS_SCANNED
    """And among at most this many of the newest orders."""
    orders_widen: str | None = None
    """How a front end tells a person to search further back (the CLI names its flags)."""

    def __post_init__(self) -> None:
        # A str that only looks like a mode ("Plan") once sent real refunds: refuse it.
        if not isinstance(self.mode, Mode):
            raise ConfigError(
                f"mode must be Mode.RUN or Mode.PLAN, got {self.mode!r}", option="mode"
            )
        try:
            resolve_zone(self.timezone)
        except ValueError as exc:
            raise ConfigError(str(exc), option="timezone") from None
        self.order_bounds(datetime.now(UTC))  # a bad bound is refused before anything runs

    def order_bounds(self, now: datetime) -> OrderBounds:
        """How far back this run looks for shop order numbers."""
        since = self.orders_since or now - timedelta(days=DEFAULT_WINDOW_DAYS)
        if self.orders_widen is None:
            return OrderBounds(since=since, max_scanned=self.max_orders_scanned)
        return OrderBounds(
            since=since, max_scanned=self.max_orders_scanned, widen=self.orders_widen
        )


@dataclass(frozen=True, slots=True)
class PlanTotals:
    """What the confirmation shows before anything is sent, in the report's own terms:
    ``requested`` and ``already_refunded`` are what ``summary.json`` will call them."""

    rows: int
    rows_to_send: int
    total_to_send: Yen
    invalid_rows: int
    rejected_rows: int
    already_refunded_rows: int
    held_rows: int = 0
    requested: Yen = 0
    already_refunded: Yen = 0


class ReportNotWritten(BatchRefundsError):
    """The run finished but its report could be written nowhere; the journal has it all."""


@dataclass(frozen=True, slots=True)
class Guard:
    """Why a guardrail sent nothing: ``code`` goes in the report, ``message`` to a person."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class RunResult:
    summary: RunSummary
    report: ReportPaths
    outcomes: tuple[RowOutcome, ...]
    loaded: LoadResult
    guard: Guard | None = None  # why nothing was sent, when a guardrail stopped the run
    interrupted: bool = False
    totals: PlanTotals | None = None  # the whole plan's totals, when it was planned first


@dataclass
class RunHooks:
    """How the caller follows and steers a run. All optional."""

    confirm: Callable[[PlanTotals], Awaitable[bool]] | None = None
    on_phase: Callable[[str, int], None] | None = None  # "planning"/"refunding", rows in it
    on_planned: Callable[[PlanTotals], None] | None = None
    on_row_planned: OutcomeHook | None = None
    on_outcome: OutcomeHook | None = None
    on_started: Callable[[str], None] | None = None  # the run's id, once it is journaled


def new_run_id(now: datetime) -> str:
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def invalid_outcomes(loaded: LoadResult) -> list[RowOutcome]:
    """One ``invalid`` line per bad row, every error of the row in its message, and what
    identifies the row as it was typed (order id, payment id, reference), so finance can
    find it; the amount cell as typed is among the input's columns the report carries."""
    by_row: dict[int, list[RowError]] = {}
    for error in loaded.errors:
        by_row.setdefault(error.row, []).append(error)
    outcomes = []
    for row, errs in sorted(by_row.items()):
        payment = loaded.typed(row, PAYMENT_ID)
        outcomes.append(
            RowOutcome(
                row=row,
                status=Status.INVALID,
                order_id=loaded.typed(row, ORDER_ID),
                payment_ids=(payment,) if payment else (),
                reference=loaded.typed(row, REFERENCE),
                shop_order=loaded.typed(row, SHOP_ORDER),
                error_code=errs[0].code,
                message="; ".join(e.message for e in errs),
            )
        )
    return outcomes


def plan_totals(plan: Plan, outcomes: list[RowOutcome], invalid_rows: int) -> PlanTotals:
    """``outcomes``: the planned outcome of each row of ``plan``."""
    actions = [p.action for p in plan.rows]
    return PlanTotals(
        rows=len(plan.rows) + invalid_rows,
        rows_to_send=plan.rows_to_send,
        total_to_send=plan.total_to_send,
        invalid_rows=invalid_rows,
        rejected_rows=actions.count(Action.REJECT),
        already_refunded_rows=actions.count(Action.DONE),
        held_rows=actions.count(Action.HOLD),
        requested=sum(o.requested_yen for o in outcomes),
        already_refunded=sum(o.already_refunded for o in outcomes),
    )


def _orders_scope(api: SmartpayApi) -> str:
    """Whose order list the journal's memory of walks belongs to: the key's mode and the API
    prefix (two sandboxes never share a memory)."""
    return f"{'live' if api.live else 'test'} {api.base_url}"


def check_out_dir(out_dir: Path) -> None:
    """Refuse a report folder that already holds a report (it is the only record of what
    that run refunded, so it is never replaced), or one that cannot be written: both before
    anything is sent, so no refund goes out without its report."""
    existing = [name for name in REPORT_NAMES if (out_dir / name).exists()]
    if existing:
        raise ConfigError(
            f"{out_dir} already holds a report ({', '.join(existing)}); a report is never "
            "replaced. Choose another report folder, or leave it unset for a new one.",
            option="out_dir",
        )
    probe = out_dir / f".write-test-{secrets.token_hex(4)}"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"the report folder {out_dir} cannot be written ({exc.strerror or exc}); nothing "
            "was sent. Choose a folder you can write to.",
            option="out_dir",
        ) from None


async def run_batch(
    options: RunOptions,
    *,
    api: SmartpayApi,
    journal: Journal,
    hooks: RunHooks | None = None,
    stop: asyncio.Event | None = None,
    stop_grace_s: float = STOP_GRACE_S,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    monotonic: Callable[[], float] = time.monotonic,
) -> RunResult:
    """Do one run (or plan) end to end, holding the journal's lock throughout. Raises only
    when nothing was started: ``JournalBusy`` (another run holds the journal), a file that
    can't be read at all (``InputFileError``) or misuse (``ConfigError``, among them
    ``LiveKeyNotAllowed``)."""
    if options.mode is Mode.RUN and api.live and not options.allow_live:
        raise LiveKeyNotAllowed(
            "this is a live key (real money): sending refunds with it needs the caller's "
            "explicit permission (RunOptions.allow_live)",
            option="allow_live",
        )
    with JournalLock(journal.path), tallying() as tally:
        result = await _run_locked(options, api, journal, hooks or RunHooks(), stop,
                                   stop_grace_s, now, monotonic, tally.counts)  # fmt: skip
    return result


async def _run_locked(
    options: RunOptions,
    api: SmartpayApi,
    journal: Journal,
    hooks: RunHooks,
    stop: asyncio.Event | None,
    stop_grace_s: float,
    now: Callable[[], datetime],
    monotonic: Callable[[], float],
    request_counts: Callable[[], RequestCounts],
) -> RunResult:
    check_out_dir(options.out_dir)
    loaded = load_requests(
        options.input_path,
        sheet=options.sheet,
        encoding=options.encoding,
        allow_duplicate_rows=options.allow_duplicate_rows,
        columns=options.columns,
        full_refunds=options.full_refunds,
        keep_cells=True,
    )
    started, started_mono = now(), monotonic()
    run_id = new_run_id(started)
    invalid = invalid_outcomes(loaded)
    digest = file_sha256(options.input_path)
    detected = loaded.detected
    layout = InputLayout(detected.format, detected.encoding, detected.delimiter,
                         detected.sheet, loaded.input_header)  # fmt: skip
    cells = loaded.written_cells
    journal.start_run(
        run_id,
        mode=options.mode,
        input_path=str(options.input_path),
        input_sha256=digest,
        rows=len(loaded.requests) + len(invalid),
        started_at=iso_utc(started),
        layout=layout,
        cells=cells,
    )
    journal.record_outcomes(run_id, invalid)
    if hooks.on_started is not None:
        hooks.on_started(run_id)
    stop = stop or asyncio.Event()
    engine = Engine(
        # A stop ends the run within seconds: an answer still awaited is given a grace
        # period, then abandoned as unknown (looked up by the next run, like a lost one).
        api=StoppableApi(api, stop, grace_s=stop_grace_s),
        journal=journal,
        run_id=run_id,
        concurrency=options.concurrency,
        max_amount=options.max_amount,
        stop=stop,
        plan_only=options.mode is Mode.PLAN,
        new_refunds=options.new_refunds,
        order_bounds=options.order_bounds(started),
        orders_scope=_orders_scope(api),
        on_planned=hooks.on_row_planned,
        on_outcome=hooks.on_outcome,
    )

    requests = loaded.requests
    totals: PlanTotals | None = None
    guard = _strict_guard(options, len(invalid))
    if guard is not None:
        journal.record_outcomes(run_id, engine.unsent_outcomes(requests, guard.code, guard.message))
    elif options.mode is Mode.RUN and hooks.confirm is None and options.max_total is None:
        # Nothing needs the whole plan first: plan each order and refund it straight away.
        _phase(hooks, "refunding", len(requests))
        await engine.plan_and_execute(requests)
    else:
        _phase(hooks, "planning", len(requests))
        plan = await engine.plan(requests)
        planned = [engine.planned_outcome(p) for p in plan.rows]
        totals = plan_totals(plan, planned, len(invalid))
        if hooks.on_planned is not None:
            hooks.on_planned(totals)
        if options.mode is Mode.PLAN:
            journal.record_outcomes(run_id, planned)
        else:
            guard = _max_total_guard(options, totals)
            if guard is None and not await _confirmed(hooks, totals, engine.stop):
                guard = (
                    Guard("run.interrupted", "stopped at the confirmation: nothing was sent")
                    if engine.stop.is_set()
                    else Guard(
                        "run.not-confirmed", "the confirmation was not given: nothing was sent"
                    )
                )
            if guard is None:
                _phase(hooks, "refunding", len(plan.rows))
                await engine.execute(plan)
            else:
                journal.record_outcomes(run_id, [_held_back(o, guard) for o in planned])

    finished = now()
    interrupted = engine.stop.is_set()
    all_outcomes = journal.outcomes(run_id)
    summary = _summary(
        options, run_id, digest, all_outcomes, request_counts(),
        started=started, finished=finished, duration_s=monotonic() - started_mono,
        exit_code=_exit_code(
            all_outcomes, guard=guard, interrupted=interrupted, misconfigured=engine.misconfigured
        ),
        warnings=loaded.warnings, stop_reason=engine.stop_reason(),
        key_mode="live" if api.live else "test", api_base_url=api.base_url,
    )  # fmt: skip
    report = RunReport(
        summary=summary,
        rows=tuple(all_outcomes),
        refunds=tuple(journal.refunds_credited_to(run_id)),
        input_header=loaded.input_header,
        input_cells=cells,
        layout=layout,
        zone=resolve_zone(options.timezone),
    )
    paths = _write_report_somewhere(report, options.out_dir, journal.path.parent)
    journal.finish_run(summary, str(paths.directory))
    return RunResult(summary, paths, tuple(all_outcomes), loaded, guard, interrupted, totals)


def recreate_report(
    journal: Journal, run_id: str, out_dir: Path, *, timezone: str | None = None
) -> ReportPaths:
    """Write run ``run_id``'s report again into ``out_dir``, from the journal alone: the same
    rows, refunds and summary as the report the run wrote (refunds a later run found by
    looking up this run's unanswered requests are left out, as its report had them), its
    times in ``timezone`` (default: the zone the run used). ``ConfigError`` when the journal
    has no such run, the run did not finish (it wrote no report; the next run of its file
    reports its rows), it was recorded before the journal kept the input's cells (schema
    3), or ``out_dir`` already holds a report."""
    record = journal.run(run_id)
    if record is None:
        raise ConfigError(f"the journal {journal.path} has no run {run_id}", option="run_id")
    if record.finished_at is None:
        raise ConfigError(
            f"run {run_id} did not finish, so it wrote no report to re-create; the next run "
            "of its file reports its rows",
            option="run_id",
        )
    if record.summary is None or record.layout is None:
        raise ConfigError(
            f"run {run_id} was recorded before the journal kept the input's own cells (journal "
            "schema 3), so its report cannot be re-created from the journal; its report was "
            f"written to {record.report_dir or 'a folder the journal did not record'}",
            option="run_id",
        )
    summary = record.summary
    if timezone is not None:
        summary = replace(summary, timezone=timezone)
    try:
        zone = resolve_zone(summary.timezone)
    except ValueError as exc:
        raise ConfigError(str(exc), option="timezone") from None
    check_out_dir(out_dir)
    report = RunReport(
        summary=summary,
        rows=tuple(journal.outcomes(run_id)),
        refunds=tuple(journal.refunds_credited_to(run_id, found_later=False)),
        input_header=record.layout.header,
        input_cells=journal.input_cells(run_id),
        layout=record.layout,
        zone=zone,
    )
    return write_report(report, out_dir)


def _write_report_somewhere(report: RunReport, out_dir: Path, fallback_parent: Path) -> ReportPaths:
    """Write the report into ``out_dir``, or, if that fails now that refunds may have been
    sent (the disk filled, the folder vanished, another run wrote there meanwhile), into a
    fresh folder beside the journal; the journal holds every outcome either way."""
    try:
        check_out_dir(out_dir)
        return write_report(report, out_dir)
    except (OSError, ConfigError) as first:
        fallback = fallback_parent / f"report-{report.summary.run_id}"
        try:
            paths = write_report(report, fallback)
        except OSError:
            raise ReportNotWritten(
                f"the report could not be written to {out_dir} ({first}) nor to {fallback}; "
                f"every outcome of run {report.summary.run_id} is in the journal"
            ) from None
        return replace(paths, fallback_from=out_dir)


async def _confirmed(hooks: RunHooks, totals: PlanTotals, stop: asyncio.Event) -> bool:
    if hooks.confirm is None or totals.rows_to_send == 0 or stop.is_set():
        return True
    return await hooks.confirm(totals)


def _phase(hooks: RunHooks, name: str, rows: int) -> None:
    if hooks.on_phase is not None:
        hooks.on_phase(name, rows)


def _strict_guard(options: RunOptions, invalid_rows: int) -> Guard | None:
    if options.mode is Mode.RUN and options.strict and invalid_rows:
        return Guard(
            "guard.strict",
            f"{invalid_rows} invalid row(s), and the run was to send nothing unless every row "
            "is valid: nothing was sent",
        )
    return None


def _max_total_guard(options: RunOptions, totals: PlanTotals) -> Guard | None:
    if options.max_total is not None and totals.total_to_send > options.max_total:
        return Guard(
            "guard.max-total",
            f"the plan refunds {format_yen(totals.total_to_send)}, above the most a run may "
            f"refund ({format_yen(options.max_total)}): nothing was sent",
        )
    return None


def _held_back(outcome: RowOutcome, guard: Guard) -> RowOutcome:
    """A row a guardrail kept from being sent: ``failed``, safe to run again."""
    if outcome.status is not Status.PLANNED:
        return outcome
    return replace(outcome, status=Status.FAILED, error_code=guard.code, message=guard.message)


def _exit_code(
    outcomes: list[RowOutcome], *, guard: Guard | None, interrupted: bool, misconfigured: bool
) -> int:
    if interrupted:
        return EXIT_INTERRUPTED
    if guard is not None:
        return EXIT_NOT_STARTED
    if misconfigured and not any(o.attempts for o in outcomes):
        return EXIT_NOT_STARTED  # the key or prefix is wrong and no refund was even tried
    if all(o.status in _DONE for o in outcomes):
        return EXIT_OK
    return EXIT_ROWS_NOT_DONE


def _summary(
    options: RunOptions,
    run_id: str,
    input_sha256: str,
    outcomes: list[RowOutcome],
    requests: RequestCounts,
    *,
    started: datetime,
    finished: datetime,
    duration_s: float,
    exit_code: int,
    warnings: tuple[str, ...],
    stop_reason: str | None,
    key_mode: str,
    api_base_url: str,
) -> RunSummary:
    counts = {status: 0 for status in Status}
    for o in outcomes:
        counts[o.status] += 1
    return RunSummary(
        run_id=run_id,
        mode=options.mode,
        input_path=str(options.input_path),
        input_sha256=input_sha256,
        rows=len(outcomes),
        counts=tuple(counts.items()),
        requested_total=sum(o.requested_yen for o in outcomes),
        refunded_total=sum(o.refunded_amount for o in outcomes),
        started_at=iso_utc(started),
        finished_at=iso_utc(finished),
        duration_s=round(duration_s, 3),
        requests=requests,
        exit_code=exit_code,
        already_refunded_total=sum(o.already_refunded for o in outcomes),
        warnings=warnings,
        stop_reason=stop_reason,
        key_mode=key_mode,
        api_base_url=api_base_url,
        timezone=options.timezone,
    )


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read 1 MiB at a time: what names an input."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def iso_utc(moment: datetime) -> str:
    """``2026-12-02T01:20:33Z``: how the journal and summary.json write a moment."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
