"""``make bench`` itself, in a tiny configuration, so the harness cannot rot unnoticed.

Nothing here asserts a timing or a met target: only that every scenario ran, crashed or
not, and that the table has every row.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import bench.__main__ as bench_main
from bench.harness import Outcome, Row, render_table, sparkline
from bench.scenarios import RUN_ORDER, SCENARIOS, Bench

ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "BENCH_OVERHEAD_ROWS": "20",
    "BENCH_RATE_ROWS": "20",
    "BENCH_LATENCY_ROWS": "20",
    "BENCH_SPEEDUP_ROWS": "2",
    "BENCH_SCALE_ROWS": "20",
    "BENCH_INTAKE_ROWS": "200",
    "BENCH_INTAKE_REPEATS": "1",
}
TABLE_ROWS = (
    "overhead",
    "rate-known",
    "rate-unknown",
    "latency-bound",
    "in flight",
    "scale (20 rows)",
    "rows/s vs 20k",
    "re-run, finished",
    "intake",
    "speedup vs urllib",
    "speedup vs Node SDK",
)


def _bench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        env={**os.environ, **TINY, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_every_scenario_runs_and_the_table_has_every_row() -> None:
    """python -m bench with 20 rows each: exit 0, no CRASHED, one table line per figure."""
    done = _bench()
    assert done.returncode == 0, done.stderr[-2000:]
    table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    names = [line.split("|")[1].strip() for line in table[1:]]
    assert names == list(TABLE_ROWS), done.stdout
    assert "CRASHED" not in done.stdout
    header = done.stdout.splitlines()[:2]
    assert header[0].startswith("machine: ")
    assert "Python " in header[1]
    assert "commit " in header[1]


@pytest.mark.slow
def test_one_scenario_by_name_runs_only_that_one() -> None:
    """`python -m bench rate-known` runs that scenario alone and prints its row."""
    done = _bench("rate-known")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| rate-known" in done.stdout
    assert "| overhead" not in done.stdout


def test_a_crashing_scenario_is_shown_and_fails_the_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A scenario that raises is a CRASHED row and exit 1, unlike a missed target (exit 0)."""

    def boom(bench: Bench) -> list[Row]:
        raise RuntimeError("the sandbox did not start")

    def missed(bench: Bench) -> list[Row]:
        return [Row("overhead", "0.10×", "≥ 0.9×", False)]

    monkeypatch.setitem(SCENARIOS, "overhead", boom)
    assert bench_main.main(["overhead"]) == 1
    assert "CRASHED" in capsys.readouterr().out
    monkeypatch.setitem(SCENARIOS, "overhead", missed)
    assert bench_main.main(["overhead"]) == 0
    assert "| NO " in capsys.readouterr().out


def test_an_unknown_scenario_or_bad_override_is_a_usage_error() -> None:
    """A misspelt name or a non-numeric BENCH_* value exits 2 and names it."""
    unknown = _bench("overheat")
    assert unknown.returncode == 2
    assert "overheat" in unknown.stderr
    bad = _bench("overhead", env={"BENCH_OVERHEAD_ROWS": "many"})
    assert bad.returncode == 2
    assert "BENCH_OVERHEAD_ROWS" in bad.stderr


def test_every_scenario_is_in_the_run_order() -> None:
    """No scenario is registered and then never run by a plain `make bench`."""
    assert sorted(RUN_ORDER) == sorted(SCENARIOS)


def test_table_shows_a_crash_and_a_skipped_figure() -> None:
    """A crashed scenario reads CRASHED / no; an unmeasured figure reads n/a."""
    table = render_table(
        [
            Outcome("overhead", crashed="RuntimeError: boom", seconds=3),
            Outcome("speedup", rows=[Row("speedup vs Node SDK", "skipped", "≥ 25×", None)]),
        ]
    )
    lines = table.splitlines()
    assert "CRASHED" in lines[2]
    assert "| no " in lines[2]
    assert "| n/a " in lines[3]


def test_sparkline_squeezes_and_scales() -> None:
    """120 samples fit 60 marks; a full count is the tallest mark, zero a blank."""
    line = sparkline([0.0] * 60 + [32.0] * 60, 32, width=60)
    assert len(line) == 60
    assert line == " " * 30 + "█" * 30
