"""The secret key appears in no file, log or output, whatever goes wrong in a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch_refunds.sandbox import SandboxServer
from tests.cli.process import batch_refunds
from tests.conftest import MakeSandbox

pytestmark = pytest.mark.slow

KEY = "sk_test_LeakHunt7Zq9Xr2Pw4"
ACCEPTED = "sk_test_SandboxAccepts0001"


def returns(server: SandboxServer, tmp: Path, name: str) -> Path:
    path = tmp / name
    lines = ["order_id,amount,reference"]
    for n in range(3):
        order = server.state.add_order(amount=5_000)
        server.state.add_payment(order.id, 5_000)
        lines.append(f"{order.id},{1000 + n},LEAK-{name}-{n}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def everything_written(tmp: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in tmp.rglob("*") if p.is_file()}


async def test_no_trace_of_the_key_after_failing_and_good_runs(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    """Runs refused (401), failing (5xx), cut off after commit, and fine: the key is in no
    report, journal, -wal, lock or .id file, nor on stdout or stderr (masked as sk_test_***)."""
    outputs: list[str] = []
    strict = await make_sandbox(secret=ACCEPTED)
    code, out, err = await batch_refunds(
        strict, tmp_path, "run", str(returns(strict, tmp_path, "refused.csv")), "--yes", key=KEY
    )
    assert code == 2
    assert "sk_test_***" in out + err
    outputs += [out, err]
    for knobs, name in ((dict(fail_rate=1.0), "5xx.csv"), (dict(drop_after_commit_rate=1.0),
                        "cut.csv"), ({}, "fine.csv")):  # fmt: skip
        server = await make_sandbox(**knobs)
        code, out, err = await batch_refunds(
            server, tmp_path, "run", str(returns(server, tmp_path, name)), "--yes", key=KEY
        )
        outputs += [out, err]
    files = everything_written(tmp_path)
    assert any(p.name == "j.sqlite3.lock" for p in files)
    assert any(p.name == "reconciliation.xlsx" for p in files)
    assert [p for p, data in files.items() if KEY.encode() in data] == []
    assert [text for text in outputs if KEY in text] == []
