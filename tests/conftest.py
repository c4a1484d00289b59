"""Fixtures shared across the suite: a live Smartpay sandbox on a free loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest

from batch_refunds.sandbox import ManualClock, SandboxConfig, SandboxServer, run_sandbox

SANDBOX_START_MS = 1_764_000_000_000
SANDBOX_KEY = "sk_test_SandboxSuiteKey0001"

MakeSandbox = Callable[..., Awaitable[SandboxServer]]


@pytest.fixture
def sandbox_key() -> str:
    """A secret key the default sandbox accepts (any well-formed sk_test_ key is)."""
    return SANDBOX_KEY


@pytest.fixture
async def make_sandbox() -> AsyncIterator[MakeSandbox]:
    """Start sandboxes with custom ``SandboxConfig`` fields; all stop when the test ends.

    Defaults: a ``ManualClock`` at SANDBOX_START_MS and ``random_seed=0``, so ids and
    injected faults repeat from run to run.
    """
    async with AsyncExitStack() as stack:

        async def start(**fields: Any) -> SandboxServer:
            fields.setdefault("clock", ManualClock(start_ms=SANDBOX_START_MS))
            fields.setdefault("random_seed", 0)
            return await stack.enter_async_context(run_sandbox(SandboxConfig(**fields)))

        yield start


@pytest.fixture
async def sandbox(make_sandbox: MakeSandbox) -> SandboxServer:
    """A fresh, well-behaved sandbox with an empty store and a ManualClock."""
    return await make_sandbox()
