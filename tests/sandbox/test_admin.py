"""Admin endpoints (no auth) that let subprocess tests drive and inspect the sandbox."""

from __future__ import annotations

from .conftest import Wire

SEED = {
    "orders": [
        {
            "id": "order_test_Seed1",
            "reference": "ORD-1",
            "payments": [
                {
                    "id": "payment_test_Seed1a",
                    "amount": 3000,
                    "refunds": [{"id": "refund_test_Seed1r", "amount": 500, "reference": "CS-1"}],
                }
            ],
        }
    ]
}


async def test_stats_count_requests_by_route_and_status(wire: Wire) -> None:
    """GET /__admin/stats reports requests per method, route template and status, and totals."""
    order = wire.server.state.add_order(amount=1000)
    payment = wire.server.state.add_payment(order.id, 1000)
    await wire.get(f"/orders/{order.id}")
    await wire.get("/orders/order_test_Missing")
    await wire.refund(payment.id, 100, idempotency_key="k")
    await wire.refund(payment.id, 100, idempotency_key="k")
    stats = (await wire.admin("stats")).body
    assert {"method": "GET", "route": "/v1/orders/{id}", "status": 200, "count": 1} in stats[
        "requests"
    ]
    assert {"method": "GET", "route": "/v1/orders/{id}", "status": 404, "count": 1} in stats[
        "requests"
    ]
    assert {"method": "POST", "route": "/v1/refunds", "status": 200, "count": 2} in stats[
        "requests"
    ]
    assert stats["refundsCreated"] == 1
    assert stats["replays"] == 1
    assert stats["nowMs"] == wire.server.clock.now_ms()


async def test_admin_refunds_lists_every_refund_oldest_first(wire: Wire) -> None:
    """GET /__admin/refunds returns all refunds in creation order, without auth."""
    order = wire.server.state.add_order(amount=1000)
    payment = wire.server.state.add_payment(order.id, 1000)
    ids = [(await wire.refund(payment.id, 100)).body["id"] for _ in range(3)]
    body = (await wire.admin("refunds")).body
    assert [r["id"] for r in body["data"]] == ids
    assert body["results"] == 3


async def test_clock_advance_moves_the_sandbox_clock(wire: Wire) -> None:
    """POST /__admin/clock/advance {"seconds": N} moves time N seconds forward."""
    before = wire.server.clock.now_ms()
    reply = await wire.admin("clock/advance", {"seconds": 21_600})
    assert reply.body["nowMs"] == before + 21_600_000
    assert (await wire.admin("clock/advance", {"seconds": -1})).status == 400


async def test_seed_endpoint_loads_orders_with_fixed_ids(wire: Wire) -> None:
    """POST /__admin/seed adds the seed's orders, payments and prior refunds under their ids."""
    reply = await wire.admin("seed", SEED)
    assert reply.body == {"orders": 1, "payments": 1, "refunds": 1}
    order = (await wire.get("/orders/order_test_Seed1", expand="all")).body
    assert order["payments"][0]["id"] == "payment_test_Seed1a"
    assert [r["id"] for r in order["payments"][0]["refunds"]] == ["refund_test_Seed1r"]
    assert (await wire.refund("payment_test_Seed1a", 2501)).status == 403
    again = await wire.admin("seed", SEED)
    assert again.status == 400
    assert "order_test_Seed1" in again.body["message"]


async def test_config_endpoint_changes_knobs_at_run_time(wire: Wire) -> None:
    """POST /__admin/config changes knobs live; bad values are 400 and change nothing."""
    order = wire.server.state.add_order(amount=1000)
    payment = wire.server.state.add_payment(order.id, 1000)
    wire.server.state.add_refund(payment.id, 100)
    changed = await wire.admin("config", {"payment_refunds": "ids", "rate_limit_per_s": 50})
    assert changed.body["payment_refunds"] == "ids"
    assert changed.body["rate_limit_per_s"] == 50
    body = (await wire.get(f"/payments/{payment.id}", expand="all")).body
    assert isinstance(body["refunds"][0], str)
    bad = await wire.admin("config", {"fail_rate": 2})
    assert bad.status == 400
    assert "fail_rate" in bad.body["message"]
    assert (await wire.admin("config")).body["fail_rate"] == 0.0
