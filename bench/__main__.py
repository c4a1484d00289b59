"""``python -m bench``: every scenario of issue 9, then one table; ``python -m bench NAME...``
runs only those (``overhead``, ``rate-known``, ``rate-unknown``, ``latency-bound``, ``scale``,
``intake``, ``speedup``).

The table reports; it does not gate: a missed target still exits 0. A scenario that crashes
is shown as CRASHED and makes the exit code 1.

Detailed benchmarks of one part each, outside the table: ``python -m bench intake-detail``
(validate against the baseline, CSV and Excel readers), ``journal`` (the journal's writes
beside a run and a bare loop), ``pacing`` (ideal ÷ actual at ``--rate`` 40 and 200) and
``report`` (the workbook writers compared) and ``shop-orders`` (resolving a file of shop
order numbers through the order list, then again from the journal's memory).
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from bench.harness import header_lines, render_table
from bench.scenarios import RUN_ORDER, SCENARIOS, Bench, Config, run_one

DETAILS = {
    "intake-detail": "bench_intake",
    "journal": "bench_journal",
    "pacing": "bench_pacing",
    "report": "bench_report",
    "shop-orders": "bench_shop_orders",
}
EXIT_OK = 0
EXIT_CRASHED = 1
EXIT_USAGE = 2


def main(argv: list[str]) -> int:
    if len(argv) == 1 and argv[0] in DETAILS:
        importlib.import_module(f"bench.{DETAILS[argv[0]]}").main()
        return EXIT_OK
    wanted = [a.removeprefix("bench_").replace("_", "-") for a in argv]
    unknown = [w for w in wanted if w not in SCENARIOS]
    if unknown:
        names = ", ".join([*SCENARIOS, *DETAILS])
        print(f"No such scenario: {', '.join(unknown)} (have {names})", file=sys.stderr)
        return EXIT_USAGE
    try:
        config = Config()
    except ValueError as exc:
        print(f"python -m bench: {exc}", file=sys.stderr)
        return EXIT_USAGE
    chosen = [name for name in RUN_ORDER if not wanted or name in wanted]
    start = time.perf_counter()
    with TemporaryDirectory(prefix="bench-") as tmp:
        bench = Bench(config, Path(tmp))
        outcomes = {}
        for name in chosen:
            print(f"== {name} ...", file=sys.stderr, flush=True)
            outcomes[name] = run_one(bench, name)
            print(f"   {name}: {outcomes[name].seconds:.0f} s", file=sys.stderr, flush=True)
    total = time.perf_counter() - start
    print("\n".join(header_lines()))
    print(render_table([outcomes[name] for name in SCENARIOS if name in outcomes]))
    print(f"total: {total:.0f} s for {len(outcomes)} scenario(s)")
    crashed = [o.name for o in outcomes.values() if o.crashed is not None]
    if crashed:
        print(f"crashed: {', '.join(crashed)}", file=sys.stderr)
        return EXIT_CRASHED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
