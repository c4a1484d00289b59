"""Pieces several commands share: the secret, the client settings, input options, yen output."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from batch_refunds.engine import DEFAULT_CONCURRENCY
from batch_refunds.errors import ConfigError
from batch_refunds.smartpay.config import (
    DEFAULT_RATE_PER_SECOND,
    ENV_API_PREFIX,
    ENV_SECRET_KEY,
    ClientConfig,
)
from batch_refunds.text import terminal_safe

DEFAULT_JOURNAL = Path("reports/journal.sqlite3")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


def local_date(text: str) -> datetime:
    """``2026-09-01`` (midnight, this machine's time zone) or an ISO date and time."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date such as 2026-09-01 (or 2026-09-01T09:00+09:00), got {text!r}"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.astimezone()


def yen_amount(text: str) -> int:
    """A guardrail amount in whole yen: ``50000``, ``50,000`` or ``¥50,000``."""
    cleaned = text.replace(",", "").replace("¥", "").replace("_", "").strip()
    if not cleaned.isdigit() or int(cleaned) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of yen, got {text!r}")
    return int(cleaned)


def add_input_options(parser: argparse.ArgumentParser, *, positional: bool = True) -> None:
    """``positional=False``: the reading options alone (``inbox`` reads many files)."""
    if positional:
        parser.add_argument(
            "input", type=Path, help="the returns spreadsheet (.csv/.tsv/.txt/.xlsx)"
        )
    parser.add_argument("--sheet", help="Excel sheet name (default: the first)")
    parser.add_argument("--encoding", help="text encoding of a CSV (default: detected)")
    parser.add_argument(
        "--allow-duplicate-rows",
        action="store_true",
        help="treat identical rows as separate refunds instead of rejecting the repeats",
    )
    parser.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="NAME=HEADER",
        help="read column NAME (amount, order_id, reference, metadata.<key>, ...) from the "
        'column headed HEADER, e.g. --column amount="返金額（税込）"; repeatable',
    )
    parser.add_argument(
        "--full-refunds",
        action="store_true",
        help="the file has no amount column on purpose: every row refunds everything that "
        "remains on its order",
    )


