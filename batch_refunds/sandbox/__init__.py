"""A local server that behaves like Smartpay's REST API, for tests, demos and rehearsals.

It shares nothing with ``batch_refunds.smartpay`` but the wire format, so each checks
the other::

    async with run_sandbox(SandboxConfig(clock=ManualClock())) as server:
        server.base_url   # http://127.0.0.1:<port>/v1
        server.state      # the live store, to add orders and inspect refunds

The server itself (and aiohttp with it) is imported on first use of ``run_sandbox``,
``SandboxServer`` or ``SandboxProcess``, so the command line starts quickly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from batch_refunds.sandbox.clock import Clock, ManualClock, SystemClock
from batch_refunds.sandbox.config import SandboxConfig
from batch_refunds.sandbox.seed import SeedError, load_seed

if TYPE_CHECKING:
    from batch_refunds.sandbox.server import SandboxProcess, SandboxServer, run_sandbox

__all__ = [
    "Clock",
    "ManualClock",
    "SandboxConfig",
    "SandboxProcess",
    "SandboxServer",
    "SeedError",
    "SystemClock",
    "load_seed",
    "run_sandbox",
]

_SERVER_NAMES = frozenset({"SandboxProcess", "SandboxServer", "run_sandbox"})


def __getattr__(name: str) -> Any:
    if name in _SERVER_NAMES:
        from batch_refunds.sandbox import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
