"""Counting the tries of each refund POST, retries included, per report row.

The client retries inside one ``create_refund`` call, so only its events know how many tries
a row took. The engine opens a counter around each call; the client's event hook (wired by
whoever builds the client, through ``Progress``) bumps whichever counter is open in the task
that made the request — a context variable, so concurrent rows never mix their counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_CURRENT: ContextVar[list[int] | None] = ContextVar("batch_refunds_attempts", default=None)


@contextmanager
def counting() -> Iterator[list[int]]:
    """Count the tries made inside this block; read ``counter[0]`` afterwards."""
    counter = [0]
    token = _CURRENT.set(counter)
    try:
        yield counter
    finally:
        _CURRENT.reset(token)


def note_attempt() -> None:
    """One try left for the server (called from the client's event hook)."""
    counter = _CURRENT.get()
    if counter is not None:
        counter[0] += 1
