"""The seven scenarios of issue 9, each a ratio measured side by side in this invocation.

Every scenario starts its own sandbox as a separate process on loopback with
``--generate`` data (the realistic mix: some orders split over 2–3 payments, some with
nothing left to refund), so a figure depends on nothing that ran before it — except where
it is defined against another scenario's figure (scale against overhead, speedup against
latency-bound), which then runs first if it has not run yet.

Row counts and the time budget come from the environment (``BENCH_*``; see ``Config``), so
a test can run the whole harness in seconds. "No limit" means ``--rate 1000000``.

Times: the overhead and scale figures are end to end (process start to exit, as a user
waits); the pacing and latency figures are the span of the tool's requests as the sandbox
saw them (first arrival to last answer), because startup and the report are not pacing.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness import (
    KEY,
    NO_LIMIT_RATE,
    ROOT,
    Measured,
    Outcome,
    Row,
    SandboxProc,
    ToolRun,
    env_int,
    in_flight_series,
    measure,
    run_tool,
    span_s,
    sparkline,
    v1_requests,
)

SDK_DIR = ROOT / "tests" / "node"
FULL_SCALE_ROWS = 200_000
SPARK_WIDTH = 50


@dataclass(frozen=True)
class Config:
    overhead_rows: int = field(default_factory=lambda: env_int("BENCH_OVERHEAD_ROWS", 20_000))
    rate_rows: int = field(default_factory=lambda: env_int("BENCH_RATE_ROWS", 600))
    latency_rows: int = field(default_factory=lambda: env_int("BENCH_LATENCY_ROWS", 1_000))
    latency_ms: int = field(default_factory=lambda: env_int("BENCH_LATENCY_MS", 100))
    speedup_rows: int = field(default_factory=lambda: env_int("BENCH_SPEEDUP_ROWS", 40))
    intake_rows: int = field(default_factory=lambda: env_int("BENCH_INTAKE_ROWS", 1_000_000))
    intake_repeats: int = field(default_factory=lambda: env_int("BENCH_INTAKE_REPEATS", 3))
    # 0: as many as fit the budget, at most FULL_SCALE_ROWS.
    scale_rows: int = field(default_factory=lambda: _scale_rows_env())
    budget_s: int = field(default_factory=lambda: env_int("BENCH_BUDGET_S", 540))
    concurrency: int = 8  # the tool's default, and the bare loop's
    server_rate: int = 40
    server_burst: int = 5
    rate_latency_ms: int = 30


def _scale_rows_env() -> int:
    return env_int("BENCH_SCALE_ROWS", 1) if os.environ.get("BENCH_SCALE_ROWS") else 0


class Bench:
    """One invocation: its config, a scratch folder, and figures other scenarios reuse."""

    def __init__(self, config: Config, work: Path) -> None:
        self.config = config
        self.work = work
        self.started = time.perf_counter()
        self._memo: dict[str, Any] = {}

    def scratch(self, name: str) -> Path:
        path = self.work / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def once(self, name: str, compute: Callable[[], Any]) -> Any:
        if name not in self._memo:
            self._memo[name] = compute()
        return self._memo[name]

    # ---- runs shared between scenarios --------------------------------------------------

    def overhead_runs(self) -> tuple[ToolRun, Measured, int]:
        """The tool and the bare aiohttp loop on the same 20,000 rows, fresh sandboxes."""
        return self.once("overhead", self._overhead_runs)  # type: ignore[no-any-return]

    def _overhead_runs(self) -> tuple[ToolRun, Measured, int]:
        rows, work = self.config.overhead_rows, self.scratch("overhead")
        csv_path = work / "returns.csv"
        with SandboxProc(rows, csv_path) as sandbox:
            tool = run_tool(sandbox, work, rate=NO_LIMIT_RATE, concurrency=self.config.concurrency)
        # Same random seed: the same orders again, untouched.
        with SandboxProc(rows, work / "returns-bare.csv") as sandbox:
            argv = [
                sys.executable, "-m", "bench.bare_aiohttp", str(csv_path), sandbox.base_url,
                str(work / "bare-report"), str(self.config.concurrency),
            ]  # fmt: skip
            bare = measure(argv)
            if bare.exit_code != 0:
                raise RuntimeError(f"bare aiohttp loop exited {bare.exit_code}: {bare.output}")
            bare_requests = v1_requests(sandbox.stats())
        return tool, bare, bare_requests

    def latency_run(self) -> ToolRun:
        return self.once("latency", self._latency_run)  # type: ignore[no-any-return]

    def _latency_run(self) -> ToolRun:
        work = self.scratch("latency")
        knobs = ["--latency-ms", str(self.config.latency_ms)]
        with SandboxProc(self.config.latency_rows, work / "returns.csv", args=knobs) as sandbox:
            return run_tool(sandbox, work, rate=NO_LIMIT_RATE, concurrency=32)


# ---- 1. overhead ------------------------------------------------------------------------------


def overhead(bench: Bench) -> list[Row]:
    tool, bare, bare_requests = bench.overhead_runs()
    rows = tool.rows
    ours = rows / tool.measured.wall_s
    theirs = rows / bare.wall_s
    ratio = ours / theirs
    detail = (
        f"{rows:,} rows: tool {ours:,.0f} rows/s ({tool.measured.wall_s:.1f} s, "
        f"{tool.measured.cpu_s / rows * 1000:.2f} ms CPU/row, {tool.requests / rows:.2f} req/row)"
        f" vs bare aiohttp {theirs:,.0f} rows/s ({bare.wall_s:.1f} s, "
        f"{bare_requests / rows:.2f} req/row); concurrency {bench.config.concurrency}"
    )
    return [Row("overhead", f"{ratio:.2f}×", "≥ 0.9×", ratio >= 0.9, detail)]


# ---- 2./3. pacing against a limit ---------------------------------------------------------


def _paced(bench: Bench, name: str, rate: int) -> tuple[ToolRun, float, int, int]:
    c = bench.config
    work = bench.scratch(name)
    knobs = [
        "--rate-limit", str(c.server_rate), "--rate-burst", str(c.server_burst),
        "--latency-ms", str(c.rate_latency_ms),
    ]  # fmt: skip
    with SandboxProc(c.rate_rows, work / "returns.csv", args=knobs) as sandbox:
        run = run_tool(sandbox, work, rate=rate, concurrency=c.concurrency)
    limited = int(run.stats["rateLimited"])
    accepted = run.requests - limited  # what the work needed; the 429s were waste
    # As the issue defines it: requests ÷ limit. (The bucket starts full, so a perfect
    # pacer can beat it by burst ÷ limit, 0.125 s here: 0.4 % of 600 rows' run.)
    ideal = accepted / c.server_rate
    return run, ideal / span_s(run.stats), limited, accepted


def _pacing_detail(bench: Bench, run: ToolRun, limited: int, accepted: int, rate: int) -> str:
    c = bench.config
    span = span_s(run.stats)
    return (
        f"--rate {rate} vs server {c.server_rate}/s burst {c.server_burst}, "
        f"{c.rate_latency_ms} ms: {run.rows} rows, {accepted} requests in {span:.1f} s "
        f"(ideal {accepted / c.server_rate:.1f} s), "
        f"{limited} × 429 ({limited / max(1, run.requests):.1%}); "
        f"tool wall {run.measured.wall_s:.1f} s"
    )


def rate_known(bench: Bench) -> list[Row]:
    run, ratio, limited, accepted = _paced(bench, "rate-known", bench.config.server_rate)
    share = limited / max(1, run.requests)
    return [
        Row(
            "rate-known",
            f"{ratio:.3f}, 429s {share:.1%}",
            "≥ 0.98, 429s ≤ 1 %",
            ratio >= 0.98 and share <= 0.01,
            _pacing_detail(bench, run, limited, accepted, bench.config.server_rate),
        )
    ]


def rate_unknown(bench: Bench) -> list[Row]:
    guess = 5 * bench.config.server_rate
    run, ratio, limited, accepted = _paced(bench, "rate-unknown", guess)
    failed = int(run.summary["counts"].get("failed", 0))
    return [
        Row(
            "rate-unknown",
            f"{ratio:.3f}, {failed} failed",
            "≥ 0.93, 0 failed",
            ratio >= 0.93 and failed == 0,
            _pacing_detail(bench, run, limited, accepted, guess),
        )
    ]


# ---- 4. latency-bound -------------------------------------------------------------------------


def latency_bound(bench: Bench) -> list[Row]:
    run = bench.latency_run()
    latency_s = bench.config.latency_ms / 1000
    per_row = run.requests / run.rows
    ideal = 32 / (per_row * latency_s)
    actual = run.rows / span_s(run.stats)
    ratio = actual / ideal
    series = in_flight_series(run.stats)
    bucket_ms = run.stats["inFlight"]["bucketMs"]
    detail = (
        f"{run.rows:,} rows, {per_row:.2f} req/row: {actual:.0f} rows/s vs ideal "
        f"32 ÷ ({per_row:.2f} × {latency_s:g} s) = {ideal:.0f}; tool wall "
        f"{run.measured.wall_s:.1f} s"
    )
    rows = [Row("latency-bound", f"{ratio:.3f}", "≥ 0.93", ratio >= 0.93, detail)]
    if series:
        low, mid, high = min(series), statistics.median(series), max(series)
        per_char = bucket_ms * max(1, -(-len(series) // SPARK_WIDTH))
        rows.append(
            Row(
                "  in flight",
                f"median {mid:.1f}",
                "32",
                None,
                f"[{sparkline(series, 32, SPARK_WIDTH)}] 0..32, {per_char} ms a mark; "
                f"per {bucket_ms} ms min {low:.1f} / median {mid:.1f} / max {high:.1f}, "
                f"peak {run.stats['inFlight']['max']}",
            )
        )
    return rows


# ---- 5. scale ----------------------------------------------------------------------------------


def _scale_rows(bench: Bench, rows_per_s: float) -> tuple[int, str]:
    c = bench.config
    if c.scale_rows:
        return c.scale_rows, "BENCH_SCALE_ROWS"
    left = c.budget_s - (time.perf_counter() - bench.started)
    # The run, the sandbox generating and loading the orders, and the re-run: about 1.5×
    # the run itself; a quarter of what is left stays in reserve for noise.
    fit = int(left * 0.75 / 1.5 * rows_per_s) // 10_000 * 10_000
    rows = max(c.overhead_rows, min(FULL_SCALE_ROWS, fit))
    if rows >= FULL_SCALE_ROWS:
        return rows, "full size"
    return rows, (
        f"{FULL_SCALE_ROWS:,} does not fit the {c.budget_s} s budget at {rows_per_s:,.0f} "
        f"rows/s; BENCH_SCALE_ROWS={FULL_SCALE_ROWS} forces it"
    )


def scale(bench: Bench) -> list[Row]:
    tool_20k, _, _ = bench.overhead_runs()
    base_rate = tool_20k.rows / tool_20k.measured.wall_s
    rows, why = _scale_rows(bench, base_rate)
    work = bench.scratch("scale")
    with SandboxProc(rows, work / "returns.csv", seed=2) as sandbox:
        run = run_tool(sandbox, work, rate=NO_LIMIT_RATE, concurrency=bench.config.concurrency)
        again = run_tool(
            sandbox, work, rate=NO_LIMIT_RATE, concurrency=bench.config.concurrency,
            out="report-again",
        )  # fmt: skip
    rate = run.rows / run.measured.wall_s
    ratio = rate / base_rate
    resent = again.requests - int(again.stats["requestsBefore"])
    # Rows a run could not finish (an order with nothing left, no captured payment) are read
    # again on every run, one GET each plus the access check: Smartpay's side may have
    # changed. Rows that are done must cost nothing.
    counts = again.summary["counts"]
    not_done = sum(v for k, v in counts.items() if k not in ("refunded", "already_refunded"))
    rechecked = not_done + 1 if not_done else 0
    label = f"scale ({rows:,} rows)"
    return [
        Row(
            label,
            f"{run.measured.peak_rss_mb:.0f} MB peak RSS",
            "≤ 500 MB",
            run.measured.peak_rss_mb <= 500,
            f"rows: {why}",
        ),
        Row(
            "  rows/s vs 20k",
            f"{ratio:.2f}×",
            "≥ 0.8×",
            ratio >= 0.8,
            f"{rate:,.0f} rows/s ({run.measured.wall_s:.1f} s) vs {base_rate:,.0f} rows/s "
            f"at {tool_20k.rows:,}",
        ),
        Row(
            "  re-run, finished",
            f"{resent - rechecked} requests for done rows, {again.measured.wall_s:.1f} s",
            "0 requests, seconds",
            resent - rechecked <= 0 and again.measured.wall_s <= 30,
            f"{rechecked:,} rows not done (rejected: nothing left to refund) are read again, "
            f"{resent:,} requests in all with the access check; counts {_counts(again.summary)};"
            f" peak RSS {again.measured.peak_rss_mb:.0f} MB",
        ),
    ]


def _counts(summary: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in summary["counts"].items() if v)


# ---- 6. intake ---------------------------------------------------------------------------------


def intake(bench: Bench) -> list[Row]:
    from bench.bench_intake import compare_with_pandas

    got = compare_with_pandas(bench.config.intake_rows, bench.config.intake_repeats)
    detail = (
        f"{got['rows']:,}-row CSV, median of {bench.config.intake_repeats}: validate "
        f"{got['validate_s']:.2f} s / {got['validate_mb']:.0f} MB vs pandas.read_csv + loop "
        f"{got['pandas_s']:.2f} s / {got['pandas_mb']:.0f} MB"
    )
    return [
        Row(
            "intake",
            f"{got['time_ratio']:.2f}× time, {got['memory_ratio']:.2f}× memory",
            "≤ 1.0× time, ≤ 0.8× memory",
            got["time_ratio"] <= 1.0 and got["memory_ratio"] <= 0.8,
            detail,
        )
    ]


# ---- 7. speedup --------------------------------------------------------------------------------


def _sdk_ready() -> str | None:
    """Why the Node SDK loop cannot run, or None once ``tests/node`` has the pinned SDK."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None:
        return "node is not on PATH"
    if not (SDK_DIR / "node_modules" / "@smartpay" / "sdk-node").exists():
        if npm is None:
            return "npm is not on PATH to install tests/node"
        done = measure([npm, "ci", "--no-audit", "--no-fund", "--prefix", str(SDK_DIR)])
        if done.exit_code != 0:
            return f"npm ci failed: {done.output[-200:]}"
    return None


