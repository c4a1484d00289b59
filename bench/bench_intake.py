"""Intake benchmark: ``batch-refunds validate`` on a 1,000,000-row CSV and a 200,000-row xlsx.

The CSV figure is a ratio to ``bench/intake_baseline.py`` (``pandas.read_csv`` and a plain
loop making the same checks), the two run alternately in this one invocation so that other
work on the machine slows both alike: validate's time and peak RSS over the baseline's.

Also compares the candidate readers (for the choice of ``csv`` + ``python-calamine`` in
``batch_refunds/intake/read.py``). Every measurement runs in its own process so that peak
RSS is that command's alone. Generated files are cached in ``bench/data/`` (gitignored).
"""

from __future__ import annotations

import csv
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"
CSV_ROWS = 1_000_000
XLSX_ROWS = 200_000
REPEATS = 3
CSV_TARGET_S = 8.0
CSV_TARGET_RSS_MB = 700
TIME_RATIO_TARGET = 1.0  # validate's time ÷ the baseline's (bench/intake_baseline.py)
RSS_RATIO_TARGET = 0.8  # validate's peak RSS ÷ the baseline's

HEADER = ("order_id", "amount", "reason", "description", "reference", "metadata.ticket")
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_DESCRIPTIONS = ("Returned item", "Cancelled before shipping", "Price adjustment", "")


def _rows(count: int, seed: int) -> Iterator[tuple[str, str | int | None, str, str, str, str]]:
    """Realistic rows: unique ids, amounts of several spellings, 10% blank (full refund)."""
    rng = random.Random(seed)
    for i in range(count):
        oid = "order_test_" + "".join(rng.choices(_BASE62, k=20))
        yen = rng.randrange(100, 98_000)
        pick = rng.random()
        amount: str | int | None = (
            None if pick < 0.1 else f"¥{yen:,}" if pick < 0.2 else f"{yen:,}" if pick < 0.3 else yen
        )
        reason = "fraudulent" if pick > 0.98 else "requested_by_customer"
        yield (oid, amount, reason, rng.choice(_DESCRIPTIONS), f"RF-{i:08d}", f"ZD-{i % 9973}")


