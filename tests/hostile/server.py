"""A small Smartpay look-alike that says exactly what a test tells it to, however wrong.

Unlike the sandbox, it keeps no state and enforces nothing: every answer is scripted. It
serves the routes the client uses under ``/v1`` on 127.0.0.1 and a free port::

    GET  /orders            GET  /orders/{id}       GET  /payments/{id}
    GET  /refunds           GET  /refunds/{id}      POST /refunds

A route is named by its method and template as the client sees it, e.g. ``"GET /orders/{id}"``.
``server.answer(route, *replies)`` answers that route's requests with the replies in order,
and the last one again for every later request. A reply is

* a ``Reply`` (``Reply.json``, ``Reply.raw``, ``Reply.error``, ``Reply.endless``,
  ``Reply.headers_only``, ``Reply.hang_up``, ``Reply.wire``), or
* a JSON-able ``dict``/``list`` (shorthand for ``Reply.json(...)``), or
* a function of the ``Received`` request returning either (for answers that depend on the id,
  the page token or the body).

Every request is recorded in ``server.received`` (method, route, path, query, headers, body).
A request to a route nothing was scripted for is answered 418 and kept in
``server.unscripted``; the ``hostile`` fixture fails the test if there are any. An endless
body records how it ended in ``server.streams``.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

ROUTES: tuple[tuple[str, str], ...] = (
    ("GET", "/orders"),
    ("GET", "/orders/{id}"),
    ("GET", "/payments/{id}"),
    ("GET", "/refunds"),
    ("GET", "/refunds/{id}"),
    ("POST", "/refunds"),
)

# How long an endless body may run if the client neither reads nor hangs up: a broken client
# must fail its test, not hang the suite.
STREAM_WALL_LIMIT_S = 20.0
DEFAULT_STREAM_LIMIT_BYTES = 256 * 2**20


@dataclass(frozen=True)
class Stream:
    """How an endless body is sent: ``chunk`` again and again until the client hangs up or
    ``limit_bytes`` have gone (a safety stop, so a client that reads everything fails its
    test instead of filling memory). ``content_length`` is declared when given."""

    chunk: bytes
    limit_bytes: int
    content_length: int | None = None
    prefix: bytes = b""
    hold: bool = False  # send the headers (and prefix), then nothing until the client hangs up


@dataclass(frozen=True)
class StreamEnd:
    """How one endless body ended: bytes handed to the socket, and whether the client hung up
    (``False``: the safety limit or the wall-clock limit ended it)."""

    route: str
    sent_bytes: int
    client_hung_up: bool


@dataclass(frozen=True)
class Reply:
    """One scripted answer. Build it with the class methods."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    reason: str | None = None
    stream: Stream | None = None
    close_connection: bool = False  # close the connection without answering
    wire_bytes: bytes | None = None  # write these bytes as the whole response, then close

    @classmethod
    def json(
        cls,
        data: Any,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        reason: str | None = None,
    ) -> Reply:
        """``data`` as a JSON body (any JSON value: a dict, a list, a string…)."""
        body = json.dumps(data, ensure_ascii=False).encode()
        return cls(status=status, body=body, headers=dict(headers or {}), reason=reason)

    @classmethod
    def raw(
        cls,
        body: bytes | str,
        *,
        status: int = 200,
        content_type: str = "text/plain",
        headers: Mapping[str, str] | None = None,
        reason: str | None = None,
    ) -> Reply:
        """These exact bytes as the body (text is UTF-8 encoded)."""
        data = body.encode() if isinstance(body, str) else body
        return cls(
            status=status,
            body=data,
            content_type=content_type,
            headers=dict(headers or {}),
            reason=reason,
        )

    @classmethod
    def error(
        cls,
        status: int,
        error_code: str | None = None,
        message: str | None = None,
        details: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        reason: str | None = None,
    ) -> Reply:
        """A Smartpay-shaped error body ``{statusCode, errorCode, message, details}``."""
        data: dict[str, Any] = {"statusCode": status}
        if error_code is not None:
            data["errorCode"] = error_code
        if message is not None:
            data["message"] = message
        if details is not None:
            data["details"] = details
        return cls.json(data, status=status, headers=headers, reason=reason)

    @classmethod
    def endless(
        cls,
        *,
        chunk: bytes = b" " * 65536,
        prefix: bytes = b"",
        limit_bytes: int = DEFAULT_STREAM_LIMIT_BYTES,
        content_length: int | None = None,
        status: int = 200,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """``prefix``, then ``chunk`` over and over until the client hangs up (see ``Stream``).
        With ``content_length`` that length is declared; otherwise the body is chunked."""
        return cls(
            status=status,
            content_type=content_type,
            headers=dict(headers or {}),
            stream=Stream(chunk, limit_bytes, content_length, prefix),
        )

    @classmethod
    def headers_only(
        cls,
        *,
        content_length: int,
        status: int = 200,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Declare ``content_length``, send the headers, then no body at all until the client
        hangs up: a client that waits for the body instead of judging the length waits."""
        return cls(
            status=status,
            content_type=content_type,
            headers=dict(headers or {}),
            stream=Stream(b"", 0, content_length, hold=True),
        )

    @classmethod
    def hang_up(cls) -> Reply:
        """Close the connection without a byte of answer (the request may have landed)."""
        return cls(close_connection=True)

    @classmethod
    def wire(cls, data: bytes) -> Reply:
        """Write ``data`` as the whole response, status line included, then close: for
        answers no well-behaved server could produce (a broken status line, bad headers)."""
        return cls(wire_bytes=data)


@dataclass(frozen=True)
class Received:
    """One request as the server got it. ``match`` holds the route's ``{id}``; ``body`` is the
    parsed JSON body (``None`` without one); ``number`` counts from 1 per route."""

    method: str
    route: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    match: Mapping[str, str]
    body: Any
    number: int


Answer = Reply | Mapping[str, Any] | list[Any] | Callable[[Received], "Reply | Mapping[str, Any]"]


class HostileServer:
    """The scripted server; see the module docstring. ``base_url`` ends in ``/v1``."""

    def __init__(self) -> None:
        self.base_url = ""
        self.received: list[Received] = []
        self.unscripted: list[Received] = []
        self.streams: list[StreamEnd] = []
        self._scripts: dict[str, deque[Answer]] = {}

    # --- scripting ------------------------------------------------------------------------

    def answer(self, route: str, *replies: Answer) -> None:
        """Answer ``route`` with ``replies`` in order, then the last one for ever after.
        Replaces whatever the route was scripted with before."""
        if route not in {f"{m} {p}" for m, p in ROUTES}:
            raise ValueError(f"no such route {route!r}; routes: {[f'{m} {p}' for m, p in ROUTES]}")
        if not replies:
            raise ValueError("answer: give at least one reply")
        self._scripts[route] = deque(replies)

    def requests_to(self, route: str) -> list[Received]:
        """The requests ``route`` received, in order."""
        return [r for r in self.received if r.route == route]

    # --- serving --------------------------------------------------------------------------

    def build_app(self) -> web.Application:
        app = web.Application()
        for method, template in ROUTES:
            app.router.add_route(method, "/v1" + template, self._handler(f"{method} {template}"))
        return app

    def _handler(self, route: str) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.StreamResponse:
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw
            got = Received(
                method=request.method,
                route=route,
                path=request.path,
                query=dict(request.query),
                headers=dict(request.headers),
                match=dict(request.match_info),
                body=body,
                number=len(self.requests_to(route)) + 1,
            )
            self.received.append(got)
            script = self._scripts.get(route)
            if not script:
                self.unscripted.append(got)
                return web.json_response(
                    {"statusCode": 418, "errorCode": "hostile.unscripted", "message": route},
                    status=418,
                )
            answer = script[0] if len(script) == 1 else script.popleft()
            return await self._send(request, route, _reply(answer, got))

        return handle

    async def _send(self, request: web.Request, route: str, reply: Reply) -> web.StreamResponse:
        transport = request.transport
        if reply.close_connection or reply.wire_bytes is not None:
            if transport is not None:
                if reply.wire_bytes is not None:
                    transport.write(reply.wire_bytes)
                transport.close()
            return web.Response()  # never reaches the client: the connection is gone
        if reply.stream is not None:
            return await self._stream(request, route, reply)
        return web.Response(
            status=reply.status,
            reason=reply.reason,
            body=reply.body,
            headers={"Content-Type": reply.content_type, **reply.headers},
        )

    async def _stream(self, request: web.Request, route: str, reply: Reply) -> web.StreamResponse:
        stream = reply.stream
        assert stream is not None
        response = web.StreamResponse(
            status=reply.status, headers={"Content-Type": reply.content_type, **reply.headers}
        )
        if stream.content_length is not None:
            response.content_length = stream.content_length
        sent = 0
        hung_up = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STREAM_WALL_LIMIT_S
        try:
            await response.prepare(request)
            if stream.prefix:
                await response.write(stream.prefix)
                sent += len(stream.prefix)
            while stream.hold and loop.time() < deadline:
                if request.transport is None or request.transport.is_closing():
                    hung_up = True
                    break
                await asyncio.sleep(0.005)  # polling for the hang-up, not timing anything
            while not stream.hold and sent < stream.limit_bytes and loop.time() < deadline:
                transport = request.transport
                if transport is None or transport.is_closing():
                    hung_up = True
                    break
                await asyncio.wait_for(response.write(stream.chunk), deadline - loop.time())
                sent += len(stream.chunk)
        except ConnectionError:  # the client closed the connection mid-write
            hung_up = True
        except TimeoutError:  # the client stopped reading but kept the connection open
            hung_up = False
        self.streams.append(StreamEnd(route, sent, hung_up))
        if request.transport is not None:
            request.transport.close()
        return response


def _reply(answer: Answer, got: Received) -> Reply:
    if callable(answer) and not isinstance(answer, Reply):
        answer = answer(got)
    if isinstance(answer, Reply):
        return answer
    return Reply.json(answer)


@asynccontextmanager
async def run_hostile(host: str = "127.0.0.1") -> AsyncIterator[HostileServer]:
    """Serve a ``HostileServer`` on a free port of ``host`` until the block exits."""
    server = HostileServer()
    runner = web.AppRunner(server.build_app(), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, 0)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        server.base_url = f"http://{bound_host}:{bound_port}/v1"
        yield server
    finally:
        await runner.cleanup()
