"""Smartpay's JSON ⇄ the frozen models: pure, and tolerant of what the docs leave open.

Tolerant means: optional fields may be missing or ``null``; ``order.payments`` may hold ids or
payment objects; ``payment.refunds`` may hold ids, objects, a collection object, or be absent
(→ ``None``, which is not the same as "no refunds"); a reference to another object (``payment``
on a refund, ``order`` on a payment) may be an id or the expanded object. What it will not
guess at is money or identity: a missing ``id`` or a non-integer ``amount`` is a ``WireError``.

Plausible means: every amount is whole yen from 0 (an order) or 1 (a payment, a refund) up to
``models.MAX_PLAUSIBLE_YEN``, and every time falls between 1970 and the end of 9999; anything
else is an ``ImplausibleValue`` (a ``WireError``), never a number passed on to overflow a
database column or a date later. Currencies and duplicate entries are passed on as given
(``order.payments`` may name one payment twice): whether to act on them is the planner's call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from batch_refunds.models import (
    CURRENCY,
    MAX_PLAUSIBLE_YEN,
    CreateRefund,
    Order,
    Payment,
    Refund,
    RefundRefs,
)

_T = TypeVar("_T")

MAX_EPOCH_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z: the last instant Python's ``datetime`` (and so a report) can show."""


class WireError(ValueError):
    """A response body does not have the shape Smartpay documents."""


class ImplausibleValue(WireError):
    """A field has the right type but a value no real answer can hold (an amount, a time)."""


def parse_order(data: object) -> Order:
    """An order object; ``payments`` keeps ids as ``str`` and expanded payments as ``Payment``."""
    obj = _object(data, "order")
    return Order(
        id=_id(obj, "id"),
        amount=_yen(obj, "amount", minimum=0),
        currency=_str(obj, "currency") or CURRENCY,
        status=_str(obj, "status") or "",
        created_at=_millis(obj, "createdAt"),
        reference=_str(obj, "reference"),
        payments=tuple(
            _id_or(item, parse_payment, "payments") for item in _list(obj.get("payments"))
        ),
        test=_test(obj),
    )


def parse_payment(data: object) -> Payment:
    """A payment object (one capture); ``refunds`` is ``None`` when the field was absent."""
    obj = _object(data, "payment")
    return Payment(
        id=_id(obj, "id"),
        order_id=_ref(obj, "order"),
        amount=_yen(obj, "amount", minimum=1),
        currency=_str(obj, "currency") or CURRENCY,
        status=_str(obj, "status") or "",
        created_at=_millis(obj, "createdAt"),
        reference=_str(obj, "reference"),
        refunds=_refund_refs(obj.get("refunds")),
        test=_test(obj),
    )


def parse_refund(data: object) -> Refund:
    """A refund object."""
    obj = _object(data, "refund")
    return Refund(
        id=_id(obj, "id"),
        payment_id=_ref(obj, "payment"),
        amount=_yen(obj, "amount", minimum=1),
        currency=_str(obj, "currency") or CURRENCY,
        status=_str(obj, "status") or "",
        created_at=_millis(obj, "createdAt"),
        reason=_str(obj, "reason"),
        reference=_str(obj, "reference"),
        description=_str(obj, "description"),
        metadata=_metadata(obj.get("metadata")),
        test=_test(obj),
    )


def parse_refund_page(data: object) -> tuple[tuple[Refund, ...], str | None]:
    """One page of ``GET /refunds``: its refunds and the next page's token (``None`` at the end)."""
    obj = _object(data, "collection")
    token = obj.get("nextPageToken")
    if token is not None and not isinstance(token, str):
        raise WireError(f"collection.nextPageToken: expected a string, got {_kind(token)}")
    return tuple(parse_refund(item) for item in _list(obj.get("data"))), token or None


def parse_order_page(data: object) -> tuple[tuple[Order, ...], str | None]:
    """One page of ``GET /orders``: its orders and the next page's token (``None`` at the end)."""
    obj = _object(data, "collection")
    token = obj.get("nextPageToken")
    if token is not None and not isinstance(token, str):
        raise WireError(f"collection.nextPageToken: expected a string, got {_kind(token)}")
    return tuple(parse_order(item) for item in _list(obj.get("data"))), token or None


def parse_collection(data: object) -> tuple[Any, ...]:
    """Any list answer (``object: "collection"`` with a ``data`` array), items left unread."""
    obj = _object(data, "collection")
    if not isinstance(obj.get("data"), list):
        raise WireError(f"collection.data: expected a JSON array, got {_kind(obj.get('data'))}")
    return tuple(obj["data"])


