"""What the journal costs a refund run: rows/s against a bare aiohttp loop, side by side.

A sandbox runs as a separate process on loopback with no latency and no rate limit, seeded
with fresh single-payment orders. Alternately, in one invocation:

* ``batch_refunds``: a full run of ``ROWS`` rows (one GET order + one POST refund each,
  intents committed before every POST, the report's CSV and workbook written at the end),
  ``--concurrency`` 8, with the real client and a real SQLite journal;
* a bare loop: 8 aiohttp workers doing exactly GET order + POST refund per row, nothing
  written — so the ratio overstates the tool's own cost by its report;
* the journal alone: the writes of ``ROWS`` ÷ 10 rows (intents awaited, then the answer,
  completion and outcome) from 8 tasks, without any HTTP, in journal rows/s.

Each is repeated ``REPEATS`` times; the medians and the median ratio are printed.
``python -m bench journal``. Environment: BENCH_JOURNAL_ROWS (20000), BENCH_JOURNAL_REPEATS
(3), BENCH_JOURNAL_ONLY=ours (one run of batch_refunds alone, for a profiler).
"""

from __future__ import annotations

import asyncio
import csv
import inspect
import json
import os
import statistics
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import aiohttp

from batch_refunds.journal import PENDING, Intent, Journal
from batch_refunds.models import RowOutcome, Status
from batch_refunds.progress import Progress
from batch_refunds.runner import RunHooks, RunOptions, run_batch
from batch_refunds.smartpay import ClientConfig, SmartpayClient

