"""Characters that can hide or fake text on a screen, and text made safe to print.

A cell can hold an escape sequence (``\\x1b[2J`` clears a terminal, ``\\x1b]8;;…`` makes a
link), a NUL, or a bidi override (U+202E shows ``exe.txt`` for ``txt.exe``). Intake refuses
them in what it sends to Smartpay; anything taken from a file is passed through
:func:`terminal_safe` before it is printed. Pure: no I/O.
"""

from __future__ import annotations

import re

UNSAFE_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
"""C0 controls, DEL, C1 controls, the bidi marks, embeddings, overrides and isolates, and the
Unicode line and paragraph separators."""

_NAMES = {
    0x00: "NUL",
    0x09: "tab",
    0x0A: "line feed",
    0x0D: "carriage return",
    0x1B: "escape",
    0x7F: "delete",
    0x061C: "Arabic letter mark",
    0x200E: "left-to-right mark",
    0x200F: "right-to-left mark",
    0x2028: "line separator",
    0x2029: "paragraph separator",
    0x202A: "left-to-right embedding",
    0x202B: "right-to-left embedding",
    0x202C: "pop directional formatting",
    0x202D: "left-to-right override",
    0x202E: "right-to-left override",
    0x2066: "left-to-right isolate",
    0x2067: "right-to-left isolate",
    0x2068: "first strong isolate",
    0x2069: "pop directional isolate",
}


def terminal_safe(text: str) -> str:
    """``text`` with every unsafe character written as an escape (``\\x1b``, ``\\u202e``,
    ``\\n``), as Python writes them.

    Everything else, Japanese included, is left as it is; applying it twice changes nothing.
    """
    if UNSAFE_CHARACTERS.search(text) is None:
        return text
    return UNSAFE_CHARACTERS.sub(_escaped, text)


def first_unsafe(text: str) -> str | None:
    """The first unsafe character in ``text``, or ``None``."""
    found = UNSAFE_CHARACTERS.search(text)
    return found.group() if found else None


def describe(char: str) -> str:
    """``U+001B (escape)``: a character as a message names it."""
    code = ord(char)
    name = _NAMES.get(code)
    return f"U+{code:04X} ({name})" if name else f"U+{code:04X}"


_SHORT = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}


def _escaped(found: re.Match[str]) -> str:
    code = ord(found.group())
    if code in _SHORT:
        return _SHORT[code]
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
