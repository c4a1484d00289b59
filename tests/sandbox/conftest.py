"""A tiny raw-HTTP helper for the sandbox's own tests (deliberately not the project client)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from batch_refunds.sandbox import SandboxServer

MakeSandbox = Callable[..., Awaitable[SandboxServer]]


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


class Wire:
    """Speaks to a sandbox exactly as a client on the wire would."""

    def __init__(self, session: aiohttp.ClientSession, server: SandboxServer, key: str) -> None:
        self.session = session
        self.server = server
        self.key = key

    def auth(self, key: str | None = "") -> dict[str, str]:
        """Headers for ``key``: "" means this wire's own key, None means no Authorization."""
        chosen = self.key if key == "" else key
        return {} if chosen is None else {"Authorization": f"Basic {chosen}"}

    async def get(self, path: str, *, key: str | None = "", **params: str | int) -> Reply:
        return await self.get_query(path, params, key=key)

    async def get_query(
        self, path: str, params: dict[str, str | int], *, key: str | None = ""
    ) -> Reply:
        url = self.server.base_url + path
        async with self.session.get(url, params=params, headers=self.auth(key)) as response:
            return await _reply(response)

    async def post(
        self,
        path: str,
        body: Any,
        *,
        key: str | None = "",
        idempotency_key: str | None = None,
    ) -> Reply:
        headers = self.auth(key)
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        url = self.server.base_url + path
        async with self.session.post(url, json=body, headers=headers) as response:
            return await _reply(response)

    async def admin(self, path: str, body: Any = None) -> Reply:
        url = f"{self.server.base_url.removesuffix('/v1')}/__admin/{path}"
        if body is None:
            async with self.session.get(url) as response:
                return await _reply(response)
        async with self.session.post(url, json=body) as response:
            return await _reply(response)

    async def refund(self, payment: str, amount: int, **extra: Any) -> Reply:
        idempotency_key = extra.pop("idempotency_key", None)
        body = {"payment": payment, "amount": amount, "currency": "JPY"}
        body.setdefault("reason", "requested_by_customer")
        return await self.post("/refunds", {**body, **extra}, idempotency_key=idempotency_key)


async def _reply(response: aiohttp.ClientResponse) -> Reply:
    text = await response.text()
    body: Any
    try:
        body = await response.json(content_type=None) if text else None
    except ValueError:
        body = text
    return Reply(response.status, body, dict(response.headers))


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """One HTTP client session per test."""
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def wire(session: aiohttp.ClientSession, sandbox: SandboxServer, sandbox_key: str) -> Wire:
    """Raw HTTP access to the default ``sandbox``."""
    return Wire(session, sandbox, sandbox_key)
