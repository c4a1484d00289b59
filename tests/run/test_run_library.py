"""The guarantees a script gets from ``run_batch`` alone, with no CLI in front of it."""

from __future__ import annotations

import pytest

from batch_refunds.errors import ConfigError, JournalBusy, LiveKeyNotAllowed
from batch_refunds.journal import JournalLock
from batch_refunds.models import Mode, Status
from batch_refunds.runner import RunOptions
from tests.run.conftest import Harness, statuses


def _requests_seen(harness: Harness) -> int:
    return sum(harness.server.state.stats.requests.values())


async def test_run_batch_refuses_a_busy_journal_with_journal_busy(harness: Harness) -> None:
    """While the journal's lock is held, run_batch raises JournalBusy and sends nothing."""
    oid, _ = harness.order(1000, 1000)
    path = harness.write([(oid, None, 500, "R1")])
    with JournalLock(harness.journal_path), pytest.raises(JournalBusy, match="in use"):
        await harness.run(path)
    assert _requests_seen(harness) == 0
    assert not isinstance(JournalBusy("x"), ConfigError)  # busy is not misconfigured


async def test_run_batch_releases_the_journal_when_done(harness: Harness) -> None:
    """The lock is held only during the run: the next run on the journal goes ahead."""
    oid, _ = harness.order(1000, 1000)
    path = harness.write([(oid, None, 500, "R1")])
    await harness.run(path)
    again = await harness.run(path)
    assert statuses(again) == [Status.ALREADY_REFUNDED]


async def test_a_live_key_without_permission_sends_nothing(harness: Harness) -> None:
    """A sk_live_ key raises LiveKeyNotAllowed before any request unless allow_live is set;
    the message names no CLI flag."""
    oid, _ = harness.order(1000, 1000)
    path = harness.write([(oid, None, 500, "R1")])
    with pytest.raises(LiveKeyNotAllowed) as caught:
        await harness.run(path, key="sk_live_LibraryGuard0001")
    assert "--" not in str(caught.value)
    assert _requests_seen(harness) == 0


async def test_a_live_key_with_permission_is_let_through(harness: Harness) -> None:
    """With allow_live the run goes ahead (here the sandbox refuses the live key with 401:
    the guard did not stop it)."""
    oid, _ = harness.order(1000, 1000)
    path = harness.write([(oid, None, 500, "R1")])
    result = await harness.run(path, key="sk_live_LibraryGuard0001", allow_live=True)
    assert _requests_seen(harness) >= 1
    assert result.summary.exit_code == 2


async def test_a_plan_needs_no_permission_for_a_live_key(harness: Harness) -> None:
    """Mode.PLAN sends no refund, so a live key may plan without allow_live."""
    oid, _ = harness.order(1000, 1000)
    path = harness.write([(oid, None, 500, "R1")])
    await harness.run(path, key="sk_live_LibraryGuard0001", mode=Mode.PLAN)
    assert _requests_seen(harness) >= 1


@pytest.mark.parametrize("mode", ["Plan", "plan", "run", "dry-run"])
def test_a_mode_that_is_not_a_mode_cannot_be_constructed(mode: str) -> None:
    """RunOptions takes only a Mode: a string, even a right-looking one, is refused."""
    from pathlib import Path

    with pytest.raises(ConfigError, match=r"Mode\.RUN or Mode\.PLAN"):
        RunOptions(input_path=Path("r.csv"), out_dir=Path("out"), mode=mode)  # type: ignore[arg-type]


async def test_counts_are_right_with_no_hook_wired(harness: Harness) -> None:
    """The harness's client has no event hook: a lost answer's retry still counts as a
    second try of the row, and the summary counts every request and retry."""
    oid, _ = harness.order(1000, 1000)
    path = harness.write([(oid, None, 500, "R1")])
    harness.server.knobs.drop_after_commit_rate = 1.0
    result = await harness.run(path)
    assert statuses(result) == [Status.REFUNDED]
    assert [o.attempts for o in result.outcomes] == [2]
    assert result.summary.requests.retried == 1
    assert result.summary.requests.total == _requests_seen(harness)
