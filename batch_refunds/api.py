"""The narrow interface the engine uses to talk to Smartpay.

The real implementation is ``batch_refunds.smartpay.client.SmartpayClient``; tests may hand
the engine an in-memory fake. Pure: no aiohttp here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from batch_refunds.models import CreateRefund, Order, Payment, Refund


class SmartpayApi(Protocol):
    """What the refund engine needs from Smartpay, and nothing more."""

    @property
    def live(self) -> bool:
        """True when this talks to Smartpay with a live key: refunds move real money."""
        ...

    @property
    def base_url(self) -> str:
        """The API prefix requests go to, never carrying credentials (for the report)."""
        ...

    async def check_access(self) -> None:
        """Return if the key and the API prefix work; raise ``errors.Unauthorized`` or
        ``errors.EndpointNotFound`` (``errors.CONFIGURATION_ERRORS``) if not."""
        ...

    async def get_order(self, order_id: str, *, expand: bool = True) -> Order: ...

    async def get_payment(self, payment_id: str, *, expand: bool = True) -> Payment: ...

    async def get_refund(self, refund_id: str, *, payment_id: str | None = None) -> Refund:
        """That refund; with ``payment_id`` (the payment that listed it) it must be a refund
        of that payment, else ``errors.AnswerMismatch``."""
        ...

    async def create_refund(self, body: CreateRefund, *, idempotency_key: str) -> Refund: ...

    def list_refunds(self, *, page_size: int = 100) -> AsyncIterator[Refund]:
        """Every refund, newest first, fetching pages lazily."""
        ...

    def list_orders(
        self, *, page_size: int = 100, max_items: int | None = None
    ) -> AsyncIterator[Order]:
        """Every order, newest first, fetching pages lazily (payments as ids); at most
        ``max_items`` orders before the walk counts as endless (``errors.EndlessList``)."""
        ...