def speedup(bench: Bench) -> list[Row]:
    tool = bench.latency_run()
    ours = tool.rows / tool.measured.wall_s
    k = bench.config.speedup_rows
    work = bench.scratch("speedup")
    knobs = ["--latency-ms", str(bench.config.latency_ms)]
    rows_out: list[Row] = []
    with SandboxProc(2 * k, work / "all.csv", seed=3, args=knobs) as sandbox:
        lines = (work / "all.csv").read_text("utf-8").splitlines(keepends=True)
        (work / "urllib.csv").write_text("".join(lines[: k + 1]), "utf-8")
        loop = measure([sys.executable, "-m", "bench.urllib_loop", str(work / "urllib.csv"),
                        sandbox.base_url])  # fmt: skip
        if loop.exit_code != 0:
            raise RuntimeError(f"urllib loop exited {loop.exit_code}: {loop.output[-500:]}")
        rows_out.append(_speedup_row("speedup vs urllib", ours, k / loop.wall_s, tool, loop))
        missing = _sdk_ready()
        if missing is not None:
            rows_out.append(Row("speedup vs Node SDK", "skipped", "≥ 25×", None, missing))
            return rows_out
        rows_json = work / "sdk-rows.json"
        with (work / "all.csv").open(encoding="utf-8", newline="") as handle:
            picked = list(csv.DictReader(handle))[k:]
        rows_json.write_text(json.dumps(picked), "utf-8")
        node = measure([
            str(shutil.which("node")), str(ROOT / "bench" / "sdk_loop.cjs"), str(SDK_DIR),
            sandbox.base_url, KEY, str(rows_json),
        ])  # fmt: skip
        if node.exit_code != 0:
            raise RuntimeError(f"Node SDK loop exited {node.exit_code}: {node.output[-500:]}")
        rows_out.append(_speedup_row("speedup vs Node SDK", ours, k / node.wall_s, tool, node))
    return rows_out


