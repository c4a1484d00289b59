"""``batch-refunds sandbox``: run a local Smartpay look-alike to rehearse a refund run safely."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
from pathlib import Path
from typing import Any

from batch_refunds.sandbox import SandboxConfig, SeedError, SystemClock
from batch_refunds.sandbox.faults import Knobs
from batch_refunds.sandbox.generate import generate, write_returns_csv
from batch_refunds.sandbox.render import PAYMENT_REFUNDS_MODES
from batch_refunds.sandbox.seed import load_seed
from batch_refunds.sandbox.state import SandboxState

SECRET_ENV = "SMARTPAY_SANDBOX_SECRET"
EXIT_OK = 0
EXIT_USAGE = 2
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

HELP = """\
Serve a local server that answers like Smartpay's API (test mode), to rehearse a
spreadsheet without touching real money. Point the tool at the printed URL with
SMARTPAY_API_PREFIX. Any well-formed sk_test_ key is accepted unless a secret is given
with --secret-file or the SMARTPAY_SANDBOX_SECRET environment variable (never as a flag
value: it would show in `ps`). Admin endpoints (no auth): GET /__admin/stats,
GET /__admin/refunds, GET|POST /__admin/config, POST /__admin/clock/advance,
POST /__admin/seed. Stops cleanly on Ctrl-C or SIGTERM."""


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sandbox",
        help="run a local Smartpay sandbox server",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host", default="127.0.0.1", metavar="HOST", help="address to bind (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=0, metavar="N", help="port; 0 picks a free one (default)"
    )
    parser.add_argument(
        "--secret-file",
        type=Path,
        metavar="FILE",
        help=f"file holding the only sk_test_ key to accept ({SECRET_ENV} also works)",
    )
    parser.add_argument(
        "--seed", type=Path, metavar="FILE", help="JSON file of orders, payments and prior refunds"
    )
    parser.add_argument("--generate", type=int, metavar="N", help="create N realistic orders")
    parser.add_argument(
        "--csv-out",
        type=Path,
        metavar="PATH",
        help="with --generate: write a matching returns CSV here",
    )
    parser.add_argument(
        "--csv-shop-numbers",
        action="store_true",
        help="with --csv-out: name each order by the shop's order number (its reference, "
        "a shop_order column) instead of its Smartpay id",
    )
    parser.add_argument(
        "--seed-out",
        type=Path,
        metavar="PATH",
        help="with --generate: also save the orders as a seed JSON",
    )
    parser.add_argument(
        "--no-serve", action="store_true", help="with --generate: write the files and exit"
    )
    parser.add_argument(
        "--random-seed", type=int, metavar="S", help="make generated data and faults repeatable"
    )
    parser.add_argument(
        "--latency-ms", type=int, default=0, metavar="MS", help="delay every response (ms)"
    )
    parser.add_argument(
        "--rate-limit", type=int, metavar="PER_S", help="requests per second before 429"
    )
    parser.add_argument(
        "--rate-burst",
        type=int,
        metavar="N",
        help="with --rate-limit: a token bucket of N requests instead of a one-second window",
    )
    parser.add_argument(
        "--fail-rate",
        type=float,
        default=0.0,
        metavar="RATE",
        help="share of requests answered 500/502/503 (0-1)",
    )
    parser.add_argument(
        "--drop-after-commit-rate",
        type=float,
        default=0.0,
        metavar="RATE",
        help="share of refunds created and then answered by a cut connection (0-1)",
    )
    parser.add_argument(
        "--payment-refunds",
        choices=PAYMENT_REFUNDS_MODES,
        default="auto",
        help="how payment.refunds is rendered (default auto: objects with expand=all)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = _config(args)
    except (OSError, ValueError) as exc:
        print(f"batch-refunds sandbox: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.no_serve:
        return EXIT_OK
    if args.host not in LOOPBACK:
        print(
            f"batch-refunds sandbox: warning: /__admin/* needs no key; {args.host} exposes it "
            "beyond this machine",
            file=sys.stderr,
        )
    asyncio.run(_serve(config, args.host, args.port))
    return EXIT_OK


def _config(args: argparse.Namespace) -> SandboxConfig:
    if args.generate is None and (
        args.csv_out or args.seed_out or args.no_serve or args.csv_shop_numbers
    ):
        raise ValueError(
            "--csv-out, --csv-shop-numbers, --seed-out and --no-serve go with --generate N"
        )
    if args.rate_burst is not None and args.rate_limit is None:
        raise ValueError("--rate-burst N goes with --rate-limit PER_S")
    if args.generate is not None and args.csv_out is None:
        raise ValueError("--generate N needs --csv-out PATH for the returns spreadsheet")
    # Checked up front so a bad knob fails before any file is written.
    Knobs(
        latency_ms=args.latency_ms,
        rate_limit_per_s=args.rate_limit,
        rate_burst=args.rate_burst,
        fail_rate=args.fail_rate,
        drop_after_commit_rate=args.drop_after_commit_rate,
        payment_refunds=args.payment_refunds,
    )
    clock = SystemClock()
    seed: dict[str, Any] = {"orders": []}
    if args.seed is not None:
        seed = _read_seed(args.seed)
    if args.generate is not None:
        generated, rows = generate(
            args.generate, random_seed=args.random_seed, now_ms=clock.now_ms()
        )
        seed = {"orders": [*seed.get("orders", []), *generated["orders"]]}
        write_returns_csv(args.csv_out, rows, shop_numbers=args.csv_shop_numbers)
        print(f"Wrote {len(rows)} returns rows to {args.csv_out}", file=sys.stderr)
        if args.seed_out is not None:
            args.seed_out.write_text(json.dumps(generated, ensure_ascii=False, indent=1), "utf-8")
            print(f"Wrote the orders as a seed to {args.seed_out}", file=sys.stderr)
    # A dry load tells a bad seed apart from a server failure, with the entry's path.
    try:
        counts = load_seed(SandboxState(rng=random.Random(), now_ms=clock.now_ms), seed)
    except (SeedError, KeyError) as exc:
        raise ValueError(f"bad seed: {exc}") from exc
    print(
        f"Loaded {counts['orders']} orders, {counts['payments']} payments, "
        f"{counts['refunds']} prior refunds",
        file=sys.stderr,
    )
    return SandboxConfig(
        secret=_read_secret(args.secret_file),
        latency_ms=args.latency_ms,
        rate_limit_per_s=args.rate_limit,
        rate_burst=args.rate_burst,
        fail_rate=args.fail_rate,
        drop_after_commit_rate=args.drop_after_commit_rate,
        payment_refunds=args.payment_refunds,
        random_seed=args.random_seed,
        clock=clock,
        seed_data=seed,
    )


def _read_seed(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f'{path}: a seed is a JSON object with an "orders" list')
    return data


def _read_secret(path: Path | None) -> str | None:
    if path is not None:
        return path.read_text("utf-8").strip()
    return os.environ.get(SECRET_ENV) or None


async def _serve(config: SandboxConfig, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    from batch_refunds.sandbox import run_sandbox  # aiohttp loads only when serving

    async with run_sandbox(config, host=host, port=port) as server:
        print(f"Smartpay sandbox listening on {server.base_url}", flush=True)
        await stop.wait()
        stats = server.state.stats
        print(
            f"Stopped. Refunds created: {stats.refunds_created}, replays: {stats.replays}, "
            f"rate-limited: {stats.rate_limited}, dropped: {stats.dropped}",
            file=sys.stderr,
        )
