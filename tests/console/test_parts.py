"""The console's small parts: accounts, escaping, language, sessions."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from batch_refunds.console.app import MAX_SESSIONS, Session, _remember
from batch_refunds.console.auth import Accounts, add_account
from batch_refunds.console.html import Markup, render, tag
from batch_refunds.console.i18n import negotiate
from batch_refunds.errors import ConfigError


def test_an_accounts_file_holds_only_salted_hashes(tmp_path: Path) -> None:
    """add_account writes name:scrypt$… readable by its owner only, never the password;
    the right password signs in, a wrong one or an unknown name does not."""
    path = tmp_path / "accounts"
    add_account(path, "alice", "correct horse")
    add_account(path, "bob", "battery staple")
    text = path.read_text(encoding="utf-8")
    assert "correct horse" not in text
    assert text.startswith("alice:scrypt$")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    accounts = Accounts.load(path)
    assert accounts.check("alice", "correct horse")
    assert not accounts.check("alice", "battery staple")
    assert not accounts.check("carol", "correct horse")


def test_the_same_password_hashes_differently_for_each_account(tmp_path: Path) -> None:
    """Each line has its own salt."""
    path = tmp_path / "accounts"
    add_account(path, "a", "same password")
    add_account(path, "b", "same password")
    hashes = [line.split(":", 1)[1] for line in path.read_text(encoding="utf-8").splitlines()]
    assert hashes[0] != hashes[1]


@pytest.mark.parametrize("line", ["alice", "alice:plaintext", ":scrypt$1$2$3$4$5"])
def test_a_malformed_accounts_line_is_refused(tmp_path: Path, line: str) -> None:
    """A line that is not name:scrypt$… refuses the file, naming the line."""
    path = tmp_path / "accounts"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 1"):
        Accounts.load(path)


def test_values_are_escaped_unless_markup() -> None:
    """A template and a tag escape text, attributes included; Markup goes in as it is."""
    assert render("<p>$x</p>", x='<b>&"') == "<p>&lt;b&gt;&amp;&quot;</p>"
    assert render("<p>$x</p>", x=Markup("<b>ok</b>")) == "<p><b>ok</b></p>"
    assert tag("a", "<i>", href='"><script>') == '<a href="&quot;&gt;&lt;script&gt;">&lt;i&gt;</a>'


@pytest.mark.parametrize(
    ("header", "lang"),
    [("ja-JP,ja;q=0.9,en;q=0.8", "ja"), ("en-US,ja;q=0.5", "en"), ("fr,ja;q=0.3", "ja"),
     ("fr", "en"), (None, "en"), ("en;q=0.2,ja;q=0.9", "ja")],
)  # fmt: skip
def test_the_language_is_the_browsers_first_choice_of_ours(header: str | None, lang: str) -> None:
    """Accept-Language picks Japanese or English by q value, else English."""
    assert negotiate(header) == lang


def test_sessions_are_bounded() -> None:
    """Past MAX_SESSIONS the oldest session is dropped, so cookieless requests can't grow
    memory without bound."""
    sessions: dict[str, Session] = {}
    for n in range(MAX_SESSIONS + 5):
        _remember(sessions, str(n), Session())
    assert len(sessions) == MAX_SESSIONS
    assert "0" not in sessions
    assert str(MAX_SESSIONS + 4) in sessions
