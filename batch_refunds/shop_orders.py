"""The shop's own order numbers → Smartpay orders, through the order list.

Finance sheets hold the shop's order number (``ORD-2026-00123``), which Smartpay keeps as the
order's ``reference``. Smartpay cannot be asked for an order by reference: ``GET /orders``
has no filter, so the only way is to walk it, newest first, as the dashboard's search does.
One walk serves the whole run, however many rows: every wanted number is looked for in the
same pass, which goes back as far as the person's bound allows (orders created since a date,
and at most so many orders) and no further.

Uniqueness is part of the answer: Smartpay does not promise that two orders never share a
reference, so the walk always goes to the bound (a number found on the first page may be on
an older order too), and a number on two orders resolves to both ids, for a person.

The journal remembers what a walk saw (every order with a reference, and the span of
creation times it covered), so tomorrow's run of a cumulative sheet walks only the orders
created since, and reads the rest from memory. A remembered order is still checked against
Smartpay's own answer when the row is planned (``reference_key`` of the order fetched).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from batch_refunds.errors import ConfigError

if TYPE_CHECKING:  # the CLI reads the defaults at start-up without loading sqlite3
    from batch_refunds.api import SmartpayApi
    from batch_refunds.journal import Journal

DEFAULT_WINDOW_DAYS = 90
DEFAULT_MAX_ORDERS_SCANNED = 1_000_000
"""Ten thousand pages of 100: about five minutes at 40 requests a second."""
ORDER_PAGE_SIZE = 100
"""The sandbox's ceiling for ``maxResults``; Smartpay documents none (default 20)."""

NOT_FOUND = "order.shop-number-not-found"
DUPLICATE = "hold.shop-number-duplicate"
MISMATCH = "hold.shop-number-mismatch"
STALE = "order.shop-number-stale"


def reference_key(text: str) -> str:
    """How shop numbers are compared: NFKC (full-width ``ＯＲＤ－１`` is ``ORD-1``), trimmed,
    case folded. Two references this makes equal count as the same number, so at worst a
    row is held as a duplicate; it never picks one of two orders."""
    return unicodedata.normalize("NFKC", text).strip().casefold()


@dataclass(frozen=True, slots=True)
class OrderBounds:
    """How far back the order list is walked: orders created at or after ``since`` (an
    aware datetime, compared with Smartpay's own ``createdAt``), and at most ``max_scanned``
    orders. ``widen`` is the way out a not-found row's message names."""

    since: datetime
    max_scanned: int = DEFAULT_MAX_ORDERS_SCANNED
    widen: str = "search further back (orders_since, max_orders_scanned)"

    def __post_init__(self) -> None:
        if self.since.tzinfo is None:
            raise ConfigError("orders_since: needs a time zone (an aware datetime)",
                              option="orders_since")  # fmt: skip
        if isinstance(self.max_scanned, bool) or self.max_scanned < 1:
            raise ConfigError(
                f"max_orders_scanned: must be at least 1, got {self.max_scanned!r}",
                option="max_orders_scanned",
            )

    @classmethod
    def default(cls, *, now: datetime | None = None) -> OrderBounds:
        """The last ``DEFAULT_WINDOW_DAYS`` days, and ``DEFAULT_MAX_ORDERS_SCANNED`` orders."""
        now = now or datetime.now(UTC)
        return cls(since=now - timedelta(days=DEFAULT_WINDOW_DAYS))

    @property
    def since_ms(self) -> int:
        return int(self.since.timestamp() * 1000)

    def since_text(self) -> str:
        return self.since.strftime("%Y-%m-%d %H:%M %Z").strip()


