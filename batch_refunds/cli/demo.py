"""``batch-refunds demo``: the sample spreadsheets refunded against an in-process sandbox."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from batch_refunds.cli.common import error, positive_float
from batch_refunds.exit_codes import EXIT_NOT_STARTED, EXIT_OK

DEMO_KEY = "sk_test_DemoOnlyNotASecret"  # the sandbox accepts any well-formed test key
DEFAULT_SAMPLES = (
    Path("inputs/refunds_en.csv"),
    Path("inputs/refunds_ja_cp932.csv"),
    Path("inputs/refunds_titled.xlsx"),
    Path("inputs/refunds_shop_numbers.csv"),
)
DEFAULT_SEED = Path("inputs/demo-seed.json")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "demo",
        help="refund the sample files against a built-in sandbox, then run one again",
        description="Start a sandbox seeded to match inputs/, refund each sample file with "
        "'run --yes', then run the first one again to show that nothing is refunded twice. "
        "Nothing leaves this machine.",
    )
    parser.add_argument("inputs", nargs="*", type=Path, default=list(DEFAULT_SAMPLES))
    parser.add_argument("--seed", type=Path, default=DEFAULT_SEED, metavar="FILE")
    parser.add_argument("--out", type=Path, metavar="DIR", help="default reports/demo-<time>/")
    parser.add_argument("--rate", type=positive_float, default=20.0, metavar="N")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    try:
        seed = json.loads(args.seed.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        error(f"cannot read the demo seed {args.seed}: {exc}")
        return EXIT_NOT_STARTED
    out = args.out or Path("reports") / f"demo-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    return asyncio.run(_demo(args.inputs, seed, out, args.rate))


async def _demo(inputs: list[Path], seed: dict[str, object], out: Path, rate: float) -> int:
    from batch_refunds.cli.plan_run import run_in_terminal
    from batch_refunds.cli.render import print_summary
    from batch_refunds.journal import Journal
    from batch_refunds.runner import RunOptions
    from batch_refunds.sandbox import SandboxConfig, run_sandbox
    from batch_refunds.smartpay import ClientConfig

    journal_path = out / "journal.sqlite3"
    worst = EXIT_OK
    async with run_sandbox(SandboxConfig(seed_data=seed)) as server:
        print(f"Sandbox seeded from the demo seed at {server.base_url}", file=sys.stdout)
        config = ClientConfig(
            secret_key=DEMO_KEY, base_url=server.base_url, rate_per_second=rate, max_in_flight=8
        )
        runs = [*inputs, inputs[0]] if inputs else []
        for number, path in enumerate(runs, start=1):
            again = number == len(runs) and number > 1
            title = f"{path} again: every row should be already_refunded" if again else str(path)
            print(f"\n== {title}", file=sys.stdout)
            options = RunOptions(input_path=path, out_dir=out / f"{number}-{path.stem}")
            with Journal(journal_path) as journal:
                result = await run_in_terminal(options, config, journal, ask=False)
            print_summary(result, sys.stdout)
            worst = max(worst, result.summary.exit_code)
    return worst
