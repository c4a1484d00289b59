"""Run a batch of refunds exactly once: plan (``planning``), then send.

Two ways through, with the same result:

``plan`` then ``execute``
    every order is read first, so a person (or ``--max-total``) sees the real total before
    anything is sent;
``plan_and_execute``
    each order is planned and sent straight away, for runs that need no total first.

Concurrency: at most ``concurrency`` requests are in flight at once, whatever the API (the
engine holds a slot for each call), and twice as many groups are worked on, so a slot that
a group leaves to wait for its intents' commit (or for a payment's lock, or planning) is
taken at once by another group's GET or POST instead of standing empty. The rows of one
group still go one after another.

Sending: a row's parts are committed to the journal *before* its first POST (the only
write a POST waits for; answers, completions and outcomes are queued behind it), each POST
carries a key derived from the row's identity and part, and at most one POST is in flight
per payment. An unanswered POST stays ``pending`` in the journal: the next run looks the
refund up before it sends again with the same key, so a lost response never becomes a second
refund, even after Smartpay's 6-hour key window.

No printing, prompting or exiting here: progress goes to callbacks, and the caller decides
what to do with the outcomes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from batch_refunds import identity as ids
from batch_refunds.allocation import Part
from batch_refunds.api import SmartpayApi
from batch_refunds.attempts import counting
from batch_refunds.errors import (
    CONFIGURATION_ERRORS,
    AnswerMismatch,
    ApiRefused,
    JournalUnwritable,
    SmartpayError,
)
from batch_refunds.journal import ANOTHER_JOURNAL, PENDING, Intent, Journal
from batch_refunds.ledger import pending_message
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
from batch_refunds.money import format_yen
from batch_refunds.planning import (
    Action,
    Plan,
    Planner,
    RowPlan,
    Stopped,
    Stopper,
    fail,
    groups,
)
from batch_refunds.shop_orders import OrderBounds, Resolution

DEFAULT_CONCURRENCY = 8
GROUPS_PER_REQUEST_SLOT = 2
"""Groups worked on at once per request allowed in flight: a group waiting for the disk
holds no request slot, so one spare group per slot keeps every slot busy."""
DEFAULT_MAX_CONSECUTIVE_FAILURES = 20
# Outcomes of rows that sent nothing are only report lines (no money moved, nothing to
# recover), so they are written in batches: a re-run of 50,000 finished rows is one commit
# per batch, not 50,000.
OUTCOME_BATCH = 500


OutcomeHook = Callable[[RowOutcome], None]


class _Slots:
    """``SmartpayApi`` that lets at most ``limit`` calls (one page of a list walk each) be
    under way at once: the engine's own cap on requests in flight. A call that got its slot
    after the run began to stop is not made (``Stopped``): no request leaves after a stop,
    a 401 or a failed commit, however long it queued."""

    def __init__(self, api: SmartpayApi, limit: int, stopper: Stopper) -> None:
        self._api = api
        self._slots = asyncio.Semaphore(limit)
        self._stopper = stopper

    def _go(self) -> None:
        if (reason := self._stopper.reason()) is not None:
            raise Stopped(*reason)

    @property
    def live(self) -> bool:
        return self._api.live

    @property
    def base_url(self) -> str:
        return self._api.base_url

    async def check_access(self) -> None:
        async with self._slots:
            self._go()
            await self._api.check_access()

    async def get_order(self, order_id: str, *, expand: bool = True) -> Order:
        async with self._slots:
            self._go()
            return await self._api.get_order(order_id, expand=expand)

    async def get_payment(self, payment_id: str, *, expand: bool = True) -> Payment:
        async with self._slots:
            self._go()
            return await self._api.get_payment(payment_id, expand=expand)

    async def get_refund(self, refund_id: str, *, payment_id: str | None = None) -> Refund:
        async with self._slots:
            self._go()
            return await self._api.get_refund(refund_id, payment_id=payment_id)

    async def create_refund(self, body: CreateRefund, *, idempotency_key: str) -> Refund:
        async with self._slots:
            self._go()
            return await self._api.create_refund(body, idempotency_key=idempotency_key)

    async def list_refunds(self, *, page_size: int = 100) -> AsyncIterator[Refund]:
        pages = aiter(self._api.list_refunds(page_size=page_size))
        try:
            while True:
                async with self._slots:
                    self._go()
                    try:
                        refund = await anext(pages)
                    except StopAsyncIteration:
                        return
                yield refund
        finally:
            if (close := getattr(pages, "aclose", None)) is not None:
                await close()

    async def list_orders(
        self, *, page_size: int = 100, max_items: int | None = None
    ) -> AsyncIterator[Order]:
        pages = aiter(self._api.list_orders(page_size=page_size, max_items=max_items))
        try:
            while True:
                async with self._slots:
                    self._go()
                    try:
                        order = await anext(pages)
                    except StopAsyncIteration:
                        return
                yield order
        finally:
            if (close := getattr(pages, "aclose", None)) is not None:
                await close()


class _InFlight(Exception):
    """A refund answered with a status that is neither succeeded nor failed."""

    def __init__(self, refund: Refund) -> None:
        super().__init__(refund.id)
        self.refund = refund


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
    plan_only: bool = False
    new_refunds: bool = False
    on_planned: OutcomeHook | None = None
    on_outcome: OutcomeHook | None = None
    order_bounds: OrderBounds | None = None
    orders_scope: str = "test"
    _payment_locks: dict[str, asyncio.Lock] = field(init=False, default_factory=dict)
    _api: SmartpayApi = field(init=False)
    _stopper: Stopper = field(init=False)
    _planner: Planner = field(init=False)
    _unsent: list[RowOutcome] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")
        self._stopper = Stopper(self.max_consecutive_failures, self.stop)
        self._api = _Slots(self.api, self.concurrency, self._stopper)
        self._planner = Planner(
            api=self._api, journal=self.journal, run_id=self.run_id, stopper=self._stopper,
            max_amount=self.max_amount, plan_only=self.plan_only,
            new_refunds=self.new_refunds, order_bounds=self.order_bounds,
            orders_scope=self.orders_scope,
        )  # fmt: skip

    @property
    def shop_resolution(self) -> Resolution | None:
        """What this run's walk of the order list found (``None``: no walk was needed)."""
        return self._planner.shop_resolution

    # --- plan -----------------------------------------------------------------------------

    async def plan(self, requests: Sequence[RefundRequest]) -> Plan:
        """GETs only: decide what each row will do. Rows of one order are planned in order."""
        plans = self._planner.row_plans(requests)
        await self._planner.resolve_shop_orders(plans)

        async def plan_and_tell(group: list[RowPlan]) -> None:
            await self._planner.plan_group(group)
            if self.on_planned is not None:
                for p in group:
                    self.on_planned(self.planned_outcome(p))

        await self._for_each_group(groups(plans), plan_and_tell)
        return Plan(tuple(plans))

    # --- execute --------------------------------------------------------------------------

    async def execute(self, plan: Plan) -> list[RowOutcome]:
        """Send what ``plan`` decided, group by group; rows of a group one after another."""
        outcomes: dict[int, RowOutcome] = {}

        async def run_group(group: list[RowPlan]) -> None:
            for p in group:
                outcomes[p.request.row] = await self._execute_row(p)

        try:
            await self._for_each_group(groups(plan.rows), run_group)
        finally:
            self._flush_unsent()
        return [outcomes[p.request.row] for p in plan.rows]

    async def plan_and_execute(self, requests: Sequence[RefundRequest]) -> list[RowOutcome]:
        """Plan each group and send it straight away: no second pass over every order, for
        runs that need no total before sending (nothing to confirm, no --max-total)."""
        plans = self._planner.row_plans(requests)
        await self._planner.resolve_shop_orders(plans)
        outcomes: dict[int, RowOutcome] = {}

        async def run_group(group: list[RowPlan]) -> None:
            await self._planner.plan_group(group)
            for p in group:
                outcomes[p.request.row] = await self._execute_row(p)

        try:
            await self._for_each_group(groups(plans), run_group)
        finally:
            self._flush_unsent()
        return [outcomes[p.request.row] for p in plans]

    async def _execute_row(self, p: RowPlan) -> RowOutcome:
        outcome = await self._send_row(p) if p.action in (Action.SEND, Action.RESUME) else None
        if outcome is None:
            outcome = self.planned_outcome(p)
            self._record_unsent(outcome)
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        return outcome

    async def _send_row(self, p: RowPlan) -> RowOutcome:
        """Send a row's parts and settle the journal in one commit (a lost settlement only
        leaves intents pending, which the next run looks up before sending)."""
        if (unwritable := self.journal.failure) is not None:
            self._stopper.journal(unwritable)  # a resumed row's answer could not be recorded
        if (reason := self._stopper.reason()) is not None:
            outcome = self._outcome(p, Status.FAILED, 0, p.already_ids, 0, *reason)
            self._record_unsent(outcome)
            return outcome
        if p.action is Action.SEND:
            try:
                # The one wait for the disk: this row's intents, in a commit shared with
                # whatever other rows submitted meanwhile (see ``journal``).
                await self.journal.record_intents(
                    Intent(
                        key=key, identity=p.identity, generation=p.generation,
                        run_id=self.run_id, row=p.request.row, order_id=p.request.order_id,
                        payment_id=part.payment_id, amount=part.amount, reference=p.reference,
                        state=PENDING,
                    )
                    for key, part in zip(p.keys, p.parts, strict=True)
                )  # fmt: skip
            except JournalUnwritable as exc:
                self._stopper.journal(exc)
                outcome = self._outcome(
                    p, Status.FAILED, 0, p.already_ids, 0, exc.code,
                    f"{exc.message}; nothing was sent for this row",
                )  # fmt: skip
                self._record_unsent(outcome)
                return outcome
        succeeded: list[tuple[str, Refund]] = []
        refused: list[tuple[str, str, str]] = []
        unusable: list[tuple[str, str, str]] = []
        failure: tuple[Status, str, str] | None = None
        attempts = 0
        for index, (key, part) in enumerate(zip(p.keys, p.parts, strict=True)):
            if index and (reason := self._stopper.reason()) is not None:
                # Stop between parts: the unsent ones stay pending with their keys, so the
                # next run looks them up (finding nothing) and sends them exactly once.
                failure = (Status.FAILED, *reason)
                break
            lock = self._payment_locks.setdefault(part.payment_id, asyncio.Lock())
            with counting() as tries:
                try:
                    async with lock:
                        refund = await self._api.create_refund(
                            self._body(p, part), idempotency_key=key
                        )
                    if refund.failed:  # a failed refund moved no money
                        raise ApiRefused(
                            f"Smartpay created refund {refund.id} with status {refund.status}",
                            error_code="refund.failed",
                        )
                    if not refund.succeeded:
                        raise _InFlight(refund)
                except Stopped as exc:
                    # Stopped while waiting for a request slot: not sent, the intent stays
                    # pending (the next run finds nothing and sends it with its key).
                    failure = (Status.FAILED, exc.code, exc.message)
                except _InFlight as exc:
                    # Pending (or a status we don't know): it may still go through. Never a
                    # new key for it: the intent stays open for the next run's lookup.
                    self._stopper.succeeded()
                    failure = (Status.FAILED, "refund.pending", pending_message(exc.refund))
                except CONFIGURATION_ERRORS as exc:
                    # Not this row's fault, and nothing was made: the intent stays pending,
                    # so a re-run with the key or prefix fixed looks it up, then resends it.
                    self._stopper.configuration(exc)
                    reason = self._stopper.reason()
                    assert reason is not None
                    failure = (Status.FAILED, *reason)
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
                    if isinstance(exc, AnswerMismatch):
                        # A refund unlike the one asked may exist, which no lookup for the
                        # intent can find: noted, so the next run holds the row instead of
                        # sending it again (after 6 hours the key would make a second one).
                        unusable.append((key, exc.code, exc.message))
                    failure = (Status.FAILED, exc.code, f"{exc.message}; the outcome is unknown "
                               "and a re-run will check before sending again")  # fmt: skip
                else:
                    self._stopper.succeeded()
                    succeeded.append((key, refund))
            attempts += max(tries[0], 1)
            if failure is not None:
                break
        # A replayed answer means an earlier request with the same key made the refund: an
        # earlier run of this journal (a resumed row) or a run on another journal. It is
        # reported as already refunded, so two reports never both claim it.
        senders = dict(zip(p.keys, p.senders, strict=False))
        credit = {
            key: (senders.get(key, ANOTHER_JOURNAL) if refund.replayed else self.run_id)
            for key, refund in succeeded
        }
        replayed = sum(r.amount for _, r in succeeded if r.replayed)
        refunded = sum(r.amount for _, r in succeeded if not r.replayed)
        p.already_amount += replayed
        refund_ids = [*p.already_ids, *(r.id for _, r in succeeded)]
        if failure is None and succeeded and not refunded:
            outcome = self._outcome(
                p, Status.ALREADY_REFUNDED, 0, refund_ids, attempts, None,
                "Smartpay answered with the refund an earlier request under this row's key made "
                "(a run on another journal, or one whose journal was lost)",
            )  # fmt: skip
        elif failure is None:
            outcome = self._outcome(
                p, Status.REFUNDED, refunded, refund_ids, attempts, None, p.message
            )
        else:
            outcome = self._outcome(p, failure[0], refunded, refund_ids, attempts, *failure[1:])
        with self.journal.transaction():
            for key, refund in succeeded:
                self.journal.mark_succeeded(
                    key, refund_id=refund.id, created_at=refund.created_at,
                    run_id=self.run_id, row=p.request.row, credited_run_id=credit[key],
                )  # fmt: skip
            for key, code, message in refused:
                self.journal.mark_refused(key, error_code=code, message=message, run_id=self.run_id)
            for key, code, message in unusable:
                self.journal.note_unusable(key, error_code=code, message=message)
            if failure is None:
                self.journal.complete(
                    p.identity, run_id=self.run_id, row=p.request.row,
                    refunded_amount=p.already_amount + refunded, refund_ids=refund_ids,
                )  # fmt: skip
            self.journal.record_outcome(self.run_id, outcome)
            self._flush_unsent()  # rides on this commit
        return outcome

    def _record_unsent(self, outcome: RowOutcome) -> None:
        self._unsent.append(outcome)
        if len(self._unsent) >= OUTCOME_BATCH:
            self._flush_unsent()

    def _flush_unsent(self) -> None:
        if self._unsent:
            self.journal.record_outcomes(self.run_id, self._unsent)
            self._unsent.clear()

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

    def stop_reason(self) -> str | None:
        """Why this run stopped before trying every row, or ``None``."""
        return self._stopper.summary()

    @property
    def misconfigured(self) -> bool:
        """The key or the API prefix proved wrong (a 401, or a 404 from no Smartpay route)."""
        return self._stopper.misconfigured is not None

    def unsent_outcomes(
        self, requests: Sequence[RefundRequest], code: str, message: str
    ) -> list[RowOutcome]:
        """``failed`` outcomes for rows a guardrail kept from even being planned."""
        plans = self._planner.row_plans(requests)
        for p in plans:
            fail(p, code, message)
        return [self.planned_outcome(p) for p in plans]

    def planned_outcome(self, p: RowPlan) -> RowOutcome:
        """The outcome of a row that execution does not touch (or that plan alone shows)."""
        if p.action in (Action.SEND, Action.RESUME):
            split = " + ".join(
                f"{format_yen(part.amount)} from {part.payment_id}" for part in p.parts
            )
            return self._outcome(
                p, Status.PLANNED, 0, p.already_ids, 0, None,
                p.message or f"would refund {split}",
            )  # fmt: skip
        status = {
            Action.DONE: Status.ALREADY_REFUNDED,
            Action.REJECT: Status.REJECTED,
            Action.HOLD: Status.HELD,
            Action.FAIL: Status.FAILED,
        }[p.action]
        return self._outcome(p, status, 0, p.already_ids, 0, p.error_code, p.message)

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
        """``refunded``: what this run's own requests created for the row; what existed
        before (``p.already_amount``) is reported apart from it."""
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
            already_refunded=p.already_amount,
            shop_order=request.shop_order,
        )

    async def _for_each_group(
        self, batches: list[list[RowPlan]], work: Callable[[list[RowPlan]], Awaitable[None]]
    ) -> None:
        """Run ``work`` on every group, ``GROUPS_PER_REQUEST_SLOT × concurrency`` at once."""
        queue: asyncio.Queue[list[RowPlan]] = asyncio.Queue()
        for group in batches:
            queue.put_nowait(group)

        async def worker() -> None:
            while True:
                try:
                    group = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                await work(group)

        workers = min(GROUPS_PER_REQUEST_SLOT * self.concurrency, len(batches))
        async with asyncio.TaskGroup() as tg:
            for _ in range(workers):
                tg.create_task(worker())
