"""The sandbox's HTTP face: Smartpay's routes under ``/v1`` and admin routes under ``/__admin``.

Every ``/v1`` request passes, in this order: auth (401) → rate limit (429) → injected
failure (500/502/503) → the route. None of those first three changes anything or touches
an Idempotency-Key, so a client may always retry them with the same key. Every response
waits ``latency_ms`` (POST /refunds waits after reserving its key; see below). Each request
is counted in flight (``inflight.py``) from its arrival to its answer.

``POST /refunds`` and its Idempotency-Key, in this order:

* body not JSON / fails validation → 400, nothing stored (Stripe's rule too: a request
  that never started executing leaves no result behind, so the client can fix and resend
  under the same key);
* key seen with a different body → 422; key seen, first request not finished → 409;
  key seen and finished → the stored status and body again, plus ``Idempotency-Replayed: true``;
* otherwise the key is reserved, latency is waited, and the refund is attempted. Its
  outcome is stored against the key *whether 200, 403 or 404*: these are the answers to
  that exact request, and a client retrying after a lost response should learn the same
  answer rather than a different one (e.g. a 403 after its own refund went through).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from batch_refunds.sandbox.admin import DROPPED, add_admin_routes
from batch_refunds.sandbox.clock import Clock, SystemClock
from batch_refunds.sandbox.config import SECRET_KEY_PATTERN, SandboxConfig
from batch_refunds.sandbox.faults import Dice, Knobs, RateLimiter
from batch_refunds.sandbox.inflight import InFlightGauge
from batch_refunds.sandbox.render import (
    collection_json,
    error_json,
    order_json,
    payment_json,
    refund_json,
    unauthorized_json,
)
from batch_refunds.sandbox.replies import error_reply, json_reply
from batch_refunds.sandbox.seed import load_seed
from batch_refunds.sandbox.state import Claim, RefundRefused, SandboxState
from batch_refunds.sandbox.validate import RefundBody, check_refund_body, fingerprint

log = logging.getLogger("batch_refunds.sandbox")

DEFAULT_MAX_RESULTS = 20
# Smartpay documents no ceiling; 100 is what Stripe-like APIs use and keeps pages small.
MAX_MAX_RESULTS = 100
MAX_IDEMPOTENCY_KEY = 255

REPLAYED_HEADER = "Idempotency-Replayed"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Sandbox:
    """One sandbox: its state, knobs, clock, and the aiohttp handlers that serve them."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.clock: Clock = config.clock or SystemClock()
        seed = config.random_seed
        # Separate streams, so turning on fault injection doesn't change the ids generated.
        ids_rng = random.Random(f"ids-{seed}") if seed is not None else random.Random()
        dice_rng = random.Random(f"dice-{seed}") if seed is not None else random.Random()
        self.state = SandboxState(rng=ids_rng, now_ms=self.clock.now_ms)
        self.knobs = Knobs(
            latency_ms=config.latency_ms,
            rate_limit_per_s=config.rate_limit_per_s,
            rate_burst=config.rate_burst,
            fail_rate=config.fail_rate,
            drop_after_commit_rate=config.drop_after_commit_rate,
            payment_refunds=config.payment_refunds,
        )
        self.limiter = RateLimiter()
        self.in_flight = InFlightGauge(self.clock.now_ms)
        self.dice = Dice(dice_rng)
        self.sleep = config.sleep or self.clock.sleep
        if config.seed_data is not None:
            load_seed(self.state, config.seed_data)

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._v1_middleware])
        app.router.add_get("/v1/orders", self.list_orders)
        app.router.add_get("/v1/orders/{id}", self.get_order)
        app.router.add_get("/v1/payments/{id}", self.get_payment)
        app.router.add_post("/v1/refunds", self.create_refund)
        app.router.add_get("/v1/refunds", self.list_refunds)
        app.router.add_get("/v1/refunds/{id}", self.get_refund)
        add_admin_routes(app, self)
        return app

    # ---- the /v1 pipeline -----------------------------------------------------------------
    @web.middleware
    async def _v1_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not (request.path == "/v1" or request.path.startswith("/v1/")):
            return await handler(request)
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "<unmatched>"
        self.in_flight.enter()
        try:
            response = await self._serve_v1(request, handler, route)
        finally:
            self.in_flight.leave()
        status = DROPPED if isinstance(response, _DroppedResponse) else response.status
        self.state.stats.requests[(request.method, route, status)] += 1
        return response

    async def _serve_v1(
        self, request: web.Request, handler: Handler, route: str
    ) -> web.StreamResponse:
        early = self._refuse_early(request)
        if early is not None or not (request.method == "POST" and route == "/v1/refunds"):
            # POST /refunds waits only after reserving its Idempotency-Key, so that a
            # concurrent retry can see the first request in flight.
            await self._delay()
        if early is not None:
            return early
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return error_reply(404, "resource.not-found", f"No route {request.path}")
        except web.HTTPMethodNotAllowed:
            return error_reply(405, "request.method-not-allowed", f"{request.method} not allowed")

    def _refuse_early(self, request: web.Request) -> web.Response | None:
        """401, 429 or an injected 5xx: answers that change nothing and store nothing."""
        refused = self._authenticate(request)
        if refused is not None:
            return refused
        knobs = self.knobs
        wait_s = self.limiter.check(self.clock.now_ms(), knobs.rate_limit_per_s, knobs.rate_burst)
        if wait_s is not None:
            self.state.stats.rate_limited += 1
            response = error_reply(429, "request.rate-limited", "Too many requests")
            response.headers["Retry-After"] = str(wait_s)
            return response
        injected = self.dice.injected_failure(self.knobs.fail_rate)
        if injected is not None:
            self.state.stats.injected_failures += 1
            return _injected_failure(injected)
        return None

    def _authenticate(self, request: web.Request) -> web.Response | None:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        key = key.strip()
        ok = scheme.lower() == "basic" and SECRET_KEY_PATTERN.match(key) is not None
        if ok and key.startswith("sk_live_"):
            # A live key here is a mistake worth shouting about, but answered like any key
            # this server doesn't know: 401 is what makes every client stop and fix the key,
            # whereas a 403 would read as Smartpay's amount.insufficient to a status-keyed client.
            log.warning("refused a live secret key: the sandbox only accepts sk_test_ keys")
            ok = False
        secret = self.config.secret
        if ok and secret is not None:
            ok = hmac.compare_digest(key.encode(), secret.encode())
        if not ok:
            response = json_reply(unauthorized_json(self.config.realm), status=401)
            response.headers["WWW-Authenticate"] = f'Basic realm="{self.config.realm}"'
            return response
        return None

    async def _delay(self) -> None:
        if self.knobs.latency_ms > 0:
            await self.sleep(self.knobs.latency_ms / 1000)

    # ---- /v1 routes ---------------------------------------------------------------------------
    async def get_order(self, request: web.Request) -> web.Response:
        order = self.state.orders.get(request.match_info["id"])
        if order is None:
            return error_reply(
                404, "order.not-found", f"Order {request.match_info['id']} not found"
            )
        body = order_json(
            self.state, order, expand=_expand(request), mode=self.knobs.payment_refunds
        )
        return json_reply(body)

    async def get_payment(self, request: web.Request) -> web.Response:
        payment = self.state.payments.get(request.match_info["id"])
        if payment is None:
            return error_reply(
                404, "payment.not-found", f"Payment {request.match_info['id']} not found"
            )
        body = payment_json(
            self.state, payment, expand=_expand(request), mode=self.knobs.payment_refunds
        )
        return json_reply(body)

    async def get_refund(self, request: web.Request) -> web.Response:
        refund = self.state.refunds.get(request.match_info["id"])
        if refund is None:
            return error_reply(
                404, "refund.not-found", f"Refund {request.match_info['id']} not found"
            )
        return json_reply(refund_json(refund))

    async def list_refunds(self, request: web.Request) -> web.Response:
        return self._page(request, "refunds", refund_json)

    async def list_orders(self, request: web.Request) -> web.Response:
        mode = self.knobs.payment_refunds
        expand = _expand(request)
        return self._page(
            request, "orders", lambda o: order_json(self.state, o, expand=expand, mode=mode)
        )

    def _page(self, request: web.Request, kind: str, render: Callable[[Any], Any]) -> web.Response:
        try:
            max_results = int(request.query.get("maxResults", DEFAULT_MAX_RESULTS))
        except ValueError:
            return error_reply(400, "request.invalid", "maxResults must be an integer")
        if max_results < 1:
            return error_reply(400, "request.invalid", "maxResults must be at least 1")
        max_results = min(max_results, MAX_MAX_RESULTS)
        token = request.query.get("pageToken") or None
        before: int | None = None
        if token is not None:
            before = _decode_token(kind, token)
            if before is None:
                return error_reply(400, "request.invalid", "pageToken is not valid")
        page: list[Any] = []
        next_token: str | None = None
        for position, record in self.state.newest_first(kind, before):
            if len(page) == max_results:
                next_token = _encode_token(kind, position + 1)
                break
            page.append(render(record))
        body = collection_json(
            page, page_token=token, next_page_token=next_token, max_results=max_results
        )
        return json_reply(body)

    async def create_refund(self, request: web.Request) -> web.StreamResponse:
        checked = await _read_refund_request(request)
        if isinstance(checked, web.Response):
            await self._delay()
            return checked
        raw, key, parsed = checked
        scope = _scope(request)
        if key is not None:
            claim, record = self.state.claim_key(scope, key, fingerprint(raw))
            if claim is not Claim.NEW:
                await self._delay()
            if claim is Claim.MISMATCH:
                return error_reply(
                    422,
                    "idempotency.key-reused",
                    "This Idempotency-Key was used with a different request body",
                )
            if claim is Claim.IN_FLIGHT:
                return error_reply(
                    409,
                    "idempotency.in-progress",
                    "A request with this Idempotency-Key is still being processed",
                )
            if claim is Claim.REPLAY:
                self.state.stats.replays += 1
                assert record.status is not None
                assert record.body is not None
                replay = json_reply(record.body, status=record.status)
                replay.headers[REPLAYED_HEADER] = "true"
                return replay
        try:
            await self._delay()
            try:
                refund = self.state.add_refund(
                    parsed.payment,
                    parsed.amount,
                    reason=parsed.reason,
                    reference=parsed.reference,
                    description=parsed.description,
                    line_items=parsed.line_items,
                    metadata=parsed.metadata,
                )
            except RefundRefused as exc:
                refused = error_json(exc.status, exc.code, exc.message)
                if key is not None:
                    self.state.store_response(scope, key, exc.status, refused)
                return json_reply(refused, status=exc.status)
            body = refund_json(refund)
            self.state.stats.refunds_created += 1
            if key is not None:
                self.state.store_response(scope, key, 200, body)
        finally:
            if key is not None:
                # Only a reservation that never got an answer is dropped (e.g. cancelled).
                self.state.release_key(scope, key)
        if self.dice.drop(self.knobs.drop_after_commit_rate):
            return self._drop(request)
        return json_reply(body)

    def _drop(self, request: web.Request) -> web.Response:
        """Cut the connection after the refund is committed: the double-refund trap.

        Aborting the transport resets the TCP connection; aiohttp then fails to write the
        response below and quietly treats it as a client disconnect.
        """
        self.state.stats.dropped += 1
        if request.transport is not None:
            request.transport.abort()
        return _DroppedResponse(status=500)


