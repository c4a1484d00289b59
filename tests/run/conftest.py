"""A refund run wired for real: sandbox over loopback, the real client, a real SQLite journal."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from batch_refunds.journal import Journal
from batch_refunds.journal_writer import GroupCommitter
from batch_refunds.models import Mode, Status
from batch_refunds.runner import RunHooks, RunOptions, RunResult, run_batch
from batch_refunds.sandbox import SandboxServer
from batch_refunds.smartpay import ClientConfig, SmartpayClient
from tests.conftest import MakeSandbox
from tests.smartpay.client_fakes import FakeTime

KEY = "sk_test_RunSuiteKey0001"
HEADER = ("order_id", "payment_id", "amount", "reference")


class WorldTime(FakeTime):
    """One clock for client and sandbox: a client's sleep moves the sandbox's time too, so a
    ``Retry-After`` or a backoff really lets the server's rate window pass — instantly."""

    def __init__(self, server: SandboxServer) -> None:
        super().__init__()
        self._server = server

    async def sleep(self, seconds: float) -> None:
        self._server.clock.advance(max(0.0, seconds))
        await super().sleep(seconds)


@dataclass
class Harness:
    """Runs spreadsheets against one sandbox and one journal, as the CLI would."""

    server: SandboxServer
    tmp: Path
    journal_path: Path
    runs: int = 0
    time: WorldTime = field(init=False)

    def __post_init__(self) -> None:
        self.time = WorldTime(self.server)

    def write(self, rows: Sequence[Sequence[object]], name: str = "returns.csv") -> Path:
        path = self.tmp / name
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADER)
            writer.writerows([["" if v is None else v for v in row] for row in rows])
        return path

    async def run(self, path: Path, *, mode: Mode = Mode.RUN, **options: Any) -> RunResult:
        self.runs += 1
        config = ClientConfig(
            secret_key=options.pop("key", KEY),
            base_url=options.pop("base_url", self.server.base_url), rate_per_second=1000.0,
            max_in_flight=8, max_attempts=options.pop("max_attempts", 5),
        )  # fmt: skip
        hooks = options.pop("hooks", None) or RunHooks()
        stop = options.pop("stop", None)
        grace = {k: options.pop(k) for k in ("stop_grace_s",) if k in options}
        wrap = options.pop("wrap_api", None)
        writer = options.pop("journal_writer", GroupCommitter)
        out_dir = options.pop("out_dir", self.tmp / f"report-{self.runs}")
        run_options = RunOptions(input_path=path, out_dir=out_dir, mode=mode, **options)
        async with SmartpayClient(config, clock=self.time.clock, sleep=self.time.sleep) as client:
            with Journal(self.journal_path, writer=writer) as journal:
                api = client if wrap is None else wrap(client)
                return await run_batch(
                    run_options, api=api, journal=journal, hooks=hooks, stop=stop, **grace
                )

    def refunds(self, payment_id: str | None = None) -> list[Any]:
        refunds = self.server.state.all_refunds()
        return [r for r in refunds if payment_id is None or r.payment_id == payment_id]

    def posts(self) -> int:
        return sum(
            n for (method, _route, _status), n in self.server.state.stats.requests.items()
            if method == "POST"
        )  # fmt: skip

    def order(
        self, amount: int, *payments: int, refunded: Sequence[tuple[int, int]] = ()
    ) -> tuple[str, list[str]]:
        """An order with ``payments`` (yen each) and prior refunds ``(payment index, yen)``."""
        state = self.server.state
        order = state.add_order(amount=amount)
        pids = [state.add_payment(order.id, p).id for p in payments]
        for index, yen in refunded:
            state.add_refund(pids[index], yen, reference=f"OLD-{index}")
        return order.id, pids


def statuses(result: RunResult) -> list[Status]:
    return [o.status for o in result.outcomes]


@pytest.fixture
async def harness(make_sandbox: MakeSandbox, tmp_path: Path) -> Harness:
    """A fresh sandbox and journal; ``harness.server.knobs`` can change behaviour mid-test."""
    server = await make_sandbox()
    return Harness(server=server, tmp=tmp_path, journal_path=tmp_path / "journal.sqlite3")


@pytest.fixture
def make_harness(make_sandbox: MakeSandbox, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Build a harness on a sandbox started with custom config fields."""

    async def build(**fields: Any) -> Harness:
        server = await make_sandbox(**fields)
        tmp = tmp_path / f"h{len(built)}"
        tmp.mkdir()
        built.append(tmp)
        return Harness(server=server, tmp=tmp, journal_path=tmp / "journal.sqlite3")

    built: list[Path] = []

    return build
