"""Finding the server's rate limit from its 429s: a pure state machine fed by the clock.

Smartpay publishes no rate limit, and a user's ``--rate`` is a guess. ``CeilingSearch`` runs at
that guess until the first 429, and from then on paces just under the limit it has observed.
It knows the two shapes limits come in: a sliding second (the sandbox's default), which
refuses once a second holds its limit and lets nothing more through until that second has
passed, and a token bucket (most API gateways), which holds a small burst and then lets
requests through only as fast as it refills.

* **Where 429s began.** On the first 429 the ceiling becomes the number of requests let
  through (sent, not refused) in the busiest second of starts before it, and never more than
  the pace the 429 came at; when nothing got through at all there is nothing to measure, and
  the pace halves. Against a sliding second that count *is* the limit. Against a token bucket
  it is mostly the burst, spent in milliseconds: only a lower bound.
* **Retry-After is an upper bound, on trial.** ``Retry-After`` is whole seconds, so a bucket
  that has a token again 25 ms later can only say ``1``, and a whole second's pause per 429
  would cost more than the search itself. After the first 429 one request is let out at the
  next slot the count allows; every other start waits for its answer, never past the whole
  Retry-After. Refused too, the server meant its wait (a full window): it is waited in full,
  the count stands, and that server's later 429s pause for their whole Retry-After, as
  before. Let through, the server has shown that it refills as it goes, and from then on a
  429 holds starts only until the next request the refill rate allows (see the measuring
  spell). The refused request itself is never resent before its own Retry-After: the client
  sleeps that out for it, whatever the pace does.
* **Measuring a refill.** Against a refilling server a 429 begins a measuring spell: the
  bucket is empty at that request's start, and again at each later refused one, so what got
  through between the first and the latest, over the time between, is its refill rate, to
  one request, however large its burst. While the span is short the pace comes down only to
  ``MEASURE_OVERDRIVE`` above the most that rate can be (one request more than got through),
  which keeps the bucket empty and the count honest; refused requests cost the server
  nothing, so overdriving a refill does not slow the run. Once the span is ``MEASURE_S``
  long, the rate is the ceiling and the pace settles ``CRUISE_MARGIN`` under it: about a
  second of measuring, not the ~30 s and ten whole-second pauses that judging buckets by
  their busiest second took. A gap between two 429s far longer than overdriving allows (the
  rows ran short, the bucket filled up) starts the spell afresh; no 429 for a dwell ends it
  where the pace has come to.
* **Probing upward, gently and rarely.** A limit can rise. After ``PROBE_CALM_S`` without a
  429 the pace tries ``PROBE_STEP`` above the ceiling; held for ``PROBE_DWELL_S``, that pace
  becomes the ceiling and the next step (twice as large) follows at once. A refilling
  server's burst can hide a probe for longer than that, so there a held probe only climbs on
  until a 429, and the spell that 429 starts measures where the limit is. A probe that finds
  no room doubles the wait before the next one (up to ``PROBE_CALM_MAX_S``), so against a
  fixed limit probes grow rare fast (30 s, 60 s, 120 s, … then every 5 minutes).
* **Jitter is not a limit.** A 429 at the current pace while the second before it let that
  whole pace through means a request was counted late, not that the limit is lower: once
  per calm spell it costs only its pause; a second one within ``PROBE_CALM_S`` moves the
  ceiling.
* **One 429 burst, one reaction.** Requests already sent at a pace that was then changed say
  nothing about the new pace: only a 429 of a request started after the last change moves
  the ceiling (a measuring spell counts every refusal: each shows the bucket empty).

Never faster than ``max_rate`` (the user's ``--rate``), never slower than ``min_rate``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

# The second a sliding-window server counts over (starts are kept for two of them).
WINDOW_S = 1.0
# Cruise this far below the observed ceiling: the count it came from can be one off when
# arrival jitter moves a request across the server's window edge.
CRUISE_MARGIN = 0.015
# A probe tries this much above the ceiling; each success doubles the step (up to 100 %).
PROBE_STEP = 0.05
# How long a probe's pace must hold without a 429 to count: a full window at the new pace
# plus room for the answers to arrive.
PROBE_DWELL_S = 1.5
# Calm time before the first probe above a confirmed ceiling, doubling after each failure.
PROBE_CALM_S = 30.0
PROBE_CALM_MAX_S = 300.0

# A refill rate is measured over at least this long between two 429s: long enough that one
# request more or less is 2.5 % at 40/s, short enough to be done while a run of a few hundred
# rows is still young.
MEASURE_S = 1.0
# While measuring, the pace stays this far above the most the refill rate can be, so that
# the bucket stays empty (an idle bucket's refill is lost, and the count with it).
MEASURE_OVERDRIVE = 0.1
# The request let out early after a first 429 goes this many intervals of the observed rate
# later: one would meet a bucket refilled to just under a token as often as not (arrival
# jitter, a server that counts whole milliseconds), and a trial refused costs a whole pause.
TRIAL_INTERVALS = 1.5
# Starts are remembered this long: two windows for the busiest second, a measuring spell.
HISTORY_S = 4.0

_EPSILON_S = 1e-9


class CeilingSearch:
    """The pace to send at, and when to resume after a 429, given what the server has
    accepted and refused.

    Feed it every start (``started``) and every answer: ``accepted(started_at, now=…)`` for
    any answer but a 429, ``limited(started_at, now=…, retry_after_s=…)`` for a 429, which
    returns the clock time new starts may resume. ``rate`` is the pace to use now.
    """

    def __init__(
        self,
        *,
        max_rate: float,
        min_rate: float,
        cruise_margin: float = CRUISE_MARGIN,
        probe_step: float = PROBE_STEP,
        probe_dwell_s: float = PROBE_DWELL_S,
        probe_calm_s: float = PROBE_CALM_S,
        probe_calm_max_s: float = PROBE_CALM_MAX_S,
        measure_s: float = MEASURE_S,
        overdrive: float = MEASURE_OVERDRIVE,
    ) -> None:
        self._max_rate = max_rate
        self._min_rate = min(min_rate, max_rate)
        self._margin = cruise_margin
        self._base_step = probe_step
        self._dwell_s = probe_dwell_s
        self._base_calm_s = probe_calm_s
        self._max_calm_s = probe_calm_max_s
        self._measure_s = measure_s
        self._overdrive = overdrive
        self.rate = max_rate
        self.ceiling: float | None = None  # None until the first 429
        self.provisional = False
        # The server has let a request through after refusing an earlier one, within the
        # Retry-After it gave: its allowance refills as it goes (a token bucket, or a sliding
        # second in steady state), and its whole-second Retry-After is only an upper bound.
        self.refills = False
        self.resume_at = float("-inf")  # no start before this (the last 429's hold)
        self._starts: deque[float] = deque()  # start times of the last HISTORY_S
        self._rejected: deque[float] = deque()  # start times of requests refused with 429
        self._tolerated_at = float("-inf")
        self._sending_since = float("-inf")  # when the current stretch of sending began
        self._last_start = float("-inf")
        self._changed_at = float("-inf")  # the last change of pace
        self._step = probe_step
        self._calm_s = probe_calm_s
        self._next_probe_at = float("inf")
        self._probing_since: float | None = None
        self._probe_successes = 0
        self._probe_base: float | None = None  # the ceiling a run of probes started from
        self._trial: _Trial | None = None
        self._climb_to = 0.0  # the pace to measure at once a trial passes
        self._trial_rate = 0.0  # the pace kept while a trial is out (the one the 429 came at)
        # Measuring the refill rate: from the first refused start of a spell to the latest.
        self._measuring = False
        self._spell_from: float | None = None
        self._spell_last = float("-inf")
        self._spell_rate = 0.0  # what got through so far in the spell, per second
        self._last_refusal_at = float("-inf")

    def started(self, at: float) -> None:
        """A request starts at ``at``. After a silence of a full window (or at the very first
        request) a new stretch of sending begins: the server's window holds none of ours."""
        if at - self._last_start >= WINDOW_S:
            self._sending_since = at
        self._last_start = max(self._last_start, at)
        _keep(self._starts, at)
        trial = self._trial
        if trial is not None and trial.sent_at is None and at >= trial.resume_at - _EPSILON_S:
            if at >= trial.until - _EPSILON_S:
                self._end_trial(at)  # nothing was sent early: it proved nothing
            else:
                # The one request let out early; everything else waits for its answer, and
                # at most for the server's whole Retry-After.
                trial.sent_at = at
                self.resume_at = trial.until

    def accepted(self, started_at: float, *, now: float) -> None:
        """An answer other than 429 came back for a request started at ``started_at``."""
        trial = self._trial
        if trial is not None and trial.refused_at < started_at < trial.until:
            # Sent after a refused request, before its Retry-After ran out, and let through:
            # the allowance refills as it goes. Sending resumes now.
            self._trial = None
            self.refills = True
            self.resume_at = now
            self._measuring, self._spell_from = True, None
            self._last_refusal_at = now
            self._set_rate(max(trial.then_rate, self._climb_to), now)
            return
        if self.ceiling is None:
            return
        if self._measuring:
            # Overdriving the refill earns a 429 every 1 / (pace - refill) s or so.
            expected_gap = 1.0 / max(self.rate - self._spell_rate, _EPSILON_S)
            if now - self._last_refusal_at < max(self._dwell_s, 4 * expected_gap) - _EPSILON_S:
                return
            # No 429 for a dwell: the pace is under the refill rate, the spell is over.
            spell_began = self._spell_from is not None
            self._measuring, self._spell_from = False, None
            if self.provisional and spell_began:
                # It was overdriving, and only the bound on the rate brought it below: the
                # pace it ended at is as close as this spell came.
                self._measured(self.rate, now)
                return
            if self.provisional:
                self.ceiling = self.rate  # climb from here, doubling
                self._step = 1.0
                self._probe(now)
                return
            # A lone 429 while cruising (arrival jitter): the ceiling stands.
            self._set_rate(self.ceiling * (1.0 - self._margin), now)
            self._next_probe_at = max(self._next_probe_at, now + self._dwell_s)
            return
        if self._probing_since is not None:
            if now - self._probing_since >= self._dwell_s - _EPSILON_S:
                self._probe_held(now)
        elif now >= self._next_probe_at - _EPSILON_S:
            self._probe(now)

    def limited(self, started_at: float, *, now: float, retry_after_s: float) -> float:
        """A 429 with ``Retry-After: retry_after_s`` came back for a request started at
        ``started_at``; returns when new starts may resume (never after the Retry-After)."""
        latest = now + max(0.0, retry_after_s)
        _keep(self._rejected, started_at)
        self._last_refusal_at = now
        trial = self._trial
        if trial is not None and trial.sent_at is not None and started_at >= trial.sent_at:
            # Let out early and refused, with nothing let through since: the allowance does
            # not refill as it goes (a full window), so the server's wait is the real one and
            # the count stands.
            self._end_trial(now)
            self.provisional = False
            self._step = self._base_step
            self._next_probe_at = latest + self._calm_s
            return self._hold(latest)
        if trial is not None:
            # Sent before the trial, at the pace given up: the trial still decides.
            return self.resume_at
        if self.refills:
            return self._measure(started_at, now, latest)
        if started_at <= self._changed_at:
            # Sent at a pace already given up: it says nothing new, and the hold stands.
            return self._hold(min(latest, max(self.resume_at, now)))
        return self._judge(started_at, now, latest)

    # --- internals ---------------------------------------------------------------------

    def _judge(self, started_at: float, now: float, latest: float) -> float:
        """A 429 from a server not known to refill: the busiest second before it is the
        evidence (a sliding second refuses exactly when that second holds its limit)."""
        since = max(started_at - 2 * WINDOW_S, self._sending_since)
        count = _busiest_second(self._starts, self._rejected, since, started_at)
        observed = count / WINDOW_S
        full = started_at - since >= WINDOW_S - _EPSILON_S
        held = self.ceiling
        probing = self._probing_since is not None
        pace_at_429 = self.rate
        self._trial_rate = pace_at_429
        first = held is None or self.provisional
        if observed == 0:
            # Nothing got through at all: there is nothing to measure, so halve, and let the
            # doubling below find the way back up; the whole Retry-After is waited.
            observed = self.rate / 2
        if (
            not probing
            and full
            and observed >= self.rate - 1.0 / WINDOW_S
            and now - self._tolerated_at >= self._base_calm_s
        ):
            # At the current pace, with the server letting all of it through: a request
            # arrived late and met a full window (jitter), not a lower limit. Once in a calm
            # spell that costs only the pause; a second time it lowers the ceiling.
            self._tolerated_at = now
            if held is None:
                self.ceiling = self.rate
                return self._try_early(started_at, now, latest, self.rate)
            return self._hold(latest)
        self._probing_since = None
        if probing and full and held is not None and observed > held * (1 + self._base_step):
            # The probe overshot, but the second before it carried clearly more than the old
            # ceiling: keep the room found, and go on climbing from there in small steps.
            self._found(min(observed, self.rate), now)
            self._step = self._base_step
            return self._hold(latest)
        if not full and held is not None and not self.provisional:
            # Soon after a pause, with a ceiling already measured over full seconds: too
            # little evidence to move it up, enough to say it is no higher than this pace.
            observed = held
        elif held is not None and not probing and not self.provisional:
            # Refused while cruising steadily: the second just before is the evidence.
            last = max(started_at - WINDOW_S, self._sending_since)
            observed = _busiest_second(self._starts, self._rejected, last, started_at)
        self.ceiling = max(self._min_rate, min(observed, self.rate))
        self._set_rate(self.ceiling * (1.0 - self._margin), now)
        if probing and not self.provisional and not self._probe_successes:
            self._calm_s = min(self._max_calm_s, 2 * self._calm_s)  # a failed probe: rarer
        else:
            self._calm_s = self._base_calm_s
        # Less than a second of evidence (a token bucket's burst is spent in milliseconds)
        # is only a lower bound until the trial below says whether the allowance refills.
        self.provisional = not full and (held is None or self.provisional)
        self._probe_successes = 0
        self._step = self._base_step
        self._climb_to = pace_at_429 / 2 if held is None or self.provisional else 0.0
        if count == 0 or not first:
            # A server that did not refill when first asked (a sliding second) is taken at
            # its word from then on.
            if self.provisional:
                self._step = 1.0  # double back up after each dwell without a 429
            self._next_probe_at = latest + (self._dwell_s if self.provisional else self._calm_s)
            return self._hold(latest)
        return self._try_early(started_at, now, latest, self.ceiling)

    def _try_early(self, started_at: float, now: float, latest: float, rate: float) -> float:
        """Let one request out at the next one the observed ``rate`` allows, instead of
        waiting the whole Retry-After; the rest wait for its answer (see ``_Trial``)."""
        resume_at = min(latest, now + TRIAL_INTERVALS / max(rate, self._min_rate))
        self._trial = _Trial(
            refused_at=started_at, resume_at=resume_at, until=latest, then_rate=self.rate
        )
        # The pace itself waits for the verdict: a slower one's window rule would hold the
        # trial back past the very moment it is meant to test.
        self.rate = self._trial_rate
        self._changed_at = now
        self._next_probe_at = latest + self._calm_s
        return self._hold(resume_at)

    def _end_trial(self, now: float) -> None:
        """No early resume: the pace the 429 set applies, and the whole Retry-After holds."""
        trial = self._trial
        assert trial is not None
        self._trial = None
        self._set_rate(trial.then_rate, now)

    def _measure(self, started_at: float, now: float, latest: float) -> float:
        """A 429 from a server whose allowance refills as it goes. Between two refusals its
        allowance was spent both times, so what got through in between, over the time
        between them, is its refill rate (to one request). While that span is short the
        pace stays just above the most the rate can be, so the allowance stays spent and the
        count stays honest; once it is ``measure_s`` long, the count is the ceiling."""
        self._probing_since = None
        if not self._measuring or self._spell_from is None or started_at <= self._spell_from:
            if not self._measuring and self.ceiling is not None:
                self._probe_base = self._probe_base or self.ceiling
            return self._begin_spell(started_at, now, latest)
        span = started_at - self._spell_from
        through = _let_through(self._starts, self._rejected, self._spell_from, started_at)
        gap = started_at - self._spell_last
        expected_gap = 1.0 / max(self.rate - through / span, _EPSILON_S)
        self._spell_last = started_at
        if gap > max(self._measure_s / 2, 4 * expected_gap):
            # Far longer without a 429 than overdriving the refill would allow: fewer requests
            # were sent than it refilled (the rows ran short, or waited out their own
            # Retry-After), so its refill was lost and the count with it. Start again here.
            return self._begin_spell(started_at, now, latest)
        if span >= self._measure_s - _EPSILON_S:
            # A token bucket kept empty lets exactly its refill through (to one request); a
            # sliding second lets its limit through in any full second, which a span a little
            # over a second, at a pace brought down meanwhile, may understate: the busiest
            # second within the spell, less the one request a bucket can add, covers that.
            busiest = _busiest_second(self._starts, self._rejected, self._spell_from, started_at)
            self._measured(max(through / span, (busiest - 1) / WINDOW_S), now)
        else:
            most = (through + 1) / span  # the refill rate is below this
            self._set_rate(min(self.rate, most * (1.0 + self._overdrive)), now)
            self._spell_rate = through / span
        # The next request the server can take comes one refill later; when nothing got
        # through, each wait doubles the last, up to the server's Retry-After.
        best = (through + 1) / span if span > 0 else float("inf")
        return self._hold(min(latest, now + 1.0 / best))

    def _begin_spell(self, started_at: float, now: float, latest: float) -> float:
        """The first 429 of a measuring spell: the allowance is spent as of ``started_at``."""
        self._measuring = True
        self._spell_from = self._spell_last = started_at
        self._spell_rate = 0.0
        rate = max(self.rate, self.ceiling or 0.0)
        return self._hold(min(latest, now + 1.0 / max(rate, self._min_rate)))

    def _measured(self, rate: float, now: float) -> None:
        """The refill rate, measured over a long enough spell, is the ceiling."""
        base = self._probe_base
        self._measuring, self._spell_from, self._probe_base = False, None, None
        self.ceiling = max(self._min_rate, min(self._max_rate, rate))
        self._set_rate(self.ceiling * (1.0 - self._margin), now)
        if (
            base is not None
            and not self.provisional
            and self.ceiling < base * (1 + self._base_step)
        ):
            self._calm_s = min(self._max_calm_s, 2 * self._calm_s)  # a probe that found no room
        else:
            self._calm_s = self._base_calm_s
        self.provisional = False
        self._probe_successes = 0
        self._step = self._base_step
        self._next_probe_at = now + self._calm_s

    def _hold(self, until: float) -> float:
        self.resume_at = max(self.resume_at, until)
        return self.resume_at

    def _probe(self, now: float) -> None:
        assert self.ceiling is not None
        if self.rate >= self._max_rate:
            return
        self._probing_since = now
        self._set_rate(self.ceiling * (1.0 + self._step), now)

    def _probe_held(self, now: float) -> None:
        """The probe's pace went a full dwell without a 429: it is the new ceiling. Not so
        against a refilling server, whose burst can hide a probe for longer: there the
        probe goes on climbing until a 429, and the measuring spell it starts says where
        the limit is."""
        if self.refills:
            self._step = min(1.0, 2 * self._step)
            self._probing_since = now
            assert self.ceiling is not None
            self._set_rate(self.ceiling * (1.0 + self._step), now)
            return
        self._found(self.rate, now)
        self._step = min(1.0, 2 * self._step)
        self._probe(now)

    def _found(self, ceiling: float, now: float) -> None:
        """Room above the old ceiling: ``ceiling`` is the new one, and the limit is moving."""
        self.ceiling = ceiling
        self.provisional = False
        self._probe_successes += 1
        self._probing_since = None
        self._calm_s = self._base_calm_s
        self._set_rate(ceiling * (1.0 - self._margin) if ceiling < self.rate else ceiling, now)

    def _set_rate(self, rate: float, now: float) -> None:
        self.rate = max(self._min_rate, min(self._max_rate, rate))
        self._changed_at = now


