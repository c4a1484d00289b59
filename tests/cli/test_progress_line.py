"""The live progress line fits its terminal, dropping the least useful fields first."""

from __future__ import annotations

import fcntl
import io
import os
import struct
import termios
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TextIO

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batch_refunds.cli.render import ProgressPrinter, progress_line
from batch_refunds.progress import Progress, Snapshot

BIG = Snapshot(
    phase="refunding",
    rows_done=100_000,
    rows_total=100_000,
    refunded_yen=123_456_789,
    rows_per_s=12_345.6,
    eta_s=45_296.0,
    requests=200_000,
    retried=12_345,
    rate_limited=1_234,
    counts={},
)
CORE = ("refunding", "100,000/100,000", "¥123,456,789")
SMALLEST_CORE = "refunding: 100,000/100,000 ¥123,456,789"


def columns(text: str) -> int:
    """Terminal columns, as a terminal counts them: wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def shown(line: str) -> dict[str, bool]:
    return {
        "eta": "ETA " in line,
        "rate": "rows/s" in line,
        "counts": "requests" in line and "retried" in line and "×429" in line,
        "bar": "[#" in line,
    }


@pytest.mark.parametrize("width", [40, 80, 200])
@pytest.mark.parametrize("bar", [True, False])
def test_large_numbers_never_exceed_the_width(width: int, bar: bool) -> None:
    """¥123,456,789 over 100,000/100,000 rows at 40, 80 and 200 columns: never wider, and the
    phase, rows and yen are always there."""
    line = progress_line(BIG, bar=bar, width=width)
    assert columns(line) <= width
    assert all(part in line for part in CORE)


def test_at_200_columns_everything_is_shown() -> None:
    """With room, every field appears in full, the bar included."""
    line = progress_line(BIG, bar=True, width=200)
    assert line == (
        "refunding: [########################] 100,000/100,000 rows · ¥123,456,789 refunded · "
        "12345.6 rows/s · ETA 12h34m · 200,000 requests, 12,345 retried, 1,234×429"
    )


def test_at_80_columns_the_counts_and_bar_go_first() -> None:
    """80 columns keep rows, yen, rate and ETA; the request counts and the bar are dropped."""
    line = progress_line(BIG, bar=True, width=80)
    assert shown(line) == {"eta": True, "rate": True, "counts": False, "bar": False}


def test_at_40_columns_only_the_core_is_left() -> None:
    """40 columns hold the phase, rows done/total and yen refunded, without their words."""
    assert progress_line(BIG, bar=True, width=40) == SMALLEST_CORE


@pytest.mark.parametrize("width", range(1, 221))
def test_fields_are_dropped_in_priority_order(width: int) -> None:
    """At every width the core is kept while it fits; then the ETA, then the rate, then the
    counts; the bar only beside all of them."""
    line = progress_line(BIG, bar=True, width=width)
    assert columns(line) <= width
    has = shown(line)
    if width >= columns(SMALLEST_CORE):
        assert all(part in line for part in CORE)
    assert not has["rate"] or has["eta"]
    assert not has["counts"] or has["rate"]
    assert not has["bar"] or has["counts"]


def test_unknown_eta_and_small_numbers_read_as_before() -> None:
    """Small numbers at 200 columns: the familiar line, an en dash for an ETA not known yet."""
    start = Snapshot("planning", 0, 20, 0, 0.0, None, 3, 0, 0, {})
    assert progress_line(start, bar=False, width=200) == (
        "planning: 0/20 rows · ¥0 refunded · 0.0 rows/s · ETA – · 3 requests, 0 retried, 0×429"
    )


def test_full_width_characters_count_as_two_columns() -> None:
    """A phase written in Japanese takes two columns a character, and the line still fits."""
    japanese = replace(BIG, phase="返金中")
    for width in (30, 45, 60):
        line = progress_line(japanese, bar=False, width=width)
        assert columns(line) <= width
        assert "返金中" in line or line.endswith("…")


@given(
    done=st.integers(0, 10**9),
    extra=st.integers(0, 10**9),
    yen=st.integers(0, 10**13),
    rate=st.floats(0, 1e7, allow_nan=False),
    eta=st.none() | st.floats(0, 1e9, allow_nan=False),
    requests=st.integers(0, 10**9),
    width=st.integers(1, 300),
    bar=st.booleans(),
)
def test_no_snapshot_is_ever_wider_than_asked(
    done: int,
    extra: int,
    yen: int,
    rate: float,
    eta: float | None,
    requests: int,
    width: int,
    bar: bool,
) -> None:
    """Whatever the numbers, the line is at most ``width`` columns."""
    snapshot = Snapshot("refunding", done, done + extra, yen, rate, eta, requests, done, extra, {})
    assert columns(progress_line(snapshot, bar=bar, width=width)) <= width


@contextmanager
def terminal(cols: int) -> Iterator[tuple[TextIO, int]]:
    """A pseudo-terminal ``cols`` wide (0: never sized): its stream and the far side's fd."""
    parent_fd, child_fd = os.openpty()
    if cols:
        fcntl.ioctl(child_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
    stream = os.fdopen(child_fd, "w", encoding="utf-8")
    try:
        yield stream, parent_fd
    finally:
        stream.close()
        os.close(parent_fd)


def _refunding() -> Progress:
    progress = Progress()
    progress.start_phase("refunding", 100_000, 0.0)
    progress.rows_done, progress.refunded_yen, progress.requests = 99_999, 123_456_789, 200_000
    return progress


async def test_the_printer_draws_to_its_terminals_width(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a 50-column terminal every line drawn takes at most 49 columns (one spare, so the
    cursor never sits in the last column and the redraw stays on one line)."""
    monkeypatch.delenv("COLUMNS", raising=False)
    with terminal(50) as (stream, parent_fd):
        printer = ProgressPrinter(_refunding(), stream)
        assert printer.width() == 49
        await printer.stop()  # draws the final line
        drawn = os.read(parent_fd, 65536).decode("utf-8")
    lines = [part for part in drawn.replace("\x1b[K", "").split("\r") if part.strip()]
    assert lines
    assert all(columns(line.rstrip("\n")) <= 49 for line in lines)
    assert "99,999/100,000" in lines[-1]


@pytest.mark.parametrize(("env", "expected"), [(None, 79), ("60", 59), ("junk", 79)])
def test_a_terminal_of_unknown_width_counts_as_80_columns(
    monkeypatch: pytest.MonkeyPatch, env: str | None, expected: int
) -> None:
    """A terminal that reports no size falls back to $COLUMNS, else 80 columns."""
    if env is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", env)
    with terminal(0) as (stream, _parent_fd):
        assert ProgressPrinter(_refunding(), stream).width() == expected


async def test_log_lines_keep_every_field() -> None:
    """Without a terminal (cron) nothing is redrawn, so no field is dropped."""
    log = io.StringIO()
    await ProgressPrinter(_refunding(), log).stop()  # draws the final line
    assert shown(log.getvalue()) == {"eta": True, "rate": True, "counts": True, "bar": False}
    assert "99,999/100,000 rows" in log.getvalue()
