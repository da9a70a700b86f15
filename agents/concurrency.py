"""An adaptive limit on a run's LLM requests in flight: it backs off on 429s and grows back slowly.

Additive increase, multiplicative decrease (AIMD), as TCP paces a connection: a server that
answers 429 (too many requests) is past its capacity, so the limit is cut by
``DECREASE_FACTOR``; each time a limit's worth of requests has succeeded while the limit was in
use, it grows by one. It never leaves ``[1, maximum]`` (``maximum`` is ``--concurrency``) and
starts at ``maximum``: a server that never answers 429 sees exactly the fixed cap of before.

One overload counts once. The requests already on the wire when the limit was cut were sent
under the old limit, so their 429s say nothing new: only a request sent after the latest cut can
cut again (each ``acquire`` returns the cut count it was sent under, its ticket). The OpenAI
client's own retries (``--max-retries``, honouring ``Retry-After``) still run on top of this; a
retry waits for a slot like any request.

Two lanes share the limit. A run that plans ahead keeps many generator tasks waiting for a place
in the background (``graph.runtime.pipeline``); the advisor, critic, contrast and summarizer calls
of the round in progress would otherwise queue behind all of them, and the round, which plans the
next tasks, would fall behind the server. A request sent from a thread inside
``background_requests()`` gets a place only when no other request waits for one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

# The limit after a 429 is this share of the limit before it (rounded down, at least 1).
# Measured by benchmarks/adaptive_concurrency.py (a server of 4 slots that answers 429 beyond
# them, --concurrency 16; docs/operations.md): 0.5 and 0.75 both settle near 4 and finish in the
# same time within noise; 0.5 takes fewer 429s (18-20 against 25 per run).
DECREASE_FACTOR = 0.5
# At most this many (seconds, limit, in flight) samples are kept for stats.json; beyond it every
# other sample is dropped, so the series spans the whole run at a coarser grain.
MAX_SAMPLES = 512

Outcome = Literal["ok", "overloaded", "failed"]

_lane = threading.local()


@contextmanager
def background_requests(background: bool = True) -> Iterator[None]:
    """Mark this thread's requests as background work: served after every other waiting one."""
    before = getattr(_lane, "background", False)
    _lane.background = background
    try:
        yield
    finally:
        _lane.background = before


def foreground_requests() -> Any:
    """Undo ``background_requests`` for a block (a background job the loop waits for)."""
    return background_requests(False)


