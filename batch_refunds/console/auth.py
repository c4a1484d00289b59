"""Console accounts: ``--auth-file`` holds one ``name:scrypt$n$r$p$salt$hash`` line each.

Passwords are stored only as scrypt hashes (``hashlib.scrypt``, salted) and compared in
constant time; a file line never reaches a page. ``add_account`` writes a line for
``batch-refunds serve --auth-file FILE --add-user NAME``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from batch_refunds.errors import ConfigError

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD_CHARS = 8


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def _verify(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest, validate=True)
        got = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt, validate=True),
            n=int(n), r=int(r), p=int(p), dklen=len(expected),
        )  # fmt: skip
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


@dataclass(frozen=True)
class Accounts:
    """Who may sign in to the console."""

    hashes: dict[str, str]

    @classmethod
    def load(cls, path: Path) -> Accounts:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"the accounts file {path} cannot be read: {exc.strerror}") from None
        hashes: dict[str, str] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            name, colon, stored = line.strip().partition(":")
            if not colon or not name or not stored.startswith("scrypt$"):
                raise ConfigError(
                    f"the accounts file {path}, line {number}: expected name:scrypt$…"
                )
            hashes[name] = stored
        if not hashes:
            raise ConfigError(f"the accounts file {path} holds no account")
        return cls(hashes)

    def check(self, name: str, password: str) -> bool:
        stored = self.hashes.get(name)
        if stored is None:
            _verify(password, hash_password("x"))  # the same work for an unknown name
            return False
        return _verify(password, stored)


def add_account(path: Path, name: str, password: str) -> None:
    """Append (or replace) ``name``'s line in the accounts file, readable by its owner only."""
    if not name or ":" in name or name != name.strip():
        raise ConfigError("an account name must be non-empty, without ':' or spaces around it")
    if len(password) < MIN_PASSWORD_CHARS:
        raise ConfigError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    lines = []
    if path.exists():
        lines = [
            line for line in path.read_text(encoding="utf-8").splitlines()
            if line.partition(":")[0] != name
        ]  # fmt: skip
    lines.append(f"{name}:{hash_password(password)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
