"""GET /refunds and GET /orders: newest first, cursor pages, maxResults default and cap."""

from __future__ import annotations

from .conftest import Wire


def _refunds(wire: Wire, count: int) -> list[str]:
    state = wire.server.state
    order = state.add_order(amount=100_000)
    payment = state.add_payment(order.id, 100_000)
    ids = []
    for n in range(count):
        wire.server.clock.advance(1)
        ids.append(state.add_refund(payment.id, 10 + n).id)
    return ids


async def test_refunds_come_newest_first_across_pages(wire: Wire) -> None:
    """Following nextPageToken visits each refund once, newest first; the last token is null."""
    created = _refunds(wire, 5)
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"maxResults": 2}
        if token:
            params["pageToken"] = token
        body = (await wire.get_query("/refunds", params)).body
        pages += 1
        assert body["object"] == "collection"
        assert body["maxResults"] == 2
        assert body["results"] == len(body["data"])
        seen += [r["id"] for r in body["data"]]
        token = body["nextPageToken"]
        if token is None:
            break
    assert seen == list(reversed(created))
    assert pages == 3


async def test_a_page_is_stable_when_new_refunds_arrive(wire: Wire) -> None:
    """Refunds created between pages do not shift the cursor: no repeats, no gaps."""
    created = _refunds(wire, 4)
    first = (await wire.get("/refunds", maxResults=2)).body
    payment = next(iter(wire.server.state.payments))
    wire.server.state.add_refund(payment, 1)
    second = (await wire.get("/refunds", maxResults=2, pageToken=first["nextPageToken"])).body
    assert [r["id"] for r in first["data"] + second["data"]] == list(reversed(created))


async def test_max_results_defaults_to_20_and_is_capped_at_100(wire: Wire) -> None:
    """Without maxResults a page holds 20; asking for more than 100 gives 100."""
    _refunds(wire, 120)
    default = (await wire.get("/refunds")).body
    assert len(default["data"]) == 20
    assert default["maxResults"] == 20
    capped = (await wire.get("/refunds", maxResults=500)).body
    assert len(capped["data"]) == 100
    assert capped["maxResults"] == 100
    assert capped["nextPageToken"] is not None


async def test_bad_page_parameters_are_400(wire: Wire) -> None:
    """A non-numeric maxResults or a forged pageToken is request.invalid."""
    assert (await wire.get("/refunds", maxResults="ten")).status == 400
    assert (await wire.get("/refunds", maxResults=0)).status == 400
    reply = await wire.get("/refunds", pageToken="not-a-token")
    assert reply.status == 400
    assert reply.body["errorCode"] == "request.invalid"


async def test_empty_refund_list_is_one_empty_page(wire: Wire) -> None:
    """With no refunds the collection is empty and has no next page."""
    body = (await wire.get("/refunds")).body
    assert body["data"] == []
    assert body["nextPageToken"] is None


async def test_orders_list_is_paginated_newest_first(wire: Wire) -> None:
    """GET /orders pages the same way as GET /refunds."""
    ids = [wire.server.state.add_order(amount=1000 + n).id for n in range(3)]
    first = (await wire.get("/orders", maxResults=2)).body
    second = (await wire.get("/orders", maxResults=2, pageToken=first["nextPageToken"])).body
    assert [o["id"] for o in first["data"] + second["data"]] == list(reversed(ids))
    assert second["nextPageToken"] is None
