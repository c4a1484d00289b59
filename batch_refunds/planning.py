"""Planning a run: what each row will do, decided with GET requests only.

Rows are grouped by order (or by payment when a row names only a payment); the rows of a
group are planned one after another so each sees what the previous ones will refund. Each
row is matched against the journal and Smartpay: already done, a request left unanswered by a
crash (looked up by reference on the payment, or in a newest-first scan of list-refunds), or
new — and then its amount is allocated across the payments' remaining amounts.

Refunds already under a row's reference that no row of the file made count towards it first
(see ``ledger``: a reference names refunds): the order ends at what the file asks for the
reference, and when it already holds more, the row is held for a person.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from enum import Enum

from batch_refunds import identity as ids
from batch_refunds import shop_orders
from batch_refunds.allocation import Part, Shortfall, allocate
from batch_refunds.api import SmartpayApi
from batch_refunds.errors import (
    CONFIGURATION_ERRORS,
    AnswerMismatch,
    ApiRefused,
    ApiUnavailable,
    JournalUnwritable,
    NotFound,
    SmartpayError,
    UnusableAnswer,
)
from batch_refunds.journal import PENDING, REFUSED, SUCCEEDED, Intent, Journal
from batch_refunds.ledger import (
    OrderView,
    ReferenceBook,
    own_refunds,
    pending_message,
    reference_books,
    refund_for_intent,
    strays,
    unlike_refund_for_intent,
    view_payment,
)
from batch_refunds.lookup import RefundScanner
from batch_refunds.models import CURRENCY, Order, Payment, Refund, RefundRequest, Yen
from batch_refunds.money import format_yen
from batch_refunds.shop_orders import OrderBounds, ShopOrderResolver, reference_key

MISMATCH_CODE = AnswerMismatch.answer_code
"""The note an intent carries when its POST was answered with a refund unlike it."""


class Action(Enum):
    SEND = "send"  # new parts to commit and send
    RESUME = "resume"  # parts already committed, answer unknown: send again with their keys
    DONE = "done"  # nothing to do: already refunded
    REJECT = "reject"  # a retry won't help
    HOLD = "hold"  # Smartpay's records disagree with the file: a person must decide
    FAIL = "fail"  # couldn't plan now; a re-run will


@dataclass(slots=True)
class RowPlan:
    """What one valid row will do, and what is known about it so far."""

    request: RefundRequest
    identity: str
    reference: str
    action: Action = Action.FAIL
    parts: tuple[Part, ...] = ()
    generation: int = 0
    keys: tuple[str, ...] = ()
    senders: tuple[str, ...] = ()  # RESUME: the run that first sent each key
    order_id: str | None = None
    refundable_before: Yen | None = None
    already_amount: Yen = 0  # refunded for this row before this run acted
    already_ids: tuple[str, ...] = ()
    payment_ids: tuple[str, ...] = ()
    error_code: str | None = None
    message: str | None = None
    decided: bool = False  # settled before planning (a shop number not found, or on two orders)
    resolved: bool = False  # the order came from the shop number (the order list or memory)

    @property
    def to_send(self) -> Yen:
        return sum(part.amount for part in self.parts)


@dataclass(frozen=True, slots=True)
class Plan:
    rows: tuple[RowPlan, ...]

    @property
    def total_to_send(self) -> Yen:
        return sum(p.to_send for p in self.rows if p.action in (Action.SEND, Action.RESUME))

    @property
    def rows_to_send(self) -> int:
        return sum(1 for p in self.rows if p.action in (Action.SEND, Action.RESUME))


@dataclass(slots=True)
class Stopper:
    """Stops the run early when the API is plainly down, misconfigured, or when asked to."""

    limit: int
    requested: asyncio.Event
    consecutive: int = 0
    tripped: bool = False
    misconfigured: SmartpayError | None = None
    unwritable: JournalUnwritable | None = None

    def journal(self, exc: JournalUnwritable) -> None:
        """The journal can't commit: no intent can be made durable, so nothing more is sent."""
        if self.unwritable is None:
            self.unwritable = exc

    def configuration(self, exc: SmartpayError) -> None:
        """The key or the API prefix is wrong (see ``errors.CONFIGURATION_ERRORS``): every
        later request would fail the same way, so nothing more is sent."""
        if self.misconfigured is None:
            self.misconfigured = exc

    def failed(self) -> None:
        self.consecutive += 1
        if self.consecutive >= self.limit:
            self.tripped = True

    def succeeded(self) -> None:
        self.consecutive = 0

    def reason(self) -> tuple[str, str] | None:
        if self.unwritable is not None:
            return (self.unwritable.code, f"{self.unwritable.message}; this row was not sent")
        if self.misconfigured is not None:
            return (
                "run.misconfigured",
                f"{self.misconfigured.message}; nothing more was sent — fix it and re-run",
            )
        if self.requested.is_set():
            return ("run.interrupted", "interrupted before this row was sent; re-run to finish it")
        if self.tripped:
            return (
                "run.stopped-early",
                f"stopped after {self.limit} consecutive failures (the API looks down); "
                "re-run to finish it",
            )
        return None

    def summary(self) -> str | None:
        """Why the run as a whole ended early, for the person reading its summary."""
        if self.unwritable is not None:
            return f"{self.unwritable.message}; rows not yet sent are failed"
        if self.misconfigured is not None:
            return f"{self.misconfigured.message}; rows not yet sent are failed — fix it and re-run"
        if self.requested.is_set():
            return "interrupted (Ctrl-C or SIGTERM): rows not yet sent are failed; re-run to finish"
        if self.tripped:
            return (
                f"stopped after {self.limit} consecutive failures: the API looks down; "
                "rows not yet sent are failed; re-run to finish"
            )
        return None


