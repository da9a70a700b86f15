"""One run's view of its model calls: transport faults by kind and the streak of failed calls."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from agents.concurrency import AdaptiveLimit
from agents.errors import UserError

# Calls in a row (across all roles of a run) that end in a transport failure after the client's
# own retries before the run stops: at a 20% fault rate a call fails only with p = 0.2^4 (4 tries),
# so three in a row means the server is down, not flaky.
MAX_CONSECUTIVE_FAILED_CALLS = 3


@dataclass
class CallTelemetry:
    """Counters owned by one run (never shared between runs of one process).

    The transport counts what went wrong on the wire (``count_fault``); ``invoke_structured``
    reports whether each call got an answer (``record_call``) and gives up on a dead server.
    ``concurrency`` is the run's limit on requests in flight, if its models go through one.
    """

    max_failed_in_a_row: int = MAX_CONSECUTIVE_FAILED_CALLS
    faults: Counter[str] = field(default_factory=Counter)
    failed_in_a_row: int = 0
    concurrency: AdaptiveLimit | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count_fault(self, kind: str) -> None:
        """Count one transport fault (a timeout, a dropped connection, an HTTP error status)."""
        with self._lock:
            self.faults[kind] += 1

    def record_call(self, ok: bool, what: str = "") -> None:
        """Note whether a call got an answer; raise ``UserError`` once too many fail in a row."""
        with self._lock:
            self.failed_in_a_row = 0 if ok else self.failed_in_a_row + 1
            streak = self.failed_in_a_row
        if streak >= self.max_failed_in_a_row:
            raise UserError(f"the model server failed {streak} calls in a row, giving up: {what}")

    def transport_faults(self) -> dict[str, int]:
        """Transport faults seen by this run so far, by kind."""
        with self._lock:
            return dict(self.faults)

    def concurrency_report(self) -> dict[str, Any] | None:
        """The limit on requests in flight now and over time (``AdaptiveLimit.report``), or
        ``None`` if the run's models do not go through one (test doubles)."""
        return self.concurrency.report() if self.concurrency is not None else None
