"""``summary.json``: the run in numbers, the structure the CLI also prints from.

Pure: builds plain dicts and bytes; writing the file is the caller's business.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from batch_refunds.models import RunSummary, Status
from batch_refunds.report.model import whole

DURATION_DECIMALS = 3  # milliseconds; finer digits of a wall-clock duration are noise


def status_counts(counts: Iterable[tuple[Status | str, int]]) -> dict[str, int]:
    """A count for every :class:`Status`, zero when absent, in the enum's order.

    A status listed twice is a bug upstream: adding the two would hide it, so it raises.
    """
    given: dict[Status, int] = {}
    for raw_status, count in counts:
        status = Status(raw_status)
        if status in given:
            raise ValueError(f"summary counts list status {status.value!r} twice")
        given[status] = whole(count, f"counts[{status.value}]")
    return {status.value: given.get(status, 0) for status in Status}


def summary_dict(summary: RunSummary) -> dict[str, object]:
    """Exactly what ``summary.json`` holds, as plain JSON-ready values."""
    return {
        "run_id": summary.run_id,
        "mode": summary.mode,
        # Which money this report is about: a rehearsal (test key, a sandbox) must never
        # pass for a live run. The base URL carries no credentials (ClientConfig refuses them).
        "api": {"mode": summary.key_mode, "base_url": summary.api_base_url},
        "input": {
            "path": summary.input_path,
            "sha256": summary.input_sha256,
            "rows": whole(summary.rows, "rows"),
        },
        "counts": status_counts(summary.counts),
        "totals": {
            "requested": whole(summary.requested_total, "requested_total"),
            "already_refunded": whole(summary.already_refunded_total, "already_refunded_total"),
            "refunded": whole(summary.refunded_total, "refunded_total"),
        },
        "started_at": summary.started_at,
        "finished_at": summary.finished_at,
        "timezone": summary.timezone,  # of the CSV's and workbook's times; these stay UTC
        "duration_s": round(float(summary.duration_s), DURATION_DECIMALS),
        "requests": {
            "total": whole(summary.requests.total, "requests.total"),
            "retried": whole(summary.requests.retried, "requests.retried"),
            "rate_limited": whole(summary.requests.rate_limited, "requests.rate_limited"),
        },
        "exit_code": whole(summary.exit_code, "exit_code"),
        "stop_reason": summary.stop_reason,
        "warnings": list(summary.warnings),
    }


def summary_json(summary: RunSummary) -> bytes:
    """``summary.json``'s bytes: indented, UTF-8 with Japanese left readable, newline-ended.

    ``allow_nan=False``: a NaN duration would make the file unreadable to strict parsers.
    """
    text = json.dumps(summary_dict(summary), indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def flatten(data: dict[str, object], prefix: str = "") -> Iterator[tuple[str, object]]:
    """``{"input": {"rows": 3}}`` as ``("input.rows", 3)``, and a list's items numbered from 1
    (``warnings.1``): the workbook's Summary lines."""
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from flatten(value, f"{name}.")
        elif isinstance(value, list):
            for number, item in enumerate(value, start=1):
                yield f"{name}.{number}", item
        else:
            yield name, value


def write_summary(summary: RunSummary, stream: BinaryIO) -> None:
    """Write ``summary.json`` to ``stream`` (left open)."""
    stream.write(summary_json(summary))
