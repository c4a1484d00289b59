"""``python -m batch_refunds.sandbox``: ``batch-refunds sandbox`` without loading the other
commands (and pandas), so test suites can start sandbox subprocesses quickly."""

import argparse
import sys

from batch_refunds.cli import sandbox as command

parser = argparse.ArgumentParser(prog="python -m batch_refunds.sandbox")
command.register(parser.add_subparsers())
args = parser.parse_args(["sandbox", *sys.argv[1:]])
raise SystemExit(args.func(args))
