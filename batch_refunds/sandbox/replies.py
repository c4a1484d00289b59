"""JSON responses as the sandbox sends them: UTF-8 as is (``ensure_ascii=False``), like a
Node server's ``JSON.stringify``, so clients meet real multi-byte text, not ``\\u`` escapes.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from aiohttp import web

from batch_refunds.sandbox.render import error_json

_dumps = functools.partial(json.dumps, ensure_ascii=False)


def json_reply(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=_dumps)


def error_reply(
    status: int, code: str, message: str, details: list[str] | None = None
) -> web.Response:
    return json_reply(error_json(status, code, message, details), status=status)
