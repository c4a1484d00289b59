"""``batch-refunds inbox`` as cron runs it: real processes, killed, run side by side."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from batch_refunds.inbox import ATTENTION_DIR, DONE_DIR, InboxLock
from batch_refunds.sandbox import SandboxServer, SystemClock
from tests.cli.test_crash import (
    ROWS,
    _post_in_flight,
    _refunded_per_order,
    _returns,
    _slow_sandbox,
    _until,
)
from tests.conftest import MakeSandbox

KEY = "sk_test_InboxCliSecret0042"
DEADLINE_S = 60.0

pytestmark = pytest.mark.slow


async def _start(server: SandboxServer, tmp: Path, *args: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "SMARTPAY_SECRET_KEY": KEY, "SMARTPAY_API_PREFIX": server.base_url}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "batch_refunds", "inbox", str(tmp / "inbox"),
        "--journal", str(tmp / "journal.sqlite3"), "--settle", "0", "--rate", "400",
        "--concurrency", "4", *args,
        cwd=tmp, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _pass(server: SandboxServer, tmp: Path, *args: str) -> tuple[int, str, str]:
    process = await _start(server, tmp, *args)
    out, err = await asyncio.wait_for(process.communicate(), DEADLINE_S)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _inbox_with_returns(server: SandboxServer, tmp: Path) -> tuple[Path, dict[str, int]]:
    (tmp / "inbox").mkdir()
    path, wanted = _returns(server, tmp)
    return path.rename(tmp / "inbox" / path.name), wanted


def _every_file_text(root: Path) -> list[str]:
    return [p.read_bytes().decode("utf-8", "replace") for p in root.rglob("*") if p.is_file()]


async def test_a_pass_killed_mid_file_then_the_next_pass_refunds_exactly_once(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    """SIGKILL while a refund POST is open: the file stays in the inbox, nothing is filed;
    the next pass (from cron) runs it again and every row is refunded exactly once."""
    server = await _slow_sandbox(make_sandbox)
    path, wanted = _inbox_with_returns(server, tmp_path)
    first = await _start(server, tmp_path)
    await _until(lambda: len(server.state.refunds) >= 5 and _post_in_flight(server))
    first.kill()
    assert await first.wait() == -signal.SIGKILL
    await _until(lambda: not _post_in_flight(server))
    assert path.exists()
    assert not (tmp_path / "inbox" / DONE_DIR).exists()

    code, out, err = await _pass(server, tmp_path, "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert [(f["file"], f["outcome"], f["rows"]) for f in summary["files"]] == [
        ("returns.csv", "done", ROWS)
    ]
    per_order = _refunded_per_order(server)
    assert {order: sum(amounts) for order, amounts in per_order.items()} == wanted
    assert not path.exists()


async def test_a_second_invocation_while_one_runs_exits_at_once_with_75(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    """Another pass holds the inbox: cron's next call says so and exits 75, touching
    nothing (its JSON line says busy)."""
    server = await make_sandbox()
    path, _ = _inbox_with_returns(server, tmp_path)
    with InboxLock(tmp_path / "inbox"):
        code, out, err = await _pass(server, tmp_path, "--json")
    assert code == 75
    assert "is being processed by pid" in err
    assert json.loads(out) == {
        "inbox": str(tmp_path / "inbox"), "busy": True, "exit_code": 75,
        "message": json.loads(out)["message"],
    }  # fmt: skip
    assert path.exists()
    assert sum(server.state.stats.requests.values()) == 0


async def test_two_real_passes_at_once_process_the_file_once(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    """Two cron calls started together: one runs the file, the other exits 75 at once."""
    # Slow enough answers that the first pass is surely still running when the second starts.
    server = await make_sandbox(clock=SystemClock(), sleep=asyncio.sleep, latency_ms=300)
    _path, wanted = _inbox_with_returns(server, tmp_path)
    first = await _start(server, tmp_path)
    await _until(lambda: len(server.state.refunds) >= 1)
    code, _out, err = await _pass(server, tmp_path)
    assert code == 75, err
    await asyncio.wait_for(first.communicate(), DEADLINE_S)
    assert first.returncode == 0
    assert {o: sum(a) for o, a in _refunded_per_order(server).items()} == wanted


async def test_the_json_line_and_the_log_never_hold_the_secret(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    """One JSON line on stdout with the pass's fields; timestamped lines on stderr and in
    --log-file, one per file; the key appears nowhere the pass wrote."""
    server = await make_sandbox()
    path, _ = _inbox_with_returns(server, tmp_path)
    (tmp_path / "inbox" / "broken.csv").write_text("just,text\n", encoding="utf-8")
    log = tmp_path / "inbox.log"
    code, out, err = await _pass(server, tmp_path, "--json", "--log-file", str(log))
    assert code == 1
    (line,) = out.splitlines()
    summary = json.loads(line)
    assert set(summary) >= {
        "files_processed", "rows_refunded", "yen_refunded", "rows_needing_attention",
        "new_problems", "known_problems", "files", "skipped", "exit_code",
    }  # fmt: skip
    assert summary["files_processed"] == 2
    assert summary["rows_refunded"] == ROWS
    assert summary["new_problems"] == 1
    assert {f["outcome"] for f in summary["files"]} == {"done", "unusable"}
    logged = log.read_text(encoding="utf-8").splitlines()
    assert logged == err.splitlines()
    assert len(logged) == 3  # one line per file, then the pass
    assert all(entry[:4].isdigit() and entry[19:27] == "Z inbox:" for entry in logged)
    assert (tmp_path / "inbox" / ATTENTION_DIR).is_dir()
    for text in [out, err, *_every_file_text(tmp_path)]:
        assert KEY not in text
        assert KEY.removeprefix("sk_test_") not in text
    assert not path.exists()


async def test_watch_keeps_passing_and_stops_cleanly_on_sigterm(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    """--watch runs a pass, waits, and ends with exit 0 on SIGTERM between passes."""
    server = await make_sandbox()
    _inbox_with_returns(server, tmp_path)
    process = await _start(server, tmp_path, "--watch", "30", "--json")
    assert process.stdout is not None
    first = json.loads(await asyncio.wait_for(process.stdout.readline(), DEADLINE_S))
    assert first["files_processed"] == 1
    process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(process.communicate(), DEADLINE_S)
    assert process.returncode == 0


async def test_the_inbox_looks_for_shop_numbers_within_orders_since(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    """``inbox --orders-since`` bounds the order walk as ``run``'s does: a shop number older
    than the date is rejected naming the flag; one within it is refunded."""
    server = await make_sandbox()
    day_ms = 24 * 60 * 60 * 1000
    now_ms = server.clock.now_ms()
    for reference, days_ago in (("ORD-OLD", 60), ("ORD-NEW", 1)):
        order = server.state.add_order(
            amount=5000, reference=reference, created_at=now_ms - days_ago * day_ms
        )
        server.state.add_payment(order.id, 5000, created_at=now_ms - days_ago * day_ms)
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "shop.csv").write_text(
        "shop_order,amount\nORD-OLD,1000\nORD-NEW,1000\n", encoding="utf-8"
    )
    since = datetime.fromtimestamp((now_ms - 30 * day_ms) / 1000, UTC).strftime("%Y-%m-%d")

    code, out, _ = await _pass(server, tmp_path, "--json", "--orders-since", since)

    assert code == 1
    (report,) = (tmp_path / "inbox" / ATTENTION_DIR).glob("*/reconciliation.csv")
    text = report.read_text(encoding="utf-8-sig")
    assert "order.shop-number-not-found" in text
    assert "--orders-since" in text
    assert [r.amount for r in server.state.all_refunds()] == [1000]
    assert json.loads(out)["rows_refunded"] == 1
