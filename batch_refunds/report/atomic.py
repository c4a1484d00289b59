"""Write files so that a reader sees the whole old file or the whole new one, never half.

Each file is rendered into a hidden temporary file in the same directory (so the final
``os.replace`` is a rename within one filesystem, which POSIX and Windows make atomic),
flushed and fsynced, and only then renamed over its final name. All files of a batch are
staged before any is renamed, so a rendering error replaces nothing. The renames
themselves are atomic one by one, not as a group: callers put the file that marks a
complete set (``summary.json``) last.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

Render = Callable[[BinaryIO], None]
"""Writes one file's bytes to the stream it is given; must not close it."""

TEMP_SUFFIX = ".tmp"

# O_EXCL: never write into a file someone else created. 0o666 lets the umask decide the
# final permissions, as for any file the user creates (mkstemp would force 0600).
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
_TEMP_MODE = 0o666


def temp_path_for(final: Path) -> Path:
    """A fresh hidden name beside ``final``: ``.<name>.<random>.tmp``."""
    return final.with_name(f".{final.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}")


def write_atomically(files: Sequence[tuple[Path, Render]]) -> None:
    """Render every ``(path, render)`` to a temp file, then rename each over its path in order.

    On any error (including ``KeyboardInterrupt``) every temp file is removed and the
    error propagates; files not yet renamed keep their previous content, or stay absent.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for final, render in files:
            staged.append((_stage(final, render), final))
        for temp, final in staged:
            os.replace(temp, final)
    except BaseException:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)  # already renamed ones are gone: nothing to undo
        raise
    for directory in dict.fromkeys(final.parent for final, _ in files):
        _fsync_directory(directory)


def _stage(final: Path, render: Render) -> Path:
    while True:
        temp = temp_path_for(final)
        try:
            fd = os.open(temp, _TEMP_FLAGS, _TEMP_MODE)
        except FileExistsError:
            continue
        break
    try:
        with os.fdopen(fd, "wb") as stream:
            render(stream)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def _fsync_directory(directory: Path) -> None:
    """Make the renames themselves durable (POSIX keeps them in the directory's metadata).

    Best effort: the files are already complete under their names, and some filesystems
    (network shares, FUSE) refuse to fsync a directory; that must not fail a finished report.
    """
    if os.name != "posix":
        return  # Windows can't open a directory for fsync; NTFS journals the rename itself
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
