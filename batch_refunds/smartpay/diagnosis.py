"""What a wrong key or a wrong API prefix looks like from outside, said so a person can fix it.

A 401 means the key; a 404 without one of Smartpay's object-not-found codes means the URL.
Either would fail every request alike, so the message names the likely cause and the setting
to change. The key is shown only as its mode (``sk_test_***``); the prefix as configured
(``ClientConfig`` has already refused one carrying credentials).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from batch_refunds.smartpay.config import (
    DEFAULT_BASE_URL,
    ENV_API_PREFIX,
    ENV_SECRET_KEY,
    mask_secret,
)

_API_VERSION = "v1"


def unauthorized_message(*, secret_key: str, base_url: str, server_message: str | None) -> str:
    """The message of a 401: the key's mode, who refused it, the likely causes, the way out."""
    said = f" ({server_message})" if server_message else ""
    return (
        f"the secret key ({mask_secret(secret_key)}) was not accepted by {base_url}{said}: "
        "a test key against the live API or the other way round, or a key mistyped or revoked; "
        f"set the right key in {ENV_SECRET_KEY} (or pass --secret-file)"
    )


def endpoint_not_found_message(*, base_url: str, server_message: str | None) -> str:
    """The message of a 404 that no Smartpay route gave: the prefix, and how to correct it."""
    said = f' (the server said "{server_message}")' if server_message else ""
    return (
        f"nothing answers like Smartpay under the API prefix {base_url}{said}: "
        f"{prefix_hint(base_url)}; set it in {ENV_API_PREFIX} (or pass --api-prefix)"
    )


def prefix_hint(base_url: str) -> str:
    """What is probably wrong with an API prefix, and the form to try instead."""
    parts = urlsplit(base_url)
    segments = [segment for segment in parts.path.split("/") if segment]
    versions = [n for n, segment in enumerate(segments) if segment.lower() == _API_VERSION]
    if not versions:
        return f"Smartpay's API lives under /{_API_VERSION}: try {base_url}/{_API_VERSION}"
    end = versions[0] + 1
    fixed = urlunsplit(parts._replace(path="/" + "/".join(segments[:end])))
    if segments[end : end + 1] and segments[end].lower() == _API_VERSION:
        return f"the prefix repeats /{_API_VERSION}: try {fixed}"
    if len(segments) > end:
        return f"the prefix goes on past /{_API_VERSION}: try {fixed}"
    if base_url == DEFAULT_BASE_URL:
        return "something other than Smartpay (a proxy?) answered"
    return f"check its host and port (Smartpay's own is {DEFAULT_BASE_URL})"
