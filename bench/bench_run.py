"""Refund-run speed against the sandbox, as ratios: to the ideal, and to today's baselines.

Every scenario refunds ``ROWS`` fresh single-payment orders (one GET order + one POST refund
each) from one sandbox that allows ``SANDBOX_RATE`` requests per second and answers after
``LATENCY_MS`` (a network round trip to Tokyo, roughly). The ideal is
``ROWS × 2 ÷ SANDBOX_RATE`` seconds. Baselines:

* the official Node SDK (``@smartpay/sdk-node``) in a sequential loop — the official Python
  SDK cannot be imported as published, so this is the closest official client; skipped
  when node or ``tests/node/node_modules`` is missing (``make test`` installs it);
* a plain sequential ``urllib`` loop, the script a Python user writes today.

``python -m bench run`` (or ``make bench``). Environment: BENCH_ROWS, BENCH_LATENCY_MS.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import platform
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from tempfile import TemporaryDirectory

from batch_refunds.journal import Journal
from batch_refunds.runner import RunOptions, run_batch
from batch_refunds.sandbox import SandboxConfig, SandboxServer, SystemClock, run_sandbox
from batch_refunds.smartpay import ClientConfig, SmartpayClient

ROWS = int(os.environ.get("BENCH_ROWS", "200"))
LATENCY_MS = int(os.environ.get("BENCH_LATENCY_MS", "100"))
SANDBOX_RATE = 40
KEY = "sk_test_BenchmarkKey0001"
ROOT = Path(__file__).resolve().parent.parent
SDK_DIR = ROOT / "tests" / "node"


def _orders(server: SandboxServer, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        order = server.state.add_order(amount=5000)
        server.state.add_payment(order.id, 5000)
        ids.append(order.id)
    return ids


def _rate_limited(server: SandboxServer) -> int:
    return server.state.stats.rate_limited


async def _ours(server: SandboxServer, tmp: Path) -> tuple[float, float, int]:
    """batch_refunds at --rate 40: seconds, requests per row, 429s."""
    path = tmp / "returns.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "amount"])
        writer.writerows([oid, 100] for oid in _orders(server, ROWS))
    config = ClientConfig(
        secret_key=KEY, base_url=server.base_url, rate_per_second=SANDBOX_RATE, max_in_flight=8
    )
    before = _rate_limited(server)
    start = time.perf_counter()
    async with SmartpayClient(config) as client:
        with Journal(tmp / "journal.sqlite3") as journal:
            result = await run_batch(
                RunOptions(input_path=path, out_dir=tmp / "report"),
                api=client, journal=journal,
            )  # fmt: skip
    elapsed = time.perf_counter() - start
    assert result.summary.counts[0][1] == ROWS, result.summary.counts  # every row refunded
    return elapsed, result.summary.requests.total / ROWS, _rate_limited(server) - before


def _urllib_loop(base_url: str, order_ids: list[str]) -> None:
    headers = {"Authorization": f"Basic {KEY}", "Content-Type": "application/json"}
    for oid in order_ids:
        req = urllib.request.Request(f"{base_url}/orders/{oid}?expand=all", headers=headers)
        with urllib.request.urlopen(req) as response:
            order = json.load(response)
        body = json.dumps(
            {"payment": order["payments"][0]["id"], "amount": 100, "currency": "JPY",
             "reason": "requested_by_customer"}
        ).encode()  # fmt: skip
        post = urllib.request.Request(f"{base_url}/refunds", data=body, headers=headers)
        with urllib.request.urlopen(post) as response:
            json.load(response)


async def _timed_loop(server: SandboxServer) -> float:
    ids = _orders(server, ROWS)
    start = time.perf_counter()
    await asyncio.to_thread(_urllib_loop, server.base_url, ids)
    return time.perf_counter() - start


async def _node_sdk(server: SandboxServer) -> float | None:
    node = shutil.which("node")
    if node is None or not (SDK_DIR / "node_modules" / "@smartpay" / "sdk-node").exists():
        return None
    ids = _orders(server, ROWS)
    start = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        node, str(Path(__file__).with_name("sdk_loop.cjs")), str(SDK_DIR), server.base_url,
        KEY, *ids, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"node SDK loop failed: {err.decode()[-500:]}")
    return time.perf_counter() - start


def _commit() -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()


async def _bench() -> None:
    config = SandboxConfig(
        clock=SystemClock(), sleep=asyncio.sleep, latency_ms=LATENCY_MS,
        rate_limit_per_s=SANDBOX_RATE,
    )  # fmt: skip
    ideal = ROWS * 2 / SANDBOX_RATE
    async with run_sandbox(config) as server:
        with TemporaryDirectory() as tmp:
            ours, per_row, throttled = await _ours(server, Path(tmp))
        node = await _node_sdk(server)
        loop = await _timed_loop(server)
    commit = await asyncio.to_thread(_commit)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; {time.strftime('%Y-%m-%d')}; commit {commit}"
    )
    print(
        f"{ROWS} rows, sandbox {SANDBOX_RATE} req/s, {LATENCY_MS} ms latency; ideal {ideal:.1f} s"
    )
    print(f"batch_refunds --rate {SANDBOX_RATE}: {ours:.2f} s = {ours / ideal:.3f} × ideal, "
          f"{per_row:.2f} requests/row, {throttled} × 429")  # fmt: skip
    if node is not None:
        print(f"official Node SDK, sequential: {node:.2f} s "
              f"(batch_refunds is {node / ours:.1f}× faster)")  # fmt: skip
    else:
        print("official Node SDK: skipped (no node, or tests/node/node_modules not installed)")
    print(f"sequential urllib loop: {loop:.2f} s (batch_refunds is {loop / ours:.1f}× faster)")


def main() -> None:
    asyncio.run(_bench())
