"""Finding refunds Smartpay made but we never heard about.

When a payment does not list its refunds, the only way to learn whether an unanswered POST
created one is ``GET /refunds``, which cannot be filtered and lists newest first. One scan is
shared by the whole run: it pages lazily, only as far back as the oldest question asked, and
remembers every refund it has seen, so a hundred unanswered rows cost one pass, not a hundred.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from batch_refunds.api import SmartpayApi
from batch_refunds.models import Refund

SCAN_PAGE_SIZE = 100


class RefundScanner:
    """A lazy, shared, newest-first walk over every refund of the account."""

    def __init__(self, api: SmartpayApi) -> None:
        self._api = api
        self._pages: AsyncIterator[Refund] | None = None
        self._by_payment: dict[str, list[Refund]] = {}
        self._oldest_ms: int | None = None
        self._exhausted = False
        self._failure: BaseException | None = None
        self._lock = asyncio.Lock()
        self.fetched = 0

    async def refunds_on(self, payment_id: str, *, not_before_ms: int) -> list[Refund]:
        """Every refund on ``payment_id`` created at or after ``not_before_ms`` (server clock).

        A walk that failed (a 5xx after retries, an endless list) fails every later question
        that needs more of it, with the same error: a dead walk is not the end of the list,
        and "not found" from it would let a refund be sent twice.
        """
        async with self._lock:
            if self._pages is None:
                self._pages = self._api.list_refunds(page_size=SCAN_PAGE_SIZE)
            while not self._exhausted and (
                self._oldest_ms is None or self._oldest_ms >= not_before_ms
            ):
                if self._failure is not None:
                    raise self._failure
                try:
                    refund = await anext(self._pages)
                except StopAsyncIteration:
                    self._exhausted = True
                    break
                except Exception as exc:
                    self._failure = exc
                    raise
                self.fetched += 1
                self._by_payment.setdefault(refund.payment_id, []).append(refund)
                if self._oldest_ms is None or refund.created_at < self._oldest_ms:
                    self._oldest_ms = refund.created_at
        return list(self._by_payment.get(payment_id, ()))
