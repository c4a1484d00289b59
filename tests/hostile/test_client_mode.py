"""The ``test`` flag of every object answered must be the key's mode: test keys see test
objects, live keys live ones (Smartpay keeps the two apart, so a mix is not this account)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from batch_refunds import errors
from batch_refunds.models import CreateRefund
from batch_refunds.smartpay import SmartpayClient

from .clients import SECRET, client_for
from .server import HostileServer
from .shapes import (
    ORDER_ID,
    PAYMENT_ID,
    REFUND_ID,
    order_json,
    page_json,
    payment_json,
    refund_json,
)

LIVE = "sk_live_HostileSuiteKey7f3Qx9"
BODY = CreateRefund(payment_id=PAYMENT_ID, amount=1980, reference="RET-000001")


async def _first_listed(client: SmartpayClient) -> object:
    async for refund in client.list_refunds():
        return refund
    return None


Call = Callable[[SmartpayClient], Awaitable[object]]
CALLS: dict[str, tuple[str, Callable[[bool], Any], Call]] = {
    "order": ("GET /orders/{id}", lambda t: order_json(test=t, payments=[payment_json(test=not t)]),
              lambda c: c.get_order(ORDER_ID)),
    "expanded-payment": ("GET /orders/{id}", lambda t: order_json(payments=[payment_json(test=t)],
                         test=not t), lambda c: c.get_order(ORDER_ID)),
    "payment": ("GET /payments/{id}", lambda t: payment_json(test=t),
                lambda c: c.get_payment(PAYMENT_ID)),
    "listed-refund": ("GET /payments/{id}",
                      lambda t: payment_json(test=not t, refunds=[refund_json(test=t)]),
                      lambda c: c.get_payment(PAYMENT_ID)),
    "refund": ("GET /refunds/{id}", lambda t: refund_json(test=t),
               lambda c: c.get_refund(REFUND_ID)),
    "refund-list": ("GET /refunds", lambda t: page_json([refund_json(test=t)]), _first_listed),
    "created-refund": ("POST /refunds", lambda t: refund_json(test=t),
                       lambda c: c.create_refund(BODY, idempotency_key="br-mode-1")),
}  # fmt: skip


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize(("key", "wrong"), [(SECRET, False), (LIVE, True)], ids=["test", "live"])
async def test_an_object_of_the_other_mode_is_a_mismatch(
    hostile: HostileServer, call: str, key: str, wrong: bool
) -> None:
    """A test key answered with a "test": false object, or a live key with a "test": true
    one, anywhere in the answer (nested objects of the right mode around it): an
    AnswerMismatch naming the object and the key's mode, never the key, after one request."""
    route, shape, do = CALLS[call]
    hostile.answer(route, shape(wrong))
    async with client_for(hostile, secret_key=key) as client:
        with pytest.raises(errors.AnswerMismatch) as caught:
            await do(client)
    mode = "live" if key == LIVE else "test"
    assert f"test: {str(wrong).lower()}, but the key is a {mode} key" in caught.value.message
    assert key not in caught.value.message
    assert len(hostile.requests_to(route)) == 1


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize(("key", "right"), [(SECRET, True), (LIVE, False)], ids=["test", "live"])
async def test_objects_of_the_keys_own_mode_pass(
    hostile: HostileServer, call: str, key: str, right: bool
) -> None:
    """The same answers with every object of the key's mode come back unchanged."""
    route, shape, do = CALLS[call]
    hostile.answer(route, _all_mode(shape(right), right))
    async with client_for(hostile, secret_key=key) as client:
        assert await do(client) is not None


def _all_mode(data: Any, test: bool) -> Any:
    """``data`` with every ``test`` flag in it set to ``test``."""
    if isinstance(data, dict):
        return {k: (test if k == "test" else _all_mode(v, test)) for k, v in data.items()}
    if isinstance(data, list):
        return [_all_mode(v, test) for v in data]
    return data
