"""The production Smartpay client.

``SmartpayClient`` (aiohttp, in ``client``) paced by ``pacing``, retried by the policy in
``retry``, parsing with ``wire``, configured by ``ClientConfig`` and observed through the
event hook of ``events``. Only ``client`` imports aiohttp.
"""

from batch_refunds.smartpay.client import SmartpayClient
from batch_refunds.smartpay.config import ClientConfig

__all__ = ["ClientConfig", "SmartpayClient"]