ROWS = int(os.environ.get("BENCH_JOURNAL_ROWS", "20000"))
REPEATS = int(os.environ.get("BENCH_JOURNAL_REPEATS", "3"))
ONLY = os.environ.get("BENCH_JOURNAL_ONLY", "")
ALONE_ROWS = max(ROWS // 10, 1)  # a journal committing on every write takes minutes for more
CONCURRENCY = 8
KEY = "sk_test_BenchmarkKey0001"


def _seed(path: Path, batches: int) -> list[list[str]]:
    """``batches`` sets of ``ROWS`` single-payment orders; their ids, set by set."""
    orders, ids = [], []
    for b in range(batches):
        batch = [f"order_test_B{b}x{n}" for n in range(ROWS)]
        ids.append(batch)
        orders += [{"id": oid, "payments": [{"id": oid.replace("order", "payment"),
                                             "amount": 5000}]} for oid in batch]  # fmt: skip
    path.write_text(json.dumps({"orders": orders}), encoding="utf-8")
    return ids


async def _sandbox(seed: Path) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "batch_refunds", "sandbox", "--seed", str(seed),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    line = (await proc.stdout.readline()).decode()
    if "listening on " not in line:
        raise RuntimeError(f"the sandbox did not start: {line!r}")
    return proc, line.rsplit(" ", 1)[1].strip()


async def _ours(base_url: str, order_ids: list[str], tmp: Path) -> float:
    path = tmp / "returns.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "amount"])
        writer.writerows([oid, 100] for oid in order_ids)
    progress = Progress()
    config = ClientConfig(
        secret_key=KEY, base_url=base_url, rate_per_second=1_000_000, max_in_flight=64
    )
    start = time.perf_counter()
    async with SmartpayClient(config, hook=progress.on_event) as client:
        with Journal(tmp / "journal.sqlite3") as journal:
            result = await run_batch(
                RunOptions(input_path=path, out_dir=tmp / "report", concurrency=CONCURRENCY),
                api=client, journal=journal,
                hooks=RunHooks(request_counts=progress.request_counts),
            )  # fmt: skip
    elapsed = time.perf_counter() - start
    assert dict(result.summary.counts).get(Status.REFUNDED) == len(order_ids), result.summary
    return len(order_ids) / elapsed


async def _bare(base_url: str, order_ids: list[str]) -> float:
    headers = {"Authorization": f"Basic {KEY}"}
    queue = list(reversed(order_ids))
    start = time.perf_counter()
    async with aiohttp.ClientSession(base_url + "/", headers=headers) as session:

        async def worker() -> None:
            while queue:
                oid = queue.pop()
                async with session.get(f"orders/{oid}", params={"expand": "all"}) as response:
                    order = await response.json()
                body = {"payment": order["payments"][0]["id"], "amount": 100, "currency": "JPY",
                        "reason": "requested_by_customer"}  # fmt: skip
                async with session.post(
                    "refunds", json=body, headers={"Idempotency-Key": f"bare-{oid}"}
                ) as response:
                    response.raise_for_status()
                    await response.json()

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return len(order_ids) / (time.perf_counter() - start)


async def _maybe(result: Any) -> None:
    if inspect.isawaitable(result):  # a journal whose writes return their commit
        await result


def _outcome(row: int) -> RowOutcome:
    return RowOutcome(
        row=row, status=Status.REFUNDED, order_id=f"order_test_{row}",
        payment_ids=(f"payment_test_{row}",), currency="JPY", requested_amount=100,
        refundable_before=5000, refunded_amount=100, refund_ids=(f"refund_test_{row}",),
        error_code=None, message=None, reference=f"br-{row}", attempts=1, already_refunded=0,
    )  # fmt: skip


async def _journal_alone(path: Path) -> float:
    rows = iter(range(ALONE_ROWS))
    start = time.perf_counter()
    with Journal(path) as journal:

        async def worker() -> None:
            for row in rows:
                key, identity = f"key-{row}", f"id-{row}"
                await _maybe(journal.record_intents([Intent(
                    key=key, identity=identity, generation=0, run_id="r", row=row,
                    order_id=f"order_test_{row}", payment_id=f"payment_test_{row}",
                    amount=100, reference=f"br-{row}", state=PENDING,
                )]))  # fmt: skip
                await asyncio.sleep(0)  # the POST would go here
                with journal.transaction():
                    journal.mark_succeeded(key, refund_id=f"refund_test_{row}", created_at=1,
                                           run_id="r", row=row)  # fmt: skip
                    journal.complete(identity, run_id="r", row=row, refunded_amount=100,
                                     refund_ids=[f"refund_test_{row}"])  # fmt: skip
                    journal.record_outcome("r", _outcome(row))

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return ALONE_ROWS / (time.perf_counter() - start)


async def _bench() -> None:
    batches = 1 if ONLY == "ours" else 2 * REPEATS
    with TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        ids = _seed(tmp / "seed.json", batches)
        proc, base_url = await _sandbox(tmp / "seed.json")
        try:
            ours: list[float] = []
            bare: list[float] = []
            alone: list[float] = []
            for n in range(REPEATS if ONLY != "ours" else 1):
                run_dir = tmp / f"run-{n}"
                run_dir.mkdir()
                ours.append(await _ours(base_url, ids[2 * n if ONLY != "ours" else 0], run_dir))
                if ONLY == "ours":
                    break
                bare.append(await _bare(base_url, ids[2 * n + 1]))
                alone.append(await _journal_alone(run_dir / "alone.sqlite3"))
                print(f"  repeat {n + 1}: batch_refunds {ours[-1]:,.0f} rows/s, bare loop "
                      f"{bare[-1]:,.0f} rows/s ({ours[-1] / bare[-1]:.2f}×), journal alone "
                      f"{alone[-1]:,.0f} rows/s", flush=True)  # fmt: skip
        finally:
            proc.terminate()
            await proc.wait()
    _report(ours, bare, alone)


def _report(ours: list[float], bare: list[float], alone: list[float]) -> None:
    print(f"{ROWS:,} rows, no latency, no limit, concurrency {CONCURRENCY}, sandbox in its own "
          f"process; {os.cpu_count()} cores")  # fmt: skip
    print(f"batch_refunds: {statistics.median(ours):,.0f} rows/s (median of {len(ours)})")
    if bare:
        ratios = [o / b for o, b in zip(ours, bare, strict=True)]
        print(f"bare aiohttp loop (GET + POST, no journal, no report): "
              f"{statistics.median(bare):,.0f} rows/s; batch_refunds ÷ bare = "
              f"{statistics.median(ratios):.2f}× (median of per-repeat ratios)")  # fmt: skip
        print(f"journal alone (intents awaited, then answer + completion + outcome): "
              f"{statistics.median(alone):,.0f} rows/s")  # fmt: skip


def main() -> None:
    asyncio.run(_bench())
