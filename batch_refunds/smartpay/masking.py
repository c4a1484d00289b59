"""Keeping the secret key, and the bulk of a server's words, out of everything the client keeps.

The key travels in every request's ``Authorization`` header, so a careless or hostile server
can echo it anywhere: in a body, an ``errorCode``, ``details``, a reason phrase, a broken
status line. It is masked where each enters, before anything is parsed or cut short (a cut
first could leave part of the key behind), and once more on every error as it is raised.
Pure: no aiohttp here.
"""

from __future__ import annotations

from typing import TypeVar

from batch_refunds.errors import SmartpayError
from batch_refunds.smartpay.config import mask_secret

_E = TypeVar("_E", bound=SmartpayError)

# What of a server's own words an error keeps: enough for a report line, never a whole page.
MAX_SERVER_MESSAGE_CHARS = 500
MAX_SERVER_CODE_CHARS = 100


class SecretMask:
    """Replaces one secret key by its mask (``sk_test_***``) in bytes, text and errors."""

    def __init__(self, secret_key: str) -> None:
        self._secret = secret_key
        self._mask = mask_secret(secret_key)
        self._secret_bytes = secret_key.encode()
        self._mask_bytes = self._mask.encode()

    def body(self, raw: bytearray) -> bytearray:
        """A response body with the key masked, before it is parsed into values we keep."""
        return raw.replace(self._secret_bytes, self._mask_bytes)

    def text(self, text: str) -> str:
        return text.replace(self._secret, self._mask)

    def server_text(self, text: str, limit: int = MAX_SERVER_MESSAGE_CHARS) -> str:
        """A server's words as an error keeps them: masked first, then cut to ``limit``."""
        text = self.text(text)
        return text if len(text) <= limit else text[: limit - 1] + "…"

    def error(self, error: _E) -> _E:
        """``error`` with the key masked in its message and code: the last net for text built
        from a server's words. (``details`` only ever come from a body, masked as it entered.)"""
        error.message = self.text(error.message)
        error.args = (error.message,)
        if error.error_code is not None:
            error.error_code = self.text(error.error_code)
        return error

    def safe_cause(self, exc: BaseException) -> BaseException | None:
        """``exc`` to chain to our error, unless something in its chain could show the key:
        aiohttp's ``ClientResponseError`` keeps the request's headers (``Authorization``)."""
        link: BaseException | None = exc
        while link is not None:
            if hasattr(link, "request_info") or self._secret in repr(link):
                return None
            link = link.__cause__ or link.__context__
        return exc
