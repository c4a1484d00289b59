"""An exclusive OS lock on a file, held while one process works on what the file guards.

``flock`` is dropped by the OS when the process dies, so a ``kill -9`` never leaves a lock
behind. The file holds ``pid N`` of the holder, for the message a second process gets.
Subclasses say what is guarded: ``busy`` (the exception for a held lock, given the holder)
and ``unwritable`` (the exception for a lock file that can't be opened).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO, Self


class FileLock:
    def __init__(self, path: Path, *, make_parent: bool = False) -> None:
        self.path = path
        self._make_parent = make_parent  # else a folder that isn't there is an error
        self._file: IO[str] | None = None

    def busy(self, holder: str) -> Exception:
        raise NotImplementedError

    def unwritable(self, exc: OSError) -> Exception:
        raise NotImplementedError

    def acquire(self) -> None:
        try:
            if self._make_parent:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = self.path.open("a+", encoding="utf-8")
        except OSError as exc:
            raise self.unwritable(exc) from None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise self.busy(holder) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