class _DroppedResponse(web.Response):
    """Never reaches the client; marks the request as dropped in the stats."""


def _scope(request: web.Request) -> str:
    # Idempotency keys are scoped per API key, as at Stripe; keep a digest, not the key.
    _, _, key = request.headers.get("Authorization", "").partition(" ")
    return hashlib.sha256(key.strip().encode()).hexdigest()


async def _read_refund_request(
    request: web.Request,
) -> tuple[dict[str, Any], str | None, RefundBody] | web.Response:
    """The body, Idempotency-Key and parsed refund, or the 400 that refuses them."""
    try:
        raw = json.loads(await request.text())
    except (ValueError, UnicodeDecodeError):
        return error_reply(400, "request.malformed", "The body is not valid JSON")
    if not isinstance(raw, dict):
        return error_reply(400, "request.malformed", "The body must be a JSON object")
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
        return error_reply(
            400, "request.invalid", f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} chars"
        )
    parsed = check_refund_body(raw)
    if isinstance(parsed, list):
        return error_reply(400, "request.invalid", "The refund request is invalid", parsed)
    return raw, key, parsed


def _expand(request: web.Request) -> bool:
    return request.query.get("expand") == "all"


def _injected_failure(status: int) -> web.Response:
    if status == 502:
        # What a load balancer in front of an API sends: not JSON at all.
        return web.Response(
            status=502,
            text="<html><body><h1>502 Bad Gateway</h1></body></html>",
            content_type="text/html",
        )
    code = "internal.error" if status == 500 else "service.unavailable"
    return error_reply(status, code, "Injected failure (sandbox fail_rate)")


def _encode_token(kind: str, before: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{before}".encode()).decode().rstrip("=")


def _decode_token(kind: str, token: str) -> int | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    prefix, _, number = raw.partition(":")
    if prefix != kind or not number.isdigit():
        return None
    return int(number)
