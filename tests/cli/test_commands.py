"""The command line's refusals and exit codes, before any request is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch_refunds.cli.main import main
from batch_refunds.journal import Journal, JournalLock
from batch_refunds.models import RequestCounts, RowOutcome, RunSummary, Status

TEST_KEY = "sk_test_CommandSuite0001"
NOWHERE = "http://127.0.0.1:9/v1"  # the discard port: nothing may be sent in these tests


@pytest.fixture
def returns(tmp_path: Path) -> Path:
    path = tmp_path / "returns.csv"
    path.write_text("order_id,amount\norder_test_Abc123,100\n", encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SMARTPAY_SECRET_KEY", TEST_KEY)
    monkeypatch.setenv("SMARTPAY_API_PREFIX", NOWHERE)
    monkeypatch.chdir(tmp_path)


def test_run_without_a_terminal_needs_yes(
    returns: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Cron has no one to ask: without --yes, run refuses with exit 2."""
    assert main(["run", str(returns)]) == 2
    assert "--yes" in capsys.readouterr().err


def test_live_key_needs_live_flag(
    returns: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A sk_live_ key moves real money: run refuses it without --live, and never prints it."""
    live = "sk_live_RealMoneyKey0001"
    monkeypatch.setenv("SMARTPAY_SECRET_KEY", live)
    monkeypatch.setenv("SMARTPAY_API_PREFIX", "https://api.smartpay.co/v1")
    assert main(["run", str(returns), "--yes"]) == 2
    err = capsys.readouterr().err
    assert "--live" in err
    assert live not in err


def test_missing_secret_is_named(
    returns: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No key: exit 2 and the message says which variable to set."""
    monkeypatch.delenv("SMARTPAY_SECRET_KEY")
    assert main(["plan", str(returns)]) == 2
    assert "SMARTPAY_SECRET_KEY" in capsys.readouterr().err


def test_malformed_secret_is_not_echoed(
    returns: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A near-miss key is refused without quoting it (it is mostly the real secret)."""
    monkeypatch.setenv("SMARTPAY_SECRET_KEY", "sk_test_Almost-Right-Key")
    assert main(["plan", str(returns)]) == 2
    captured = capsys.readouterr()
    assert "Almost-Right" not in captured.err + captured.out


def test_secret_file_is_read(returns: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """--secret-file replaces the variable; a live key read from it is still refused."""
    monkeypatch.delenv("SMARTPAY_SECRET_KEY")
    secret = tmp_path / "key.txt"
    secret.write_text("sk_live_FromAFile0001\n", encoding="utf-8")
    assert main(["run", str(returns), "--yes", "--secret-file", str(secret)]) == 2
    assert "--live" in capsys.readouterr().err


def test_second_run_on_a_busy_journal_is_refused(
    returns: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """While a run holds the journal, another run on it refuses instead of racing."""
    journal = tmp_path / "j.sqlite3"
    with JournalLock(journal):
        assert main(["run", str(returns), "--yes", "--journal", str(journal)]) == 2
    assert "in use" in capsys.readouterr().err


def test_unreadable_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file with no id column is a file-level error: exit 2, nothing started."""
    bad = tmp_path / "bad.csv"
    bad.write_text("foo,bar\n1,2\n", encoding="utf-8")
    assert main(["run", str(bad), "--yes", "--journal", str(tmp_path / "j.sqlite3")]) == 2
    assert capsys.readouterr().err.startswith("batch-refunds: ")


def test_runs_lists_runs_newest_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """runs shows each run with its mode, exit code, counts by status, the same yen totals
    as its summary.json, and where its report went."""
    path = tmp_path / "j.sqlite3"
    with Journal(path) as journal:
        for run_id, exit_code in (("20260101T000000Z-aaaaaa", 0), ("20260102T000000Z-bbbbbb", 1)):
            journal.start_run(run_id, mode="run", input_path="r.csv", input_sha256="x", rows=2,
                              started_at=run_id[:15])  # fmt: skip
            journal.record_outcome(run_id, RowOutcome(row=2, status=Status.REFUNDED))
            journal.finish_run(
                RunSummary(run_id, "run", "r.csv", "x", 2, ((Status.REFUNDED, 2),), 12_500,
                           11_000 + exit_code, run_id[:15], run_id[:15], 0.0, RequestCounts(),
                           exit_code),
                f"reports/{run_id}",
            )  # fmt: skip
    assert main(["runs", "--journal", str(path), "--timezone", "UTC"]) == 0
    groups, *lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:6] == ["run", "mode", "started", "exit", "all", "refunded"]
    # The group line says which columns count rows and which are yen.
    assert groups.index("rows:") == lines[0].index(" all ") + 1
    assert groups.index("yen") == lines[0].index("requested")
    assert lines[1].startswith("20260102T000000Z-bbbbbb")
    assert lines[1].split()[3] == "1"
    assert lines[2].split()[5] == "2"  # two rows refunded
    assert lines[1].split()[-5:] == [
        "¥12,500",
        "¥0",
        "¥11,001",
        "r.csv",
        "reports/20260102T000000Z-bbbbbb",
    ]


def test_runs_without_a_journal_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No journal yet: a clear message and exit 1."""
    assert main(["runs", "--journal", str(tmp_path / "none.sqlite3")]) == 1
    assert "nothing has run yet" in capsys.readouterr().err
