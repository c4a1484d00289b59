"""The intake options of plan and run reach the run: a real process against the sandbox."""

from __future__ import annotations

import csv
from pathlib import Path

from batch_refunds.sandbox import SandboxServer
from tests.cli.process import batch_refunds as run_cli
from tests.conftest import MakeSandbox

KEY = "sk_test_OptionsSuiteKey01"


async def batch_refunds(server: SandboxServer, tmp: Path, *args: str) -> tuple[int, str, str]:
    return await run_cli(server, tmp, *args, key=KEY)


def returns(server: SandboxServer, tmp: Path) -> Path:
    order = server.state.add_order(amount=9_000)
    server.state.add_payment(order.id, 9_000)
    path = tmp / "returns.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "払戻予定額", "reference"])
        writer.writerow([order.id, "1,200", "RMA-1"])
    return path


async def test_run_honours_column_and_refuses_the_file_without_it(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    """Without --column the file is refused (exit 2, nothing sent, the way out named); with
    --column amount=… the run refunds exactly that column's amount."""
    server = await make_sandbox()
    path = returns(server, tmp_path)
    code, _, err = await batch_refunds(server, tmp_path, "run", str(path), "--yes")
    assert code == 2
    assert '--column amount="払戻予定額"' in err
    assert server.state.all_refunds() == []
    code, out, _ = await batch_refunds(
        server, tmp_path, "run", str(path), "--yes", "--column", "amount=払戻予定額"
    )
    assert code == 0, out
    assert [r.amount for r in server.state.all_refunds()] == [1_200]
    assert "¥1,200" in out


async def test_plan_takes_full_refunds(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    """plan accepts --full-refunds for a file of bare ids and plans the whole remainder."""
    server = await make_sandbox()
    order = server.state.add_order(amount=4_000)
    server.state.add_payment(order.id, 4_000)
    path = tmp_path / "recall.csv"
    path.write_text(f"order_id\n{order.id}\n", encoding="utf-8")
    code, _, err = await batch_refunds(server, tmp_path, "plan", str(path))
    assert code == 2
    assert "--full-refunds" in err
    code, out, _ = await batch_refunds(server, tmp_path, "plan", str(path), "--full-refunds")
    assert code == 0, out
    assert "¥4,000" in out
    assert server.state.all_refunds() == []


async def test_orders_since_bounds_the_walk_for_shop_order_numbers(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    """``--orders-since`` reaches the run: a shop number on an order created before it is
    rejected naming the flag; a date that is no date is a usage error (exit 2)."""
    server = await make_sandbox()  # its clock stands at 2025-11-24
    order = server.state.add_order(amount=9_000, reference="ORD-2025-00001")
    server.state.add_payment(order.id, 9_000)
    path = tmp_path / "shop.csv"
    path.write_text("注文番号,返金額\nORD-2025-00001,1200\n", encoding="utf-8")

    code, out, _ = await batch_refunds(
        server, tmp_path, "plan", str(path), "--orders-since", "2025-12-01"
    )
    assert code == 1
    assert "order.shop-number-not-found" in out
    assert "--orders-since" in out
    code, out, _ = await batch_refunds(
        server, tmp_path, "plan", str(path), "--orders-since", "2025-11-01"
    )
    assert code == 0, out
    code, _, err = await batch_refunds(
        server, tmp_path, "plan", str(path), "--orders-since", "soon"
    )
    assert code == 2
    assert "2026-09-01" in err
    assert server.state.all_refunds() == []
