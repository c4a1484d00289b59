"""How many ``/v1`` requests the sandbox is handling at once, over time.

A benchmark wants to know whether a client really keeps its allowed concurrency busy. The
server is the honest place to measure that: it counts what arrives, whatever the client
believes it sends. Every request calls ``enter`` when it arrives and ``leave`` when its
answer is ready; between changes the count is constant, so each time bucket
(``bucket_ms``, 100 ms by default) gets the exact time-weighted mean of the count and
its peak. Nothing runs in the background: the work happens only when a request comes or
goes, so an idle sandbox costs nothing.

The oldest buckets are dropped beyond ``max_buckets`` (an hour of 100 ms buckets by
default), so a sandbox left running for days stays small.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

DEFAULT_BUCKET_MS = 100
DEFAULT_MAX_BUCKETS = 36_000


class InFlightGauge:
    """The time-weighted in-flight count per bucket, from an injected millisecond clock."""

    def __init__(
        self,
        now_ms: Callable[[], int],
        *,
        bucket_ms: int = DEFAULT_BUCKET_MS,
        max_buckets: int = DEFAULT_MAX_BUCKETS,
    ) -> None:
        if bucket_ms < 1:
            raise ValueError(f"bucket_ms must be >= 1, got {bucket_ms}")
        if max_buckets < 1:
            raise ValueError(f"max_buckets must be >= 1, got {max_buckets}")
        self._now_ms = now_ms
        self.bucket_ms = bucket_ms
        self._max_buckets = max_buckets
        self.current = 0
        self.peak = 0
        self.first_enter_ms: int | None = None
        self.last_leave_ms: int | None = None
        self._changed_ms = 0
        # bucket index -> [in-flight × ms accumulated, peak count seen in the bucket]
        self._buckets: OrderedDict[int, list[int]] = OrderedDict()

    def enter(self) -> None:
        now = self._advance()
        if self.first_enter_ms is None:
            self.first_enter_ms = now
        self.current += 1
        self.peak = max(self.peak, self.current)
        bucket = self._bucket(now // self.bucket_ms)
        bucket[1] = max(bucket[1], self.current)

    def leave(self) -> None:
        now = self._advance()
        self.current = max(0, self.current - 1)
        self.last_leave_ms = now

    def _advance(self) -> int:
        """Credit the count held since the last change to the buckets it spans."""
        now = self._now_ms()
        start = self._changed_ms
        self._changed_ms = max(start, now)  # a clock that steps back credits nothing
        if self.current == 0 or now <= start:
            return now
        first = max(start // self.bucket_ms, now // self.bucket_ms - self._max_buckets + 1)
        for index in range(first, now // self.bucket_ms + 1):
            low = max(start, index * self.bucket_ms)
            high = min(now, (index + 1) * self.bucket_ms)
            if high > low:
                bucket = self._bucket(index)
                bucket[0] += self.current * (high - low)
                bucket[1] = max(bucket[1], self.current)
        return now

    def _bucket(self, index: int) -> list[int]:
        bucket = self._buckets.get(index)
        if bucket is None:
            bucket = self._buckets[index] = [0, 0]
            while len(self._buckets) > self._max_buckets:
                self._buckets.popitem(last=False)
        return bucket

    def snapshot(self) -> dict[str, Any]:
        """The admin endpoint's view: per-bucket means and peaks from the first bucket to now.

        Buckets in which nothing was in flight and nothing arrived are zeros, so the lists
        are a regular time series starting at ``startMs``; the last bucket is still filling.
        """
        self._advance()
        if not self._buckets:
            mean: list[float] = []
            peak: list[int] = []
            start_ms = None
        else:
            last = max(self._changed_ms // self.bucket_ms, next(reversed(self._buckets)))
            first = max(next(iter(self._buckets)), last - self._max_buckets + 1)
            mean, peak = [], []
            for index in range(first, last + 1):
                held, top = self._buckets.get(index, (0, 0))
                mean.append(round(held / self.bucket_ms, 3))
                peak.append(top)
            start_ms = first * self.bucket_ms
        return {
            "bucketMs": self.bucket_ms,
            "startMs": start_ms,
            "mean": mean,
            "peak": peak,
            "current": self.current,
            "max": self.peak,
            "firstEnterMs": self.first_enter_ms,
            "lastLeaveMs": self.last_leave_ms,
        }
