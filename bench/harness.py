"""The plumbing every scenario shares: a sandbox in its own process, timed child processes,
the sandbox's stats, and the one table ``make bench`` prints.

This process stays small on purpose (no aiohttp, pandas or openpyxl imported here): Linux
carries a parent's resident set into a child's ``ru_maxrss``, so a fat parent would inflate
the peak RSS measured for the tool.
"""

from __future__ import annotations

import json
import os
import platform
import select
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk_test_BenchmarkKey0001"
NO_LIMIT_RATE = 1_000_000  # --rate for "no limit": far above what loopback can carry
READY_PREFIX = "Smartpay sandbox listening on "
# Generating 200,000 orders and loading them twice (a dry load, then the real one) is slow.
SANDBOX_START_TIMEOUT_S = 600.0
CHILD_TIMEOUT_S = 900.0  # every child is bounded; a hung one fails its scenario


def env_int(name: str, default: int) -> int:
    """An integer override from the environment, refused by name if it is not one."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return value


class SandboxProc:
    """``python -m batch_refunds.sandbox --generate N`` in its own process, on loopback."""

    def __init__(self, rows: int, csv_out: Path, *, seed: int = 1, args: Sequence[str] = ()):
        self.rows = rows
        self.csv_out = csv_out
        self._command = [
            sys.executable, "-m", "batch_refunds.sandbox", "--host", "127.0.0.1", "--port", "0",
            "--generate", str(rows), "--csv-out", str(csv_out), "--random-seed", str(seed),
            *args,
        ]  # fmt: skip
        self._proc: subprocess.Popen[str] | None = None
        self._log = csv_out.with_suffix(".sandbox.log")
        self.base_url = ""

    def __enter__(self) -> SandboxProc:
        with self._log.open("w") as log:
            self._proc = subprocess.Popen(
                self._command, stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT
            )
        assert self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], SANDBOX_START_TIMEOUT_S)
        line = self._proc.stdout.readline() if ready else ""
        if not line.startswith(READY_PREFIX):
            self.__exit__()
            said = self._log.read_text(errors="replace")[-500:]
            raise RuntimeError(f"sandbox did not start: {line!r} {said}")
        self.base_url = line[len(READY_PREFIX) :].strip()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._proc = None

    def stats(self) -> dict[str, Any]:
        url = self.base_url.removesuffix("/v1") + "/__admin/stats"
        with urllib.request.urlopen(url, timeout=30) as response:
            stats: dict[str, Any] = json.loads(response.read())
        return stats


def v1_requests(stats: dict[str, Any]) -> int:
    """Every /v1 request the sandbox answered (or cut), 429s included."""
    return sum(int(r["count"]) for r in stats["requests"])


def span_s(stats: dict[str, Any]) -> float:
    """From the first request's arrival to the last answer, as the sandbox saw it."""
    flight = stats["inFlight"]
    if flight["firstEnterMs"] is None or flight["lastLeaveMs"] is None:
        return 0.0
    return max(0.001, (flight["lastLeaveMs"] - flight["firstEnterMs"]) / 1000)


