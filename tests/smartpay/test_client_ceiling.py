"""ceiling: the pace that 429s reveal, step by step on a clock the test moves (no sleeps)."""

from __future__ import annotations

import itertools

import pytest

from batch_refunds.smartpay.ceiling import (
    CRUISE_MARGIN,
    PROBE_CALM_S,
    PROBE_DWELL_S,
    PROBE_STEP,
    TRIAL_INTERVALS,
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


def full_second_429(**over: float) -> CeilingSearch:
    """At 200/s with 40 let through in the second before it, a 429 for the request sent at
    t = 1 s, answered at 1.03 s with ``Retry-After: 1``."""
    search = CeilingSearch(max_rate=over.get("max_rate", 200.0), min_rate=0.5)
    send(search, 0.0, 1.0, 40.0)  # what the server let through; the rest was refused
    search.started(1.0)
    search.limited(1.0, now=1.03, retry_after_s=1.0)
    return search


def test_a_429_after_a_full_second_sets_the_ceiling_to_what_got_through() -> None:
    """Sent at 200/s, with 40 let through in the second before the 429, the ceiling is 40/s
    and (the early trial refused: a full window) the pace just under it: not half of 200,
    not a slow creep down."""
    search = full_second_429()
    assert search.ceiling == pytest.approx(40.0)
    search.started(search.resume_at)
    search.limited(search.resume_at, now=search.resume_at + 0.001, retry_after_s=1.0)
    assert search.rate == pytest.approx(40.0 * UNDER)
    assert not search.provisional
    assert not search.refills


def test_the_ceiling_is_never_above_the_pace_the_429_came_at() -> None:
    """A 429 at 30/s after a second that let 40 through puts the ceiling at 30, not 40."""
    search = full_second_429(max_rate=30.0)
    assert search.ceiling == pytest.approx(30.0)


def test_429s_from_one_burst_move_the_pace_once() -> None:
    """Requests sent before the pace changed say nothing about the new pace: their 429s
    leave the ceiling, the pace and the hold alone."""
    search = CeilingSearch(max_rate=200.0, min_rate=0.5)
    send(search, 0.0, 1.0, 40.0)
    for started in (1.0, 1.005, 1.010):
        search.started(started)
    search.limited(1.0, now=1.03, retry_after_s=1.0)
    after_first = (search.ceiling, search.rate, search.resume_at)
    search.limited(1.005, now=1.035, retry_after_s=1.0)
    search.limited(1.010, now=1.040, retry_after_s=1.0)
    assert (search.ceiling, search.rate, search.resume_at) == after_first


def test_one_request_goes_out_at_the_next_slot_the_count_allows_and_the_rest_wait() -> None:
    """Retry-After is whole seconds, so "1" may stand for 25 ms: the first 429 holds starts
    only until a request and a half of the observed 40/s later; once that one request is out,
    every other start waits for its answer, at most the whole Retry-After."""
    search = full_second_429()
    assert search.resume_at == pytest.approx(1.03 + TRIAL_INTERVALS / 40)
    search.started(search.resume_at)
    assert search.resume_at == pytest.approx(1.03 + 1.0)


def test_a_trial_let_through_ends_the_hold_and_shows_the_allowance_refills() -> None:
    """The request let out early is let through: sending resumes the moment its answer
    comes, and the server is known to refill as it goes (a token bucket)."""
    search = full_second_429()
    trial = search.resume_at
    search.started(trial)
    search.accepted(trial, now=trial + 0.030)
    assert search.refills
    assert search.resume_at == pytest.approx(trial + 0.030)


def test_a_trial_refused_waits_the_whole_retry_after() -> None:
    """The request let out early is refused too: the server meant its wait, so starts wait
    for the whole Retry-After of that second 429, and the server is not taken to refill."""
    search = full_second_429()
    trial = search.resume_at
    search.started(trial)
    search.limited(trial, now=trial + 0.001, retry_after_s=1.0)
    assert not search.refills
    assert search.resume_at == pytest.approx(trial + 0.001 + 1.0)


def test_a_trial_sent_only_after_the_retry_after_proves_nothing() -> None:
    """When no request wanted to go until the Retry-After had passed anyway, its success
    says nothing about the server: the pace the 429 set applies, the server is not taken
    to refill."""
    search = full_second_429()
    search.started(2.10)
    search.accepted(2.10, now=2.13)
    assert not search.refills
    assert search.rate == pytest.approx(40.0 * UNDER)


def refilling() -> tuple[CeilingSearch, float]:
    """A search whose early trial was let through at t = 1.085 s: it knows the server
    refills, and measures from the next 429 on. Returns it and the time."""
    search = full_second_429()
    trial = search.resume_at
    search.started(trial)
    search.accepted(trial, now=trial + 0.030)
    return search, trial + 0.030


def bucket_spell(search: CeilingSearch, start: float, seconds: float, rate: float) -> float:
    """Requests at ``rate`` against a server that lets exactly ``rate - 4`` per second
    through: every starts-th one is refused (answered at once), as an empty token bucket
    refilling at that rate does; returns the last refused start."""
    t, credit, last = start, 0.0, start
    let_through = rate - 4.0
    while t < start + seconds - 1e-9:
        search.started(t)
        credit += let_through / rate
        if credit >= 1.0:
            credit -= 1.0
            search.accepted(t, now=t + 0.030)
        else:
            search.limited(t, now=t + 0.0005, retry_after_s=1.0)
            last = t
        t += 1.0 / rate
    return last


def test_a_refilling_server_is_measured_between_two_429s() -> None:
    """Against a refilling server, what got through between the first 429 of a spell and a
    429 at least a second later, over the time between, is the ceiling: 36/s let through
    of 40/s sent is a ceiling of 36 (to one request), and the pace settles just under it."""
    search, now = refilling()
    search.started(now)
    search.limited(now, now=now + 0.0005, retry_after_s=1.0)  # the spell begins
    bucket_spell(search, now + 0.025, 1.5, 40.0)
    assert not search.provisional
    ceiling = search.ceiling
    assert ceiling is not None
    assert ceiling == pytest.approx(36.0, abs=1.0)
    assert search.rate == pytest.approx(ceiling * UNDER)


def test_while_measuring_the_pace_stays_just_above_the_most_the_refill_can_be() -> None:
    """Ten let through in the quarter second between two 429s: the refill is under
    11 / 0.25 = 44/s, and the pace comes down to 10 % above that, not to the count."""
    search, now = refilling()
    spell = now + 0.05
    search.started(spell)
    search.limited(spell, now=spell + 0.0005, retry_after_s=1.0)
    for i in range(1, 11):
        search.started(spell + i * 0.02)
    search.started(spell + 0.25)
    search.limited(spell + 0.25, now=spell + 0.2505, retry_after_s=1.0)
    assert search.rate == pytest.approx(11 / 0.25 * 1.1)
    assert search.resume_at == pytest.approx(spell + 0.2505 + 0.25 / 11)


def test_when_nothing_gets_through_the_waits_double_up_to_the_retry_after() -> None:
    """A server that refuses everything (a lockout) after showing that it refilled: each
    429's hold is as long as the spell so far (nothing let through in it), so the waits
    double, and none is longer than the server's Retry-After."""
    search, now = refilling()
    t = now + 0.01
    holds: list[float] = []
    for _ in range(12):
        search.started(t)
        search.limited(t, now=t, retry_after_s=1.0)
        holds.append(search.resume_at - t)
        t = search.resume_at
    assert all(b >= 1.9 * a for a, b in itertools.pairwise(holds[1:7]))
    assert max(holds) == pytest.approx(1.0)


def test_a_long_gap_between_429s_starts_the_spell_afresh() -> None:
    """Overdriving a refill earns a 429 every few requests; a gap of a second without one
    means fewer were sent than it refilled, so what got through no longer measures it: the
    spell starts again at the later 429 instead of ending with too low a count."""
    search, now = refilling()
    spell = now + 0.05
    search.started(spell)
    search.limited(spell, now=spell + 0.0005, retry_after_s=1.0)
    for i in range(1, 6):
        search.started(spell + i * 0.02)  # then nothing for a second: rows ran short
    later = spell + 1.2
    search.started(later)
    search.limited(later, now=later + 0.0005, retry_after_s=1.0)
    assert search.ceiling == pytest.approx(40.0)  # not measured from 5 in 1.2 s
    assert search.rate > 40.0


def confirmed_at_40() -> tuple[CeilingSearch, float]:
    """A search that found 40/s at t = 1 s (a full window: its early trial refused) and
    resumes at t = 2.03 s; returns it and 2.03."""
    search = CeilingSearch(max_rate=200.0, min_rate=0.5)
    send(search, 0.0, 1.0, 40.0)
    search.started(1.0)
    search.limited(1.0, now=1.0, retry_after_s=1.0)
    trial = search.resume_at
    search.started(trial)
    search.limited(trial, now=1.03, retry_after_s=1.0)
    return search, search.resume_at


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
    search.limited(t, now=t + 0.03, retry_after_s=1.0)
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
    search.limited(0.0, now=0.03, retry_after_s=1)
    assert search.rate == 30.0
    t = 1.03
    for _ in range(4):
        t = send(search, t, t + PROBE_DWELL_S + 0.1, search.rate)
    assert search.rate == 41.0
