"""ceiling: the pace that 429s reveal, step by step on a clock the test moves (no sleeps)."""

from __future__ import annotations

import pytest

from batch_refunds.smartpay.ceiling import (
    CRUISE_MARGIN,
    PROBE_CALM_S,
    PROBE_DWELL_S,
    PROBE_STEP,
    CeilingSearch,
)

UNDER = 1.0 - CRUISE_MARGIN


def send(search: CeilingSearch, start: float, end: float, rate: float) -> float:
    """Requests at ``rate`` from ``start`` to before ``end``, each answered 30 ms later
    without a 429 (answers fed in start order); returns the first start not sent."""
    t = start
    while t < end - 1e-9:
        search.started(t)
        search.accepted(t, now=t + 0.030)
        t += 1.0 / rate
    return t


def test_runs_at_the_configured_rate_until_a_429() -> None:
    """Without a 429 the pace is --rate, however long it runs."""
    search = CeilingSearch(max_rate=50.0, min_rate=0.5)
    send(search, 0.0, 120.0, 50.0)
    assert search.rate == 50.0
    assert search.ceiling is None


def test_a_429_after_a_full_second_sets_the_ceiling_to_what_got_through() -> None:
    """Sent at 200/s, with 40 let through in the second before the 429, the ceiling is 40/s
    and the pace just under it: not half of 200, not a slow creep down."""
    search = CeilingSearch(max_rate=200.0, min_rate=0.5)
    send(search, 0.0, 1.0, 40.0)  # what the server let through; the rest was refused
    search.started(1.0)
    search.limited(1.0, now=1.03, resume_at=2.03)
    assert search.ceiling == pytest.approx(40.0)
    assert search.rate == pytest.approx(40.0 * UNDER)
    assert not search.provisional


def test_the_ceiling_is_never_above_the_pace_the_429_came_at() -> None:
    """A 429 at 30/s after a second that let 40 through puts the ceiling at 30, not 40."""
    search = CeilingSearch(max_rate=30.0, min_rate=0.5)
    send(search, 0.0, 1.0, 40.0)
    search.started(1.0)
    search.limited(1.0, now=1.03, resume_at=1.03)
    assert search.ceiling == pytest.approx(30.0)


def test_429s_from_one_burst_move_the_pace_once() -> None:
    """Requests sent before the pace changed say nothing about the new pace: their 429s
    leave the ceiling alone."""
    search = CeilingSearch(max_rate=200.0, min_rate=0.5)
    send(search, 0.0, 1.0, 40.0)
    for started in (1.0, 1.005, 1.010):
        search.started(started)
    search.limited(1.0, now=1.03, resume_at=2.03)
    after_first = (search.ceiling, search.rate)
    search.limited(1.005, now=1.035, resume_at=2.035)
    search.limited(1.010, now=1.040, resume_at=2.040)
    assert (search.ceiling, search.rate) == after_first


def early_429(*, sent_after_gets_through: bool) -> CeilingSearch:
    """At 200/s, a 429 for the request sent 30 ms into the run; one sent after it is
    answered 429 too, or let through."""
    search = CeilingSearch(max_rate=200.0, min_rate=0.5)
    send(search, 0.0, 0.030, 200.0)
    search.started(0.030)
    search.started(0.045)
    search.limited(0.030, now=0.060, resume_at=1.060)
    if sent_after_gets_through:
        search.accepted(0.045, now=0.075)
    else:
        search.limited(0.045, now=0.075, resume_at=1.075)
    return search


def test_a_429_in_the_first_second_is_provisional_and_the_pace_doubles() -> None:
    """A 429 30 ms into the run, with a request sent after it let through (a token bucket's
    burst spent, refilling), is only a lower bound: after PROBE_DWELL_S without a 429 the
    pace doubles, and doubles again."""
    search = early_429(sent_after_gets_through=True)
    assert search.provisional
    first = search.ceiling
    assert first is not None
    resumed = send(search, 1.060, 1.060 + PROBE_DWELL_S + 0.1, search.rate)
    assert search.rate == pytest.approx(2 * first)
    send(search, resumed, resumed + PROBE_DWELL_S + 0.1, search.rate)
    assert search.rate == pytest.approx(4 * first)