@dataclass(frozen=True)
class Measured:
    """One child process: wall and CPU seconds, peak RSS (MB), exit code, its output."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    exit_code: int
    output: str


def measure(argv: Sequence[str], *, env: dict[str, str] | None = None) -> Measured:
    """Run ``argv`` to the end and measure that process alone (``wait4``)."""
    log = ROOT / "bench" / "data" / f"child-{os.getpid()}.log"
    log.parent.mkdir(exist_ok=True)
    start = time.perf_counter()
    with log.open("w+b") as out:
        proc = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=ROOT,
        )
        deadline = start + CHILD_TIMEOUT_S
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read().decode(errors="replace")
    log.unlink(missing_ok=True)
    cpu = usage.ru_utime + usage.ru_stime
    return Measured(wall, cpu, usage.ru_maxrss / 1024, proc.returncode, output)


@dataclass(frozen=True)
class ToolRun:
    measured: Measured
    summary: dict[str, Any]
    stats: dict[str, Any]

    @property
    def rows(self) -> int:
        return int(self.summary["input"]["rows"])

    @property
    def requests(self) -> int:
        return v1_requests(self.stats)


# The tool's exit codes that mean "the run finished": 0 all done, 1 some rows need a look
# (the generated data has orders with nothing left to refund on purpose).
FINISHED = (0, 1)


def run_tool(
    sandbox: SandboxProc,
    work: Path,
    *,
    rate: float,
    concurrency: int,
    csv_path: Path | None = None,
    journal: Path | None = None,
    out: str = "report",
) -> ToolRun:
    """``batch-refunds run`` as a user runs it, against ``sandbox``; fails if it crashed."""
    before = v1_requests(sandbox.stats())
    argv = [
        sys.executable, "-m", "batch_refunds", "run", str(csv_path or sandbox.csv_out),
        "--api-prefix", sandbox.base_url, "--rate", f"{rate:g}",
        "--concurrency", str(concurrency), "--yes",
        "--journal", str(journal or work / "journal.sqlite3"), "--out", str(work / out),
    ]  # fmt: skip
    measured = measure(argv, env={"SMARTPAY_SECRET_KEY": KEY})
    summary_path = work / out / "summary.json"
    if measured.exit_code not in FINISHED or not summary_path.exists():
        raise RuntimeError(
            f"batch-refunds run exited {measured.exit_code}: {measured.output[-800:]}"
        )
    stats = sandbox.stats()
    stats["requestsBefore"] = before
    return ToolRun(measured, json.loads(summary_path.read_text("utf-8")), stats)


# ---- the table ---------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table: a figure against its target, and whether it was met."""

    scenario: str
    figure: str
    target: str
    met: bool | None  # None: not measured (skipped)
    detail: str = ""


@dataclass
class Outcome:
    """What one scenario produced: its rows, how long it took, and whether it crashed."""

    name: str
    rows: list[Row] = field(default_factory=list)
    seconds: float = 0.0
    crashed: str | None = None
    notes: list[str] = field(default_factory=list)


def header_lines() -> list[str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or platform.machine(),
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"machine: {platform.node()}, {os.cpu_count()} × {cpu}, {platform.platform()}",
        f"date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; Python {platform.python_version()}; "
        f"commit {_commit()}",
        f"load average at start: {load} (other work on the machine slows every figure)",
    ]


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT)
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{commit} (uncommitted changes)" if dirty else commit


def render_table(outcomes: Sequence[Outcome]) -> str:
    """The one table: scenario, figure, target, met?, time, detail."""
    lines: list[list[str]] = [["scenario", "figure", "target", "met?", "time", "detail"]]
    for outcome in outcomes:
        took = f"{outcome.seconds:.0f} s"
        if outcome.crashed is not None:
            lines.append([outcome.name, "CRASHED", "", "no", took, outcome.crashed])
            continue
        for i, row in enumerate(outcome.rows):
            met = "n/a" if row.met is None else "yes" if row.met else "NO"
            shown_took = took if i == 0 else ""
            lines.append([row.scenario, row.figure, row.target, met, shown_took, row.detail])
    widths = [max(len(line[i]) for line in lines) for i in range(5)]
    out = []
    for n, line in enumerate(lines):
        cells = [line[i].ljust(widths[i]) for i in range(5)]
        out.append("| " + " | ".join([*cells, line[5]]) + " |")
        if n == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in [*widths, 6]) + "|")
    return "\n".join(out)


SPARK = " ▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], top: float, width: int = 60) -> str:
    """``values`` squeezed into ``width`` characters (means of groups), scaled to ``top``."""
    if not values:
        return ""
    groups = max(1, -(-len(values) // width))
    means = [
        sum(values[i : i + groups]) / len(values[i : i + groups])
        for i in range(0, len(values), groups)
    ]
    scale = len(SPARK) - 1
    return "".join(SPARK[min(scale, round(v / top * scale))] if top else " " for v in means)


def in_flight_series(stats: dict[str, Any]) -> list[float]:
    """The per-bucket mean in-flight counts between the first arrival and the last answer."""
    flight = stats["inFlight"]
    if flight["startMs"] is None or flight["firstEnterMs"] is None:
        return []
    bucket = flight["bucketMs"]
    first = (flight["firstEnterMs"] - flight["startMs"]) // bucket
    last = (flight["lastLeaveMs"] - flight["startMs"]) // bucket
    series: list[float] = flight["mean"][first : last + 1]
    # The first and last buckets are only partly inside the run; they would read low.
    return series[1:-1] if len(series) > 2 else series