class AdaptiveLimit:
    """A limit on requests in flight, shared by the threads of one run, adjusted by AIMD.

    ``ticket = limit.acquire()`` waits for a place; ``limit.release(ticket, outcome)`` gives it
    back once the request is answered, saying how it ended.
    """

    def __init__(
        self,
        maximum: int,
        *,
        decrease_factor: float | None = None,
        max_samples: int = MAX_SAMPLES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if maximum < 1:
            raise ValueError(f"maximum must be at least 1, not {maximum}")
        factor = DECREASE_FACTOR if decrease_factor is None else decrease_factor
        if not 0 < factor <= 1:  # 1: a fixed limit (benchmarks compare with it)
            raise ValueError(f"decrease_factor must be in (0, 1], not {factor}")
        self.maximum = maximum
        self.decrease_factor = factor
        self._max_samples = max(2, max_samples)
        self._clock = clock
        self._lock = threading.Lock()
        self._foreground = threading.Condition(self._lock)
        self._background = threading.Condition(self._lock)
        self._waiting = 0  # foreground requests waiting for a place
        self._limit = maximum
        self._in_flight = 0
        self._cuts = 0  # overloads taken so far; a request's ticket is the value when it was sent
        self._decreases = 0  # cuts that lowered the limit (not at 1, not with a factor of 1)
        self._raises = 0
        self._successes = 0  # successes in use since the last change of the limit
        self._started = clock()
        self._last = 0.0  # seconds of the last change of the limit or of in-flight
        self._limit_seconds = 0.0  # time integrals since the start, for the means
        self._in_flight_seconds = 0.0
        self._max_in_flight = 0
        self._min_limit = maximum
        self._samples: list[tuple[float, int, int]] = [(0.0, maximum, 0)]

    @property
    def limit(self) -> int:
        """Requests allowed in flight now."""
        with self._lock:
            return self._limit

    @property
    def in_flight(self) -> int:
        """Requests in flight now."""
        with self._lock:
            return self._in_flight

    def acquire(self) -> int:
        """Wait for a free place and take it; returns the ticket to give back to ``release``."""
        background = bool(getattr(_lane, "background", False))
        with self._lock:
            if background:
                while self._in_flight >= self._limit or self._waiting:
                    self._background.wait()
            else:
                self._waiting += 1
                while self._in_flight >= self._limit:
                    self._foreground.wait()
                self._waiting -= 1
            self._advance()
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            self._wake()
            return self._cuts

    def release(self, ticket: int, outcome: Outcome) -> None:
        """Give the place back, saying how the request ended.

        ``overloaded`` (a 429) cuts the limit unless it was sent before the latest cut; ``ok``
        counts toward growth if the limit was in use (at least half of it taken: a phase with
        one call in flight is no evidence that the server takes more); ``failed`` (a timeout, a
        5xx, a dropped connection) changes nothing: it is no sign of load.
        """
        with self._lock:
            in_use = 2 * self._in_flight >= self._limit
            self._advance()
            self._in_flight -= 1
            if outcome == "overloaded" and ticket == self._cuts:
                self._cut()
            elif outcome == "ok" and in_use and self._limit < self.maximum:
                self._successes += 1
                if self._successes >= self._limit:
                    self._raise()
            self._wake()

    def report(self) -> dict[str, Any]:
        """What ``stats.json`` shows: the limit now and over time, and the concurrency used.

        ``limit_over_time`` holds ``[seconds since start, limit, in flight]`` at the start and
        at every change of the limit (thinned beyond ``MAX_SAMPLES``); the means are weighted
        by time over ``seconds``.
        """
        with self._lock:
            self._advance()
            span = self._last
            return {
                "maximum": self.maximum,
                "limit": self._limit,
                "min_limit": self._min_limit,
                "mean_limit": round(self._limit_seconds / span, 2) if span else self._limit,
                "mean_in_flight": round(self._in_flight_seconds / span, 2) if span else 0.0,
                "max_in_flight": self._max_in_flight,
                "decreases": self._decreases,
                "increases": self._raises,
                "seconds": round(span, 3),
                "limit_over_time": [[round(t, 3), lim, n] for t, lim, n in self._samples],
            }

    def _advance(self) -> None:
        # Callers hold the lock: integrate limit and in-flight up to now.
        now = self._clock() - self._started
        elapsed = max(0.0, now - self._last)
        self._limit_seconds += self._limit * elapsed
        self._in_flight_seconds += self._in_flight * elapsed
        self._last = max(self._last, now)

    def _cut(self) -> None:
        before, self._limit = self._limit, max(1, int(self._limit * self.decrease_factor))
        self._min_limit = min(self._min_limit, self._limit)
        self._cuts += 1
        self._successes = 0
        if self._limit != before:
            self._decreases += 1
            self._sample()

    def _raise(self) -> None:
        self._limit += 1
        self._raises += 1
        self._successes = 0
        self._sample()
        self._wake()

    def _wake(self) -> None:
        # Callers hold the lock. One waiter for a free place, foreground first; the one woken
        # wakes the next (``acquire`` calls this again once it holds its place).
        if self._in_flight < self._limit:
            if self._waiting:
                self._foreground.notify()
            else:
                self._background.notify()

    def _sample(self) -> None:
        self._samples.append((self._last, self._limit, self._in_flight))
        if len(self._samples) > self._max_samples:
            kept = self._samples[::2]
            if kept[-1] is not self._samples[-1]:
                kept.append(self._samples[-1])
            self._samples = kept


def mean_limit_between(samples: list[list[float]], start: float, end: float) -> float:
    """Time-weighted mean of ``report()["limit_over_time"]`` between ``start`` and ``end`` s."""
    area = 0.0
    for (t0, limit, _), (t1, _, _) in zip(samples, [*samples[1:], [end, 0, 0]], strict=True):
        area += limit * max(0.0, min(t1, end) - max(t0, start))
    return area / (end - start) if end > start else float(samples[-1][1])