@dataclass
class Planner:
    """Plans groups of rows for one run; the engine decides when to send what it planned."""

    api: SmartpayApi
    journal: Journal
    run_id: str
    stopper: Stopper
    max_amount: Yen | None = None
    plan_only: bool = False
    """``plan``: record no completion (it sends nothing, so it settles nothing)."""
    new_refunds: bool = False
    """Rows on a payment that this tool refunded for a row without a reference, no longer in
    the file, are new refunds: the person said so (``--new-refunds``). Otherwise they are held."""
    order_bounds: OrderBounds | None = None
    """How far back shop order numbers are looked for (default: ``OrderBounds.default()``)."""
    orders_scope: str = "test"
    """Whose order list the journal's memory of it belongs to (the key's mode)."""

    def __post_init__(self) -> None:
        self._scanner = RefundScanner(self.api)
        self._identities: frozenset[str] = frozenset()
        self._access = asyncio.Lock()
        self._access_checked = False
        self.shop_resolution: shop_orders.Resolution | None = None

    async def _check_access(self) -> None:
        """Before the first request of the run, prove the key and the API prefix with one
        cheap read (only when some row needs Smartpay: a finished file sends nothing). An
        answer that is no verdict on them (a 5xx, a timeout) leaves each row to find out."""
        async with self._access:
            if self._access_checked:
                return
            self._access_checked = True
            try:
                await self.api.check_access()
            except CONFIGURATION_ERRORS as exc:
                self.stopper.configuration(exc)
            except ApiUnavailable:
                self.stopper.failed()
            except (SmartpayError, Stopped):
                pass

    def row_plans(self, requests: Sequence[RefundRequest]) -> list[RowPlan]:
        plans: list[RowPlan] = []
        for request, occurrence in zip(requests, ids.occurrences(requests), strict=True):
            identity = ids.row_identity(request, occurrence)
            reference = request.reference or ids.derived_reference(identity)
            plans.append(RowPlan(request, identity, reference))
        self._identities = frozenset(p.identity for p in plans)
        # Most rows of a file are new to the journal: learn which in a few queries, not two
        # or three reads per row on the event loop.
        self.journal.look_ahead(self._identities)
        return plans

    async def resolve_shop_orders(self, plans: Sequence[RowPlan]) -> None:
        """Give each row that names its order only by the shop's number that order, from one
        walk of the order list for the whole run; a row whose number is on no order within
        the bounds is rejected, one on two orders held. Rows already finished need no walk
        (their identity is the number as typed)."""
        rows = [p for p in plans if p.request.shop_order is not None
                and p.request.order_id is None and p.request.payment_id is None]  # fmt: skip
        if not rows:
            return
        todo = [p for p in rows if self.journal.completion(p.identity) is None]
        waiting = {id(p) for p in todo}
        self._name_finished_orders([p for p in rows if id(p) not in waiting])
        if not todo:
            return
        await self._check_access()
        if (reason := self.stopper.reason()) is not None:
            for p in todo:
                fail(p, *reason)
                p.decided = True
            return
        bounds = self.order_bounds or OrderBounds.default()
        resolver = ShopOrderResolver(
            self.api, self.journal, scope=self.orders_scope, bounds=bounds, run_id=self.run_id
        )
        try:
            found = await resolver.resolve([p.request.shop_order or "" for p in todo])
        except SmartpayError as exc:
            # One failure of one walk, whatever the number of rows that needed it: counted
            # once, and never "not found" (a dead walk is not the end of the list).
            if isinstance(exc, CONFIGURATION_ERRORS):
                self.stopper.configuration(exc)
            elif isinstance(exc, ApiUnavailable | UnusableAnswer):
                self.stopper.failed()
            reason = self.stopper.reason() or (
                exc.code, f"{exc.message}; the order list could not be read, so this row's "
                "shop order number was not looked up; re-run to finish it",
            )  # fmt: skip
            for p in todo:
                fail(p, *reason)
                p.decided = True
            return
        self.shop_resolution = found
        for p in todo:
            number = p.request.shop_order or ""
            order_ids = found.orders.get(reference_key(number), ())
            if not order_ids:
                reject(p, shop_orders.NOT_FOUND, found.not_found_message(number))
                p.decided = True
            elif len(order_ids) > 1:
                hold(p, shop_orders.DUPLICATE, found.duplicate_message(number, order_ids))
                p.decided = True
            else:
                p.request = replace(p.request, order_id=order_ids[0])
                p.resolved = True

    def _name_finished_orders(self, rows: Sequence[RowPlan]) -> None:
        """A finished row needs no walk; its order id for the report comes from the journal's
        memory of earlier walks, when that names exactly one order."""
        if not rows:
            return
        keys = {reference_key(p.request.shop_order or "") for p in rows}
        found: dict[str, set[str]] = {}
        for order_id, key, _, _ in self.journal.remembered_orders(self.orders_scope, keys):
            found.setdefault(key, set()).add(order_id)
        for p in rows:
            ids_found = found.get(reference_key(p.request.shop_order or ""), set())
            if len(ids_found) == 1:
                p.order_id = next(iter(ids_found))

    def _stale(self, p: RowPlan, why: str) -> None:
        """A resolution Smartpay no longer agrees with (the journal remembered an order whose
        reference has changed, or that is gone): the row fails and the memory is forgotten."""
        self.journal.forget_orders(self.orders_scope)
        fail(
            p, shop_orders.STALE,
            f"the shop order number {p.request.shop_order} was resolved to order "
            f"{p.request.order_id}, but {why}; nothing was sent. The journal's memory of the "
            "order list is forgotten: re-run to look the number up afresh",
        )  # fmt: skip

    def _shop_number_disagrees(self, p: RowPlan, reference: str | None) -> bool:
        """A row's shop number must be the reference of the order planned for it: a row that
        names both an order id and a shop number of another order is held; a remembered
        resolution Smartpay no longer agrees with fails the row and is forgotten."""
        number = p.request.shop_order
        if number is None or reference_key(reference or "") == reference_key(number):
            return False
        has = f"the shop order number {reference}" if reference else "no shop order number"
        if p.resolved:
            self._stale(p, f"Smartpay shows that order with {has}")
        else:
            hold(
                p, shop_orders.MISMATCH,
                f"the row names order {p.request.order_id or p.request.payment_id} and the shop "
                f"order number {number}, but Smartpay shows that order with {has}; nothing was "
                "sent. Correct the order id or the shop order number",
            )  # fmt: skip
        return True

    async def plan_group(self, group: list[RowPlan]) -> None:
        group = [p for p in group if not p.decided]
        pending_rows: list[RowPlan] = []
        for p in group:
            if self.max_amount is not None and (p.request.amount or 0) > self.max_amount:
                reject(
                    p,
                    "guard.max-amount",
                    f"asks for {format_yen(p.request.amount or 0)}, more than the most a row may "
                    f"refund ({format_yen(self.max_amount)})",
                )
                continue
            await self.journal.settled(identity=p.identity)
            done = self.journal.completion(p.identity)
            if done is not None:
                p.action = Action.DONE
                p.already_amount, p.already_ids = done.refunded_amount, done.refund_ids
                p.message = f"already refunded (settled by run {done.run_id})"
                continue
            pending_rows.append(p)
        if not pending_rows:
            return
        await self._check_access()
        if (reason := self.stopper.reason()) is not None:
            for p in pending_rows:
                fail(p, *reason)
            return
        try:
            view, shop_reference = await self._fetch_view(
                pending_rows[0].request,
                want_reference=any(p.request.shop_order for p in pending_rows),
            )
            self.stopper.succeeded()
            await self._complete_unlisted(view, pending_rows)
        except Untrusted as exc:
            for p in pending_rows:
                reject(p, exc.code, exc.message)
            return
        except Stopped as exc:
            for p in pending_rows:
                fail(p, exc.code, exc.message)
            return
        except SmartpayError as exc:
            for p in pending_rows:
                if isinstance(exc, NotFound) and p.resolved:
                    self._stale(p, "Smartpay has no such order")
                else:
                    self._refused_or_failed(p, exc)
            return
        books = reference_books(
            view.payments,
            ((p.reference, p.request.amount, p.request.reference is None) for p in group),
            file_identities=self._identities,
        )
        pending = {id(p) for p in pending_rows}
        for p in group:  # in file order, so each row takes its share of a book in turn
            book = books.get(p.reference)
            if id(p) not in pending:
                if p.action is Action.DONE and book is not None:
                    _take_finished_share(p, view, book)
                continue
            if self._shop_number_disagrees(p, shop_reference):
                continue
            try:
                await self._plan_row(p, view, book)
            except SmartpayError as exc:
                self._refused_or_failed(p, exc)
            except Stopped as exc:
                fail(p, exc.code, exc.message)

    async def _plan_row(self, p: RowPlan, view: OrderView, book: ReferenceBook | None) -> None:
        request = p.request
        p.order_id = view.order_id
        candidates = view.candidates(request.payment_id)
        p.payment_ids = tuple(c.id for c in candidates)
        if request.payment_id is not None and not candidates:
            reject(
                p, "payment.not-in-order", f"{request.payment_id} is not a payment of this order"
            )
            return
        if not view.payments:
            reject(p, "order.no-payments", "the order has no captured payment: nothing to refund")
            return
        p.refundable_before = sum(c.remaining() for c in candidates)

        await self.journal.settled(identity=p.identity)
        intents = self.journal.intents_for(p.identity)
        in_flight: list[Refund] = []
        unlike_found: tuple[Intent, Refund] | None = None
        known = {i.refund_id for i in intents if i.refund_id}
        for intent in (i for i in intents if i.state == PENDING):
            found, unlike_refund = await self._look_up(intent, view, known)
            if found is None and unlike_refund is not None:
                if intent.error_code != MISMATCH_CODE:  # else its note says more, below
                    unlike_found = unlike_found or (intent, unlike_refund)
            elif found is not None and found.failed:
                self.journal.mark_refused(
                    intent.key, error_code="refund.failed",
                    message=f"Smartpay holds refund {found.id} as failed", run_id=self.run_id,
                )  # fmt: skip
            elif found is not None and not found.succeeded:
                in_flight.append(found)
            elif found is not None:
                # The request that made it was sent by the run that recorded the intent.
                self.journal.mark_succeeded(
                    intent.key, refund_id=found.id, created_at=found.created_at,
                    run_id=self.run_id, row=request.row, credited_run_id=intent.run_id,
                )  # fmt: skip
        if in_flight:
            fail(p, "refund.pending", pending_message(in_flight[0]))
            return
        if unlike_found is not None:
            _hold_unlike_refund(p, *unlike_found)
            return
        if any(i.state == PENDING for i in intents):  # else the lookups recorded nothing
            await self.journal.settled(identity=p.identity)  # the answers just recorded
            intents = self.journal.intents_for(p.identity)
        succeeded = [i for i in intents if i.state == SUCCEEDED]
        p.already_amount = sum(i.amount for i in succeeded)
        p.already_ids = tuple(i.refund_id for i in succeeded if i.refund_id)
        pending = [i for i in intents if i.state == PENDING]
        unlike = next((i for i in pending if i.error_code == MISMATCH_CODE), None)
        if unlike is not None:
            _hold_unlike_answer(p, unlike)
            return
        if pending:
            p.action = Action.RESUME
            p.generation = pending[0].generation
            p.parts = tuple(Part(i.payment_id, i.amount) for i in pending)
            p.keys = tuple(i.key for i in pending)
            p.senders = tuple(i.run_id for i in pending)
            view.reserve((i.payment_id, i.amount) for i in pending)
            p.message = "resumes a refund left unanswered by an earlier run"
            return
        latest = max((i.generation for i in intents), default=-1)
        refused = [i for i in intents if i.state == REFUSED and i.generation == latest]
        if intents and not refused:  # every part answered and none refused: finished
            self._complete(p)
            return

        # Refunds this row made that the journal does not know of (a lost journal).
        known = set(p.already_ids)
        unknown = [
            refund
            for refund in own_refunds(
                candidates, identity=p.identity, reference=p.reference,
                derived=request.reference is None,
            )
            if refund.id not in known
        ]  # fmt: skip
        p.already_amount += sum(refund.amount for refund in unknown)
        p.already_ids += tuple(refund.id for refund in unknown)  # one tuple, not one per refund
        covered: tuple[Yen, tuple[str, ...]] = (0, ())
        if book is not None:
            if book.exceeds:
                _hold_exceeding(p, book)
                return
            wanted_now = None if request.amount is None else request.amount - p.already_amount
            covered = book.take(None if wanted_now is None else max(wanted_now, 0))
            p.already_amount += covered[0]
            p.already_ids += covered[1]

        wanted = None if request.amount is None else request.amount - p.already_amount
        if wanted is not None and wanted > 0 and not self.new_refunds:
            earlier = strays(candidates, file_identities=self._identities)
            if earlier:
                _hold_for_strays(p, earlier, wanted)
                return
        if wanted is not None and wanted <= 0:
            if covered[0] and book is not None:
                self._complete(p, _covered_message(book, *covered))
            else:
                self._complete(p)
            return
        allocation = allocate(wanted, [(c.id, c.remaining()) for c in candidates])
        if isinstance(allocation, Shortfall):
            if allocation.requested == 0 and p.already_amount:
                self._complete(p)  # a full refund whose refunds exist: nothing is left to ask
                return
            if allocation.requested == 0:
                reject(p, "amount.insufficient", "nothing remains to refund on this order")
            else:
                reject(
                    p,
                    "amount.insufficient",
                    f"asks for {format_yen(allocation.requested)} but only "
                    f"{format_yen(allocation.available)} remain",
                )
            return
        if (
            self.max_amount is not None
            and p.already_amount + sum(a.amount for a in allocation) > self.max_amount
        ):
            reject(
                p,
                "guard.max-amount",
                f"would refund {format_yen(p.already_amount + sum(a.amount for a in allocation))}"
                f", more than the most a row may refund ({format_yen(self.max_amount)})",
            )
            return
        p.action = Action.SEND
        p.generation = latest + 1
        p.parts = allocation
        # Which payment holds each refund, built once: an order of 200,000 payments stays
        # linear however many of the row's refunds are already known.
        holder = {refund_id: c.id for c in candidates for refund_id in c.known_refunds()}
        own_on: dict[str, int] = {}
        for refund_id in p.already_ids:
            if (payment_id := holder.get(refund_id)) is not None:
                own_on[payment_id] = own_on.get(payment_id, 0) + 1
        p.keys = tuple(
            ids.idempotency_key(
                p.identity, part.payment_id, p.generation, own_on.get(part.payment_id, 0)
            )
            for part in allocation
        )
        view.reserve((part.payment_id, part.amount) for part in allocation)
        if covered[0] and book is not None:
            sent = sum(part.amount for part in allocation)
            p.message = (
                f"{_covered_message(book, *covered)}; this row adds the remaining "
                f"{format_yen(sent)}"
                + (f" so {book.reference} totals {format_yen(request.amount)}"
                   if request.amount is not None else "")
            )  # fmt: skip

    def _complete(self, p: RowPlan, message: str = "refunded by an earlier run") -> None:
        p.action = Action.DONE
        p.message = message
        if self.plan_only:
            return  # a plan looks and decides nothing: the run that follows records it
        self.journal.complete(
            p.identity, run_id=self.run_id, row=p.request.row,
            refunded_amount=p.already_amount, refund_ids=p.already_ids,
        )  # fmt: skip

    async def _fetch_view(
        self, request: RefundRequest, *, want_reference: bool = False
    ) -> tuple[OrderView, str | None]:
        """The order's payments and their refunds, checked before any arithmetic trusts them
        (``Untrusted`` otherwise), and the order's shop number (its reference); a stop request
        is honoured between requests."""
        reference: str | None = None
        if request.order_id is not None:
            order: Order = await self.api.get_order(request.order_id, expand=True)
            _check_order(order)
            payments = []
            for listed in order.payments:
                self._raise_if_stopped()
                payments.append(
                    listed if isinstance(listed, Payment)
                    else await self.api.get_payment(listed, expand=True)
                )  # fmt: skip
            order_id: str | None = order.id
            reference = order.reference
        else:
            assert request.payment_id is not None  # intake guarantees one of the two
            payments = [await self.api.get_payment(request.payment_id, expand=True)]
            order_id = payments[0].order_id
            if want_reference:  # a row's shop number is checked against its order
                reference = (await self.api.get_order(order_id, expand=False)).reference
        for payment in payments:
            _check_payment(payment, order_id)
        views = []
        for payment in payments:
            fetched: dict[str, Refund] = {}
            for item in payment.refunds or ():
                if isinstance(item, str):
                    self._raise_if_stopped()
                    try:
                        fetched[item] = await self.api.get_refund(item, payment_id=payment.id)
                    except NotFound:
                        continue
            journal_refunds: dict[str, Refund] = {}
            if payment.refunds is None or any(
                isinstance(item, str) and item not in fetched for item in payment.refunds
            ):  # the view needs them only where Smartpay's list is not whole
                await self.journal.settled(payment=payment.id)
                journal_refunds = self.journal.refunds_on_payment(payment.id)
            views.append(view_payment(payment, fetched=fetched, journal_refunds=journal_refunds))
        return OrderView(order_id, views), reference

    async def _complete_unlisted(self, view: OrderView, rows: list[RowPlan]) -> None:
        """Where Smartpay does not list a payment's refunds and the journal knows nothing of
        some row, learn them from the shared newest-first scan of ``GET /refunds`` back to
        the payment's creation, before anything is planned: a lost journal must not let a
        row be refunded again, nor hide a refund made under its reference."""
        unlisted = [v for v in view.payments if not v.complete]
        if not unlisted:
            return
        for p in rows:
            await self.journal.settled(identity=p.identity)
        if all(self.journal.intents_for(p.identity) for p in rows):
            return
        for payment in unlisted:
            self._raise_if_stopped()
            scanned = await self._scanner.refunds_on(
                payment.id, not_before_ms=payment.payment.created_at
            )
            payment.refunds = {**payment.journal_refunds, **payment.refunds,
                               **{r.id: r for r in scanned}}  # fmt: skip
            payment.complete = True

    def _raise_if_stopped(self) -> None:
        if (reason := self.stopper.reason()) is not None:
            raise Stopped(*reason)

    async def _look_up(
        self, intent: Intent, view: OrderView, known: Collection[str]
    ) -> tuple[Refund | None, Refund | None]:
        """Find the refund an unanswered request may have created, without sending anything:
        the one exactly as asked, else one with its marks but another amount or currency
        (``known``: refund ids the journal already holds for the row)."""
        payment = view.payment(intent.payment_id)
        if payment is not None and payment.complete:
            candidates: list[Refund] = list(payment.refunds.values())
        else:
            # Smartpay won't list the payment's refunds: scan all refunds newest first, back to
            # the payment's creation (on Smartpay's own clock, so no clock skew can hide one).
            not_before = payment.payment.created_at if payment is not None else 0
            candidates = await self._scanner.refunds_on(intent.payment_id, not_before_ms=not_before)
        found = refund_for_intent(
            candidates, identity=intent.identity, reference=intent.reference,
            payment_id=intent.payment_id, amount=intent.amount,
        )  # fmt: skip
        if found is not None and found.succeeded and payment is not None:
            payment.add_refund(found)
        if found is not None:
            return found, None
        unlike = unlike_refund_for_intent(
            candidates, identity=intent.identity, reference=intent.reference,
            payment_id=intent.payment_id, amount=intent.amount, known=known,
        )  # fmt: skip
        return None, unlike

    def _refused_or_failed(self, p: RowPlan, exc: SmartpayError) -> None:
        """A row whose planning failed: ``rejected`` when Smartpay refused it, ``failed`` (safe
        to re-run) when the answer was unknown or said the tool itself is misconfigured."""
        if isinstance(exc, CONFIGURATION_ERRORS):
            self.stopper.configuration(exc)
            reason = self.stopper.reason()
            assert reason is not None
            fail(p, *reason)
            return
        if isinstance(exc, ApiUnavailable | UnusableAnswer):
            self.stopper.failed()
        else:
            self.stopper.succeeded()
        (reject if isinstance(exc, ApiRefused) else fail)(p, exc.code, exc.message)


