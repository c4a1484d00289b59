"""Counters a person watches during a run, fed by the client's events and the engine's outcomes.

Pure bookkeeping: the CLI draws it as a bar or log lines, a console could draw it as a page.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from batch_refunds.models import RequestCounts, RowOutcome, Status, Yen
from batch_refunds.smartpay.events import (
    ClientEvent,
    RequestFinished,
    RequestRetried,
    RequestStarted,
)


@dataclass(frozen=True, slots=True)
class Snapshot:
    phase: str
    rows_done: int
    rows_total: int
    refunded_yen: Yen
    rows_per_s: float
    eta_s: float | None
    requests: int
    retried: int
    rate_limited: int
    counts: dict[Status, int]


@dataclass
class Progress:
    """Running totals; ``now`` readings are monotonic seconds supplied by the caller."""

    phase: str = "loading"
    rows_total: int = 0
    rows_done: int = 0
    refunded_yen: Yen = 0
    requests: int = 0
    retried: int = 0
    rate_limited: int = 0
    counts: Counter[Status] = field(default_factory=Counter)
    _phase_started_at: float = 0.0

    def start_phase(self, phase: str, rows_total: int, now: float) -> None:
        self.phase, self.rows_total, self.rows_done = phase, rows_total, 0
        self._phase_started_at = now

    def on_event(self, event: ClientEvent) -> None:
        if isinstance(event, RequestStarted):
            self.requests += 1
        elif isinstance(event, RequestRetried):
            self.retried += 1
        elif isinstance(event, RequestFinished) and event.status == 429:
            self.rate_limited += 1

    def on_row_planned(self, outcome: RowOutcome) -> None:
        self.rows_done += 1

    def on_outcome(self, outcome: RowOutcome) -> None:
        self.rows_done += 1
        self.counts[outcome.status] += 1
        self.refunded_yen += outcome.refunded_amount  # what this run's requests created

    def request_counts(self) -> RequestCounts:
        return RequestCounts(self.requests, self.retried, self.rate_limited)

    def snapshot(self, now: float) -> Snapshot:
        elapsed = max(now - self._phase_started_at, 1e-9)
        rate = self.rows_done / elapsed
        left = self.rows_total - self.rows_done
        eta = left / rate if rate > 0 else None
        return Snapshot(
            phase=self.phase,
            rows_done=self.rows_done,
            rows_total=self.rows_total,
            refunded_yen=self.refunded_yen,
            rows_per_s=rate,
            eta_s=eta,
            requests=self.requests,
            retried=self.retried,
            rate_limited=self.rate_limited,
            counts=dict(self.counts),
        )