@dataclass(frozen=True, slots=True)
class Resolution:
    """What the walk found for the wanted numbers: reference key → the ids of every order
    carrying it (none: not found within the bound; two or more: a person decides)."""

    orders: dict[str, tuple[str, ...]]
    scanned: int
    """Orders read from Smartpay by this run's walk."""
    remembered: int
    """Orders the journal remembered from earlier walks and this one did not read again."""
    stopped_by: str
    """``date`` (reached ``since``), ``count`` (``max_scanned``), ``memory`` (reached the
    span an earlier walk covered) or ``end`` (the list ended)."""
    bounds: OrderBounds

    def not_found_message(self, number: str) -> str:
        if self.stopped_by == "count":
            window = (
                f"the {self.scanned:,} newest orders (the most this run reads), and the "
                f"orders remembered from earlier runs"
            )
        elif self.stopped_by == "end":
            window = f"any of the account's {self.scanned + self.remembered:,} orders"
        else:
            window = (
                f"the {self.scanned + self.remembered:,} orders created since "
                f"{self.bounds.since_text()}"
            )
        return (
            f"no order has the shop order number {number} among {window}; nothing was sent. "
            f"If the order is older, {self.bounds.widen}; if the number is mistyped, "
            "correct it"
        )

    @staticmethod
    def duplicate_message(number: str, order_ids: tuple[str, ...]) -> str:
        listed = " and ".join((", ".join(order_ids[:-1]), order_ids[-1]))
        every = "both" if len(order_ids) == 2 else "all"
        return (
            f"orders {listed} {every} have the shop order number {number}, so which one to refund "
            "cannot be told; nothing was sent. Put the Smartpay order id of the one meant in "
            "an order_id column"
        )


class ShopOrderResolver:
    """One walk of the order list per run, shared by every row that names a shop number."""

    def __init__(
        self, api: SmartpayApi, journal: Journal, *, scope: str, bounds: OrderBounds, run_id: str
    ) -> None:
        self._api = api
        self._journal = journal
        self._scope = scope
        self.bounds = bounds
        self._run_id = run_id

    async def resolve(self, numbers: Collection[str]) -> Resolution:
        """Every order whose reference is one of ``numbers`` (as typed), within the bounds.

        Raises whatever the walk raised (a 5xx after retries, an endless list, a stop): a
        dead walk is not the end of the list, so no row is then "not found".
        """
        wanted = {reference_key(n) for n in numbers}
        since_ms = self.bounds.since_ms
        memory = self._journal.order_scan(self._scope)
        seen: dict[str, tuple[str, str, str, int]] = {}
        scanned = 0
        newest: int | None = None
        last: int | None = None
        stopped_by = "end"
        pages = self._api.list_orders(
            page_size=ORDER_PAGE_SIZE, max_items=self.bounds.max_scanned + 1
        )
        try:
            async for order in pages:
                if order.created_at < since_ms:
                    stopped_by = "date"
                    break
                if (
                    memory is not None
                    and order.created_at < memory.newest_ms
                    and memory.oldest_ms <= since_ms
                ):
                    stopped_by = "memory"  # everything older is remembered
                    break
                if scanned == self.bounds.max_scanned:
                    stopped_by = "count"
                    break
                scanned += 1
                newest = order.created_at if newest is None else max(newest, order.created_at)
                last = order.created_at
                if order.reference:
                    key = reference_key(order.reference)
                    seen[order.id] = (order.id, key, order.reference, order.created_at)
        finally:
            aclose = getattr(pages, "aclose", None)
            if aclose is not None:
                await aclose()
        oldest_ms = {
            "date": since_ms,
            "memory": memory.oldest_ms if memory is not None else since_ms,
            "end": 0,
            # Orders created in the same millisecond as the last one read may lie beyond.
            "count": (last + 1) if last is not None else since_ms,
        }[stopped_by]
        newest_ms = max(
            newest or 0,
            memory.newest_ms if memory is not None and stopped_by == "memory" else 0,
        )
        self._journal.remember_orders(
            self._scope, list(seen.values()), oldest_ms=oldest_ms, newest_ms=newest_ms,
            run_id=self._run_id,
        )  # fmt: skip
        found: dict[str, set[str]] = {key: set() for key in wanted}
        remembered = 0
        for order_id, key, _, created_at in self._journal.remembered_orders(self._scope, wanted):
            if created_at >= since_ms and order_id not in seen:
                found[key].add(order_id)
        for order_id, key, _, _ in seen.values():
            if key in found:
                found[key].add(order_id)
        if stopped_by == "memory" and memory is not None:
            remembered = max(0, self._journal.remembered_count(self._scope, since_ms) - len(seen))
        return Resolution(
            orders={key: tuple(sorted(ids)) for key, ids in found.items()},
            scanned=scanned,
            remembered=remembered,
            stopped_by=stopped_by,
            bounds=self.bounds,
        )
