"""A real ``batch-refunds run`` process killed mid-run, then run again: one refund per row."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from batch_refunds.sandbox import SandboxServer, SystemClock
from tests.conftest import MakeSandbox

KEY = "sk_test_CrashSuiteKey0001"
ROWS = 24
POLL_S = 0.005  # how often the test looks at the sandbox; never a timing being proven
DEADLINE_S = 60.0

pytestmark = pytest.mark.slow


async def _slow_sandbox(make_sandbox: MakeSandbox) -> SandboxServer:
    # Real latency (real sleeps inside the server), so a kill lands while requests are open.
    return await make_sandbox(clock=SystemClock(), sleep=asyncio.sleep, latency_ms=15)


def _returns(server: SandboxServer, tmp: Path) -> tuple[Path, dict[str, int]]:
    """ROWS orders; half refunded in part, half in full (blank amount), some split."""
    wanted: dict[str, int] = {}
    path = tmp / "returns.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "amount", "reference"])
        for n in range(ROWS):
            order = server.state.add_order(amount=10_000)
            if n % 3 == 0:
                server.state.add_payment(order.id, 4_000)
                server.state.add_payment(order.id, 6_000)
            else:
                server.state.add_payment(order.id, 10_000)
            amount = 7_000 if n % 2 else None
            wanted[order.id] = amount or 10_000
            writer.writerow([order.id, amount or "", f"RET-{n:03d}" if n % 4 else ""])
    return path, wanted


async def _start(
    path: Path, tmp: Path, server: SandboxServer, out: str
) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "SMARTPAY_SECRET_KEY": KEY,
        "SMARTPAY_API_PREFIX": server.base_url,
    }
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "batch_refunds", "run", str(path), "--yes",
        "--journal", str(tmp / "journal.sqlite3"), "--out", str(tmp / out),
        "--rate", "400", "--concurrency", "4",
        env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _until(condition: Callable[[], bool]) -> None:
    # The condition lives in another process's effects on the sandbox; no event to wait on.
    async with asyncio.timeout(DEADLINE_S):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(POLL_S)


def _refunded_per_order(server: SandboxServer) -> dict[str, list[int]]:
    per_order: dict[str, list[int]] = {}
    for refund in server.state.all_refunds():
        order = server.state.payments[refund.payment_id].order_id
        per_order.setdefault(order, []).append(refund.amount)
    return per_order


def _post_in_flight(server: SandboxServer) -> bool:
    return any(record.status is None for record in server.state.idempotency.values())


@pytest.mark.parametrize(("kill_after_refunds", "hours_later"), [(0, 0), (5, 7), (13, 0)])
async def test_sigkill_mid_run_then_rerun_refunds_each_row_exactly_once(
    make_sandbox: MakeSandbox, tmp_path: Path, kill_after_refunds: int, hours_later: int
) -> None:
    """Killed with SIGKILL while a refund POST is open; the re-run (even after Smartpay has
    forgotten the idempotency keys) completes every row, one refund amount per row."""
    server = await _slow_sandbox(make_sandbox)
    path, wanted = _returns(server, tmp_path)
    first = await _start(path, tmp_path, server, "first")
    await _until(
        lambda: len(server.state.refunds) >= kill_after_refunds and _post_in_flight(server)
    )
    first.kill()
    assert await first.wait() == -signal.SIGKILL
    assert len(server.state.refunds) < ROWS + ROWS // 3  # it really was cut short
    await _until(lambda: not _post_in_flight(server))  # the open POST lands after the kill
    server.clock.advance(hours_later * 3600)

    second = await _start(path, tmp_path, server, "second")
    _out, err = await second.communicate()
    assert second.returncode == 0, err.decode()
    per_order = _refunded_per_order(server)
    assert {order: sum(amounts) for order, amounts in per_order.items()} == wanted
    summary = json.loads((tmp_path / "second" / "summary.json").read_text(encoding="utf-8"))
    assert summary["counts"]["refunded"] + summary["counts"]["already_refunded"] == ROWS
    assert summary["input"]["rows"] == ROWS


async def test_sigint_stops_cleanly_with_a_report_and_exit_130(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    """Ctrl-C: rows in flight finish, the rest are failed, the report is written, exit 130;
    a re-run finishes the job."""
    server = await _slow_sandbox(make_sandbox)
    path, wanted = _returns(server, tmp_path)
    first = await _start(path, tmp_path, server, "first")
    await _until(lambda: len(server.state.refunds) >= 4)
    first.send_signal(signal.SIGINT)
    _out, err = await first.communicate()
    assert first.returncode == 130, err.decode()
    summary = json.loads((tmp_path / "first" / "summary.json").read_text(encoding="utf-8"))
    assert summary["exit_code"] == 130
    assert summary["input"]["rows"] == ROWS
    assert summary["counts"]["failed"] > 0
    with (tmp_path / "first" / "reconciliation.csv").open(encoding="utf-8-sig") as handle:
        statuses = [row["status"] for row in csv.DictReader(handle)]
    assert len(statuses) == ROWS
    assert set(statuses) <= {"refunded", "failed"}

    second = await _start(path, tmp_path, server, "second")
    await second.communicate()
    assert second.returncode == 0
    assert {o: sum(a) for o, a in _refunded_per_order(server).items()} == wanted


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from batch_refunds.cli.main import main

    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def test_runs_show_on_a_run_killed_mid_way_and_on_the_run_that_finished_it(
    make_sandbox: MakeSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """runs show on a run killed with SIGKILL says it did not finish and shows what the
    journal has (rows with an outcome, the requests left unanswered); report refuses it.
    After the re-run, the killed run shows the refund found later, and the finished run shows
    its input, API, timing, requests and totals."""
    server = await _slow_sandbox(make_sandbox)
    path, _wanted = _returns(server, tmp_path)
    first = await _start(path, tmp_path, server, "first")
    await _until(lambda: len(server.state.refunds) >= 5 and _post_in_flight(server))
    first.kill()
    assert await first.wait() == -signal.SIGKILL
    await _until(lambda: not _post_in_flight(server))
    journal = str(tmp_path / "journal.sqlite3")

    code, out, _ = _cli(capsys, "runs", "--journal", journal, "--timezone", "UTC")
    first_id = out.splitlines()[2].split()[0]
    assert out.splitlines()[2].split()[3] == "…"
    code, out, _ = _cli(capsys, "runs", "show", first_id[:18], "--journal", journal)
    assert code == 0
    assert "This run did not finish" in out
    assert "  finished            did not finish" in out
    assert "  requests            not recorded" in out
    assert f"  input               {path}" in out
    assert "  unanswered          " in out  # the POST open at the kill
    assert "  report              none written" in out
    code, _out, err = _cli(capsys, "report", first_id, "--journal", journal, "--out",
                           str(tmp_path / "again"))  # fmt: skip
    assert code == 2
    assert "did not finish" in err

    second = await _start(path, tmp_path, server, "second")
    await second.communicate()
    assert second.returncode == 0
    code, out, _ = _cli(capsys, "runs", "show", first_id, "--journal", journal)
    assert "  found later         " in out
    assert "  unanswered" not in out

    code, out, _ = _cli(capsys, "runs", "--journal", journal, "--timezone", "Asia/Tokyo")
    second_id = out.splitlines()[2].split()[0]
    assert "+09:00" in out.splitlines()[2]
    code, out, _ = _cli(capsys, "runs", "show", second_id, "--journal", journal,
                        "--timezone", "Asia/Tokyo")  # fmt: skip
    summary = json.loads((tmp_path / "second" / "summary.json").read_text(encoding="utf-8"))
    assert f"  API                 test key against {server.base_url}" in out
    assert f"  input sha256        {summary['input']['sha256']}" in out
    assert "  exit                0" in out
    requests = summary["requests"]
    assert (f"  requests            {requests['total']} ({requests['retried']} retried, "
            f"{requests['rate_limited']} rate-limited)") in out  # fmt: skip
    assert f"  rows                {ROWS}\n" in out
    started = out.split("  started             ")[1].split()[0]
    assert started.endswith("+09:00")
    assert f"  report              {tmp_path / 'second'}/" in out
    assert "Rows that need attention" not in out
