"""The ``hostile`` fixture: a scripted, deliberately broken Smartpay on a free loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .server import HostileServer, run_hostile


@pytest.fixture
async def hostile() -> AsyncIterator[HostileServer]:
    """A ``HostileServer`` (``.base_url``, ``.answer(route, *replies)``, ``.received``); the
    test fails if any request reached a route it did not script."""
    async with run_hostile() as server:
        yield server
        unscripted = [f"{r.method} {r.path}" for r in server.unscripted]
        assert not unscripted, f"requests to routes the test did not script: {unscripted}"
