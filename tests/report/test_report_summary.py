"""summary.json and summary_dict: structure, every status counted, integer money."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from batch_refunds.models import Status
from batch_refunds.report import RunReport, summary_dict, write_report
from batch_refunds.report.summary import summary_json

from .conftest import make_summary


def test_summary_json_structure(report: RunReport, tmp_path: Path) -> None:
    """summary.json holds exactly the agreed keys, nested as agreed, and equals summary_dict."""
    data = json.loads(write_report(report, tmp_path).summary.read_text(encoding="utf-8"))
    assert data == summary_dict(report.summary)
    assert list(data) == [
        "run_id",
        "mode",
        "api",
        "input",
        "counts",
        "totals",
        "started_at",
        "finished_at",
        "timezone",
        "duration_s",
        "requests",
        "exit_code",
        "stop_reason",
        "warnings",
    ]
    assert data["input"] == {
        "path": "inputs/返金リスト.xlsx",
        "sha256": "ab" * 32,
        "rows": 4,
    }
    assert data["totals"] == {"requested": 4_500, "already_refunded": 0, "refunded": 3_500}
    assert (data["stop_reason"], data["warnings"]) == (None, [])
    assert data["requests"] == {"total": 9, "retried": 2, "rate_limited": 1}
    assert data["exit_code"] == 1
    assert data["duration_s"] == 2.346


def test_every_status_has_a_count_even_when_zero(report: RunReport, tmp_path: Path) -> None:
    """counts lists every Status in enum order; those the run never saw are 0."""
    data = json.loads(write_report(report, tmp_path).summary.read_text(encoding="utf-8"))
    assert list(data["counts"]) == [status.value for status in Status]
    assert data["counts"] == {
        "refunded": 2,
        "already_refunded": 0,
        "planned": 0,
        "invalid": 1,
        "rejected": 1,
        "held": 0,
        "failed": 0,
    }


def test_empty_counts_are_all_zero() -> None:
    """A summary with no counts at all still reports a zero for every status."""
    counts = summary_dict(make_summary(counts=()))["counts"]
    assert counts == {status.value: 0 for status in Status}


@pytest.mark.parametrize("bad", [4500.0, True, "4500"])
def test_non_integer_money_is_refused(bad: object) -> None:
    """A float, bool or str total is an upstream bug: rendering fails and names the field."""
    with pytest.raises(TypeError, match="requested_total"):
        summary_dict(make_summary(requested_total=bad))


def test_a_status_counted_twice_is_refused() -> None:
    """Two counts for one status would be silently added otherwise; it raises instead."""
    with pytest.raises(ValueError, match="refunded"):
        summary_dict(make_summary(counts=((Status.REFUNDED, 1), (Status.REFUNDED, 2))))


def test_summary_json_is_pretty_utf8_without_escapes(report: RunReport, tmp_path: Path) -> None:
    """The file is indented, ends in a newline and keeps Japanese readable (no \\u escapes)."""
    raw = write_report(report, tmp_path).summary.read_bytes()
    assert "返金リスト".encode() in raw
    assert b"\\u" not in raw
    assert raw.startswith(b'{\n  "run_id": ')
    assert raw.endswith(b"}\n")


def test_nan_duration_is_refused() -> None:
    """summary.json never carries NaN, which strict JSON parsers reject."""
    with pytest.raises(ValueError, match="JSON"):
        summary_json(make_summary(duration_s=float("nan")))


def test_summary_strings_are_not_neutralised_in_json(report: RunReport) -> None:
    """JSON is for tools, not spreadsheets: an input path starting with '=' is kept verbatim."""
    data = summary_dict(replace(report.summary, input_path="=odd.csv"))
    assert data["input"] == {"path": "=odd.csv", "sha256": "ab" * 32, "rows": 4}
