"""Counting requests where they are made: per report row (a refund POST's tries) and per run.

The client retries inside one ``create_refund`` call, so only the client knows how many tries
a row took and how many requests a run made. The engine opens a row counter around each
call, the runner a run tally around the whole run; the client itself notes each try in
whichever counter and tally are open in the task that made the request. Context variables,
so concurrent rows never mix their counts, and no caller has to wire anything for the
report's numbers to be right (a progress display still follows the client's events).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from batch_refunds.models import RequestCounts

_CURRENT: ContextVar[list[int] | None] = ContextVar("batch_refunds_attempts", default=None)


@dataclass
class RequestTally:
    """The requests of one run: tries sent, retries decided, 429 answers."""

    requests: int = 0
    retried: int = 0
    rate_limited: int = 0

    def counts(self) -> RequestCounts:
        return RequestCounts(self.requests, self.retried, self.rate_limited)


_TALLY: ContextVar[RequestTally | None] = ContextVar("batch_refunds_tally", default=None)


@contextmanager
def counting() -> Iterator[list[int]]:
    """Count the tries made inside this block; read ``counter[0]`` afterwards."""
    counter = [0]
    token = _CURRENT.set(counter)
    try:
        yield counter
    finally:
        _CURRENT.reset(token)


@contextmanager
def tallying() -> Iterator[RequestTally]:
    """Tally every request made inside this block (tasks it starts included)."""
    tally = RequestTally()
    token = _TALLY.set(tally)
    try:
        yield tally
    finally:
        _TALLY.reset(token)


def note_attempt() -> None:
    """One refund POST try left for the server."""
    counter = _CURRENT.get()
    if counter is not None:
        counter[0] += 1


def note_request(method: str) -> None:
    """One try of a request left for the server (called by the client)."""
    tally = _TALLY.get()
    if tally is not None:
        tally.requests += 1
    if method == "POST":
        note_attempt()


def note_retry() -> None:
    tally = _TALLY.get()
    if tally is not None:
        tally.retried += 1


def note_rate_limited() -> None:
    tally = _TALLY.get()
    if tally is not None:
        tally.rate_limited += 1
