"""Run the real ``batch-refunds`` command as a child process against a sandbox."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from batch_refunds.sandbox import SandboxServer

DEADLINE_S = 60.0  # a bound on waiting for the process, never a timing being proven


async def batch_refunds(
    server: SandboxServer, tmp: Path, *args: str, key: str, journal: bool = True
) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``batch-refunds ARGS`` run in ``tmp``."""
    env = {**os.environ, "SMARTPAY_SECRET_KEY": key, "SMARTPAY_API_PREFIX": server.base_url}
    extra = ["--journal", str(tmp / "j.sqlite3")] if journal else []
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "batch_refunds", *args, *extra,
        cwd=tmp, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), DEADLINE_S)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
