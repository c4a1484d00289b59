"""Pacing against a server whose limit is known, and one whose limit the user overestimated.

A sandbox process allows ``LIMIT`` requests per second and answers after ``LATENCY_MS``; a
``batch-refunds run`` process refunds ``ROWS`` generated orders through it with ``--rate 40``
(the limit, known) and ``--rate 200`` (5× too high). Each run gets a fresh sandbox, and the two
rates alternate so that both see the same share of a busy machine.

The ideal is the requests the run needed (sent minus 429s) ÷ ``LIMIT``; the figure is
ideal ÷ the run's own ``duration_s`` from its ``summary.json`` (process start-up and report
writing left out), with the share of requests answered 429 and the rows ``failed``.

``python -m bench pacing``. Environment: BENCH_PACING_ROWS, BENCH_PACING_REPEATS,
BENCH_PACING_RATES (comma-separated).
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

ROWS = int(os.environ.get("BENCH_PACING_ROWS", "600"))
REPEATS = int(os.environ.get("BENCH_PACING_REPEATS", "3"))
RATES = [float(r) for r in os.environ.get("BENCH_PACING_RATES", "40,200").split(",")]
LIMIT = 40
LATENCY_MS = 30
KEY = "sk_test_BenchPacingKey0001"
CLI = [sys.executable, "-m", "batch_refunds"]


@dataclass(frozen=True)
class Result:
    rate: float
    efficiency: float  # ideal ÷ actual
    share_429: float
    failed: int
    duration_s: float


def _start_sandbox(tmp: Path, seed: int) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            *CLI, "sandbox", "--generate", str(ROWS), "--csv-out", str(tmp / "returns.csv"),
            "--rate-limit", str(LIMIT), "--latency-ms", str(LATENCY_MS), "--port", "0",
            "--random-seed", str(seed),
        ],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    for line in process.stdout:
        found = re.search(r"listening on (http://\S+/v1)", line)
        if found:
            return process, found.group(1)
    process.wait()
    raise RuntimeError("the sandbox exited before it was listening")


def _one(rate: float, seed: int) -> Result:
    with TemporaryDirectory(prefix="bench-pacing-") as name:
        tmp = Path(name)
        sandbox, base_url = _start_sandbox(tmp, seed)
        try:
            env = {**os.environ, "SMARTPAY_API_PREFIX": base_url, "SMARTPAY_SECRET_KEY": KEY}
            subprocess.run(
                [
                    *CLI, "run", str(tmp / "returns.csv"), "--yes", "--rate", f"{rate:g}",
                    "--journal", str(tmp / "journal.sqlite3"), "--out", str(tmp / "report"),
                ],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
            )  # fmt: skip
        finally:
            sandbox.terminate()
            sandbox.wait()
        summary = json.loads((tmp / "report" / "summary.json").read_text(encoding="utf-8"))
    requests = summary["requests"]
    needed = requests["total"] - requests["rate_limited"]
    duration = summary["duration_s"]
    return Result(
        rate=rate,
        efficiency=needed / LIMIT / duration,
        share_429=requests["rate_limited"] / requests["total"],
        failed=summary["counts"]["failed"],
        duration_s=duration,
    )


def main() -> None:
    print(
        f"{ROWS} rows, sandbox limit {LIMIT} req/s, {LATENCY_MS} ms latency; "
        f"{REPEATS} runs per rate, alternating",
        flush=True,
    )
    results: dict[float, list[Result]] = {rate: [] for rate in RATES}
    for repeat in range(REPEATS):
        for rate in RATES:
            result = _one(rate, seed=repeat + 1)
            results[rate].append(result)
            print(
                f"  --rate {rate:g}: ideal ÷ actual {result.efficiency:.3f}, "
                f"429s {result.share_429:.2%}, failed {result.failed}, {result.duration_s:.2f} s",
                flush=True,
            )
    for rate, runs in results.items():
        print(
            f"--rate {rate:g}: median ideal ÷ actual "
            f"{statistics.median(r.efficiency for r in runs):.3f} "
            f"(min {min(r.efficiency for r in runs):.3f}), "
            f"median 429 share {statistics.median(r.share_429 for r in runs):.2%}, "
            f"rows failed {sum(r.failed for r in runs)}",
            flush=True,
        )


if __name__ == "__main__":
    main()
