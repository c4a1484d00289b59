"""Admin routes under ``/__admin``: no auth, only on the sandbox, so that tests running the
sandbox in another process can inspect it, move its clock, load data and change its knobs.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from aiohttp import web

from batch_refunds.sandbox.render import refund_json
from batch_refunds.sandbox.replies import error_reply, json_reply
from batch_refunds.sandbox.seed import SeedError, load_seed

if TYPE_CHECKING:
    from batch_refunds.sandbox.app import Sandbox

DROPPED = 0  # the status recorded in stats for a response cut off on purpose


def add_admin_routes(app: web.Application, sandbox: Sandbox) -> None:
    def bound(
        handler: Callable[[Sandbox, web.Request], Awaitable[web.Response]],
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        return partial(handler, sandbox)

    app.router.add_get("/__admin/stats", bound(admin_stats))
    app.router.add_get("/__admin/refunds", bound(admin_refunds))
    app.router.add_get("/__admin/config", bound(admin_get_config))
    app.router.add_post("/__admin/config", bound(admin_set_config))
    app.router.add_post("/__admin/clock/advance", bound(admin_advance_clock))
    app.router.add_post("/__admin/seed", bound(admin_seed))


async def admin_stats(sandbox: Sandbox, request: web.Request) -> web.Response:
    stats = sandbox.state.stats
    requests = [
        {"method": m, "route": r, "status": "dropped" if s == DROPPED else s, "count": n}
        for (m, r, s), n in sorted(stats.requests.items(), key=str)
    ]
    return json_reply(
        {
            "requests": requests,
            "refundsCreated": stats.refunds_created,
            "replays": stats.replays,
            "rateLimited": stats.rate_limited,
            "injectedFailures": stats.injected_failures,
            "dropped": stats.dropped,
            "refunds": len(sandbox.state.refunds),
            "orders": len(sandbox.state.orders),
            "payments": len(sandbox.state.payments),
            "nowMs": sandbox.clock.now_ms(),
            "inFlight": sandbox.in_flight.snapshot(),
        }
    )


async def admin_refunds(sandbox: Sandbox, request: web.Request) -> web.Response:
    data = [refund_json(r) for r in sandbox.state.all_refunds()]
    return json_reply({"object": "collection", "results": len(data), "data": data})


async def admin_get_config(sandbox: Sandbox, request: web.Request) -> web.Response:
    return json_reply(sandbox.knobs.as_dict())


async def admin_set_config(sandbox: Sandbox, request: web.Request) -> web.Response:
    changes = await _admin_body(request)
    if not isinstance(changes, dict):
        return error_reply(400, "request.malformed", "Send a JSON object of knob: value")
    try:
        sandbox.knobs.update(changes)
    except (TypeError, ValueError) as exc:
        return error_reply(400, "request.invalid", str(exc))
    return json_reply(sandbox.knobs.as_dict())


async def admin_advance_clock(sandbox: Sandbox, request: web.Request) -> web.Response:
    body = await _admin_body(request)
    seconds = body.get("seconds") if isinstance(body, dict) else None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        return error_reply(400, "request.invalid", 'Send {"seconds": N} with N >= 0')
    sandbox.clock.advance(seconds)
    return json_reply({"nowMs": sandbox.clock.now_ms()})


async def admin_seed(sandbox: Sandbox, request: web.Request) -> web.Response:
    body = await _admin_body(request)
    try:
        counts = load_seed(sandbox.state, body)
    except SeedError as exc:
        return error_reply(400, "request.invalid", str(exc))
    return json_reply(counts)


async def _admin_body(request: web.Request) -> Any:
    try:
        return json.loads(await request.text() or "null")
    except ValueError:
        return None
