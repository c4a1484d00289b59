"""How to start a sandbox: its key, its misbehaviour knobs, its clock and its data."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from batch_refunds.sandbox.clock import Clock
from batch_refunds.sandbox.render import PaymentRefunds

SECRET_KEY_PATTERN = re.compile(r"^sk_(test|live)_[0-9a-zA-Z]+$")
DEFAULT_REALM = "Smartpay API (sandbox)"


@dataclass(frozen=True)
class SandboxConfig:
    """Start-up settings. The knobs (latency … payment_refunds) can change later at run time.

    ``secret``: ``None`` accepts any well-formed ``sk_test_`` key; otherwise only that key.
    ``sleep``: how injected latency waits; defaults to ``clock.sleep``.
    ``random_seed``: makes generated ids and injected faults repeatable.
    """

    secret: str | None = field(default=None, repr=False)
    latency_ms: int = 0
    rate_limit_per_s: int | None = None
    rate_burst: int | None = None
    fail_rate: float = 0.0
    drop_after_commit_rate: float = 0.0
    payment_refunds: PaymentRefunds = "auto"
    random_seed: int | None = None
    clock: Clock | None = None
    seed_data: dict[str, Any] | None = field(default=None, repr=False)
    sleep: Callable[[float], Awaitable[None]] | None = field(default=None, repr=False)
    realm: str = DEFAULT_REALM

    def __post_init__(self) -> None:
        # Messages never quote the secret: it may be a real key pasted by mistake.
        if self.secret is not None:
            if not SECRET_KEY_PATTERN.match(self.secret):
                raise ValueError("secret must look like sk_test_<letters and digits>")
            if self.secret.startswith("sk_live_"):
                raise ValueError("secret is a live key; the sandbox only takes sk_test_ keys")
