"""``batch-refunds serve``: the finance console in a browser, on this machine."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import ipaddress
import json
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from batch_refunds.cli.common import (
    add_api_options,
    add_guardrail_options,
    client_config,
    error,
    positive_int,
)
from batch_refunds.cli.demo import DEFAULT_SEED, DEMO_KEY
from batch_refunds.errors import ConfigError
from batch_refunds.exit_codes import EXIT_NOT_STARTED, EXIT_OK

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "serve",
        help="the finance console: upload, plan, approve, run and reconcile in a browser",
        description="Serve the browser console on this machine. It runs the same plan and "
        "run as the commands, on the same journal, one run at a time.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"default {DEFAULT_HOST}")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    add_api_options(parser)
    add_guardrail_options(parser, sending=True)
    parser.add_argument(
        "--auth-file",
        type=Path,
        metavar="FILE",
        help="accounts (name:scrypt hash lines); sign-in required when given",
    )
    parser.add_argument(
        "--add-user",
        metavar="NAME",
        help="add NAME (password asked twice) to --auth-file, then exit",
    )
    parser.add_argument(
        "--require-approval",
        action="store_true",
        help="maker-checker: the person who uploaded a file cannot approve it",
    )
    parser.add_argument("--max-upload-mb", type=positive_int, default=50, metavar="MB")
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="start a sandbox seeded to match inputs/ and use it (no key needed)",
    )
    parser.add_argument(
        "--seed",
        type=Path,
        default=DEFAULT_SEED,
        metavar="FILE",
        help="the sandbox's seed with --sandbox (default: the demo seed)",
    )
    parser.set_defaults(func=_main)  # fmt: skip


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _main(args: argparse.Namespace) -> int:
    from batch_refunds.console.auth import Accounts, add_account

    if args.add_user:
        if args.auth_file is None:
            error("--add-user needs --auth-file")
            return EXIT_NOT_STARTED
        password = getpass.getpass(f"Password for {args.add_user}: ")
        if getpass.getpass("Again: ") != password:
            error("the passwords differ; nothing was written")
            return EXIT_NOT_STARTED
        try:
            add_account(args.auth_file, args.add_user, password)
        except ConfigError as exc:
            error(str(exc))
            return EXIT_NOT_STARTED
        print(f"Added {args.add_user} to {args.auth_file}")
        return EXIT_OK
    if not _is_loopback(args.host) and args.auth_file is None:
        error(
            f"--host {args.host} would let other machines reach the console: give --auth-file "
            "so that only named people can sign in (or keep the default, 127.0.0.1)"
        )
        return EXIT_NOT_STARTED
    try:
        accounts = Accounts.load(args.auth_file) if args.auth_file else None
        if args.require_approval and accounts is None:
            raise ConfigError("--require-approval needs --auth-file (who uploads, who approves)")
        seed = json.loads(args.seed.read_text(encoding="utf-8")) if args.sandbox else None
        config = None if args.sandbox else client_config(args)
    except (ConfigError, OSError, ValueError) as exc:
        error(str(exc))
        return EXIT_NOT_STARTED
    try:
        return asyncio.run(_serve(args, accounts, config, seed))
    except ConfigError as exc:
        error(str(exc))
        return EXIT_NOT_STARTED
    except OSError as exc:
        error(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
        return EXIT_NOT_STARTED


async def _serve(args: argparse.Namespace, accounts: object, config: object, seed: object) -> int:
    from contextlib import AsyncExitStack

    from aiohttp import web

    from batch_refunds.console.app import ConsoleSettings, make_app
    from batch_refunds.console.jobs import Guardrails
    from batch_refunds.sandbox import SandboxConfig, run_sandbox
    from batch_refunds.smartpay import ClientConfig

    async with AsyncExitStack() as stack:
        journal = args.journal
        if seed is not None:
            server = await stack.enter_async_context(run_sandbox(SandboxConfig(seed_data=seed)))  # type: ignore[arg-type]
            config = ClientConfig(
                secret_key=DEMO_KEY, base_url=server.base_url, rate_per_second=args.rate,
                max_in_flight=args.concurrency,
            )  # fmt: skip
            if journal == Path("reports/journal.sqlite3"):  # a fresh sandbox, a fresh journal
                journal = (
                    Path("reports")
                    / f"console-sandbox-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
                    / "journal.sqlite3"
                )
            print(f"Sandbox seeded from {args.seed} at {server.base_url}")
        assert isinstance(config, ClientConfig)
        hosts = {f"{name}:{args.port}" for name in (args.host, "127.0.0.1", "localhost", "[::1]")}
        settings = ConsoleSettings(
            client_config=config,
            journal_path=journal,
            guardrails=Guardrails(
                concurrency=args.concurrency, max_amount=args.max_amount,
                max_total=args.max_total, strict=args.strict, allow_live=args.live,
            ),
            accounts=accounts,  # type: ignore[arg-type]
            require_approval=args.require_approval,
            max_upload_bytes=args.max_upload_mb * 1024 * 1024,
            allowed_hosts=frozenset(hosts) if _is_loopback(args.host) else None,
            sandbox=seed is not None,
        )  # fmt: skip
        runner = web.AppRunner(make_app(settings), access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, args.host, args.port)
        await site.start()
        shown = f"[{args.host}]" if ":" in args.host else args.host
        print(f"Console at http://{shown}:{args.port}/  (journal {journal}; Ctrl-C stops)")
        sys.stdout.flush()
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopped.set)
        await stopped.wait()
        print("Stopping: a run in progress stops as with Ctrl-C…")
    return EXIT_OK
