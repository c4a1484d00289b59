"""What shop order numbers cost: one walk of GET /orders for a whole file, then the memory.

An in-process sandbox (loopback, no latency, no rate limit) holds ``ORDERS`` orders with
shop numbers, created over the last 60 days. A file's worth of ``ROWS`` numbers, spread over
the whole window, is resolved by the same ``ShopOrderResolver`` a run uses, with the real
client and a real journal: the requests it made, the pages, the time. Then ``NEW`` orders
arrive and the same numbers plus ``NEW // 10`` new ones are resolved again: the walk reads
only what is newer than the last one and takes the rest from the journal.

``python -m bench shop-orders``. Environment: BENCH_SHOP_ORDERS (200000), BENCH_SHOP_ROWS
(10000), BENCH_SHOP_NEW (1000).
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

from batch_refunds.journal import Journal
from batch_refunds.sandbox import ManualClock, SandboxConfig, run_sandbox
from batch_refunds.shop_orders import ORDER_PAGE_SIZE, OrderBounds, ShopOrderResolver
from batch_refunds.smartpay import ClientConfig, SmartpayClient

DAY_MS = 86_400_000
NOW_MS = 1_790_000_000_000
KEY = "sk_test_BenchShopOrders01"


def _env(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


async def _bench(orders: int, rows: int, new: int, tmp: Path) -> None:
    clock = ManualClock(start_ms=NOW_MS)
    async with run_sandbox(SandboxConfig(clock=clock, random_seed=1)) as server:
        state = server.state
        rng = random.Random(7)
        started = time.perf_counter()
        for i in range(orders):
            created = NOW_MS - rng.randrange(60 * DAY_MS)
            state.add_order(amount=1980, reference=f"ORD-2026-{i:06d}", created_at=created,
                            line_items=[])  # fmt: skip
        print(f"seeded {orders:,} orders in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        wanted = [f"ORD-2026-{i:06d}" for i in rng.sample(range(orders), rows)]
        config = ClientConfig(secret_key=KEY, base_url=server.base_url, rate_per_second=10_000.0)
        bounds = OrderBounds(since=datetime.fromtimestamp(NOW_MS / 1000, UTC) - timedelta(days=90))
        async with SmartpayClient(config) as client:
            with Journal(tmp / "journal.sqlite3") as journal:
                before = state.requests_served("GET", "/v1/orders")
                started = time.perf_counter()
                resolver = ShopOrderResolver(client, journal, scope="test", bounds=bounds,
                                             run_id="bench-1")  # fmt: skip
                first = await resolver.resolve(wanted)
                seconds = time.perf_counter() - started
                pages = state.requests_served("GET", "/v1/orders") - before
                found = sum(1 for ids in first.orders.values() if len(ids) == 1)
                at_40 = pages / 40
                print(f"{rows:,} numbers among {orders:,} orders ({ORDER_PAGE_SIZE} a page): "
                      f"{pages:,} GET /orders, {first.scanned:,} orders read, {found:,} found, "
                      f"{seconds:.1f} s on loopback ({at_40:.0f} s at 40 requests/s)")  # fmt: skip

                clock.advance(3600)
                for i in range(orders, orders + new):
                    state.add_order(amount=1980, reference=f"ORD-2026-{i:06d}",
                                    created_at=clock.now_ms() - rng.randrange(3_600_000),
                                    line_items=[])  # fmt: skip
                more = wanted + [f"ORD-2026-{i:06d}" for i in range(orders, orders + new, 10)]
                before = state.requests_served("GET", "/v1/orders")
                started = time.perf_counter()
                resolver = ShopOrderResolver(client, journal, scope="test", bounds=bounds,
                                             run_id="bench-2")  # fmt: skip
                second = await resolver.resolve(more)
                seconds = time.perf_counter() - started
                pages = state.requests_served("GET", "/v1/orders") - before
                found = sum(1 for ids in second.orders.values() if len(ids) == 1)
                print(f"next day, {new:,} new orders, {len(more):,} numbers: {pages:,} GET "
                      f"/orders, {second.scanned:,} orders read, {found:,} found, "
                      f"{seconds:.1f} s (stopped by {second.stopped_by})")  # fmt: skip


def main() -> None:
    orders = _env("BENCH_SHOP_ORDERS", 200_000)
    rows = _env("BENCH_SHOP_ROWS", 10_000)
    new = _env("BENCH_SHOP_NEW", 1_000)
    with TemporaryDirectory(prefix="bench-shop-") as tmp:
        asyncio.run(_bench(orders, min(rows, orders), new, Path(tmp)))


if __name__ == "__main__":
    main()
