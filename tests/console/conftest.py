"""The console against a real sandbox over loopback, a real journal, aiohttp's test client."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from batch_refunds.console.app import ConsoleSettings, make_app
from batch_refunds.console.auth import Accounts, hash_password
from batch_refunds.console.jobs import Guardrails
from batch_refunds.sandbox import SandboxConfig, run_sandbox
from batch_refunds.smartpay import ClientConfig

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "inputs" / "demo-seed.json"
SAMPLE = ROOT / "inputs" / "refunds_en.csv"
KEY = "sk_test_ConsoleSuiteKey0001"
PASSWORDS = {"maker": "maker-password-1", "checker": "checker-password-1"}
SCRIPT = "<script>alert(1)</script>"


def sample_with_an_invalid_row(path: Path) -> Path:
    """The English sample plus one invalid row (an amount in sen) whose description is a
    script tag: row 15."""
    text = SAMPLE.read_text(encoding="utf-8")
    path.write_text(text + f"order_test_LFXXhnbh8ctp0AnVgHCJ,1500.5,JPY,,{SCRIPT},RF-X,\n",
                    encoding="utf-8")  # fmt: skip
    return path


CSRF = re.compile(r'name="_csrf" value="([^"]+)"')


class Console:
    """A test client with the page's CSRF token at hand."""

    def __init__(self, client: TestClient[Any, Any], sandbox: Any, journal: Path) -> None:
        self.client, self.sandbox, self.journal = client, sandbox, journal
        self.csrf: str | None = None  # the last page's token; None: no page seen yet

    async def get(self, path: str, **kw: Any) -> tuple[int, str]:
        response = await self.client.get(path, **kw)
        text = await response.text()
        if found := CSRF.search(text):
            self.csrf = found.group(1)
        return response.status, text

    async def post(self, path: str, data: dict[str, Any] | None = None,
                   csrf: str | None = None) -> tuple[int, str, str]:  # fmt: skip
        form = {"_csrf": (self.csrf or "") if csrf is None else csrf, **(data or {})}
        response = await self.client.post(path, data=form, allow_redirects=False)
        return response.status, response.headers.get("Location", ""), await response.text()

    async def upload(self, path: Path, name: str | None = None) -> tuple[int, str, str]:
        import aiohttp

        if self.csrf is None:
            await self.get("/")
        form = aiohttp.FormData()
        form.add_field("_csrf", self.csrf or "")
        form.add_field("file", path.read_bytes(), filename=name or path.name)  # noqa: ASYNC240
        response = await self.client.post("/upload", data=form, allow_redirects=False)
        return response.status, response.headers.get("Location", ""), await response.text()

    async def login(self, name: str) -> None:
        await self.get("/login")
        status, _, _ = await self.post("/login", {"name": name, "password": PASSWORDS[name]})
        assert status == 303
        await self.get("/")

    async def wait_finished(self, run_id: str) -> None:
        """Until the job's task is done: the test awaits it, no sleeping."""
        job = self.client.app[CONSOLE_KEY].jobs.by_run[run_id]
        assert job.task is not None
        await job.task


from batch_refunds.console.app import CONSOLE as CONSOLE_KEY  # noqa: E402

MakeConsole = Callable[..., Awaitable[Console]]


@pytest.fixture
async def make_console(tmp_path: Path) -> AsyncIterator[MakeConsole]:
    """Start a sandbox seeded as the demo is, and a console on it; keyword arguments go to
    ``ConsoleSettings`` (``accounts=True`` gives the maker and checker accounts)."""
    started: list[Any] = []

    async def start(**fields: Any) -> Console:
        seed = json.loads(SEED.read_text(encoding="utf-8"))
        sandbox_cm = run_sandbox(SandboxConfig(seed_data=seed))
        sandbox = await sandbox_cm.__aenter__()
        started.append(sandbox_cm)
        if fields.pop("accounts", False):
            fields["accounts"] = Accounts({n: hash_password(p) for n, p in PASSWORDS.items()})
        key = fields.pop("key", KEY)
        journal = tmp_path / f"c{len(started)}" / "journal.sqlite3"
        settings = ConsoleSettings(
            client_config=ClientConfig(secret_key=key, base_url=sandbox.base_url,
                                       rate_per_second=1000.0, max_in_flight=8),
            journal_path=journal,
            guardrails=fields.pop("guardrails", Guardrails(concurrency=8)),
            sandbox=True, **fields,
        )  # fmt: skip
        client: TestClient[Any, Any] = TestClient(TestServer(make_app(settings)))
        await client.start_server()
        started.append(client)
        return Console(client, sandbox, journal)

    yield start
    for thing in reversed(started):
        if isinstance(thing, TestClient):
            await thing.close()
        else:
            await thing.__aexit__(None, None, None)