def test_an_early_429_whose_followers_were_refused_too_is_the_limit() -> None:
    """A 429 early in the run, with everything sent after it refused as well (a sliding
    window filled by the first burst), is taken as the limit: no doubling, which would only
    earn another pause."""
    search = early_429(sent_after_gets_through=False)
    cruise = search.rate
    send(search, 1.075, 1.075 + 3 * PROBE_DWELL_S, cruise)
    assert search.rate == cruise
    assert not search.provisional


def confirmed_at_40() -> tuple[CeilingSearch, float]:
    """A search that found 40/s at t = 1 s and resumed at t = 2 s; returns it and 2.0."""
    search = CeilingSearch(max_rate=200.0, min_rate=0.5)
    send(search, 0.0, 1.0, 40.0)
    search.started(1.0)
    search.limited(1.0, now=1.0, resume_at=2.0)
    return search, 2.0


def test_no_probe_before_a_calm_spell() -> None:
    """Under a confirmed ceiling the pace stays put for PROBE_CALM_S before trying higher."""
    search, resumed = confirmed_at_40()
    cruise = search.rate
    send(search, resumed, resumed + PROBE_CALM_S - 0.5, cruise)
    assert search.rate == cruise


def test_after_a_calm_spell_the_pace_probes_one_step_above_the_ceiling() -> None:
    """After PROBE_CALM_S without a 429 the pace tries PROBE_STEP above the ceiling."""
    search, resumed = confirmed_at_40()
    send(search, resumed, resumed + PROBE_CALM_S + 0.5, search.rate)
    assert search.rate == pytest.approx(40.0 * (1 + PROBE_STEP))


def test_a_held_probe_raises_the_ceiling_and_the_next_step_is_larger() -> None:
    """A probe held for PROBE_DWELL_S becomes the ceiling; the next step is twice as large."""
    search, resumed = confirmed_at_40()
    t = send(search, resumed, resumed + PROBE_CALM_S + 0.5, search.rate)
    probe = search.rate
    send(search, t, t + PROBE_DWELL_S + 0.1, probe)
    assert search.ceiling == pytest.approx(probe)
    assert search.rate == pytest.approx(probe * (1 + 2 * PROBE_STEP))


def test_a_failed_probe_doubles_the_calm_before_the_next() -> None:
    """A probe that earns a 429 returns the pace under the ceiling, and the next probe waits
    twice as long: failed probes grow rare."""
    search, resumed = confirmed_at_40()
    cruise = search.rate
    t = send(search, resumed, resumed + PROBE_CALM_S + 0.5, cruise)
    t = send(search, t, t + 0.2, search.rate)  # probing
    search.started(t)
    search.limited(t, now=t + 0.03, resume_at=t + 1.03)
    assert search.ceiling == pytest.approx(40.0, abs=1.0)
    resumed = t + 1.03
    send(search, resumed, resumed + 2 * PROBE_CALM_S - 0.5, search.rate)
    assert search.rate < 40.0
    send(search, resumed + 2 * PROBE_CALM_S - 0.5, resumed + 2 * PROBE_CALM_S + 0.5, search.rate)
    assert search.rate > 40.0


def test_the_pace_stays_within_the_configured_bounds() -> None:
    """When nothing at all got through the pace halves, but never below the floor; doubling
    back up stops at --rate."""
    search = CeilingSearch(max_rate=41.0, min_rate=30.0)
    search.started(0.0)
    search.limited(0.0, now=0.03, resume_at=1.03)
    assert search.rate == 30.0
    t = 1.03
    for _ in range(4):
        t = send(search, t, t + PROBE_DWELL_S + 0.1, search.rate)
    assert search.rate == 41.0
