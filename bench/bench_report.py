"""Report benchmark: the reconciliation workbook of a 50,000-row run, by writer.

Writes the same report with the package's writer (XlsxWriter, ``constant_memory``) and
with the openpyxl write-only writer it replaced (``bench/xlsx_openpyxl.py``), with and
without lxml, alternating them in one invocation so that a busy machine slows all alike.
Each write runs in its own process, so its peak RSS is its own; the time is the workbook
alone (the report's value objects are built before the clock starts).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROWS = int(os.environ.get("BENCH_REPORT_ROWS", "50000"))
REPEATS = 3
WRITERS = {
    # label: (module:function, environment)
    "xlsxwriter constant_memory (chosen)": ("batch_refunds.report.xlsx_file", {}),
    "openpyxl write-only + lxml": ("bench.xlsx_openpyxl", {"OPENPYXL_LXML": "True"}),
    "openpyxl write-only, no lxml": ("bench.xlsx_openpyxl", {"OPENPYXL_LXML": "False"}),
}


def sample_report(rows: int) -> object:
    """A run of ``rows`` refunded rows, one refund each, with Japanese text and an input
    column carried through, like a real report."""
    from batch_refunds.models import RefundRecord, RequestCounts, RowOutcome, RunSummary, Status
    from batch_refunds.report import RunReport

    outcomes = []
    refunds = []
    for n in range(2, rows + 2):
        oid = f"order_test_{n:020d}"
        outcomes.append(
            RowOutcome(
                row=n,
                status=Status.REFUNDED,
                order_id=oid,
                payment_ids=(f"payment_test_{n:020d}",),
                requested_amount=1_000 + n,
                refundable_before=50_000,
                refunded_amount=1_000 + n,
                refund_ids=(f"refund_test_{n:022d}",),
                message="返金しました" if n % 10 == 0 else None,
                reference=f"RF-{n:08d}",
                attempts=1,
            )
        )
        refunds.append(
            RefundRecord(
                f"refund_test_{n:022d}",
                n,
                oid,
                f"payment_test_{n:020d}",
                1_000 + n,
                f"RF-{n:08d}",
                1_764_230_810_123 + n,
            )
        )
    summary = RunSummary(
        run_id="run_bench", mode="run", input_path="bench.csv", input_sha256="ab" * 32,
        rows=rows, counts=((Status.REFUNDED, rows),), requested_total=0, refunded_total=0,
        started_at="2026-12-01T00:00:00.000+00:00", finished_at="2026-12-01T00:01:00.000+00:00",
        duration_s=60.0, requests=RequestCounts(total=2 * rows, retried=0, rate_limited=0),
        exit_code=0,
    )  # fmt: skip
    return RunReport(
        summary=summary,
        rows=tuple(outcomes),
        refunds=tuple(refunds),
        input_header=("order_id", "amount", "備考"),
        input_cells={o.row: (o.order_id or "", str(o.requested_amount), "返品") for o in outcomes},
    )


def write_one(module: str, rows: int, out: str) -> None:
    """In a child process: build the report, then time writing its workbook (stdout)."""
    import importlib

    report = sample_report(rows)
    write_xlsx = importlib.import_module(module).write_xlsx
    start, cpu = time.perf_counter(), time.process_time()
    with open(out, "wb") as stream:
        write_xlsx(report, stream)
    print(f"{time.perf_counter() - start:.3f} {time.process_time() - cpu:.3f}")


def main() -> None:
    out = ROOT / "bench" / "data" / "bench_report.xlsx"
    out.parent.mkdir(exist_ok=True)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"  {ROWS:,} rows and {ROWS:,} refunds; load average before measuring: {load}")
    times: dict[str, list[float]] = {label: [] for label in WRITERS}
    cpus: dict[str, list[float]] = {label: [] for label in WRITERS}
    peaks: dict[str, list[float]] = {label: [] for label in WRITERS}
    for _ in range(REPEATS):
        for label, (module, env) in WRITERS.items():
            code = "from bench.bench_report import write_one; "
            code += f"write_one({module!r}, {ROWS}, {str(out)!r})"
            argv = [sys.executable, "-c", code]
            seconds, cpu, rss = _timed(argv, env)
            times[label].append(seconds)
            cpus[label].append(cpu)
            peaks[label].append(rss)
    chosen = next(iter(WRITERS))
    base, base_cpu = statistics.median(times[chosen]), statistics.median(cpus[chosen])
    print(f"  medians of {REPEATS}; ratios are writer ÷ chosen")
    for label in WRITERS:
        t, c = statistics.median(times[label]), statistics.median(cpus[label])
        print(
            f"  {label:<36} {t:6.2f} s wall ({t / base:4.2f}×)"
            f"  {c:6.2f} s CPU ({c / base_cpu:4.2f}×)"
            f"  {statistics.median(peaks[label]):4.0f} MB peak"
            f"  [wall {', '.join(f'{x:.2f}' for x in times[label])}]"
        )


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """The workbook's wall and CPU seconds as the child timed them, and its peak RSS in MB."""
    proc = subprocess.Popen(argv, env={**os.environ, **env}, cwd=ROOT, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    output = proc.stdout.read().decode()
    proc.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{argv[-1]} failed")
    wall, cpu = map(float, output.split())
    return wall, cpu, usage.ru_maxrss / 1024