class _GroupNotPlanned(Exception):
    """Why none of a group's rows can be planned: a code and a message for each of them."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Untrusted(_GroupNotPlanned):
    """What Smartpay answered about an order cannot be right; its rows are rejected."""


class Stopped(_GroupNotPlanned):
    """The run is stopping (asked to, misconfigured, the journal unwritable, the API down)
    and a request was not sent: its rows are failed."""


def _check_order(order: Order) -> None:
    if order.currency.upper() != CURRENCY:
        raise Untrusted(
            "order.currency",
            f"the order is in {order.currency}; only JPY can be refunded, so nothing was sent",
        )
    ids_listed = Counter(item.id if isinstance(item, Payment) else item for item in order.payments)
    if len(ids_listed) != len(order.payments):
        twice = sorted(i for i, n in ids_listed.items() if n > 1)
        named = ", ".join(twice[:5]) + (f" and {len(twice) - 5:,} more" if len(twice) > 5 else "")
        raise Untrusted(
            "order.duplicate-payments",
            f"Smartpay listed {named} more than once on this order, so what remains "
            "to refund cannot be trusted; nothing was sent",
        )


def _check_payment(payment: Payment, order_id: str | None) -> None:
    if payment.currency.upper() != CURRENCY:
        raise Untrusted(
            "payment.currency",
            f"payment {payment.id} is in {payment.currency}; only JPY can be refunded",
        )
    if order_id is not None and payment.order_id != order_id:
        raise Untrusted(
            "answer.mismatch",
            f"payment {payment.id} was answered as part of {payment.order_id}, not {order_id}; "
            "nothing was sent",
        )


def _group_key(request: RefundRequest) -> str:
    # A shop number still unresolved here is a finished row (or a decided one): no order.
    return request.order_id or request.payment_id or ""


def groups(plans: Iterable[RowPlan]) -> list[list[RowPlan]]:
    """Rows by order (or by payment for payment-only rows), each group in input order."""
    groups: dict[str, list[RowPlan]] = {}
    for p in plans:
        groups.setdefault(_group_key(p.request), []).append(p)
    return list(groups.values())


def reject(p: RowPlan, code: str, message: str) -> None:
    p.action, p.error_code, p.message = Action.REJECT, code, message


def hold(p: RowPlan, code: str, message: str) -> None:
    p.action, p.error_code, p.message = Action.HOLD, code, message


def _hold_exceeding(p: RowPlan, book: ReferenceBook) -> None:
    ids_listed = ", ".join(r.id for r in book.held)
    asked = book.asked or 0
    hold(
        p,
        "hold.reference-exceeds",
        f"Smartpay already holds {format_yen(book.held_total)} under reference {book.reference} "
        f"on this order ({ids_listed}), more than the {format_yen(asked)} this file asks for "
        f"it. Refunds are final, so nothing was sent. If {format_yen(book.held_total)} is "
        "right, correct the file to match; if another refund is meant, give it a reference "
        "of its own.",
    )


def _hold_for_strays(p: RowPlan, earlier: list[Refund], wanted: Yen) -> None:
    total = sum(r.amount for r in earlier)
    listed = ", ".join(f"{r.id} {format_yen(r.amount)}" for r in earlier[:3])
    more = f" and {len(earlier) - 3} more" if len(earlier) > 3 else ""
    hold(
        p,
        "hold.earlier-row-missing",
        f"{format_yen(total)} was already refunded here by an earlier run for a row without a "
        f"reference that is not in this file ({listed}{more}). If this row is that row "
        "changed (a reference added, the amount corrected, a column newly read), sending "
        f"{format_yen(wanted)} would refund it twice: put the row back as it "
        "was and add a row for any difference. If it is a new refund, run again allowing "
        "new refunds",
    )


def _hold_unlike_answer(p: RowPlan, intent: Intent) -> None:
    """A POST of this row was answered with a refund unlike the one asked (noted by the run
    that sent it), and the lookup finds no refund exactly as asked: sending again might make
    a second refund, and counting the one answered would count money nobody asked for."""
    hold(
        p,
        "hold.answer-mismatch",
        f"Smartpay answered this row's request for {format_yen(intent.amount)} from "
        f"{intent.payment_id} with a refund unlike it ({intent.message}), and no refund "
        "exactly as asked has been found since. Nothing was sent again and "
        "nothing is counted as refunded: check the payment's refunds in Smartpay's dashboard "
        "and settle this row by hand.",
    )


def _hold_unlike_refund(p: RowPlan, intent: Intent, refund: Refund) -> None:
    """An unanswered request of this row may have made ``refund``, which carries the row's
    marks but not the amount or currency asked: neither counted nor sent again."""
    hold(
        p,
        "hold.answer-mismatch",
        f"Smartpay holds refund {refund.id} of {refund.amount:,} {refund.currency} on "
        f"{intent.payment_id} under this row's marker and reference {intent.reference}, but "
        f"the unanswered request asked for {intent.amount:,} {CURRENCY}. Nothing was sent "
        "again and nothing is counted as refunded: check the payment's refunds in Smartpay's "
        "dashboard and settle this row by hand.",
    )


def _take_finished_share(p: RowPlan, view: OrderView, book: ReferenceBook) -> None:
    """A row the journal already counts as finished still takes, in file order, the share
    of unclaimed refunds it was settled with, so no later row of the reference counts the
    same refund again."""
    candidates = view.candidates(p.request.payment_id)
    own = sum(
        r.amount
        for r in own_refunds(
            candidates, identity=p.identity, reference=p.reference,
            derived=p.request.reference is None,
        )
    )  # fmt: skip
    amount = p.request.amount
    if amount is None:
        book.take(None)
    elif amount > own:
        book.take(amount - own)


def _covered_message(book: ReferenceBook, covered: Yen, refund_ids: tuple[str, ...]) -> str:
    return (
        f"{format_yen(covered)} was already refunded under reference {book.reference} "
        f"({', '.join(refund_ids)}) by a refund this file did not make (the dashboard, or an "
        "earlier version of this row)"
    )


def fail(p: RowPlan, code: str, message: str) -> None:
    p.action, p.error_code, p.message = Action.FAIL, code, message
