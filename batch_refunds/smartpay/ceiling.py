"""Finding the server's rate limit from its 429s: a pure state machine fed by the clock.

Smartpay publishes no rate limit, and a user's ``--rate`` is a guess. ``CeilingSearch`` runs at
that guess until the first 429, and from then on paces just under the limit it has observed:

* **Where 429s began.** On a 429 the ceiling becomes the number of requests let through
  (sent, not refused) in the busiest second of starts before it, and never more than the
  pace the 429 came at; when nothing got through at all there is nothing to measure, and the
  pace halves. A server that counts a sliding second (the sandbox) refuses exactly when that
  second holds its limit, so the count *is* the limit. The pace settles ``CRUISE_MARGIN``
  below the ceiling: one 429 and one ``Retry-After`` pause, not a halving followed by a slow
  climb back. A 429 while cruising is judged on the second just before it (the busiest one
  may hold a refilled bucket's burst).
* **Short evidence.** A 429 less than a second after sending began (the run's start, or a
  silence of a full second) has seen less than a second of traffic. If everything sent after
  it was refused too, a window filled up and the count stands. If a request sent after it
  got through, the limit refills as it goes (a token bucket, its burst spent in
  milliseconds) and the count is only a lower bound: the ceiling is *provisional*, and after
  each ``PROBE_DWELL_S`` without a 429 the pace doubles, until a 429 measured over a full
  second fixes it.
* **Probing upward, gently and rarely.** A limit can rise. After ``PROBE_CALM_S`` without a
  429 the pace tries ``PROBE_STEP`` above the ceiling; held for ``PROBE_DWELL_S``, that pace
  becomes the ceiling and the next step (twice as large) follows at once. A probe that earns
  a 429 doubles the wait before the next one (up to ``PROBE_CALM_MAX_S``): every failed probe
  costs one ``Retry-After`` pause of the whole client, so against a fixed limit they grow
  rare fast (30 s, 60 s, 120 s, … then every 5 minutes: well under 1 % of the time).
* **Jitter is not a limit.** A 429 at the current pace while the second before it let that
  whole pace through means a request was counted late, not that the limit is lower: once
  per calm spell it costs only its pause; a second one within ``PROBE_CALM_S`` moves the
  ceiling.
* **One 429 burst, one reaction.** Requests already sent at a pace that was then changed say
  nothing about the new pace: only a 429 of a request started after the last change moves
  the ceiling.

A token bucket is found more slowly than a sliding second: a probe above its rate is hidden
by the refilled burst for a while, so the pace overshoots and is walked back by a few 429s.

Never faster than ``max_rate`` (the user's ``--rate``), never slower than ``min_rate``.
"""

from __future__ import annotations

from collections import deque

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

_EPSILON_S = 1e-9


