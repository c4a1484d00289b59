"""``batch-refunds template``: write an empty refund sheet that loads as-is."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from batch_refunds.intake.template import FORMATS, template_format, write_template


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "template",
        help="write an empty refund spreadsheet to start from",
        description="Write the canonical headers and two example rows to PATH.",
    )
    parser.add_argument("path", metavar="PATH", type=Path, help="the file to create")
    parser.add_argument(
        "--format", choices=FORMATS, help="csv or xlsx (default: from PATH's suffix, else csv)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite PATH if it exists")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path: Path = args.path
    if path.exists() and not args.force:
        print(f"{path} already exists; pass --force to overwrite it.", file=sys.stderr)
        return 2
    fmt = template_format(path, args.format)
    try:
        write_template(path, fmt)
    except OSError as exc:
        print(f"Cannot write {path}: {exc.strerror}", file=sys.stderr)
        return 2
    print(f"Wrote the {fmt.upper()} template to {path}: the headers and two example rows.")
    print("Replace the example rows with your own; a blank amount refunds all that remains.")
    return 0
