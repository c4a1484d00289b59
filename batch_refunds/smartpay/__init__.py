"""The production Smartpay client.

``SmartpayClient`` (aiohttp, in ``client``) paced by ``pacing``, retried by the policy in
``retry``, parsing with ``wire``, configured by ``ClientConfig`` and observed through the
event hook of ``events``. Only ``client`` imports aiohttp; this package imports it only when
``SmartpayClient`` is first used, so the pure modules (``config``, ``events``, ``wire``) stay
cheap to import for code that never opens a connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from batch_refunds.smartpay.config import ClientConfig

if TYPE_CHECKING:
    from batch_refunds.smartpay.client import SmartpayClient

__all__ = ["ClientConfig", "SmartpayClient"]


def __getattr__(name: str) -> Any:
    if name == "SmartpayClient":
        from batch_refunds.smartpay.client import SmartpayClient

        return SmartpayClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