class CeilingSearch:
    """The pace to send at, given what the server has accepted and refused.

    Feed it every answer: ``accepted(started_at, now=…)`` for any answer but a 429,
    ``limited(started_at, now=…, resume_at=…)`` for a 429 (``resume_at``: when sending
    resumes, after the server's ``Retry-After``). ``rate`` is the pace to use now.
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
    ) -> None:
        self._max_rate = max_rate
        self._min_rate = min(min_rate, max_rate)
        self._margin = cruise_margin
        self._base_step = probe_step
        self._dwell_s = probe_dwell_s
        self._base_calm_s = probe_calm_s
        self._max_calm_s = probe_calm_max_s
        self.rate = max_rate
        self.ceiling: float | None = None  # None until the first 429
        self.provisional = False
        self._starts: deque[float] = deque()  # start times of the last two windows
        self._rejected: deque[float] = deque()  # start times of requests refused with 429
        self._tolerated_at = float("-inf")
        self._tail: tuple[float, float] | None = None  # sent after a provisional 429
        self._tail_through = self._tail_refused = False
        self._sending_since = float("-inf")  # when the current stretch of sending began
        self._last_start = float("-inf")
        self._changed_at = float("-inf")  # the last change of pace
        self._step = probe_step
        self._calm_s = probe_calm_s
        self._next_probe_at = float("inf")
        self._probing_since: float | None = None
        self._probe_successes = 0

    def started(self, at: float) -> None:
        """A request starts at ``at``. After a silence of a full window (or at the very first
        request) a new stretch of sending begins: the server's window holds none of ours."""
        if at - self._last_start >= WINDOW_S:
            self._sending_since = at
        self._last_start = max(self._last_start, at)
        _keep(self._starts, at)

    def accepted(self, started_at: float, *, now: float) -> None:
        """An answer other than 429 came back for a request started at ``started_at``."""
        if self.ceiling is None:
            return
        if self._tail is not None:
            sent_from, sent_until = self._tail
            if sent_from < started_at < sent_until:
                self._tail_through = True  # sent after the refused one, and let through
                return
            if started_at >= sent_until:
                self._tail = None
                if self._tail_refused and not self._tail_through:
                    # Everything sent after the refused request was refused too: a full
                    # window, not a bucket refilling as it goes. The count is the limit.
                    self.provisional = False
                    self._step = self._base_step
                    self._next_probe_at = self._sending_since + self._calm_s
        if self._probing_since is not None:
            if now - self._probing_since >= self._dwell_s - _EPSILON_S:
                self._probe_held(now)
        elif now >= self._next_probe_at - _EPSILON_S:
            self._probe(now)

    def limited(self, started_at: float, *, now: float, resume_at: float) -> None:
        """A 429 came back for a request started at ``started_at``; sending resumes at
        ``resume_at`` (now, or the end of the ``Retry-After`` pause)."""
        resume_at = max(now, resume_at)
        _keep(self._rejected, started_at)
        if started_at <= self._changed_at:
            # Sent at a pace already given up: it says nothing new, but its pause still holds.
            if self._tail is not None and self._tail[0] < started_at < self._tail[1]:
                self._tail_refused = True
            self._sending_since = max(self._sending_since, resume_at)
            self._next_probe_at = max(self._next_probe_at, resume_at)
            return
        since = max(started_at - 2 * WINDOW_S, self._sending_since)
        observed = _busiest_second(self._starts, self._rejected, since, started_at) / WINDOW_S
        full = started_at - since >= WINDOW_S - _EPSILON_S
        held = self.ceiling
        probing = self._probing_since is not None
        if observed == 0:
            # Nothing got through at all: there is nothing to measure, so halve, and let the
            # doubling below find the way back up.
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
            self._sending_since = max(self._sending_since, resume_at)
            self._next_probe_at = max(self._next_probe_at, resume_at)
            return
        self._probing_since = None
        if probing and full and held is not None and observed > held * (1 + self._base_step):
            # The probe overshot, but the second before it carried clearly more than the old
            # ceiling (it was spent partly below the limit, so this is still a lower bound):
            # keep the room found, and go on climbing from there in small steps.
            self._found(min(observed, self.rate), now)
            self._step = self._base_step
            self._resume(resume_at, self._dwell_s)
            return
        if not full and held is not None and not self.provisional:
            # Soon after a pause, with a ceiling already measured over full seconds: too
            # little evidence to move it up, enough to say it is no higher than this pace.
            observed = held
        elif held is not None and not probing and not self.provisional:
            # Refused while cruising steadily: the second just before is the evidence. The
            # busiest one may hold a refilled bucket's burst on top of its rate.
            last = max(started_at - WINDOW_S, self._sending_since)
            observed = _busiest_second(self._starts, self._rejected, last, started_at)
        self.ceiling = max(self._min_rate, min(observed, self.rate))
        self._set_rate(self.ceiling * (1.0 - self._margin), now)
        if not full and (held is None or self.provisional):
            # Less than a second of evidence: the count may be only a lower bound (a token
            # bucket's burst, spent in milliseconds). If a request sent after this one gets
            # through, the limit refills as it goes: double until a 429 measured over a full
            # second says where it is. If none does, the window was simply full.
            self.provisional = True
            self._tail = (started_at, now)
            self._tail_through = self._tail_refused = False
            self._step = 1.0
            self._resume(resume_at, self._dwell_s)
            return
        if probing and not self.provisional and not self._probe_successes:
            self._calm_s = min(self._max_calm_s, 2 * self._calm_s)  # a failed probe: rarer
        else:
            self._calm_s = self._base_calm_s
        self.provisional = False
        self._probe_successes = 0
        self._step = self._base_step
        self._resume(resume_at, self._calm_s)

    # --- internals ---------------------------------------------------------------------

    def _probe(self, now: float) -> None:
        assert self.ceiling is not None
        if self.rate >= self._max_rate:
            return
        self._probing_since = now
        self._set_rate(self.ceiling * (1.0 + self._step), now)

    def _probe_held(self, now: float) -> None:
        """The probe's pace went a full dwell without a 429: it is the new ceiling."""
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

    def _resume(self, at: float, probe_after_s: float) -> None:
        """Sending resumes at ``at``; the next probe comes ``probe_after_s`` after that."""
        self._sending_since = max(self._sending_since, at)
        self._next_probe_at = at + probe_after_s

    def _set_rate(self, rate: float, now: float) -> None:
        self.rate = max(self._min_rate, min(self._max_rate, rate))
        self._changed_at = now


def _keep(times: deque[float], at: float) -> None:
    """Add ``at``, forgetting what is more than two windows older (answers come a little out
    of order, so a little more than one window is kept)."""
    times.append(at)
    horizon = max(times[-1], at) - 2 * WINDOW_S
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
