"""``batch-refunds``: the entry point that wires the sub-commands together."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from batch_refunds import __version__

# Each module defines ``register(subparsers)``, which adds its sub-command and sets
# ``func(args) -> int`` (the exit code) as the parser default.
COMMAND_MODULES: tuple[str, ...] = (
    "validate",
    "template",
    "plan_run",
    "inbox",
    "runs",
    "report",
    "demo",
    "sandbox",
    "serve",
)

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="batch-refunds",
        description="Refund many Smartpay orders at once from a spreadsheet.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"batch_refunds.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    code: int = func(args)
    return code
