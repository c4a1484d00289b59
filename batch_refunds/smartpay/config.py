"""How the Smartpay client connects, paces and retries: one frozen value, validated up front.

Every limit carries its unit in its name. A bad value fails at construction with the field
name in the message (``errors.ConfigError``), before any request is made. The secret key is
masked in ``repr`` and never quoted in an error message; it goes over plain ``http://`` only
to this machine (a loopback host), whichever the key's mode.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any
from urllib.parse import urlsplit

from batch_refunds.errors import ConfigError

ENV_SECRET_KEY = "SMARTPAY_SECRET_KEY"
ENV_API_PREFIX = "SMARTPAY_API_PREFIX"  # the name the official SDKs honour

SECRET_KEY_PATTERN = re.compile(r"^sk_(test|live)_[0-9a-zA-Z]+$")

DEFAULT_BASE_URL = "https://api.smartpay.co/v1"
# Smartpay publishes no rate limit; these are deliberately gentle and every one is configurable.
DEFAULT_RATE_PER_SECOND = 10.0
DEFAULT_MAX_IN_FLIGHT = 4
DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_REQUEST_TIMEOUT_S = 30.0
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_MAX_RETRY_TIME_S = 60.0
DEFAULT_BACKOFF_BASE_S = 0.5
DEFAULT_BACKOFF_CAP_S = 8.0
DEFAULT_RETRY_AFTER_CAP_S = 60.0
DEFAULT_MIN_RATE_PER_SECOND = 0.5
# The largest answer the client asks for is a page of 100 refunds, about 100 KB; an order
# with many line items stays well under 1 MB. 16 MiB leaves room for any real answer, while
# what a hostile body of that size can become once parsed (up to ~25x for `[{},{},…]`)
# still fits in memory.
DEFAULT_MAX_RESPONSE_BYTES = 16 * 2**20
# A walk of GET /refunds (newest first, 100 a page) back to the oldest payment in question.
# 200,000 refunds is years of a busy shop's returns, and ~150 MB held by the lookup; a list
# that goes on past it, or a server handing out fresh page tokens for empty pages for ever,
# is stopped instead of filling memory.
DEFAULT_MAX_LIST_ITEMS = 200_000
DEFAULT_MAX_LIST_PAGES = 2_000

_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")


def mask_secret(secret: str) -> str:
    """What may be shown of a key: its mode prefix only (``sk_test_***``)."""
    match = re.match(r"^(sk_(?:test|live)_)", secret)
    return f"{match.group(1)}***" if match else "***"


@dataclass(frozen=True, slots=True, repr=False)
class ClientConfig:
    """Everything the client needs to know; see the ``DEFAULT_*`` constants for defaults.

    Pacing: requests start evenly at up to ``rate_per_second``, with at most
    ``max_in_flight`` open at once. Once 429s show the server's limit is lower, the pace
    settles just under it (``smartpay.ceiling``), never below ``rate_floor_per_second``
    (``min_rate_per_second``, or by default the smaller of ``DEFAULT_MIN_RATE_PER_SECOND``
    and ``rate_per_second``).

    Retries: at most ``max_attempts`` tries and ``max_retry_time_s`` seconds per call, with
    full-jitter backoff between ``backoff_base_s`` and ``backoff_cap_s``; a ``Retry-After``
    is honoured up to ``retry_after_cap_s``.

    Bounds: no answer is read past ``max_response_bytes`` (decoded), and a list walk stops after
    ``max_list_pages`` pages or ``max_list_items`` items.
    """

    secret_key: str
    base_url: str = DEFAULT_BASE_URL
    rate_per_second: float = DEFAULT_RATE_PER_SECOND
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    max_retry_time_s: float = DEFAULT_MAX_RETRY_TIME_S
    backoff_base_s: float = DEFAULT_BACKOFF_BASE_S
    backoff_cap_s: float = DEFAULT_BACKOFF_CAP_S
    retry_after_cap_s: float = DEFAULT_RETRY_AFTER_CAP_S
    min_rate_per_second: float | None = None
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    max_list_pages: int = DEFAULT_MAX_LIST_PAGES
    max_list_items: int = DEFAULT_MAX_LIST_ITEMS

    def __post_init__(self) -> None:
        _check_secret(self.secret_key)
        object.__setattr__(self, "base_url", _check_base_url(self.base_url))
        _positive("rate_per_second", self.rate_per_second)
        _int_at_least("max_in_flight", self.max_in_flight, 1)
        _positive("connect_timeout_s", self.connect_timeout_s)
        _positive("request_timeout_s", self.request_timeout_s)
        _int_at_least("max_attempts", self.max_attempts, 1)
        _not_negative("max_retry_time_s", self.max_retry_time_s)
        _positive("backoff_base_s", self.backoff_base_s)
        _positive("backoff_cap_s", self.backoff_cap_s)
        if self.backoff_cap_s < self.backoff_base_s:
            raise ConfigError(
                f"backoff_cap_s: must be at least backoff_base_s ({self.backoff_base_s}), "
                f"got {self.backoff_cap_s}"
            )
        _not_negative("retry_after_cap_s", self.retry_after_cap_s)
        floor = self.rate_floor_per_second
        _positive("min_rate_per_second", floor)
        if floor > self.rate_per_second:
            raise ConfigError(
                f"min_rate_per_second: must not exceed rate_per_second ({self.rate_per_second}), "
                f"got {self.min_rate_per_second}"
            )
        _int_at_least("max_response_bytes", self.max_response_bytes, 1)
        _int_at_least("max_list_pages", self.max_list_pages, 1)
        _int_at_least("max_list_items", self.max_list_items, 1)

    @property
    def rate_floor_per_second(self) -> float:
        """The slowest pace a run of 429s can push the client to."""
        if self.min_rate_per_second is not None:
            return self.min_rate_per_second
        # A user who asks for a slow pace must not trip over the default floor.
        return min(DEFAULT_MIN_RATE_PER_SECOND, self.rate_per_second)

    @property
    def live(self) -> bool:
        """True for a ``sk_live_`` key: real money moves."""
        return self.secret_key.startswith("sk_live_")

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={mask_secret(self.secret_key)!r}"
            if f.name == "secret_key"
            else f"{f.name}={getattr(self, f.name)!r}"
            for f in fields(self)
        )
        return f"ClientConfig({shown})"

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        secret_key: str | None = None,
        base_url: str | None = None,
        **overrides: Any,
    ) -> ClientConfig:
        """Build from ``SMARTPAY_SECRET_KEY`` / ``SMARTPAY_API_PREFIX``; arguments win over both.

        Surrounding whitespace is stripped from values read from the environment, since a key
        pasted into a shell or ``.env`` file often carries a stray newline.
        """
        env = os.environ if environ is None else environ
        if secret_key is None:
            secret_key = env.get(ENV_SECRET_KEY, "").strip()
            if not secret_key:
                raise ConfigError(f"secret_key: not given and {ENV_SECRET_KEY} is not set")
        if base_url is None:
            base_url = env.get(ENV_API_PREFIX, "").strip() or DEFAULT_BASE_URL
        return cls(secret_key=secret_key, base_url=base_url, **overrides)

    def with_changes(self, **changes: Any) -> ClientConfig:
        """A copy with some fields replaced, validated again."""
        return replace(self, **changes)


def _check_secret(secret: object) -> None:
    # The message never quotes the value: a near-miss is still mostly the real secret.
    if not isinstance(secret, str) or not SECRET_KEY_PATTERN.match(secret):
        raise ConfigError(
            "secret_key: not a Smartpay secret key (expected sk_test_… or sk_live_… "
            "followed by letters and digits)"
        )


def _check_base_url(url: object) -> str:
    if not isinstance(url, str):
        raise ConfigError(f"base_url: must be a string, got {type(url).__name__}")
    url = url.strip()
    shown = _without_userinfo(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- reading it is what checks it
    except ValueError as exc:
        raise ConfigError(f"base_url: not a usable URL ({exc}), got {shown!r}") from None
    if "@" in parts.netloc:
        # Basic auth in the URL would be sent alongside the key, and it ends up in logs.
        raise ConfigError(
            f"base_url: must not carry a user name or password, got {shown!r}; remove them "
            f"(the secret key goes in {ENV_SECRET_KEY}, and Smartpay takes no other credentials)"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"base_url: must be an http(s) URL like {DEFAULT_BASE_URL}, got {shown!r}"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"base_url: must not carry a query or fragment, got {shown!r}")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        # The key travels in every request's Authorization header: over plain http anyone on
        # the path reads it, whether it moves test money or real money.
        secure = "https" + url[len("http") :]
        raise ConfigError(
            f"base_url: plain http:// would carry the secret key unencrypted to "
            f"{parts.hostname}; use {secure.rstrip('/')} (http:// is accepted only for this "
            f"machine: localhost, 127.0.0.0/8, ::1), got {shown!r}"
        )
    return url.rstrip("/")


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a URL's hostname) names this machine: ``localhost``, 127/8, ``::1``."""
    host = host.lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _without_userinfo(url: str) -> str:
    """The URL fit to quote in a message: any ``user:password@`` replaced by ``***@``."""
    return _USERINFO.sub(r"\1***@", url)


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{name}: must be a finite number, got {value!r}")
    return float(value)


def _positive(name: str, value: object) -> None:
    if _number(name, value) <= 0:
        raise ConfigError(f"{name}: must be greater than 0, got {value!r}")


def _not_negative(name: str, value: object) -> None:
    if _number(name, value) < 0:
        raise ConfigError(f"{name}: must be 0 or more, got {value!r}")


def _int_at_least(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name}: must be a whole number ≥ {minimum}, got {value!r}")
