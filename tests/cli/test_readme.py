"""The README and the command line must not drift apart."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from batch_refunds.cli.main import build_parser, main

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_readme_shows_the_current_top_level_help(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The help block in the README is exactly what `batch-refunds --help` prints."""
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit):
        main(["--help"])
    assert capsys.readouterr().out in README


@pytest.mark.parametrize("command", sorted(_subcommands()))
def test_every_command_is_documented(command: str) -> None:
    """Each sub-command appears in the README as `batch-refunds <command>`."""
    assert re.search(rf"batch-refunds {command}\b", README), command


@pytest.mark.parametrize("command", ["plan", "run"])
def test_every_run_option_is_documented(command: str) -> None:
    """Each option of plan and run is mentioned in the README."""
    parser = _subcommands()[command]
    flags = [s for a in parser._actions for s in a.option_strings if s.startswith("--")]
    missing = [flag for flag in flags if flag != "--help" and flag not in README]
    assert missing == []


def test_every_test_the_readme_names_exists() -> None:
    """The README's table of promises names tests; each file and test function is there."""
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text(encoding="utf-8")
    test_file = r"(?:run|hostile|cli|intake|core|report|smartpay)/[\w/]+\.py"
    named = re.findall(rf"`({test_file})(?:::(\w+))?`", readme)
    assert len(named) >= 20
    missing = []
    for path, name in named:
        source = root / "tests" / path
        if not source.exists() or (name and f"def {name}(" not in source.read_text("utf-8")):
            missing.append(f"{path}::{name}" if name else path)
    assert missing == []
