"""A real ``batch-refunds run`` in a pseudo-terminal, answering its question with keystrokes."""

from __future__ import annotations

import asyncio
import csv
import fcntl
import os
import signal
import sys
import termios
from pathlib import Path

import pytest

from batch_refunds.cli.plan_run import CONFIRM_PROMPT
from batch_refunds.sandbox import SandboxServer
from tests.conftest import MakeSandbox

KEY = "sk_test_PromptSuiteKey0001"
QUESTION = CONFIRM_PROMPT.split("?")[-1].strip().encode()  # the end of the question itself
START_BOUND_S = 60.0  # bounds on waiting for the process; never a timing being proven
ANSWER_BOUND_S = 10.0

pytestmark = pytest.mark.slow


class Terminal:
    """The parent side of a pseudo-terminal: keeps everything the child writes."""

    def __init__(self) -> None:
        self.parent_fd, self.child_fd = os.openpty()
        self.output = bytearray()
        self._grew = asyncio.Event()
        asyncio.get_running_loop().add_reader(self.parent_fd, self._read)

    def _read(self) -> None:
        try:
            chunk = os.read(self.parent_fd, 65536)
        except OSError:  # EIO: the child side is closed
            chunk = b""
        if not chunk:
            asyncio.get_running_loop().remove_reader(self.parent_fd)
        self.output.extend(chunk)
        self._grew.set()

    async def shows(self, text: bytes) -> None:
        async with asyncio.timeout(START_BOUND_S):
            while text not in self.output:
                self._grew.clear()
                await self._grew.wait()

    def type(self, keys: bytes) -> None:
        os.write(self.parent_fd, keys)

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.parent_fd)
        os.close(self.parent_fd)

    def text(self) -> str:
        return self.output.decode("utf-8", "replace")


def _take_terminal() -> None:
    # Runs in the child after setsid(): make the pty its controlling terminal, so that the
    # line discipline turns Ctrl-C into SIGINT for it, as a real terminal does.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _returns(server: SandboxServer, tmp: Path) -> Path:
    path = tmp / "returns.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "amount"])
        for amount in (1_200, 3_400):
            order = server.state.add_order(amount=amount)
            server.state.add_payment(order.id, amount)
            writer.writerow([order.id, amount])
    return path


async def _run_until_asked(
    server: SandboxServer, tmp: Path
) -> tuple[asyncio.subprocess.Process, Terminal]:
    terminal = Terminal()
    env = {**os.environ, "SMARTPAY_SECRET_KEY": KEY, "SMARTPAY_API_PREFIX": server.base_url}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "batch_refunds", "run", str(_returns(server, tmp)),
        "--journal", str(tmp / "journal.sqlite3"), "--out", str(tmp / "report"),
        env=env, stdin=terminal.child_fd, stdout=terminal.child_fd, stderr=terminal.child_fd,
        start_new_session=True, preexec_fn=_take_terminal,
    )  # fmt: skip
    os.close(terminal.child_fd)
    try:
        await terminal.shows(QUESTION)
    except TimeoutError:
        process.kill()
        await process.wait()
        terminal.close()
        pytest.fail(f"no question within {START_BOUND_S} s:\n{terminal.text()}")
    return process, terminal


async def _exit_code(process: asyncio.subprocess.Process, terminal: Terminal) -> int:
    try:
        async with asyncio.timeout(ANSWER_BOUND_S):
            code = await process.wait()
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"still running {ANSWER_BOUND_S} s after the answer:\n{terminal.text()}")
    finally:
        terminal.close()
    return code


def _nothing_sent(server: SandboxServer) -> bool:
    return not server.state.refunds and server.state.requests_served("POST", "/v1/refunds") == 0


@pytest.mark.parametrize(("keys", "name"), [(b"\x03", "Ctrl-C"), (b"\x04", "Ctrl-D")])
async def test_ctrl_c_or_ctrl_d_at_the_question_ends_the_run_at_once_with_130(
    make_sandbox: MakeSandbox, tmp_path: Path, keys: bytes, name: str
) -> None:
    """Ctrl-C or Ctrl-D at the question, no Enter: the process exits 130 straight away and
    the sandbox never sees a refund POST."""
    server = await make_sandbox()
    process, terminal = await _run_until_asked(server, tmp_path)
    terminal.type(keys)
    assert await _exit_code(process, terminal) == 130, f"{name}:\n{terminal.text()}"
    assert _nothing_sent(server)
    assert "Stopped at the question: nothing was sent." in terminal.text()
    assert "stopping: no new rows will start" not in terminal.text()


async def test_sigterm_at_the_question_ends_the_run_at_once_with_130(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    """SIGTERM while the question waits: exit 130 straight away, no refund POST."""
    server = await make_sandbox()
    process, terminal = await _run_until_asked(server, tmp_path)
    process.send_signal(signal.SIGTERM)
    assert await _exit_code(process, terminal) == 130, terminal.text()
    assert _nothing_sent(server)


async def test_y_is_not_yes(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    """Answering 'y': declined, exit 2 (nothing started), no refund POST."""
    server = await make_sandbox()
    process, terminal = await _run_until_asked(server, tmp_path)
    terminal.type(b"y\r")
    assert await _exit_code(process, terminal) == 2, terminal.text()
    assert _nothing_sent(server)
    assert "only 'yes' sends" in terminal.text()


async def test_yes_sends_the_refunds(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    """Answering 'yes': both rows are refunded, exit 0."""
    server = await make_sandbox()
    process, terminal = await _run_until_asked(server, tmp_path)
    terminal.type(b"yes\r")
    assert await _exit_code(process, terminal) == 0, terminal.text()
    assert sorted(refund.amount for refund in server.state.all_refunds()) == [1_200, 3_400]