def make_csv(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for row in _rows(count, seed=1):
            writer.writerow("" if c is None else c for c in row)


def make_xlsx(path: Path, count: int) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Refunds")
    sheet.append(["Refund request (benchmark)"])
    sheet.append([])
    sheet.append(list(HEADER))
    for row in _rows(count, seed=2):
        sheet.append(list(row))
    book.save(path)


def measure(argv: list[str]) -> tuple[float, float, float, int]:
    """Run ``argv``; return (wall s, CPU s, peak RSS MB, exit code) of that process alone.

    Linux carries the parent's peak RSS into a vforked child's ``ru_maxrss``, so this parent
    stays small: test files are generated in a child process, never here.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.stderr is not None:
        err = proc.stderr.read().decode(errors="replace").strip()
        proc.stderr.close()
        if err:
            print(f"    stderr: {err[-300:]}")
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, usage.ru_maxrss / 1024, proc.returncode  # ru_maxrss is KiB on Linux


_READERS = {
    "csv module (chosen)": "import csv,sys\n"
    "with open(sys.argv[1], encoding='utf-8', newline='') as f:\n"
    "    n = sum(1 for _ in csv.reader(f))",
    "pandas.read_csv dtype=str": "import pandas as pd,sys\n"
    "df = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False, skip_blank_lines=False)\n"
    "rows = list(zip(*(df[c].tolist() for c in df.columns)))",
}
_EXCEL_READERS = {
    "python-calamine to_python (chosen)": "import python_calamine as pc,sys\n"
    "rows = pc.CalamineWorkbook.from_path(sys.argv[1]).get_sheet_by_index(0)"
    ".to_python(skip_empty_area=False)",
    "pandas.read_excel engine=calamine": "import pandas as pd,sys\n"
    "rows = pd.read_excel(sys.argv[1], engine='calamine', header=None, dtype=object)"
    ".values.tolist()",
    "openpyxl read_only": "import openpyxl,sys\n"
    "wb = openpyxl.load_workbook(sys.argv[1], read_only=True, data_only=True)\n"
    "rows = list(wb.worksheets[0].iter_rows(values_only=True))",
}


def _report(label: str, wall: float, cpu: float, rss: float, code: int) -> None:
    print(
        f"  {label:<40} {wall:6.2f} s wall {cpu:6.2f} s CPU {rss:6.0f} MB peak  exit {code}",
        flush=True,
    )


def main() -> None:
    DATA.mkdir(exist_ok=True)
    csv_path = DATA / f"refunds_{CSV_ROWS // 1000}k.csv"
    xlsx_path = DATA / f"refunds_{XLSX_ROWS // 1000}k.xlsx"
    for path, make, count in ((csv_path, make_csv, CSV_ROWS), (xlsx_path, make_xlsx, XLSX_ROWS)):
        if not path.exists():
            print(f"  generating {path.name} ({count:,} rows)...", flush=True)
            tmp = path.with_suffix(".tmp" + path.suffix)
            script = f"from bench.bench_intake import {make.__name__}; from pathlib import Path; "
            script += f"{make.__name__}(Path({str(tmp)!r}), {count})"
            subprocess.run([sys.executable, "-c", script], check=True, cwd=ROOT)
            tmp.rename(path)
    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    print(f"  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  {platform.platform()}")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"  load average before measuring: {load} (other work on the machine slows wall time)")
    print(f"  {os.cpu_count()} CPUs, {cpu_model}, Python {platform.python_version()}")
    cli = [sys.executable, "-m", "batch_refunds", "validate"]
    baseline = [sys.executable, "-m", "bench.intake_baseline"]
    print(f"{csv_path.name} ({CSV_ROWS:,} rows), alternating, {REPEATS} runs each:")
    tool_runs, base_runs, tuned_runs = [], [], []
    for i in range(1, REPEATS + 1):
        tool_runs.append(measure([*cli, str(csv_path)]))
        _report(f"batch-refunds validate #{i}", *tool_runs[-1])
        base_runs.append(measure([*baseline, str(csv_path)]))
        _report(f"pandas.read_csv + plain loop #{i}", *base_runs[-1])
        tuned_runs.append(measure([*baseline, "--no-gc", str(csv_path)]))
        _report(f"  the same, gc disabled #{i}", *tuned_runs[-1])
    wall, cpu, rss = (statistics.median(run[k] for run in tool_runs) for k in range(3))
    base_wall, base_cpu, base_rss = (
        statistics.median(run[k] for run in base_runs) for k in range(3)
    )
    tuned_wall, tuned_cpu, tuned_rss = (
        statistics.median(run[k] for run in tuned_runs) for k in range(3)
    )
    verdict = "PASS" if wall < CSV_TARGET_S and rss < CSV_TARGET_RSS_MB else "FAIL"
    print(
        f"  medians: validate {wall:.2f} s wall, {cpu:.2f} s CPU, {rss:.0f} MB; baseline "
        f"{base_wall:.2f} s wall, {base_cpu:.2f} s CPU, {base_rss:.0f} MB"
    )
    print(
        f"  ratio validate / baseline: time {wall / base_wall:.2f}× wall, {cpu / base_cpu:.2f}× CPU"
        f" (target ≤ {TIME_RATIO_TARGET}); memory {rss / base_rss:.2f}× peak RSS (target ≤ "
        f"{RSS_RATIO_TARGET}); absolute target < {CSV_TARGET_S:.0f} s and "
        f"< {CSV_TARGET_RSS_MB} MB: {verdict}"
    )
    print(
        f"  ratio validate / baseline with gc disabled: time {wall / tuned_wall:.2f}× wall, "
        f"{cpu / tuned_cpu:.2f}× CPU; memory {rss / tuned_rss:.2f}× peak RSS"
    )
    _report(f"{xlsx_path.name} ({XLSX_ROWS:,} rows)", *measure([*cli, str(xlsx_path)]))
    print("CSV readers (read only, no validation):")
    for label, code_text in _READERS.items():
        _report(label, *measure([sys.executable, "-c", code_text, str(csv_path)]))
    print("Excel readers (read only, no validation):")
    for label, code_text in _EXCEL_READERS.items():
        _report(label, *measure([sys.executable, "-c", code_text, str(xlsx_path)]))


# ---- the ratio ``make bench`` puts in its table ----------------------------------------------


def compare_with_pandas(rows: int = CSV_ROWS, repeats: int = REPEATS) -> dict[str, float]:
    """``validate`` against the bare pandas loop on one ``rows``-row CSV: medians of
    ``repeats`` runs each, every run its own process. Returns seconds, MB and the ratios."""
    DATA.mkdir(exist_ok=True)
    path = DATA / f"refunds_{rows // 1000}k.csv" if rows % 1000 == 0 else DATA / f"r{rows}.csv"
    if not path.exists():
        tmp = path.with_suffix(".tmp.csv")
        script = "from bench.bench_intake import make_csv; from pathlib import Path; "
        script += f"make_csv(Path({str(tmp)!r}), {rows})"
        subprocess.run([sys.executable, "-c", script], check=True, cwd=ROOT)
        tmp.rename(path)
    cli = [sys.executable, "-m", "batch_refunds", "validate", str(path)]
    bare = [sys.executable, "-m", "bench.intake_baseline", str(path)]
    ours, theirs = [], []
    for _ in range(repeats):  # interleaved, so a burst of load hits both alike
        ours.append(measure(cli))
        theirs.append(measure(bare))
    for *_, code in theirs:
        if code != 0:
            raise RuntimeError(f"the pandas baseline exited {code}")
    ours_s, ours_mb = (sorted(r[i] for r in ours)[len(ours) // 2] for i in (0, 2))
    bare_s, bare_mb = (sorted(r[i] for r in theirs)[len(theirs) // 2] for i in (0, 2))
    return {
        "rows": rows,
        "validate_s": ours_s,
        "validate_mb": ours_mb,
        "pandas_s": bare_s,
        "pandas_mb": bare_mb,
        "time_ratio": ours_s / bare_s,
        "memory_ratio": ours_mb / bare_mb,
        "validate_exit": max(r[3] for r in ours),
    }
