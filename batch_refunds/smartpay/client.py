"""The production Smartpay client: asyncio over one ``aiohttp.ClientSession``.

The only module that imports aiohttp. Each request try passes the shared ``Pacer`` (even
pace, concurrency cap, a pace just under the limit that 429s reveal), is retried by the
policy in ``retry``, reports through an ``EventHook``, and comes back as the frozen models of
``batch_refunds.models`` or as one of the errors of ``batch_refunds.errors``. aiohttp's own
exceptions are translated in exactly one place, ``_transport_failure``.

Every answer is checked where it enters, once: its body is read only up to
``max_response_bytes`` (``AnswerTooLarge`` past it), the secret key is masked in the raw bytes
before anything is parsed, ``wire`` checks each field's type and range (``MalformedAnswer``,
``ImplausibleAnswer``), and ``verify`` checks the answer against the request
(``AnswerMismatch``). A list walk stops at a repeated page token or past ``max_list_pages`` /
``max_list_items`` (``EndlessList``). These are ``UnusableAnswer``: never retried, never a
refusal, so a refund POST they end leaves its outcome unknown.

Usage::

    async with SmartpayClient(ClientConfig.from_env()) as client:
        await client.check_access()  # a wrong key or API prefix fails here, not on row 1
        order = await client.get_order("order_test_…")
        refund = await client.create_refund(body, idempotency_key=key)
"""

from __future__ import annotations

import asyncio
import json
import logging
import random as _random
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp

from batch_refunds import __version__, attempts
from batch_refunds.errors import (
    AnswerMismatch,
    AnswerTooLarge,
    ConnectionFailed,
    EndlessList,
    EndpointNotFound,
    ImplausibleAnswer,
    MalformedAnswer,
    RateLimited,
    RequestTimedOut,
    SmartpayError,
    Unauthorized,
)
from batch_refunds.models import CreateRefund, Order, Payment, Refund
from batch_refunds.smartpay import diagnosis, retry, verify, wire
from batch_refunds.smartpay.config import ClientConfig, mask_secret
from batch_refunds.smartpay.events import (
    ClientEvent,
    EventHook,
    RequestFinished,
    RequestRetried,
    RequestStarted,
    Throttled,
    no_event,
)
from batch_refunds.smartpay.masking import MAX_SERVER_CODE_CHARS, SecretMask
from batch_refunds.smartpay.pacing import Clock, Pacer, Sleep

USER_AGENT = f"batch-refunds/{__version__}"
REPLAYED_HEADER = "Idempotency-Replayed"

_T = TypeVar("_T")
_Listed = TypeVar("_Listed", bound=Order | Refund)
_log = logging.getLogger("batch_refunds.smartpay")

# Failures that happen before a byte of the request leaves: safe to retry even without a key.
_NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)


class _TooLarge(Exception):
    """Reading a body stopped at the cap."""

    def __init__(self, declared_bytes: int | None) -> None:
        super().__init__(declared_bytes)
        self.declared_bytes = declared_bytes


@dataclass(frozen=True, slots=True)
class _Answer:
    data: Any
    replayed: bool = False  # Smartpay answered with the stored result of an earlier request


@dataclass(frozen=True, slots=True)
class _Failure:
    error: SmartpayError
    started_at: float
    request_sent: bool = True
    retry_after_s: float | None = None
    cause: BaseException | None = None


