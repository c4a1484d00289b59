"""What the CLI prints from a file can't drive the terminal: one function escapes it."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from batch_refunds.cli.main import main
from batch_refunds.cli.render import print_summary
from batch_refunds.models import RequestCounts, RowOutcome, RunSummary, Status


def test_validate_prints_an_escape_sequence_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An ESC in an invalid id, an amount, a used and an unused header reaches stdout as
    \\x1b, never raw; Japanese stays readable."""
    path = tmp_path / "e.csv"
    path.write_text(
        "order_id,返金額(\x1b[31m),メモ\x1b]0;pwned\x07\n"
        "order_test_A\x1b[2J1,100,x\n"
        "order_test_B1,1\x1b[5m00,y\n"
        "order_test_C1,200,z\n",
        encoding="utf-8",
    )
    # An unknown qualifier names no column by itself: the person names it outright.
    assert main(["validate", str(path), "--column", "amount=返金額(\x1b[31m)"]) == 1
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "\x07" not in out
    assert "order_test_A\\x1b[2J1" in out
    assert '"1\\x1b[5m00" is not an amount' in out
    assert '"返金額(\\x1b[31m)"' in out
    assert "メモ\\x1b]0;pwned\\x07" in out


def test_validate_refusal_is_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The message of a refused file quotes its headers: escaped on stderr too."""
    path = tmp_path / "r.csv"
    path.write_text("order_id,amount,金額\x1b[31m\norder_test_A1,1,2\n", encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Cannot use ")
    assert "\x1b" not in err
    assert "金額\\x1b[31m" in err


def _result(message: str, warning: str, path: str) -> Any:
    counts = RequestCounts()
    summary = RunSummary(
        run_id="20261201T000000Z-000000",
        mode="run",
        input_path=path,
        input_sha256="0" * 64,
        rows=1,
        counts=((Status.REJECTED, 1),),
        requested_total=100,
        refunded_total=0,
        started_at="2026-12-01T00:00:00Z",
        finished_at="2026-12-01T00:00:01Z",
        duration_s=1.0,
        requests=counts,
        exit_code=1,
        warnings=(warning,),
        stop_reason=None,
    )
    outcome = RowOutcome(row=2, status=Status.REJECTED, error_code="x.y", message=message)
    return SimpleNamespace(
        summary=summary,
        outcomes=(outcome,),
        guard=None,
        report=SimpleNamespace(
            directory=Path("reports/x"), fallback_from=None, needs_attention=None
        ),
    )


def test_the_run_summary_escapes_what_came_from_the_file() -> None:
    """The run summary's input path, notes and row messages are printed escaped."""
    out = io.StringIO()
    print_summary(
        _result("order \x1b[2J not found", 'The column "x\x1b" is not used.', "in\x1b.csv"), out
    )
    text = out.getvalue()
    assert "\x1b" not in text
    assert "order \\x1b[2J not found" in text
    assert 'The column "x\\x1b" is not used.' in text
    assert "in\\x1b.csv" in text


def test_a_plan_refusal_quoting_the_file_is_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """plan and run refusals that quote a header reach stderr escaped, never raw."""
    monkeypatch.setenv("SMARTPAY_SECRET_KEY", "sk_test_Escape0001")
    monkeypatch.setenv("SMARTPAY_API_PREFIX", "http://127.0.0.1:9/v1")
    path = tmp_path / "e.csv"
    path.write_text("order_id,払戻額\x1b[2J\norder_test_A1,100\n", encoding="utf-8")
    assert main(["plan", str(path), "--journal", str(tmp_path / "j.sqlite3")]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err
    assert "\\x1b" in err
