"""Dependencies point toward the pure core: each layer imports only what it may."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PURE = ["models", "money", "text", "allocation", "identity", "ledger", "errors", "api", "attempts",
        "exit_codes", "progress"]  # fmt: skip
NO_HTTP = ["engine", "planning", "runner", "journal", "report", "intake", "shop_orders"]


def _loaded_after(module: str) -> set[str]:
    code = f"import sys, batch_refunds.{module}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in out.stdout.split()}


@pytest.mark.parametrize("module", PURE)
def test_pure_core_imports_no_io_library(module: str) -> None:
    """The pure core loads no HTTP, database, spreadsheet or CLI library."""
    assert _loaded_after(module) & {"aiohttp", "sqlite3", "openpyxl", "xlsxwriter",
                                    "python_calamine", "pandas", "argparse"} == set()  # fmt: skip


@pytest.mark.parametrize("module", NO_HTTP)
def test_engine_and_reports_never_load_aiohttp(module: str) -> None:
    """The engine talks to Smartpay only through the api Protocol: no aiohttp below the CLI."""
    assert "aiohttp" not in _loaded_after(module)


LAYERS = ["cli", "console", "inbox", "runner", "report", "engine", "planning", "lookup",
          "shop_orders", "journal",
          "journal_writer", "intake", "progress", "smartpay", "sandbox", "attempts", "stopping",
          "api", "filelock", "exit_codes", "ledger",
          "allocation", "identity", "money", "text", "models", "errors"]  # fmt: skip
"""Top to bottom, as the README's Architecture section draws them: a module may import only
modules below its own layer (and its own package). ``__main__`` files are entry points."""


def _imports_of(path: Path) -> set[str]:
    """The batch_refunds modules a file imports anywhere in it (TYPE_CHECKING and function
    bodies included: a lazy import is still a dependency)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = (
                [node.module]
                if node.module != "batch_refunds"
                else [f"batch_refunds.{alias.name}" for alias in node.names]
            )
            found.update(n for n in names if n.startswith("batch_refunds."))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("batch_refunds."))
    return found


def test_every_import_points_down_the_layers() -> None:
    """No module imports one of a layer above its own: the arrows of the architecture."""
    root = Path(__file__).resolve().parents[2] / "batch_refunds"
    rank = {name: i for i, name in enumerate(LAYERS)}
    upward = []
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[0] in ("__init__", "__main__") or parts[-1] == "__main__":
            continue
        layer = parts[0]
        assert layer in rank, f"{layer} is in no layer: add it to LAYERS and the README"
        for module in _imports_of(path):
            target = module.split(".")[1]
            if target == layer or target == "__version__":
                continue
            assert target in rank, f"{module} (imported by {path.name}) is in no layer"
            if rank[target] <= rank[layer]:
                upward.append(f"{'/'.join(parts)} imports {module}")
    assert upward == []


def test_the_layer_list_is_the_readmes() -> None:
    """LAYERS is the README's Architecture list, in the same order."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    drawn = readme.split("## Architecture", 1)[1].split("```", 2)[1]
    names = re.findall(r"^  (\w+)(?:/|\.py)", drawn, flags=re.MULTILINE)
    assert names == LAYERS
