"""The command line refuses an API prefix that would leak the key, before any request."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch_refunds.cli.main import main

TEST_KEY = "sk_test_PrefixSuite0001"


@pytest.fixture
def returns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMARTPAY_SECRET_KEY", TEST_KEY)
    path = tmp_path / "returns.csv"
    path.write_text("order_id,amount\norder_test_Abc123,100\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("command", ["plan", "run"])
def test_plain_http_to_another_host_exits_2_and_says_use_https(
    command: str, returns: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A test key with SMARTPAY_API_PREFIX=http://<remote>: exit 2 before anything is read
    from Smartpay (no journal, no report), with the https:// form to use instead."""
    monkeypatch.setenv("SMARTPAY_API_PREFIX", "http://sandbox.example.com:8700/v1")
    assert (
        main([command, str(returns), "--yes"] if command == "run" else [command, str(returns)]) == 2
    )
    err = capsys.readouterr().err
    assert "use https://sandbox.example.com:8700/v1" in err
    assert "the API prefix (--api-prefix or SMARTPAY_API_PREFIX)" in err  # not a field name
    assert TEST_KEY not in err
    assert not (returns.parent / "reports").exists()


def test_password_in_the_prefix_exits_2_without_echoing_it(
    returns: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--api-prefix http://user:pass@127.0.0.1/v1: exit 2, the password is not printed."""
    assert main(["plan", str(returns), "--api-prefix", "http://me:s3cretpw@127.0.0.1:9/v1"]) == 2
    captured = capsys.readouterr()
    assert "s3cretpw" not in captured.err + captured.out
    assert "user name or password" in captured.err
