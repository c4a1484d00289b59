"""The real client pointed at a hostile server, on a fake clock: no test waits for real time."""

from __future__ import annotations

from typing import Any

from batch_refunds.errors import SmartpayError
from batch_refunds.smartpay import ClientConfig, SmartpayClient
from batch_refunds.smartpay.events import no_event
from tests.smartpay.client_fakes import FakeTime

from .server import HostileServer

SECRET = "sk_test_HostileSuiteKey7f3Qx9"


def client_for(
    server: HostileServer, *, time: FakeTime | None = None, **settings: Any
) -> SmartpayClient:
    """A ``SmartpayClient`` for ``server`` (``async with`` it); ``settings`` are
    ``ClientConfig`` fields, plus ``hook`` for the event hook. The pace is effectively
    unlimited; sleeps only move a ``FakeTime``."""
    settings.setdefault("rate_per_second", 1000.0)
    hook = settings.pop("hook", no_event)
    time = time or FakeTime()
    config = ClientConfig(settings.pop("secret_key", SECRET), base_url=server.base_url, **settings)
    return SmartpayClient(
        config,
        hook=hook,
        clock=time.clock,
        sleep=time.sleep,
        random=lambda: 1.0,
        wall_clock=lambda: 0.0,
    )


def texts_of(error: BaseException) -> list[str]:
    """Everything an exception (and the chain it carries) could show: ``str``, ``repr``, and
    the ``repr`` of every attribute and argument of every link."""
    shown: list[str] = []
    link: BaseException | None = error
    while link is not None:
        shown += [str(link), repr(link), *map(repr, link.args)]
        shown += [repr(value) for value in vars(link).values()]
        if isinstance(link, SmartpayError):
            shown.append(link.code)
        link = link.__cause__ or link.__context__
    return shown
