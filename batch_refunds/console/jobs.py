"""The console's one active run (or plan) per journal, run in the background.

A job calls ``runner.run_batch`` exactly as ``batch-refunds run`` does, with its own client
and a ``Progress`` for the page. It outlives the request that started it (closing the
browser changes nothing); ``stop()`` is the Stop button, the same graceful stop as Ctrl-C.
A run's confirmation is the approval given on the plan page: the run is sent only if its
own plan still sends the approved number of rows and yen, else nothing is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from batch_refunds.console.uploads import Upload
from batch_refunds.errors import JournalBusy
from batch_refunds.journal import Journal
from batch_refunds.models import Mode
from batch_refunds.progress import Progress
from batch_refunds.runner import PlanTotals, RunHooks, RunOptions, RunResult, run_batch
from batch_refunds.smartpay import ClientConfig, SmartpayClient


@dataclass(frozen=True)
class Guardrails:
    """The engine options ``serve`` takes, as ``run`` does."""

    concurrency: int
    max_amount: int | None = None
    max_total: int | None = None
    strict: bool = False
    allow_live: bool = False


@dataclass
class Job:
    mode: Mode
    upload: Upload
    started_by: str | None
    progress: Progress = field(default_factory=Progress)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    run_id: str | None = None
    result: RunResult | None = None
    failure: BaseException | None = None
    task: asyncio.Task[None] | None = None
    approved: PlanTotals | None = None

    @property
    def active(self) -> bool:
        return self.task is not None and not self.task.done()

    @property
    def declined(self) -> bool:
        """The run's own plan differed from the approved one, so nothing was sent."""
        guard = self.result.guard if self.result else None
        return guard is not None and guard.code == "run.not-confirmed"


class Jobs:
    def __init__(
        self,
        journal: Journal,
        client_config: ClientConfig,
        guardrails: Guardrails,
        reports_root: Path,
    ) -> None:
        self.journal = journal
        self.client_config = client_config
        self.guardrails = guardrails
        self.reports_root = reports_root
        self.by_run: dict[str, Job] = {}
        self.current: Job | None = None

    async def start(
        self,
        upload: Upload,
        mode: Mode,
        *,
        started_by: str | None,
        approved: PlanTotals | None = None,
    ) -> Job:
        """Start a job and return once the journal has its run id; raise ``JournalBusy``
        while another job runs, or whatever made ``run_batch`` refuse to start."""
        if self.current is not None and self.current.active:
            raise JournalBusy("a run is in progress on this journal")
        job = Job(mode, upload, started_by, approved=approved)
        started = asyncio.Event()

        def on_started(run_id: str) -> None:
            job.run_id = run_id
            self.by_run[run_id] = job
            started.set()

        job.task = asyncio.create_task(self._run(job, on_started))
        waiting = asyncio.ensure_future(started.wait())
        await asyncio.wait({waiting, job.task}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if job.run_id is None:
            await asyncio.wait({job.task})
            raise job.failure or RuntimeError("the run ended before it started")
        self.current = job
        return job

    async def _run(self, job: Job, on_started: Callable[[str], None]) -> None:
        g = self.guardrails
        options = RunOptions(
            input_path=job.upload.path,
            out_dir=self._out_dir(job),
            mode=job.mode,
            **job.upload.load_options(),
            new_refunds=job.upload.new_refunds,
            strict=g.strict,
            max_amount=g.max_amount,
            max_total=g.max_total,
            concurrency=g.concurrency,
            allow_live=g.allow_live,
        )
        progress = job.progress

        async def confirm(totals: PlanTotals) -> bool:
            wanted = job.approved
            return wanted is not None and (totals.rows_to_send, totals.total_to_send) == (
                wanted.rows_to_send,
                wanted.total_to_send,
            )

        hooks = RunHooks(
            confirm=confirm if job.mode is Mode.RUN else None,
            on_phase=lambda name, rows: progress.start_phase(name, rows, time.monotonic()),
            on_row_planned=progress.on_row_planned,
            on_outcome=progress.on_outcome,
            on_started=on_started,
        )
        try:
            async with SmartpayClient(
                self.client_config, hook=progress.on_event, should_stop=job.stop.is_set
            ) as client:
                job.result = await run_batch(
                    options, api=client, journal=self.journal, hooks=hooks, stop=job.stop
                )
        except Exception as exc:  # shown on the page; the journal has whatever happened
            job.failure = exc
        finally:
            progress.phase = "finished"

    def _out_dir(self, job: Job) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        base = self.reports_root / f"{stamp}-{job.mode.value}-{job.upload.id[:8]}"
        candidate, number = base, 1
        while candidate.exists():
            number += 1
            candidate = base.with_name(f"{base.name}-{number}")
        return candidate

    async def close(self) -> None:
        """At shutdown: a running job is stopped as Ctrl-C would, and awaited."""
        job = self.current
        if job is not None and job.task is not None and not job.task.done():
            job.stop.set()
            with contextlib.suppress(Exception):
                await job.task
