"""The confirmation prompt: only 'yes' sends; Ctrl-C, SIGTERM or Ctrl-D end it at once."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import select
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import pytest

from batch_refunds.cli.plan_run import CONFIRM_PROMPT, _ask
from batch_refunds.runner import PlanTotals

TOTALS = PlanTotals(
    rows=3,
    rows_to_send=2,
    total_to_send=12_800,
    invalid_rows=0,
    rejected_rows=1,
    already_refunded_rows=0,
    requested=14_000,
    already_refunded=1_200,
    held_rows=2,
)
BOUND_S = 5.0  # a bound on waiting for the prompt to return, never a timing being proven


class PromptOut(io.StringIO):
    """Captures what the prompt writes; ``asked`` is set once the question has been flushed."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = asyncio.Event()

    def flush(self) -> None:
        super().flush()
        if CONFIRM_PROMPT in self.getvalue():
            self.asked.set()


@contextlib.contextmanager
def pipe() -> Iterator[tuple[TextIO, int]]:
    """A readable text stream standing in for stdin, and the descriptor that writes into it."""
    read_fd, write_fd = os.pipe()
    reader = os.fdopen(read_fd, "r", encoding="utf-8")
    try:
        yield reader, write_fd
    finally:
        reader.close()
        with contextlib.suppress(OSError):
            os.close(write_fd)


async def answer(typed: bytes, *, close: bool = False) -> tuple[bool, bool, str]:
    """Run the prompt with ``typed`` waiting on stdin: (result, stop set, what it printed)."""
    stop = asyncio.Event()
    out = PromptOut()
    with pipe() as (stdin, write_fd):
        os.write(write_fd, typed)
        if close:
            os.close(write_fd)
        result = await asyncio.wait_for(_ask(TOTALS, stop, stdin=stdin, out=out), BOUND_S)
    return result, stop.is_set(), out.getvalue()


def test_the_prompt_says_exactly_what_it_accepts() -> None:
    """The question names the one answer that sends, and its case."""
    assert "Type 'yes' (lower case) to send, anything else cancels: " in CONFIRM_PROMPT
    assert len(CONFIRM_PROMPT) < 80  # one line on an 80-column terminal


@pytest.mark.parametrize("typed", [b"yes\n", b"  yes \t\n", b"yes\r\n"])
async def test_yes_sends(typed: bytes) -> None:
    """'yes', surrounding whitespace aside, is the one answer that sends."""
    result, stopped, printed = await answer(typed)
    assert (result, stopped) == (True, False)
    assert "About to refund ¥12,800 over 2 row(s)." in printed
    assert "requested ¥14,000, already refunded ¥1,200" in printed
    assert "1 rejected, 2 held, 0 invalid" in printed
    assert max(len(line) for line in printed.splitlines()) < 80


@pytest.mark.parametrize(
    "typed", [b"y\n", b"Y\n", b"YES\n", b"Yes\n", b"yes please\n", b"yes!\n", b"\n", b"no\n"]
)
async def test_anything_else_is_a_no(typed: bytes) -> None:
    """'y', 'YES', an empty line, 'yes please'…: declined, nothing stops the run, and the
    person is told only 'yes' sends."""
    result, stopped, printed = await answer(typed)
    assert (result, stopped) == (False, False)
    assert "Cancelled: nothing was sent (only 'yes' sends)." in printed


@pytest.mark.parametrize("typed", [b"", b"yes"])
async def test_end_of_input_stops_the_run(typed: bytes) -> None:
    """Ctrl-D (the input ends, even right after typing 'yes' without Enter): declined and the
    stop event is set, so the run ends as interrupted."""
    result, stopped, printed = await answer(typed, close=True)
    assert (result, stopped) == (False, True)
    assert "Stopped at the question: nothing was sent." in printed


async def test_stop_ends_the_question_without_waiting_for_enter() -> None:
    """With nothing typed, setting stop (what Ctrl-C/SIGTERM do) makes the prompt return False
    at once and stop watching stdin."""
    stop = asyncio.Event()
    out = PromptOut()
    with pipe() as (stdin, _write_fd):
        asking = asyncio.create_task(_ask(TOTALS, stop, stdin=stdin, out=out))
        await asyncio.wait_for(out.asked.wait(), BOUND_S)
        stop.set()
        assert await asyncio.wait_for(asking, BOUND_S) is False
        assert asyncio.get_running_loop().remove_reader(stdin.fileno()) is False
    assert "Stopped at the question: nothing was sent." in out.getvalue()


class NoDescriptor(io.TextIOBase):
    """A stdin the event loop cannot watch: no file descriptor, a blocking readline."""

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner

    def fileno(self) -> int:
        raise io.UnsupportedOperation("fileno")

    def readline(self, size: int | None = -1) -> str:
        return self.inner.readline()


async def test_without_a_watchable_stdin_a_daemon_thread_reads_and_stop_still_wins() -> None:
    """Where stdin can't be watched, a daemon thread reads it (so interpreter exit never waits
    for it), and a stop still ends the question while that thread is blocked."""
    stop = asyncio.Event()
    out = PromptOut()
    with pipe() as (stdin, write_fd):
        asking = asyncio.create_task(_ask(TOTALS, stop, stdin=NoDescriptor(stdin), out=out))
        await asyncio.wait_for(out.asked.wait(), BOUND_S)
        (reader,) = [t for t in threading.enumerate() if t.name == "confirm-prompt"]
        assert reader.daemon
        stop.set()
        assert await asyncio.wait_for(asking, BOUND_S) is False
        assert reader.is_alive()  # still blocked in readline: only a daemon may be left so
        os.close(write_fd)
        await asyncio.to_thread(reader.join, BOUND_S)
        assert not reader.is_alive()


@pytest.mark.parametrize(("typed", "expected"), [("yes\n", True), ("y\n", False), ("yes", False)])
async def test_a_regular_file_as_stdin_is_read_too(
    tmp_path: Path, typed: str, expected: bool
) -> None:
    """stdin redirected from a file (which epoll refuses to watch) is answered by the same rule."""
    path = tmp_path / "answer.txt"
    path.write_text(typed, encoding="utf-8")
    with path.open(encoding="utf-8") as stdin:
        result = await asyncio.wait_for(
            _ask(TOTALS, asyncio.Event(), stdin=stdin, out=PromptOut()), BOUND_S
        )
    assert result is expected


async def test_keys_typed_before_the_question_answer_nothing() -> None:
    """A 'yes' typed on the terminal while the plan was being made is dropped: only what is
    typed after the question counts."""
    parent_fd, child_fd = os.openpty()
    stdin = os.fdopen(child_fd, "r", encoding="utf-8")
    try:
        os.write(parent_fd, b"yes\n")
        readable, _, _ = select.select([child_fd], [], [], BOUND_S)  # the line has arrived
        assert readable
        stop = asyncio.Event()
        out = PromptOut()
        asking = asyncio.create_task(_ask(TOTALS, stop, stdin=stdin, out=out))
        await asyncio.wait_for(out.asked.wait(), BOUND_S)
        os.write(parent_fd, b"no\n")
        assert await asyncio.wait_for(asking, BOUND_S) is False
        assert "only 'yes' sends" in out.getvalue()
    finally:
        stdin.close()
        os.close(parent_fd)