def _speedup_row(name: str, ours: float, theirs: float, tool: ToolRun, loop: Measured) -> Row:
    ratio = ours / theirs
    return Row(
        name,
        f"{ratio:.1f}×",
        "≥ 25×",
        ratio >= 25,
        f"tool {ours:.0f} rows/s ({tool.rows:,} rows, --concurrency 32, "
        f"{tool.measured.wall_s:.1f} s end to end) vs sequential {theirs:.2f} rows/s "
        f"({loop.wall_s:.1f} s)",
    )


# In the order of the issue; ``python -m bench NAME`` runs one.
SCENARIOS: dict[str, Callable[[Bench], list[Row]]] = {
    "overhead": overhead,
    "rate-known": rate_known,
    "rate-unknown": rate_unknown,
    "latency-bound": latency_bound,
    "scale": scale,
    "intake": intake,
    "speedup": speedup,
}
# Scale sizes itself on the time left, so it runs last; the table keeps the order above.
RUN_ORDER = (
    "overhead", "rate-known", "rate-unknown", "latency-bound", "speedup", "intake", "scale",
)  # fmt: skip


def run_one(bench: Bench, name: str) -> Outcome:
    outcome = Outcome(name)
    start = time.perf_counter()
    try:
        outcome.rows = SCENARIOS[name](bench)
    except Exception as exc:  # a crash is reported in the table and fails make bench
        traceback.print_exc()
        outcome.crashed = f"{type(exc).__name__}: {str(exc)[:300]}"
    outcome.seconds = time.perf_counter() - start
    return outcome