def parse_error_body(data: object) -> tuple[str | None, str | None, tuple[Any, ...]]:
    """``(errorCode, message, details)`` from an error body; all empty if it isn't one.

    The 401 body is ``{"statusCode":401,"scheme":…,"realm":…}``: no errorCode, no message.
    """
    if not isinstance(data, Mapping):
        return None, None, ()
    code = data.get("errorCode")
    message = data.get("message")
    details = data.get("details")
    return (
        code if isinstance(code, str) and code else None,
        message if isinstance(message, str) and message else None,
        tuple(details) if isinstance(details, list) else (),
    )


def refund_body(request: CreateRefund) -> dict[str, Any]:
    """The JSON body of ``POST /refunds``; optional fields are left out rather than sent as null."""
    body: dict[str, Any] = {
        "payment": request.payment_id,
        "amount": request.amount,
        "currency": request.currency,
        "reason": str(request.reason),
    }
    if request.reference is not None:
        body["reference"] = request.reference
    if request.description is not None:
        body["description"] = request.description
    if request.line_items:
        body["lineItems"] = list(request.line_items)
    if request.metadata:
        body["metadata"] = dict(request.metadata)
    return body


# --- field readers ------------------------------------------------------------------------


def _object(data: object, kind: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise WireError(f"{kind}: expected a JSON object, got {_kind(data)}")
    declared = data.get("object")
    if declared is not None and declared != kind:
        raise WireError(f"{kind}: expected object {kind!r}, got {_shown(declared)}")
    return data


def _id(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise WireError(f"{_where(obj, key)}: expected a non-empty id, got {_kind(value)}")
    return value


def _ref(obj: Mapping[str, Any], key: str) -> str:
    """A link to another object: its id, or the expanded object (whose id we keep)."""
    value = obj.get(key)
    if isinstance(value, Mapping):
        return _id(value, "id")
    return _id(obj, key)


def _yen(obj: Mapping[str, Any], key: str, *, minimum: int) -> int:
    # JPY has no minor units, so an amount is a JSON integer; a float here would mean
    # the body is not what we think it is, and guessing at money is worse than stopping.
    value = obj.get(key)
    where = _where(obj, key)
    if isinstance(value, float):
        raise ImplausibleValue(f"{where}: {_number(value)} is not whole yen")
    if isinstance(value, bool) or not isinstance(value, int):
        raise WireError(f"{where}: expected whole yen, got {_kind(value)}")
    if not minimum <= value <= MAX_PLAUSIBLE_YEN:
        raise ImplausibleValue(
            f"{where}: {_number(value)} yen is not a plausible amount "
            f"(expected {minimum} to {MAX_PLAUSIBLE_YEN:,})"
        )
    return value


def _millis(obj: Mapping[str, Any], key: str) -> int:
    value = obj.get(key)
    if value is None:
        return 0
    where = _where(obj, key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise WireError(f"{where}: expected epoch milliseconds, got {_kind(value)}")
    if not 0 <= value <= MAX_EPOCH_MS:
        raise ImplausibleValue(
            f"{where}: {_number(value)} is not a plausible time "
            f"(expected epoch milliseconds from 0 to {MAX_EPOCH_MS})"
        )
    return value


def _str(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise WireError(f"{_where(obj, key)}: expected a string, got {_kind(value)}")
    return value


def _test(obj: Mapping[str, Any]) -> bool:
    value = obj.get("test")
    if isinstance(value, bool):
        return value
    # Ids carry the mode (order_live_…), so a missing flag can still be answered.
    return "_live_" not in str(obj.get("id", ""))


def _list(value: object) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, Mapping):  # a collection object instead of a bare list
        value = value.get("data")
        if value is None:
            return []
    if not isinstance(value, list):
        raise WireError(f"expected a JSON array, got {_kind(value)}")
    return value


def _refund_refs(value: object) -> RefundRefs:
    if value is None:
        return None
    return tuple(_id_or(item, parse_refund, "refunds") for item in _list(value))


def _id_or(item: object, parse: Callable[[object], _T], where: str) -> _T | str:
    if isinstance(item, str) and item:
        return item
    if isinstance(item, Mapping):
        return parse(item)
    raise WireError(f"{where}: expected an id or an object, got {_kind(item)}")


def _metadata(value: object) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise WireError(f"metadata: expected a JSON object, got {_kind(value)}")
    return tuple((str(k), v if isinstance(v, str) else str(v)) for k, v in value.items())


def _where(obj: Mapping[str, Any], key: str) -> str:
    kind = obj.get("object")
    return f"{kind}.{key}" if isinstance(kind, str) else key


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _number(value: int | float) -> str:
    """A number fit for a message: a huge one by its size, not its thousands of digits."""
    if isinstance(value, int) and abs(value) >= 10**30:
        # str() of a huge int is slow, and refused past 4,300 digits: estimate from its bits.
        return f"a number of about {int(value.bit_length() * 0.30103) + 1} digits"
    return repr(value)


def _shown(value: object, limit: int = 60) -> str:
    """A server's value quoted in a message, cut short: a message is no place for a body."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
