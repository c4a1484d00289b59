"""The script a Python user writes today: one row after another with ``urllib``.

``python -m bench.urllib_loop RETURNS.csv BASE_URL`` — GET order + POST refund per row
(``plain.py``), sequentially, no report.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench.plain import HEADERS, plan_refunds, read_rows, refund_body


def _call(url: str, body: dict[str, Any] | None = None, key: str | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    headers = dict(HEADERS) if key is None else {**HEADERS, "Idempotency-Key": key}
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:  # a 403 is an answer, not a crash
        return json.load(exc)


def main(argv: list[str]) -> int:
    path, base = Path(argv[0]), argv[1]
    count = 0
    for number, cells in read_rows(path):
        order = _call(f"{base}/orders/{cells['order_id']}?expand=all")
        for payment_id, amount in plan_refunds(order, cells.get("amount", "")):
            _call(f"{base}/refunds", refund_body(payment_id, amount, cells), f"url-{number}")
        count += 1
    print(f"{count} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
