"""An answer checked against what the client asked for and against itself: pure.

``wire`` makes each field the type and range Smartpay documents; these checks make the answer
as a whole the one that was asked for. The client knows what it asked, so it checks once,
where the answer enters, and nothing downstream has to:

* ``GET /orders/{id}``, ``/payments/{id}``, ``/refunds/{id}`` must answer with that id, and a
  refund fetched by the id a payment listed must be a refund of that payment;
* an expanded payment must belong to the order it is listed on, and a refund object to the
  payment it is listed on;
* a payment's succeeded refunds (each counted once) cannot add up to more than its amount;
* ``POST /refunds`` must answer with a refund of the payment, amount and currency asked for
  (and the reference, when the answer carries one). Its ``status`` is not judged here:
  ``succeeded``, ``failed`` or anything else (``pending``) is returned as Smartpay said it;
* every object in an answer (an order, its expanded payments, their refund objects, a
  refund) must say ``test`` as the key's mode does: a ``sk_test_`` key sees test objects
  only, a ``sk_live_`` key live ones, so an object of the other mode is not this account's.

What a check does not touch is passed on as given: a currency other than JPY, or an order
that lists one payment twice, is the planner's to refuse.
"""

from __future__ import annotations

from batch_refunds.models import CreateRefund, Order, Payment, Refund
from batch_refunds.money import format_yen


class Mismatch(ValueError):
    """The answer is about something other than what was asked for."""


class Impossible(ValueError):
    """The answer contradicts itself in a way no real account can."""


def check_order(order: Order, *, asked_id: str) -> None:
    """``order`` answers ``GET /orders/{asked_id}``, and its expanded payments are its own."""
    _same_id("order", asked_id, order.id)
    for item in order.payments:
        if isinstance(item, Payment):
            check_payment(item, order_id=order.id)


def check_payment(
    payment: Payment, *, asked_id: str | None = None, order_id: str | None = None
) -> None:
    """``payment`` answers ``GET /payments/{asked_id}`` (when given), is listed on the order it
    belongs to (``order_id``, when given), and its refund objects are its own and possible."""
    if asked_id is not None:
        _same_id("payment", asked_id, payment.id)
    if order_id is not None and payment.order_id != order_id:
        raise Mismatch(
            f"payment {_id(payment.id)}, listed on order {order_id}, says it belongs to order "
            f"{_id(payment.order_id)}"
        )
    succeeded: dict[str, int] = {}
    for item in payment.refunds or ():
        if not isinstance(item, Refund):
            continue
        if item.payment_id != payment.id:
            raise Mismatch(
                f"refund {_id(item.id)}, listed on payment {_id(payment.id)}, is a refund of "
                f"payment {_id(item.payment_id)}"
            )
        if item.succeeded:
            succeeded[item.id] = item.amount
    refunded = sum(succeeded.values())
    if refunded > payment.amount:
        raise Impossible(
            f"payment {_id(payment.id)} of {format_yen(payment.amount)} lists succeeded refunds of "
            f"{format_yen(refunded)}, more than was paid"
        )


def check_refund(refund: Refund, *, asked_id: str, payment_id: str | None = None) -> None:
    """``refund`` answers ``GET /refunds/{asked_id}``, and is a refund of ``payment_id`` (the
    payment that listed its id), when given."""
    _same_id("refund", asked_id, refund.id)
    if payment_id is not None and refund.payment_id != payment_id:
        raise Mismatch(
            f"refund {asked_id}, listed on payment {payment_id}, is a refund of payment "
            f"{_id(refund.payment_id)}"
        )


def check_created(refund: Refund, body: CreateRefund) -> None:
    """``refund`` is the one ``POST /refunds`` asked for with ``body``."""
    differences = []
    if refund.payment_id != body.payment_id:
        differences.append(f"payment {_id(refund.payment_id)}, not {body.payment_id}")
    if refund.amount != body.amount:
        differences.append(f"{format_yen(refund.amount)}, not {format_yen(body.amount)}")
    if refund.currency.upper() != body.currency.upper():
        differences.append(f"currency {_id(refund.currency)}, not {body.currency}")
    if (
        body.reference is not None
        and refund.reference is not None
        and refund.reference != body.reference
    ):
        differences.append(f"reference {_id(refund.reference)!r}, not {body.reference!r}")
    if differences:
        raise Mismatch(
            f"asked for a refund of {format_yen(body.amount)} from {body.payment_id}; the answer "
            f"is refund {_id(refund.id)} with " + ", ".join(differences)
        )


def check_mode(answer: Order | Payment | Refund, *, live: bool) -> None:
    """Every object in ``answer``, nested ones included, is of the key's mode: ``test`` is
    ``False`` for a live key and ``True`` for a test key."""
    objects: list[Order | Payment | Refund] = [answer]
    while objects:
        item = objects.pop()
        if item.test == live:
            kind = type(item).__name__.lower()
            key_mode = "live" if live else "test"
            raise Mismatch(
                f"{kind} {_id(item.id)} says test: {str(item.test).lower()}, but the key is a "
                f"{key_mode} key (sk_{key_mode}_***): test and live objects never mix, so the "
                "answer is not from this key's account"
            )
        if isinstance(item, Order):
            objects += [p for p in item.payments if isinstance(p, Payment)]
        elif isinstance(item, Payment):
            objects += [r for r in item.refunds or () if isinstance(r, Refund)]


def _same_id(kind: str, asked_id: str, answered_id: str) -> None:
    if answered_id != asked_id:
        raise Mismatch(f"asked for {kind} {asked_id}; the answer is {kind} {_id(answered_id)}")


def _id(value: str, limit: int = 80) -> str:
    """A server's id or text quoted in a message, cut short (it may be anything at all)."""
    return value if len(value) <= limit else value[: limit - 1] + "…"
