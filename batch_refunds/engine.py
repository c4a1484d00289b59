"""Plan and run a batch of refunds, exactly once.

Two phases, so a person (or ``--max-total``) can see the real total before anything is sent:

``plan``
    GETs only. Rows are grouped by order (or by payment when a row names only a payment);
    groups are planned concurrently, rows of a group one after another so each sees what the
    previous ones will refund. Each row is matched against the journal and Smartpay: already
    done, a request left unanswered by a crash (looked up by reference, on the payment or in
    a newest-first scan of list-refunds), or new — then its amount is allocated across the
    payments' remaining amounts.
``execute``
    For each row to send, its parts are committed to the journal *before* the first POST,
    each POST carries a key derived from the row's identity and part, and at most one POST is
    in flight per payment. An unanswered POST stays ``pending`` in the journal: the next run
    looks the refund up before it sends again with the same key, so a lost response never
    becomes a second refund, even after Smartpay's 6-hour key window.

No printing, prompting or exiting here: progress goes to a callback, and the caller decides
what to do with the outcomes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from batch_refunds import identity as ids
from batch_refunds.allocation import Part, Shortfall, allocate
from batch_refunds.api import SmartpayApi
from batch_refunds.attempts import counting
from batch_refunds.errors import ApiRefused, ApiUnavailable, NotFound, SmartpayError
from batch_refunds.journal import PENDING, REFUSED, SUCCEEDED, Intent, Journal
from batch_refunds.ledger import (
    OrderView,
    matching_refunds,
    refund_for_intent,
    view_payment,
)
from batch_refunds.lookup import RefundScanner
from batch_refunds.models import (
    CreateRefund,
    Order,
    Payment,
    Refund,
    RefundRequest,
    RowOutcome,
    Status,
    Yen,
)

DEFAULT_CONCURRENCY = 8
DEFAULT_MAX_CONSECUTIVE_FAILURES = 20


class Action(Enum):
    SEND = "send"  # new parts to commit and send
    RESUME = "resume"  # parts already committed, answer unknown: send again with their keys
    DONE = "done"  # nothing to do: already refunded
    REJECT = "reject"  # a retry won't help
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
    order_id: str | None = None
    refundable_before: Yen | None = None
    already_amount: Yen = 0  # refunded for this row before this run acted
    already_ids: tuple[str, ...] = ()
    payment_ids: tuple[str, ...] = ()
    error_code: str | None = None
    message: str | None = None

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
class _Stopper:
    """Stops the run early when the API is plainly down, or when asked to."""

    limit: int
    requested: asyncio.Event
    consecutive: int = 0
    tripped: bool = False

    def failed(self) -> None:
        self.consecutive += 1
        if self.consecutive >= self.limit:
            self.tripped = True

    def succeeded(self) -> None:
        self.consecutive = 0

    def reason(self) -> tuple[str, str] | None:
        if self.requested.is_set():
            return ("run.interrupted", "interrupted before this row was sent; re-run to finish it")
        if self.tripped:
            return (
                "run.stopped-early",
                f"stopped after {self.limit} consecutive failures (the API looks down); "
                "re-run to finish it",
            )
        return None


OutcomeHook = Callable[[RowOutcome], None]


@dataclass
class Engine:
    """Plans and executes one run against ``api``, journaling into ``journal``."""

    api: SmartpayApi
    journal: Journal
    run_id: str
    concurrency: int = DEFAULT_CONCURRENCY
    max_amount: Yen | None = None
    max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    on_planned: OutcomeHook | None = None
    on_outcome: OutcomeHook | None = None
    _scanner: RefundScanner = field(init=False)
    _payment_locks: dict[str, asyncio.Lock] = field(init=False, default_factory=dict)
    _stopper: _Stopper = field(init=False)

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")
        self._scanner = RefundScanner(self.api)
        self._stopper = _Stopper(self.max_consecutive_failures, self.stop)

    @property
    def stopped_early(self) -> bool:
        return self._stopper.tripped

    # --- plan -----------------------------------------------------------------------------

    async def plan(self, requests: Sequence[RefundRequest]) -> Plan:
        """GETs only: decide what each row will do. Rows of one order are planned in order."""
        plans = self._row_plans(requests)

        async def plan_and_tell(group: list[RowPlan]) -> None:
            await self._plan_group(group)
            if self.on_planned is not None:
                for p in group:
                    self.on_planned(self.planned_outcome(p))

        await self._for_each_group(_groups(plans), plan_and_tell)
        return Plan(tuple(plans))

    def _row_plans(self, requests: Sequence[RefundRequest]) -> list[RowPlan]:
        plans: list[RowPlan] = []
        for request, occurrence in zip(requests, ids.occurrences(requests), strict=True):
            identity = ids.row_identity(request, occurrence)
            reference = request.reference or ids.derived_reference(identity)
            plans.append(RowPlan(request, identity, reference))
        return plans

    async def _plan_group(self, group: list[RowPlan]) -> None:
        pending_rows: list[RowPlan] = []
        for p in group:
            if self.max_amount is not None and (p.request.amount or 0) > self.max_amount:
                _reject(p, "guard.max-amount", f"asks for more than --max-amount {self.max_amount}")
                continue
            done = self.journal.completion(p.identity)
            if done is not None:
                p.action = Action.DONE
                p.already_amount, p.already_ids = done.refunded_amount, done.refund_ids
                p.message = f"refunded by run {done.run_id}"
                continue
            pending_rows.append(p)
        if not pending_rows:
            return
        if (reason := self._stopper.reason()) is not None:
            for p in pending_rows:
                _fail(p, *reason)
            return
        try:
            view = await self._fetch_view(pending_rows[0].request)
        except SmartpayError as exc:
            self._note(exc)
            for p in pending_rows:
                (_reject if isinstance(exc, ApiRefused) else _fail)(p, exc.code, exc.message)
            return
        self._stopper.succeeded()
        for p in pending_rows:
            try:
                await self._plan_row(p, view)
            except SmartpayError as exc:
                self._note(exc)
                (_reject if isinstance(exc, ApiRefused) else _fail)(p, exc.code, exc.message)

    async def _plan_row(self, p: RowPlan, view: OrderView) -> None:
        request = p.request
        p.order_id = view.order_id
        candidates = view.candidates(request.payment_id)
        p.payment_ids = tuple(c.id for c in candidates)
        if request.payment_id is not None and not candidates:
            _reject(
                p, "payment.not-in-order", f"{request.payment_id} is not a payment of this order"
            )
            return
        if not view.payments:
            _reject(p, "order.no-payments", "the order has no captured payment: nothing to refund")
            return
        p.refundable_before = sum(c.remaining() for c in candidates)

        intents = self.journal.intents_for(p.identity)
        for intent in (i for i in intents if i.state == PENDING):
            found = await self._look_up(intent, view)
            if found is not None:
                self.journal.mark_succeeded(
                    intent.key, refund_id=found.id, created_at=found.created_at,
                    run_id=self.run_id, row=request.row,
                )  # fmt: skip
        intents = self.journal.intents_for(p.identity)
        succeeded = [i for i in intents if i.state == SUCCEEDED]
        p.already_amount = sum(i.amount for i in succeeded)
        p.already_ids = tuple(i.refund_id for i in succeeded if i.refund_id)
        pending = [i for i in intents if i.state == PENDING]
        if pending:
            p.action = Action.RESUME
            p.generation = pending[0].generation
            p.parts = tuple(Part(i.payment_id, i.amount) for i in pending)
            p.keys = tuple(i.key for i in pending)
            view.reserve((i.payment_id, i.amount) for i in pending)
            p.message = "resumes a refund left unanswered by an earlier run"
            return
        latest = max((i.generation for i in intents), default=-1)
        refused = [i for i in intents if i.state == REFUSED and i.generation == latest]
        if intents and not refused:  # every part answered and none refused: finished
            self._complete(p)
            return

        if not intents:
            existing = matching_refunds(candidates, identity=p.identity, reference=p.reference)
            if existing:
                p.action = Action.DONE
                p.already_amount = sum(r.amount for r in existing)
                p.already_ids = tuple(r.id for r in existing)
                p.message = f"a refund with reference {p.reference} already exists"
                self.journal.complete(
                    p.identity, run_id=self.run_id, row=request.row,
                    refunded_amount=p.already_amount, refund_ids=p.already_ids,
                )  # fmt: skip
                return

        wanted = None if request.amount is None else request.amount - p.already_amount
        if wanted is not None and wanted <= 0:
            self._complete(p)
            return
        allocation = allocate(wanted, [(c.id, c.remaining()) for c in candidates])
        if isinstance(allocation, Shortfall):
            if allocation.requested == 0:
                _reject(p, "amount.insufficient", "nothing remains to refund on this order")
            else:
                _reject(
                    p,
                    "amount.insufficient",
                    f"asks for {allocation.requested} yen but only {allocation.available} remain",
                )
            return
        if self.max_amount is not None and p.already_amount + _sum(allocation) > self.max_amount:
            _reject(p, "guard.max-amount", f"would refund more than --max-amount {self.max_amount}")
            return
        p.action = Action.SEND
        p.generation = latest + 1
        p.parts = allocation
        p.keys = tuple(
            ids.idempotency_key(p.identity, part.payment_id, part.amount, p.generation)
            for part in allocation
        )
        view.reserve((part.payment_id, part.amount) for part in allocation)

    def _complete(self, p: RowPlan) -> None:
        p.action = Action.DONE
        p.message = "refunded by an earlier run"
        self.journal.complete(
            p.identity, run_id=self.run_id, row=p.request.row,
            refunded_amount=p.already_amount, refund_ids=p.already_ids,
        )  # fmt: skip

    async def _fetch_view(self, request: RefundRequest) -> OrderView:
        if request.order_id is not None:
            order: Order = await self.api.get_order(request.order_id, expand=True)
            payments = [
                item if isinstance(item, Payment) else await self.api.get_payment(item, expand=True)
                for item in order.payments
            ]
            order_id: str | None = order.id
        else:
            assert request.payment_id is not None  # intake guarantees one of the two
            payments = [await self.api.get_payment(request.payment_id, expand=True)]
            order_id = payments[0].order_id
        views = []
        for payment in payments:
            fetched: dict[str, Refund] = {}
            for item in payment.refunds or ():
                if isinstance(item, str):
                    try:
                        fetched[item] = await self.api.get_refund(item)
                    except NotFound:
                        continue
            journal_refunds = self.journal.refunds_on_payment(payment.id)
            views.append(view_payment(payment, fetched=fetched, journal_refunds=journal_refunds))
        return OrderView(order_id, views)

    async def _look_up(self, intent: Intent, view: OrderView) -> Refund | None:
        """Find the refund an unanswered request may have created, without sending anything."""
        payment = view.payment(intent.payment_id)
        if payment is not None and payment.complete:
            candidates: Iterable[Refund] = payment.refunds.values()
        else:
            # Smartpay won't list the payment's refunds: scan all refunds newest first, back to
            # the payment's creation (on Smartpay's own clock, so no clock skew can hide one).
            not_before = payment.payment.created_at if payment is not None else 0
            candidates = await self._scanner.refunds_on(intent.payment_id, not_before_ms=not_before)
        found = refund_for_intent(
            candidates, identity=intent.identity, reference=intent.reference,
            payment_id=intent.payment_id, amount=intent.amount,
        )  # fmt: skip
        if found is not None and payment is not None:
            payment.add_refund(found)
        return found

    # --- execute --------------------------------------------------------------------------

    async def execute(self, plan: Plan) -> list[RowOutcome]:
        """Send what ``plan`` decided, group by group; rows of a group one after another."""
        outcomes: dict[int, RowOutcome] = {}

        async def run_group(group: list[RowPlan]) -> None:
            for p in group:
                outcomes[p.request.row] = await self._execute_row(p)

        await self._for_each_group(_groups(plan.rows), run_group)
        return [outcomes[p.request.row] for p in plan.rows]

    async def plan_and_execute(self, requests: Sequence[RefundRequest]) -> list[RowOutcome]:
        """Plan each group and send it straight away: no second pass over every order, for
        runs that need no total before sending (nothing to confirm, no --max-total)."""
        plans = self._row_plans(requests)
        outcomes: dict[int, RowOutcome] = {}

        async def run_group(group: list[RowPlan]) -> None:
            await self._plan_group(group)
            for p in group:
                outcomes[p.request.row] = await self._execute_row(p)

        await self._for_each_group(_groups(plans), run_group)
        return [outcomes[p.request.row] for p in plans]

    async def _execute_row(self, p: RowPlan) -> RowOutcome:
        outcome = await self._send_row(p) if p.action in (Action.SEND, Action.RESUME) else None
        if outcome is None:
            outcome = self.planned_outcome(p)
            self.journal.record_outcome(self.run_id, outcome)
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        return outcome

    async def _send_row(self, p: RowPlan) -> RowOutcome:
        """Send a row's parts and settle the journal in one commit (a lost settlement only
        leaves intents pending, which the next run looks up before sending)."""
        if (reason := self._stopper.reason()) is not None:
            outcome = self._outcome(p, Status.FAILED, p.already_amount, p.already_ids, 0, *reason)
            self.journal.record_outcome(self.run_id, outcome)
            return outcome
        if p.action is Action.SEND:
            self.journal.record_intents(
                Intent(
                    key=key, identity=p.identity, generation=p.generation, run_id=self.run_id,
                    row=p.request.row, order_id=p.request.order_id, payment_id=part.payment_id,
                    amount=part.amount, reference=p.reference, state=PENDING,
                )
                for key, part in zip(p.keys, p.parts, strict=True)
            )  # fmt: skip
        succeeded: list[tuple[str, Refund]] = []
        refused: list[tuple[str, str, str]] = []
        failure: tuple[Status, str, str] | None = None
        attempts = 0
        for index, (key, part) in enumerate(zip(p.keys, p.parts, strict=True)):
            lock = self._payment_locks.setdefault(part.payment_id, asyncio.Lock())
            with counting() as tries:
                try:
                    async with lock:
                        refund = await self.api.create_refund(
                            self._body(p, part), idempotency_key=key
                        )
                    if not refund.succeeded:  # a failed refund moved no money
                        raise ApiRefused(
                            f"Smartpay created refund {refund.id} with status {refund.status}",
                            error_code="refund.failed",
                        )
                except ApiRefused as exc:
                    self._stopper.succeeded()
                    refused.append((key, exc.code, exc.message))
                    # Later parts are not sent: the next run plans the row afresh.
                    refused += [(k, "run.not-sent", "an earlier part was refused")
                                for k in p.keys[index + 1 :]]  # fmt: skip
                    failure = (Status.REJECTED, exc.code, exc.message)
                except SmartpayError as exc:
                    # Unavailable, or an answer we could not read: the refund may exist. The
                    # intent stays pending, so the next run looks before it sends again.
                    self._stopper.failed()
                    failure = (Status.FAILED, exc.code, f"{exc.message}; the outcome is unknown "
                               "and a re-run will check before sending again")  # fmt: skip
                else:
                    self._stopper.succeeded()
                    succeeded.append((key, refund))
            attempts += max(tries[0], 1)
            if failure is not None:
                break
        refunded = p.already_amount + sum(r.amount for _, r in succeeded)
        refund_ids = [*p.already_ids, *(r.id for _, r in succeeded)]
        if failure is None:
            outcome = self._outcome(p, Status.REFUNDED, refunded, refund_ids, attempts, None, None)
        else:
            outcome = self._outcome(p, failure[0], refunded, refund_ids, attempts, *failure[1:])
        with self.journal.transaction():
            for key, refund in succeeded:
                self.journal.mark_succeeded(
                    key, refund_id=refund.id, created_at=refund.created_at,
                    run_id=self.run_id, row=p.request.row,
                )  # fmt: skip
            for key, code, message in refused:
                self.journal.mark_refused(key, error_code=code, message=message, run_id=self.run_id)
            if failure is None:
                self.journal.complete(
                    p.identity, run_id=self.run_id, row=p.request.row,
                    refunded_amount=refunded, refund_ids=refund_ids,
                )  # fmt: skip
            self.journal.record_outcome(self.run_id, outcome)
        return outcome

    def _body(self, p: RowPlan, part: Part) -> CreateRefund:
        request = p.request
        metadata = request.metadata
        if len(metadata) < 20:  # Smartpay allows 20 keys; the row's own come first
            metadata = (*metadata, (ids.MARKER_KEY, p.identity))
        return CreateRefund(
            payment_id=part.payment_id,
            amount=part.amount,
            currency=request.currency,
            reason=request.reason,
            reference=p.reference,
            description=request.description,
            line_items=request.line_items,
            metadata=metadata,
        )

    # --- shared -------------------------------------------------------------------------

    def unsent_outcomes(self, requests: Sequence[RefundRequest], guard: str) -> list[RowOutcome]:
        """``failed`` outcomes for rows a guardrail kept from even being planned."""
        code, _, message = guard.partition(": ")
        plans = self._row_plans(requests)
        for p in plans:
            _fail(p, code, message)
        return [self.planned_outcome(p) for p in plans]

    def planned_outcome(self, p: RowPlan) -> RowOutcome:
        """The outcome of a row that execution does not touch (or that plan alone shows)."""
        if p.action in (Action.SEND, Action.RESUME):
            split = " + ".join(f"{part.amount} from {part.payment_id}" for part in p.parts)
            return self._outcome(
                p, Status.PLANNED, p.already_amount, p.already_ids, 0, None,
                p.message or f"would refund {split}",
            )  # fmt: skip
        status = {
            Action.DONE: Status.ALREADY_REFUNDED,
            Action.REJECT: Status.REJECTED,
            Action.FAIL: Status.FAILED,
        }[p.action]
        return self._outcome(p, status, p.already_amount, p.already_ids, 0, p.error_code, p.message)

    def _outcome(
        self,
        p: RowPlan,
        status: Status,
        refunded: Yen,
        refund_ids: Sequence[str],
        attempts: int,
        code: str | None,
        message: str | None,
    ) -> RowOutcome:
        request = p.request
        payment_ids = p.payment_ids or tuple(part.payment_id for part in p.parts)
        if not payment_ids and request.payment_id:
            payment_ids = (request.payment_id,)
        return RowOutcome(
            row=request.row,
            status=status,
            order_id=p.order_id or request.order_id,
            payment_ids=payment_ids,
            currency=request.currency,
            requested_amount=request.amount,
            refundable_before=p.refundable_before,
            refunded_amount=refunded,
            refund_ids=tuple(refund_ids),
            error_code=code,
            message=message,
            reference=p.reference,
            attempts=attempts,
        )

    def _note(self, exc: SmartpayError) -> None:
        if isinstance(exc, ApiUnavailable):
            self._stopper.failed()
        else:
            self._stopper.succeeded()

    async def _for_each_group(
        self, groups: list[list[RowPlan]], work: Callable[[list[RowPlan]], Awaitable[None]]
    ) -> None:
        """Run ``work`` on every group with at most ``concurrency`` groups at once."""
        queue: asyncio.Queue[list[RowPlan]] = asyncio.Queue()
        for group in groups:
            queue.put_nowait(group)

        async def worker() -> None:
            while True:
                try:
                    group = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                await work(group)

        workers = min(self.concurrency, len(groups))
        async with asyncio.TaskGroup() as tg:
            for _ in range(workers):
                tg.create_task(worker())


def _group_key(request: RefundRequest) -> str:
    return request.order_id or request.payment_id or ""


def _groups(plans: Iterable[RowPlan]) -> list[list[RowPlan]]:
    """Rows by order (or by payment for payment-only rows), each group in input order."""
    groups: dict[str, list[RowPlan]] = {}
    for p in plans:
        groups.setdefault(_group_key(p.request), []).append(p)
    return list(groups.values())


def _sum(parts: Iterable[Part]) -> Yen:
    return sum(part.amount for part in parts)


def _reject(p: RowPlan, code: str, message: str) -> None:
    p.action, p.error_code, p.message = Action.REJECT, code, message


def _fail(p: RowPlan, code: str, message: str) -> None:
    p.action, p.error_code, p.message = Action.FAIL, code, message
