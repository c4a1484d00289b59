"""Dependencies point toward the pure core: each layer imports only what it may."""

from __future__ import annotations

import subprocess
import sys

import pytest

PURE = ["models", "money", "allocation", "identity", "ledger", "errors", "api", "attempts",
        "exit_codes", "progress"]  # fmt: skip
NO_HTTP = ["engine", "planning", "runner", "journal", "report", "intake"]


def _loaded_after(module: str) -> set[str]:
    code = f"import sys, batch_refunds.{module}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in out.stdout.split()}


@pytest.mark.parametrize("module", PURE)
def test_pure_core_imports_no_io_library(module: str) -> None:
    """The pure core loads no HTTP, database, spreadsheet or CLI library."""
    assert _loaded_after(module) & {"aiohttp", "sqlite3", "openpyxl", "python_calamine",
                                    "pandas", "argparse"} == set()  # fmt: skip


@pytest.mark.parametrize("module", NO_HTTP)
def test_engine_and_reports_never_load_aiohttp(module: str) -> None:
    """The engine talks to Smartpay only through the api Protocol: no aiohttp below the CLI."""
    assert "aiohttp" not in _loaded_after(module)
