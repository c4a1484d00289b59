"""Start and stop a sandbox: in this event loop (``run_sandbox``) or as a subprocess
(``SandboxProcess``, for tests that must kill a client process and inspect the server after).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from batch_refunds.sandbox.app import Sandbox
from batch_refunds.sandbox.clock import Clock
from batch_refunds.sandbox.config import SandboxConfig
from batch_refunds.sandbox.faults import Knobs
from batch_refunds.sandbox.state import SandboxState

READY_PREFIX = "Smartpay sandbox listening on "


@dataclass(frozen=True)
class SandboxServer:
    """A running sandbox. ``base_url`` ends in ``/v1``; ``root_url`` is where ``/__admin`` is."""

    root_url: str
    sandbox: Sandbox

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    @property
    def state(self) -> SandboxState:
        return self.sandbox.state

    @property
    def clock(self) -> Clock:
        return self.sandbox.clock

    @property
    def knobs(self) -> Knobs:
        return self.sandbox.knobs


@asynccontextmanager
async def run_sandbox(
    config: SandboxConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[SandboxServer]:
    """Serve a sandbox on ``host:port`` (0 = a free port) until the block exits."""
    sandbox = Sandbox(config or SandboxConfig())
    runner = web.AppRunner(sandbox.build_app(), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        yield SandboxServer(root_url=f"http://{shown}:{bound_port}", sandbox=sandbox)
    finally:
        await runner.cleanup()


class SandboxProcess:
    """``batch-refunds sandbox`` in a subprocess, for tests that need a separate server.

    Use as a context manager; ``base_url`` is read from the ready line the command prints.
    ``admin(...)`` calls an admin endpoint synchronously.
    """

    # The lean entry point starts in about half the time of the full ``batch-refunds`` CLI.
    LEAN = ("-m", "batch_refunds.sandbox")
    FULL_CLI = ("-m", "batch_refunds", "sandbox")

    def __init__(
        self,
        args: Sequence[str] = (),
        *,
        env: dict[str, str] | None = None,
        entry: Sequence[str] = LEAN,
        start_timeout_s: float = 30.0,
    ) -> None:
        self._start_timeout_s = start_timeout_s
        self._command = [sys.executable, *entry, "--port", "0", *args]
        self._env = env
        self._proc: subprocess.Popen[str] | None = None
        self.base_url = ""

    def __enter__(self) -> SandboxProcess:
        self._proc = subprocess.Popen(
            self._command,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **(self._env or {})},
        )
        assert self._proc.stdout is not None
        # select() first, so a sandbox that never gets ready fails the caller instead of hanging it.
        ready, _, _ = select.select([self._proc.stdout], [], [], self._start_timeout_s)
        line = self._proc.stdout.readline() if ready else ""
        if not line.startswith(READY_PREFIX):
            self.__exit__(None, None, None)
            raise RuntimeError(f"sandbox did not start: {line!r}")
        self.base_url = line[len(READY_PREFIX) :].strip()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def admin(self, path: str, body: Any = None) -> Any:
        """GET (no body) or POST (JSON body) ``/__admin/<path>`` and return the JSON answer."""
        url = self.base_url.removesuffix("/v1") + "/__admin/" + path.lstrip("/")
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            url, data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