def load_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments for ``intake.load_requests`` from ``add_input_options``' flags.

    ``--column NAME=HEADER`` becomes ``columns={NAME: HEADER}``; a malformed or repeated one
    raises ``ConfigError`` (an unknown NAME is refused by ``load_requests`` itself).
    """
    columns: dict[str, str] = {}
    for item in args.column:
        name, equals, header = item.partition("=")
        name, header = name.strip(), _unquoted(header.strip())
        if not equals or not name or not header:
            raise ConfigError(
                f'--column expects NAME=HEADER, such as --column amount="返金額（税込）"; '
                f"got {item!r}."
            )
        if name in columns:
            raise ConfigError(f"--column {name} is given twice; give it once.")
        columns[name] = header
    return {
        "sheet": args.sheet,
        "encoding": args.encoding,
        "allow_duplicate_rows": args.allow_duplicate_rows,
        "columns": columns,
        "full_refunds": args.full_refunds,
    }


def _unquoted(text: str) -> str:
    # A header quoted where no shell removes the quotes (a config file, a Windows prompt).
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1].strip()
    return text


def add_api_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api-prefix",
        metavar="URL",
        help=f"Smartpay API base URL (default: ${ENV_API_PREFIX}, else the live API)",
    )
    parser.add_argument(
        "--secret-file",
        type=Path,
        metavar="PATH",
        help=f"read the secret key from this file instead of ${ENV_SECRET_KEY}",
    )
    parser.add_argument(
        "--rate",
        type=positive_float,
        default=DEFAULT_RATE_PER_SECOND,
        metavar="N",
        help=f"requests per second, paced evenly (default {DEFAULT_RATE_PER_SECOND:g})",
    )
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=(
            "requests in flight at once; twice as many orders are worked on "
            f"(default {DEFAULT_CONCURRENCY})"
        ),
    )
    parser.add_argument(
        "--journal",
        type=Path,
        default=DEFAULT_JOURNAL,
        metavar="PATH",
        help=f"the SQLite journal that makes runs exactly-once (default {DEFAULT_JOURNAL})",
    )


def read_secret(secret_file: Path | None) -> str:
    """The secret from ``--secret-file`` or the environment; never from a flag value."""
    if secret_file is not None:
        try:
            secret = secret_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"--secret-file: cannot read {secret_file}: {exc.strerror}") from None
        if not secret:
            raise ConfigError(f"--secret-file: {secret_file} is empty")
        return secret
    secret = os.environ.get(ENV_SECRET_KEY, "").strip()
    if not secret:
        raise ConfigError(f"set {ENV_SECRET_KEY} (or pass --secret-file) to talk to Smartpay")
    return secret


def client_config(args: argparse.Namespace) -> ClientConfig:
    try:
        return ClientConfig.from_env(
            secret_key=read_secret(args.secret_file),
            base_url=args.api_prefix,
            rate_per_second=args.rate,
            max_in_flight=args.concurrency,
        )
    except ConfigError as exc:
        # The library names its field; a person set --api-prefix or the environment.
        message = str(exc)
        if message.startswith("base_url: "):
            message = f"the API prefix (--api-prefix or {ENV_API_PREFIX}): " + message[10:]
        raise ConfigError(message) from None


def error(message: str, stream: TextIO | None = None) -> None:
    """Print a refusal; it may quote the file (a header, a cell), so it is made terminal-safe."""
    print(f"batch-refunds: {terminal_safe(message)}", file=stream or sys.stderr)


def add_guardrail_options(parser: argparse.ArgumentParser, *, sending: bool) -> None:
    """The guardrails of ``plan`` (``sending=False``: only ``--max-amount``), and of every
    command that sends refunds (``run``, ``serve``)."""
    parser.add_argument(
        "--max-amount",
        type=yen_amount,
        metavar="YEN",
        help="reject any row that would refund more than this",
    )
    if not sending:
        return
    parser.add_argument("--strict", action="store_true", help="send nothing if any row is invalid")
    parser.add_argument(
        "--max-total",
        type=yen_amount,
        metavar="YEN",
        help="send nothing if the plan refunds more than this in total",
    )
    parser.add_argument("--live", action="store_true", help="required with a sk_live_ key")


def add_timezone_option(parser: argparse.ArgumentParser, *, default_help: str) -> None:
    parser.add_argument(
        "--timezone",
        metavar="ZONE",
        help="show times in this zone, an IANA name such as Asia/Tokyo, or UTC "
        f"(default {default_help}); summary.json keeps UTC and names the zone",
    )


def timezone_of(args: argparse.Namespace) -> str:
    """``--timezone``, checked, else this machine's zone. ``ConfigError`` naming the flag."""
    from batch_refunds.report.zones import machine_zone_name, resolve_zone

    name: str | None = args.timezone
    if name is None:
        return machine_zone_name()
    try:
        resolve_zone(name)
    except ValueError as exc:
        raise ConfigError(f"--timezone: {exc}") from None
    return name


def add_order_window_options(parser: argparse.ArgumentParser) -> None:
    """Where shop order numbers are looked for: ``--orders-since``, ``--max-orders-scanned``."""
    from batch_refunds.shop_orders import DEFAULT_MAX_ORDERS_SCANNED, DEFAULT_WINDOW_DAYS

    parser.add_argument(
        "--orders-since",
        type=local_date,
        metavar="DATE",
        help="shop order numbers are looked for among orders created since DATE "
        f"(default: the last {DEFAULT_WINDOW_DAYS} days)",
    )
    parser.add_argument(
        "--max-orders-scanned",
        type=positive_int,
        metavar="N",
        default=DEFAULT_MAX_ORDERS_SCANNED,
        help="and among at most the N newest orders (default %(default)s)",
    )


def order_window(args: argparse.Namespace) -> dict[str, Any]:
    """The ``RunOptions`` fields of ``add_order_window_options``, with the flags' way out."""
    return {
        "orders_since": args.orders_since,
        "max_orders_scanned": args.max_orders_scanned,
        "orders_widen": "pass an earlier --orders-since (or a larger --max-orders-scanned)",
    }
