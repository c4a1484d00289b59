"""The official Node SDK (@smartpay/sdk-node, pinned in tests/node) works against the sandbox.

It is an outside check on the wire format: the SDK adds ``?dev-lang=…&sdk-version=…``,
sends ``Content-Type: application/json`` and an ``Idempotency-Key`` even on GETs, and
reads errors from JSON bodies only.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from batch_refunds.sandbox import SandboxServer

pytestmark = pytest.mark.slow

NODE_DIR = Path(__file__).resolve().parent.parent / "node"
PINNED_VERSION = "0.9.1"


@pytest.fixture(scope="session")
def node_sdk() -> Path:
    """tests/node with the pinned SDK installed (``npm ci`` at most once per session)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        # make test installs them (its `node` step); a suite run without them fails here,
        # it never skips the cross-check silently.
        pytest.fail("node and npm are not on PATH: the Node SDK cross-check needs both")
    installed = NODE_DIR / "node_modules" / "@smartpay" / "sdk-node" / "package.json"
    if not _has_version(installed, PINNED_VERSION):
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        # With node and npm present (as in CI) a failed install is a failure, not a skip:
        # a skip here would hide that the official-client cross-check never ran.
        assert result.returncode == 0, f"npm ci failed: {result.stderr.strip()[-300:]}"
    return NODE_DIR


def _has_version(package_json: Path, version: str) -> bool:
    try:
        return bool(json.loads(package_json.read_text("utf-8"))["version"] == version)
    except (OSError, ValueError, KeyError):
        return False


async def test_node_sdk_round_trip(node_sdk: Path, sandbox: SandboxServer) -> None:
    """getOrder, createRefund, its replay by idempotencyKey, getRefund, listRefunds and a 403."""
    order = sandbox.state.add_order(amount=9_800, reference="ORD-NODE")
    payment = sandbox.state.add_payment(order.id, 9_800)
    node = shutil.which("node")
    assert node is not None
    process = await asyncio.create_subprocess_exec(
        node,
        str(node_sdk / "sdk_check.mjs"),
        sandbox.base_url,
        "sk_test_NodeSdkCheck1",
        order.id,
        payment.id,
        cwd=node_sdk,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    seen = json.loads(stdout)
    assert seen["order"] == {"id": order.id, "amount": 9_800, "payments": [payment.id]}
    [refund] = sandbox.state.refunds_for_payment(payment.id)
    assert seen["refund"] == {"id": refund.id, "amount": 1000, "reference": "RET-000001"}
    assert seen["replayId"] == refund.id
    assert seen["fetchedId"] == refund.id
    assert seen["listedIds"] == [refund.id]
    assert seen["overRefund"] == {
        "name": "SmartpayError",
        "statusCode": 403,
        "errorCode": "amount.insufficient",
    }
    assert sandbox.state.stats.replays == 1
    assert sandbox.state.requests_served("POST", "/v1/refunds") == 3