@dataclass
class _Trial:
    """An early resume on trial after a 429 from a server not yet known to refill.

    ``Retry-After`` is whole seconds, so a limiter that frees a slot 25 ms later can only
    say 1. One request is let out at ``resume_at`` (the next one the observed rate allows)
    and every other start waits for its answer, but never past ``until`` (the whole
    Retry-After). Let through, it shows that the allowance refills as it goes; refused, the
    server meant its wait, and it is waited in full. The refused request itself is resent
    only after its own Retry-After, whatever the trial shows.
    """

    refused_at: float  # the refused request's start
    resume_at: float
    until: float
    then_rate: float  # the pace the 429 set, to use if the trial is refused
    sent_at: float | None = None


def _keep(times: deque[float], at: float) -> None:
    """Add ``at``, forgetting what is more than ``HISTORY_S`` older."""
    times.append(at)
    horizon = max(times[-1], at) - HISTORY_S
    while times and times[0] < horizon:
        times.popleft()


def _busiest_second(
    starts: deque[float], rejected: deque[float], since: float, until: float
) -> int:
    """The most requests let through in any one window of starts within ``[since, until)``.

    Let through: sent, and not refused with a 429 (one still unanswered reached the server
    before the refused one, and counts). The busiest window rather than the last one: a
    request on a window's edge by our clock may be inside it by the server's.
    """
    refused = sorted(t for t in rejected if since <= t < until)
    through: list[float] = []
    for t in sorted(t for t in starts if since <= t < until):
        if refused and refused[0] == t:
            refused.pop(0)
        else:
            through.append(t)
    best = first = 0
    for last, t in enumerate(through):
        while through[first] <= t - WINDOW_S:
            first += 1
        best = max(best, last - first + 1)
    return best


def _let_through(starts: deque[float], rejected: deque[float], after: float, before: float) -> int:
    """Requests started strictly between ``after`` and ``before`` and not refused (one still
    unanswered reached the server before the refused one at ``before``, and counts)."""
    sent = sum(1 for t in starts if after < t < before)
    return sent - sum(1 for t in rejected if after < t < before)
