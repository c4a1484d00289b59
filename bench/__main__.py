"""Run every ``bench/bench_*.py`` module's ``main()``, or only those named on the command line.

``python -m bench`` runs them all; ``python -m bench intake`` runs ``bench_intake`` only.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def discover() -> list[str]:
    """Names of the benchmark modules in this folder, sorted."""
    here = str(Path(__file__).resolve().parent)
    return sorted(m.name for m in pkgutil.iter_modules([here]) if m.name.startswith("bench_"))


def main(argv: list[str]) -> int:
    names = discover()
    wanted = [f"bench_{a.removeprefix('bench_')}" for a in argv]
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        print(f"No such benchmark: {', '.join(unknown)} (have {', '.join(names)})", file=sys.stderr)
        return 2
    for name in wanted or names:
        print(f"== {name} ==", flush=True)
        importlib.import_module(f"bench.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
