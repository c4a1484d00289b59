"""text.terminal_safe: what it escapes, what it keeps, and that it stays pure."""

from __future__ import annotations

import subprocess
import sys
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batch_refunds.text import describe, first_unsafe, terminal_safe

# An independent statement of what must not reach a terminal raw: every character Unicode
# files as a control (Cc: C0, DEL, C1), the bidi formatting characters (embeddings,
# overrides, isolates, marks) and the line and paragraph separators.
_BIDI = {0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}


def _must_escape(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Zl", "Zp") or ord(char) in _BIDI


@given(st.text())
def test_terminal_safe_leaves_nothing_a_terminal_acts_on(text: str) -> None:
    """Each control, bidi or separator character becomes its escape as Python's repr writes
    it; every other character is kept; applying it twice changes nothing."""
    safe = terminal_safe(text)
    assert safe == "".join(repr(c)[1:-1] if _must_escape(c) else c for c in text)
    assert not any(_must_escape(c) for c in safe)
    assert terminal_safe(safe) == safe


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[2J", "\\x1b[2J"),
        ("a\x00b", "a\\x00b"),
        ("tab\there", "tab\\there"),
        ("line\nbreak", "line\\nbreak"),
        ("\x9b31m", "\\x9b31m"),
        ("exe.\u202etxt", "exe.\\u202etxt"),
        ("返金額（税込）①", "返金額（税込）①"),
        ("全角\u3000スペース", "全角\u3000スペース"),
        ("C:\\Users\\経理", "C:\\Users\\経理"),
    ],
)
def test_terminal_safe_examples(text: str, shown: str) -> None:
    """Escapes as Python writes them; Japanese, full-width spaces and backslashes stay."""
    assert terminal_safe(text) == shown


def test_the_text_module_is_pure() -> None:
    """batch_refunds.text loads no I/O, spreadsheet, HTTP or CLI library."""
    code = "import sys, batch_refunds.text; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = {name.split(".")[0] for name in out.stdout.split()}
    spreadsheets = {"openpyxl", "xlsxwriter", "python_calamine"}
    assert loaded & {"aiohttp", "sqlite3", "argparse", *spreadsheets} == set()


def test_first_unsafe_and_describe_name_the_character() -> None:
    """The first unsafe character and its name, as row errors quote them."""
    assert first_unsafe("ok") is None
    char = first_unsafe("a\u202eb\x1b")
    assert char == "\u202e"
    assert describe(char) == "U+202E (right-to-left override)"
    assert describe("\x85") == "U+0085"
