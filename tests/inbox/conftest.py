"""An inbox wired for real: sandbox over loopback, the real client, a real SQLite journal."""

from __future__ import annotations

import csv
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from batch_refunds.inbox import InboxOptions, PassResult, run_pass
from batch_refunds.journal import Journal
from batch_refunds.runner import RunOptions
from batch_refunds.sandbox import SandboxServer
from batch_refunds.smartpay import ClientConfig, SmartpayClient
from tests.conftest import MakeSandbox
from tests.run.conftest import WorldTime

KEY = "sk_test_InboxSuiteKey0001"
HEADER = ("order_id", "amount", "reference")


@dataclass
class Inbox:
    """One inbox folder, one sandbox, one journal; passes run as the CLI runs them."""

    server: SandboxServer
    root: Path
    log: list[str] = field(default_factory=list)
    settle_sleeps: list[float] = field(default_factory=list)
    payments: dict[str, str] = field(default_factory=dict)  # order id -> its one payment

    @property
    def dir(self) -> Path:
        return self.root / "inbox"

    @property
    def journal_path(self) -> Path:
        return self.root / "journal.sqlite3"

    def order(self, amount: int) -> str:
        order = self.server.state.add_order(amount=amount)
        self.payments[order.id] = self.server.state.add_payment(order.id, amount).id
        return order.id

    def drop(self, name: str, rows: Sequence[Sequence[object]]) -> Path:
        """Write a CSV straight into the inbox (as a finished copy would land)."""
        path = self.dir / name
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADER)
            writer.writerows([["" if v is None else v for v in row] for row in rows])
        return path

    async def no_sleep(self, seconds: float) -> None:
        self.settle_sleeps.append(seconds)

    async def run_pass(
        self,
        *,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        wrap_api: Callable[[Any], Any] | None = None,
        **run_options: Any,
    ) -> PassResult:
        time = WorldTime(self.server)
        config = ClientConfig(secret_key=KEY, base_url=self.server.base_url,
                              rate_per_second=1000.0, max_in_flight=8)  # fmt: skip
        stop = run_options.pop("stop", None)
        options = InboxOptions(
            self.dir, RunOptions(input_path=self.dir, out_dir=self.dir, **run_options)
        )
        async with SmartpayClient(config, clock=time.clock, sleep=time.sleep) as client:
            api = client if wrap_api is None else wrap_api(client)
            with Journal(self.journal_path) as journal:
                return await run_pass(
                    options, api=api, journal=journal, stop=stop,
                    sleep=sleep or self.no_sleep, log=self.log.append,
                )  # fmt: skip

    def posts(self) -> int:
        return sum(
            n for (method, _route, _status), n in self.server.state.stats.requests.items()
            if method == "POST"
        )  # fmt: skip

    def refunded(self) -> dict[str, int]:
        """Yen refunded per order on the sandbox."""
        per_order: dict[str, int] = {}
        for refund in self.server.state.all_refunds():
            order = self.server.state.payments[refund.payment_id].order_id
            per_order[order] = per_order.get(order, 0) + refund.amount
        return per_order


@pytest.fixture
async def inbox(make_sandbox: MakeSandbox, tmp_path: Path) -> Inbox:
    """A fresh sandbox, an empty inbox folder and a fresh journal."""
    server = await make_sandbox()
    made = Inbox(server=server, root=tmp_path)
    made.dir.mkdir()
    return made