class SmartpayClient:
    """Talks to Smartpay for the refund engine; satisfies ``batch_refunds.api.SmartpayApi``.

    ``config`` defaults to ``ClientConfig.from_env()``. ``session``: an existing
    ``aiohttp.ClientSession`` to use (and leave open); otherwise one is opened on
    ``async with`` and closed on exit. ``clock``/``sleep``/``random``/``wall_clock`` are
    injectable so tests control time and jitter (``clock`` is monotonic seconds,
    ``wall_clock`` epoch seconds, used only for an HTTP-date ``Retry-After``).
    """

    def __init__(
        self,
        config: ClientConfig | None = None,
        *,
        session: aiohttp.ClientSession | None = None,
        hook: EventHook = no_event,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        random: Callable[[], float] = _random.random,
        wall_clock: Clock = time.time,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self._config = ClientConfig.from_env() if config is None else config
        # When the run is stopping, a failed try is not retried: its outcome stays unknown
        # (a refund's intent stays pending and is looked up next run), and the run can end
        # within one request's timeout instead of a whole retry budget.
        self._should_stop = should_stop
        self._session = session
        self._owns_session = session is None
        self._hook = hook
        self._clock = clock
        self._sleep = sleep
        self._random = random
        self._wall_clock = wall_clock
        self._pacer = Pacer.from_config(self._config, clock=clock, sleep=sleep)
        self._timeout = aiohttp.ClientTimeout(
            total=self._config.request_timeout_s,
            connect=self._config.connect_timeout_s,
            sock_connect=self._config.connect_timeout_s,
        )
        self._mask = SecretMask(self._config.secret_key)
        self._headers = {
            "Authorization": f"Basic {self._config.secret_key}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }

    def __repr__(self) -> str:
        return (
            f"SmartpayClient(base_url={self._config.base_url!r}, "
            f"secret_key={mask_secret(self._config.secret_key)!r})"
        )

    @property
    def config(self) -> ClientConfig:
        return self._config

    @property
    def live(self) -> bool:
        """True for a ``sk_live_`` key: its refunds move real money."""
        return self._config.live

    @property
    def base_url(self) -> str:
        """The API prefix, as checked by ``ClientConfig`` (no user name or password in it)."""
        return self._config.base_url

    @property
    def pacer(self) -> Pacer:
        """The shared pace and concurrency gate (its current rate is worth showing a user)."""
        return self._pacer

    async def __aenter__(self) -> SmartpayClient:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._config.max_in_flight),
                timeout=self._timeout,
            )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session if this client opened it."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    # --- the operations the engine uses ----------------------------------------------------

    async def check_access(self) -> None:
        """Prove the key and the API prefix with one cheap read: ``GET /orders?maxResults=1``.

        Returns when Smartpay answers with an order list. Raises ``Unauthorized`` (the key)
        or ``EndpointNotFound`` (the prefix), both in ``errors.CONFIGURATION_ERRORS``, or
        whatever else went wrong (retried first like any GET).
        """
        path = "/orders"
        data = (await self._answer("GET", path, params={"maxResults": "1", "expand": "no"})).data
        self._parse(wire.parse_collection, data, "GET", path)

    async def get_order(self, order_id: str, *, expand: bool = True) -> Order:
        """``GET /orders/{id}``; with ``expand`` the payments come back as objects.

        The answer must be that order, and each expanded payment one of its own (else
        ``AnswerMismatch``). ``payments`` keeps Smartpay's list as given, in its order: a
        payment named twice (as ids, objects or one of each) appears twice, for the planner
        to refuse. A currency other than JPY is kept as given too.
        """
        path = f"/orders/{_segment('order_id', order_id)}"
        data = (await self._answer("GET", path, params={"expand": _expand(expand)})).data
        order = self._parse(wire.parse_order, data, "GET", path)
        self._verify(verify.check_order, order, "GET", path, asked_id=order_id)
        self._verify(verify.check_mode, order, "GET", path, live=self._config.live)
        return order

    async def get_payment(self, payment_id: str, *, expand: bool = True) -> Payment:
        """``GET /payments/{id}``: that payment, whose refund objects are its own and add up
        to no more than it (``AnswerMismatch``, ``ImplausibleAnswer``)."""
        path = f"/payments/{_segment('payment_id', payment_id)}"
        data = (await self._answer("GET", path, params={"expand": _expand(expand)})).data
        payment = self._parse(wire.parse_payment, data, "GET", path)
        self._verify(verify.check_payment, payment, "GET", path, asked_id=payment_id)
        self._verify(verify.check_mode, payment, "GET", path, live=self._config.live)
        return payment

    async def get_refund(self, refund_id: str, *, payment_id: str | None = None) -> Refund:
        """``GET /refunds/{id}``: that refund, and with ``payment_id`` (the payment that
        listed its id) a refund of that payment (``AnswerMismatch`` otherwise)."""
        path = f"/refunds/{_segment('refund_id', refund_id)}"
        data = (await self._answer("GET", path)).data
        refund = self._parse(wire.parse_refund, data, "GET", path)
        self._verify(
            verify.check_refund, refund, "GET", path, asked_id=refund_id, payment_id=payment_id
        )
        self._verify(verify.check_mode, refund, "GET", path, live=self._config.live)
        return refund

    async def create_refund(self, body: CreateRefund, *, idempotency_key: str) -> Refund:
        """``POST /refunds`` under ``idempotency_key``, the same on every retry of this call.

        The caller owns the key: to be safe across a crash it must derive the same key for
        the same refund next time (within Smartpay's 6-hour window).

        The answer must be a refund of ``body``'s payment, amount and currency (and its
        reference, when the answer carries one); otherwise ``AnswerMismatch``: the refund
        may exist, so that is neither a refusal nor a refund to record. A refund that matches
        is returned whatever its ``status``: ``succeeded``, ``failed``, or another such as
        ``pending``, which the caller must treat as not known to have moved money yet.
        """
        if not idempotency_key or not idempotency_key.isprintable() or len(idempotency_key) > 255:
            raise ValueError("idempotency_key: must be 1–255 printable characters")
        answer = await self._answer(
            "POST", "/refunds", body=wire.refund_body(body), idempotency_key=idempotency_key
        )
        refund = self._parse(wire.parse_refund, answer.data, "POST", "/refunds")
        self._verify(verify.check_created, refund, "POST", "/refunds", body=body)
        self._verify(verify.check_mode, refund, "POST", "/refunds", live=self._config.live)
        return replace(refund, replayed=True) if answer.replayed else refund

    async def list_refunds(self, *, page_size: int = 100) -> AsyncIterator[Refund]:
        """Every refund, newest first, one ``GET /refunds`` page at a time as it is consumed.

        Raises ``EndlessList`` when a page token comes back a second time, or before a page
        past ``max_list_pages`` or an item past ``max_list_items``: a server bug must not
        turn into an endless loop or fill memory.
        """
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise ValueError(f"page_size: must be a whole number ≥ 1, got {page_size!r}")
        pages = self._walk(
            "/refunds", {}, wire.parse_refund_page, "refund", page_size=page_size,
            max_items=self._config.max_list_items, max_pages=self._config.max_list_pages,
            config_bounds=True,
        )  # fmt: skip
        async for refund in pages:
            yield refund

    async def list_orders(
        self, *, page_size: int = 100, max_items: int | None = None
    ) -> AsyncIterator[Order]:
        """Every order, newest first as far as anyone outside Smartpay can tell, one
        ``GET /orders?expand=no`` page at a time as it is consumed (payments as ids).

        ``max_items`` (default ``max_list_items``) bounds the walk, and pages past what it
        needs count as endless; a page token handed out twice is ``EndlessList`` too.
        """
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise ValueError(f"page_size: must be a whole number ≥ 1, got {page_size!r}")
        max_items = self._config.max_list_items if max_items is None else max_items
        max_pages = max(self._config.max_list_pages, -(-max_items // page_size) + 1)
        pages = self._walk(
            "/orders", {"expand": "no"}, wire.parse_order_page, "order", page_size=page_size,
            max_items=max_items, max_pages=max_pages, config_bounds=False,
        )  # fmt: skip
        async for order in pages:
            yield order

    async def _walk(
        self,
        path: str,
        params: Mapping[str, str],
        parse: Callable[[object], tuple[Sequence[_Listed], str | None]],
        noun: str,
        *,
        page_size: int,
        max_items: int,
        max_pages: int,
        config_bounds: bool,
    ) -> AsyncIterator[_Listed]:
        """A list endpoint's items, one page at a time as they are consumed, each checked for
        the key's mode. ``EndlessList`` when a page token comes back a second time, or before
        a page past ``max_pages`` or an item past ``max_items`` (``config_bounds``: those are
        ``max_list_pages``/``max_list_items``, and the message says so)."""
        items_bound = f"max_list_items={max_items:,}" if config_bounds else f"{max_items:,}"
        pages_bound = f"max_list_pages={max_pages:,}" if config_bounds else f"{max_pages:,}"
        token: str | None = None
        seen: set[str] = set()
        pages = items = 0
        while True:
            query = {"maxResults": str(page_size), **params}
            if token is not None:
                query["pageToken"] = token
            data = (await self._answer("GET", path, params=query)).data
            pages += 1
            listed, token = self._parse(parse, data, "GET", path)
            for item in listed:
                self._verify(verify.check_mode, item, "GET", path, live=self._config.live)
                if items == max_items:
                    raise self._endless(
                        f"the {noun} list went on past {items_bound} {noun}s ({pages:,} pages)"
                        + ("; raise max_list_items if the account really holds more"
                           if config_bounds else ""),
                        path,
                    )  # fmt: skip
                items += 1
                yield item
            if token is None:
                return
            if token in seen:
                raise self._endless(
                    f"the {noun} list handed out page token {token[:40]!r} a second time, "
                    f"after {pages:,} pages and {items:,} {noun}s",
                    path,
                )
            if pages == max_pages:
                raise self._endless(
                    f"the {noun} list went on past {pages_bound} pages ({items:,} {noun}s)"
                    + ("; raise max_list_pages if the account really holds more"
                       if config_bounds else ""),
                    path,
                )  # fmt: skip
            seen.add(token)

    # --- one request, with retries --------------------------------------------------------

    async def _answer(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> _Answer:
        config = self._config
        replay_safe = method == "GET" or idempotency_key is not None
        # The time budget counts this call's own tries and waits, not time queued behind
        # other requests for the pace or a free slot: a long batch must not eat its retries.
        spent_s = 0.0
        attempt = 0
        while True:
            attempt += 1
            outcome = await self._try_once(method, path, params, body, idempotency_key, attempt)
            if isinstance(outcome, _Answer):
                # A replay after one of this call's own tries went unanswered is that try's
                # result; only a replay of the first try shows an earlier call made it.
                return outcome if attempt == 1 else _Answer(outcome.data)
            spent_s += self._clock() - outcome.started_at
            error = outcome.error
            delay_s = retry.retry_delay_s(
                attempt,
                retry_after_s=outcome.retry_after_s,
                retry_after_cap_s=config.retry_after_cap_s,
                base_s=config.backoff_base_s,
                cap_s=config.backoff_cap_s,
                random=self._random,
            )
            if isinstance(error, RateLimited):
                # Slow everyone down, whether or not this particular request is retried.
                self._pacer.rate_limited(pause_s=delay_s, started_at=outcome.started_at)
                self._emit(
                    Throttled(method, path, self._clock(), delay_s, self._pacer.rate_per_second)
                )
            retryable = retry.is_retryable(
                error, replay_safe=replay_safe, request_sent=outcome.request_sent
            )
            if (
                not retryable
                or self._should_stop()
                or not retry.within_budget(
                    attempt=attempt,
                    max_attempts=config.max_attempts,
                    elapsed_s=spent_s,
                    delay_s=delay_s,
                    max_retry_time_s=config.max_retry_time_s,
                )
            ):
                raise error from outcome.cause
            self._emit(RequestRetried(method, path, attempt, self._clock(), delay_s, error.code))
            await self._sleep(delay_s)
            spent_s += delay_s

    async def _try_once(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: Mapping[str, Any] | None,
        idempotency_key: str | None,
        attempt: int,
    ) -> _Answer | _Failure:
        session = self._require_session()
        headers = dict(self._headers)
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        async with self._pacer.slot() as started_at:
            self._emit(RequestStarted(method, path, attempt, started_at))
            try:
                async with session.request(
                    method,
                    self._config.base_url + path,
                    params=params,
                    json=body,
                    headers=headers,
                    timeout=self._timeout,
                    allow_redirects=False,
                ) as response:
                    status = response.status
                    reason = self._mask.server_text(response.reason or "")
                    response_headers = response.headers
                    too_large: _TooLarge | None = None
                    try:
                        raw = await _read_capped(response, self._config.max_response_bytes)
                    except _TooLarge as exc:
                        response.close()  # hang up: not a byte more is read
                        too_large, raw = exc, bytearray()
            except (aiohttp.ClientError, TimeoutError) as exc:
                failure = self._transport_failure(exc, method, path, started_at)
                self._finished(method, path, attempt, started_at, None, failure.error.code)
                return failure
        # A server that echoes the key (from the Authorization header) must not put it into
        # any value we keep: mask it in the bytes, before anything is parsed.
        raw = self._mask.body(raw)
        replayed = response_headers.get(REPLAYED_HEADER, "").strip().lower() == "true"
        outcome: _Answer | _Failure
        if too_large is not None:
            outcome = self._too_large(status, too_large, method, path, started_at)
        elif 200 <= status <= 299:
            self._pacer.good_response(started_at=started_at)
            try:
                outcome = _Answer(json.loads(raw), replayed)
            except (ValueError, RecursionError) as exc:
                # Not chained: a JSONDecodeError holds the whole body in ``doc``.
                error = MalformedAnswer(
                    f"the response is not JSON ({_first_line(exc)})",
                    status=status,
                    method=method,
                    path=path,
                )
                outcome = _Failure(self._mask.error(error), started_at)
        else:
            if status != 429 and status < 500:
                self._pacer.good_response(started_at=started_at)
            outcome = self._http_failure(
                status, reason, raw, response_headers, method, path, started_at
            )
        code = outcome.error.code if isinstance(outcome, _Failure) else None
        self._finished(method, path, attempt, started_at, status, code, replayed)
        return outcome

    def _transport_failure(
        self, exc: BaseException, method: str, path: str, started_at: float
    ) -> _Failure:
        """The one place aiohttp's (and asyncio's) exceptions become ours."""
        sent = not isinstance(exc, _NOT_SENT)
        detail = self._mask.server_text(str(exc))
        error: SmartpayError
        if isinstance(exc, TimeoutError):
            phase = "waiting for the response" if sent else "connecting"
            message = f"timed out {phase}" + (f": {detail}" if detail else "")
            error = RequestTimedOut(message, method=method, path=path)
        else:
            error = ConnectionFailed(detail or type(exc).__name__, method=method, path=path)
        return _Failure(
            self._mask.error(error), started_at, request_sent=sent, cause=self._mask.safe_cause(exc)
        )

    def _too_large(
        self, status: int, exc: _TooLarge, method: str, path: str, started_at: float
    ) -> _Failure:
        limit = self._config.max_response_bytes
        declared = exc.declared_bytes
        said = f" (it declared {declared:,} bytes)" if declared is not None else ""
        error = AnswerTooLarge(
            f"the {status} answer was larger than max_response_bytes={limit:,}{said}; "
            "reading stopped there",
            limit_bytes=limit,
            declared_bytes=declared,
            status=status,
            method=method,
            path=path,
        )
        return _Failure(error, started_at)

    def _http_failure(
        self,
        status: int,
        reason: str,
        raw: bytes | bytearray,
        headers: Mapping[str, str],
        method: str,
        path: str,
        started_at: float,
    ) -> _Failure:
        try:
            data: Any = json.loads(raw)
        except (ValueError, RecursionError):
            data = None
        error_code, message, details = wire.parse_error_body(data)
        if error_code is not None:
            error_code = self._mask.server_text(error_code, MAX_SERVER_CODE_CHARS)
        if message is not None:
            message = self._mask.server_text(message)
        kind = retry.error_class_for(status, error_code)
        base_url = self._config.base_url
        if issubclass(kind, Unauthorized):
            message = diagnosis.unauthorized_message(
                secret_key=self._config.secret_key, base_url=base_url, server_message=message
            )
        elif issubclass(kind, EndpointNotFound):
            message = diagnosis.endpoint_not_found_message(
                base_url=base_url, server_message=message
            )
        elif message is None:
            # A proxy's HTML error page is no message for a report line; the reason phrase is.
            message = reason or "HTTP error"
        retry_after_s = retry.retry_after_from(headers, now_epoch_s=self._wall_clock())
        error = retry.error_for_status(
            status,
            message,
            error_code=error_code,
            details=details,
            method=method,
            path=path,
            retry_after_s=retry_after_s,
        )
        return _Failure(self._mask.error(error), started_at, retry_after_s=retry_after_s)

    # --- checking an answer -----------------------------------------------------------------

    def _parse(self, parse: Callable[[object], _T], data: object, method: str, path: str) -> _T:
        try:
            return parse(data)
        except wire.ImplausibleValue as exc:
            error: SmartpayError = ImplausibleAnswer(str(exc), status=200, method=method, path=path)
        except wire.WireError as exc:
            error = MalformedAnswer(
                f"unexpected response: {exc}", status=200, method=method, path=path
            )
        raise self._mask.error(error)

    def _verify(
        self,
        check: Callable[..., None],
        answer: object,
        method: str,
        path: str,
        **asked: Any,
    ) -> None:
        try:
            check(answer, **asked)
        except verify.Mismatch as exc:
            error: SmartpayError = AnswerMismatch(str(exc), status=200, method=method, path=path)
        except verify.Impossible as exc:
            error = ImplausibleAnswer(str(exc), status=200, method=method, path=path)
        else:
            return
        raise self._mask.error(error)

    def _endless(self, message: str, path: str) -> EndlessList:
        return self._mask.error(EndlessList(message, status=200, method="GET", path=path))

    # --- small helpers ----------------------------------------------------------------------

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("SmartpayClient is not open: use `async with SmartpayClient(...)`")
        return self._session

    def _finished(
        self,
        method: str,
        path: str,
        attempt: int,
        started_at: float,
        status: int | None,
        error_code: str | None,
        replayed: bool = False,
    ) -> None:
        now = self._clock()
        self._emit(
            RequestFinished(
                method, path, attempt, now, now - started_at, status, error_code, replayed
            )
        )

    def _emit(self, event: ClientEvent) -> None:
        # The report's counts come from here, whoever built the client and whatever its hook.
        if isinstance(event, RequestStarted):
            attempts.note_request(event.method)
        elif isinstance(event, RequestRetried):
            attempts.note_retry()
        elif isinstance(event, RequestFinished) and event.status == 429:
            attempts.note_rate_limited()
        # A broken progress bar must not turn a refund that happened into an error.
        try:
            self._hook(event)
        except Exception:
            _log.exception("event hook failed on %s", type(event).__name__)


def _segment(name: str, value: str) -> str:
    # Ids come from spreadsheets; quoting keeps "../refunds" from becoming another route.
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name}: must be a non-empty string")
    return quote(value, safe="")


def _expand(expand: bool) -> str:
    return "all" if expand else "no"


async def _read_capped(response: aiohttp.ClientResponse, limit_bytes: int) -> bytearray:
    """The body as it arrives, never buffered past ``limit_bytes``: a declared length above
    it is refused before a byte is read, and an undeclared (or understated) one as soon as
    the bytes pass it. Counted decoded, so a compressed body counts at its real size."""
    declared = response.content_length
    if declared is not None and declared > limit_bytes:
        raise _TooLarge(declared)
    body = bytearray()
    async for chunk in response.content.iter_any():
        if len(body) + len(chunk) > limit_bytes:
            raise _TooLarge(declared)
        body += chunk
    return body


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]
