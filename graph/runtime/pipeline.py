"""Generation that outlives a graph step: the run's generator tasks run in a pool of threads.

LangGraph runs a step's tasks and waits for the slowest before it starts the next step. When
answers take time in proportion to their length, as on a real decoding server, lock-step rounds
leave most of a server's slots idle while the round's longest answer decodes, and while the
advisor and summarizer calls between rounds run alone (measured: 16-20% of 16 slots busy,
docs/benchmarks.md). So a run plans its advice ahead into a *backlog* (state), every backlog task
(the generator's requests, then the responder's responses) starts on a pool thread as soon as it
is planned, and each round collects the oldest tasks of the backlog; the tasks behind them keep
the server busy while the round is judged and the next advice is planned.

The pool holds no state of its own that matters: it is a cache of the backlog's running work,
keyed by each task's (round, branch). A resumed run submits its backlog again, and answers the
crashed run had already received replay from the answer cache (``agents.cache``). A round waits
for the oldest ``collect_per_round`` tasks and takes every other task done by then, so the rounds
keep pace with the server; which tasks those are depends on timing, so a run that plans ahead
does not repeat round for round (a run in lock-step, the default, does).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from agents.concurrency import background_requests
from agents.schemas import Candidate
from memory.store import Cell

# Generator tasks kept planned and running per request the server serves at once. Each task has
# one request on the wire at a time (its generator call, then its responder call), so 1 would
# keep the slots busy only while nothing else happens; the rest covers a round's judging,
# planning and pairing, during which no task is collected or planned (benchmarks/throughput.py
# measures the utilization it gives).
LOOKAHEAD_PER_SLOT = 3
# Tasks planned and not yet judged (running, or done and waiting for a round) per slot. Tasks
# done wait for the next round: when they counted against the lookahead, a 64-slot run fell to
# 18 requests in flight while its first large round (158 candidates) was collected and judged.
BACKLOG_PER_SLOT = 6
# Runs with at most this many requests in flight (the default --concurrency) run in lock-step.
LOCKSTEP_MAX_SLOTS = 4
# The oldest generator tasks a round of a run that plans ahead waits for (it takes every other
# task done by then too). A round that waited for all 16 of a `--advice-per-round 16` round spent
# 2-4 s of the run's end on the slowest of them while few requests were in flight (64 slots,
# target 640, 16 x 2 candidates: one profile run each, 78% busy against 85% waiting for 4, the
# default round's; noisy: the benchmark right after measured 78%, later runs 83-87%).
ROUND_WAITS_AHEAD = 4
# Advice items per advisor call when a run plans ahead: it asks several advisors at once, each
# shown a different part of the under-covered issues (one call of 16 items took 12.7 s on a
# length-proportional server, one of 4 items 6.5 s; the round waits for the longest).
ADVICE_PER_CALL = 2
# Advice items per advisor call while no generator task is in flight (a run's start, or an end
# waiting for a shortfall to be planned): nothing runs until these calls return, and a call of
# 1 item returns in about half the time of one of 2 (its answer is half as long).
IDLE_ADVICE_PER_CALL = 1
# Slots per advisor call kept running: a call of 2 items takes ~3.5 s on a length-proportional
# server, where 16 slots work through ~3 generator tasks a second.
SLOTS_PER_PLANNER = 2
# Pool threads for the preference pairs and the summary of the latest rounds, which a run that
# plans ahead writes in the background: on the critical path they took 5-6 s of every 10-12 s
# round at 64 slots (the contrast and summarizer calls are long answers), and the run's last
# items waited for two or three such rounds.
ROUND_JOBS_IN_BACKGROUND = 4
# Requests per contrast call when a run plans ahead (lock-step: ``agents.contrast.CONTRAST_BATCH``,
# 8). A call of 8 pairs took 4.3 s on a length-proportional server and the run's end waited for
# the pairs of its last items; split in 2s, 1.3 s (64 slots, target 640, one profile run: 88-89%
# -> 90% busy, 1.4% more input tokens; the decoding is the same). Not 1: a call per item adds the
# client's cost of a request (~20 ms of CPU) for every pair.
CONTRAST_BATCH_AHEAD = 2
# Until the run has judged this many candidates, its acceptance rate is not estimated.
MIN_JUDGED_FOR_RATE = 8
# The acceptance rate assumed before that, and the floor of the estimate (a run planning for a
# lower rate would plan many tasks it may not need at its end).
PRIOR_ACCEPTANCE = 0.5
MIN_ACCEPTANCE = 0.2
# The acceptance rate a run plans its last tasks for is that of its latest candidates judged (at
# least this many): the rate falls as the grid fills. Measured at 64 slots, target 640 (world
# double): 74% over the run, 25-30% over its last 60 candidates; planning for the run's mean left
# the last 33 items to rounds of 2-10 tasks on a 64-slot server, 55 s of a 141 s run.
RATE_WINDOW = 64
# Tasks planned for the rest of the target: enough for it to be reached when the acceptance rate
# comes out this many standard deviations below its estimate (binomial); the tasks still running
# when it is reached are thrown away (a few, against a round of re-planning for each shortfall).
# The rate keeps falling as the grid fills, so the binomial spread understates the shortfall:
# at 64 slots, target 640 (world double, benchmarks/throughput.py), 1.5 left the last
# items to three or four rounds of a few tasks (utilization 68%), 3.0 to one or two (78-79%);
# 4 candidates were judged surplus at 3.0, and the run made no more calls in all (2,984-3,007
# against 3,090 at 1.5). Later (background pairs, contrast calls of 2), 16 x 2 rounds at 64
# slots still spent 5-7 s of some runs' ends on a shortfall: 3.0 gave 80-90% (4 runs, mean 85%),
# 5.0 gave 86-93% (mean 89%) for 2% more calls (2,222 against 2,176 mean); default rounds 86-90%
# and 87-89%, 16 slots unchanged (95-97%).
END_MARGIN_SD = 5.0


class GenerationFailure(NamedTuple):
    """A generator task that gave no candidate, or requests left without a response."""

    round: int
    branch: int
    reason: str
    detail: str
    lost: int = 1
    """Requests lost (one failure line may stand for several)."""


@dataclass
class TaskOutcome:
    """What a generator task produced: its candidates, what it cost, and what went wrong."""

    candidates: list[Candidate] = field(default_factory=list)
    usage: dict[str, dict[str, float]] = field(default_factory=dict)
    failures: list[GenerationFailure] = field(default_factory=list)
    refused_hazard: str | None = None
    """The hazard of the advice when the generator refused to write its requests."""
    repaired: int = 0
    """Responses the responder rewrote because they broke the principles."""


def _in_background(job: Callable[[], Any]) -> Any:
    with background_requests():  # the round's own calls go first (``AdaptiveLimit``)
        return job()


@dataclass(frozen=True)
class Steering:
    """What an advisor call reads from the state: taken when the call starts."""

    summary: str
    advised: dict[str, int]
    listed: dict[str, int]
    recent_redundancy_rate: float
    dry: dict[str, int] = field(default_factory=dict)


class Tally(NamedTuple):
    """Where a run stands, for the background advisor calls deciding whether to plan more."""

    accepted: int
    judged: int
    backlog: int


class AcceptanceRate:
    """Accepted per judged candidate over the run's latest ``RATE_WINDOW`` candidates judged
    (over the whole run while it has judged fewer; a resumed process starts its window anew)."""

    def __init__(self) -> None:
        self._marks: list[tuple[int, int]] = []  # (judged, accepted) after each round

    def record(self, accepted: int, judged: int) -> None:
        if not self._marks or judged > self._marks[-1][0]:
            self._marks.append((judged, accepted))

    def rate(self, accepted: int, judged: int) -> float:
        if judged < MIN_JUDGED_FOR_RATE:
            return PRIOR_ACCEPTANCE
        start = (0, 0)
        for mark in self._marks:
            if mark[0] <= judged - RATE_WINDOW:
                start = mark
        since, kept = judged - start[0], accepted - start[1]
        return max(kept / since if since > 0 else PRIOR_ACCEPTANCE, MIN_ACCEPTANCE)


@dataclass
class PlanOutcome:
    """One advisor call's plan, its generator tasks, and the issues its prompt listed."""

    plan: Any  # agents.advisor.RoundPlan
    tasks: list[Any]  # graph.state.GenerationTask
    listed: list[str]


class InFlight:
    """The grid cells of the generator tasks planned and not yet collected by a round, running or
    done (a run's advisor calls count them as coverage); shared by the threads of a run."""

    def __init__(self) -> None:
        self._cells: dict[str, Cell] = {}
        self._done: set[str] = set()
        self._judging: set[str] = set()
        self._lock = threading.Lock()

    def add(self, key: str, cell: Cell) -> None:
        with self._lock:
            self._cells[key] = cell

    def claim(self, entries: Sequence[tuple[str, Cell]]) -> list[bool]:
        """Register tasks whose cell no task in flight aims at yet; False for the others (advice
        that an advisor call running alongside took while this one was asked)."""
        with self._lock:
            taken = set(self._cells.values())
            claimed = []
            for key, cell in entries:
                claimed.append(cell not in taken)
                if claimed[-1]:
                    self._cells[key] = cell
                    taken.add(cell)
            return claimed

    def finish(self, key: str) -> None:
        """The task of ``key`` has its candidates: it waits for a round, using no slot."""
        with self._lock:
            if key in self._cells:
                self._done.add(key)

    def judging(self, keys: Iterable[str]) -> None:
        """A round collected these tasks: they stay counted until ``release_judged`` (until the
        critic has stored their items, where advisor calls see them)."""
        with self._lock:
            self._judging.update(keys)

    def release_judged(self) -> None:
        """Forget the tasks of the round just judged."""
        with self._lock:
            keys, self._judging = list(self._judging), set()
        self.remove(keys)

    def remove(self, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                self._cells.pop(key, None)
                self._done.discard(key)

    def cells(self) -> list[Cell]:
        with self._lock:
            return list(self._cells.values())

    def running(self) -> int:
        """Tasks not yet done."""
        with self._lock:
            return len(self._cells) - len(self._done)


def planners(slots: int) -> int:
    """Advisor calls a run that plans ahead keeps running at once."""
    return max(1, math.ceil(slots / SLOTS_PER_PLANNER))


def task_key(round_: int, branch: int) -> str:
    """The pool key of a generator task."""
    return f"r{round_}-b{branch}"


def pairs_key(number: int) -> str:
    """The pool key of the ``number``-th contrast job of a process (``RunResources.pairs_jobs``
    holds the ids of the items each pairs: a round's accepted items, or every item a resumed
    run found unpaired, whatever rounds accepted them)."""
    return f"pairs-{number}"


def summary_key(round_: int) -> str:
    """The pool key of the summary started at a round's summarizer step."""
    return f"summary-r{round_}"


class WorkPool:
    """Keyed background jobs: ``submit`` starts a job once per key, ``take_done`` waits for
    some and hands over the results of those done (a job's exception is raised there)."""

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._closed = False
        self._executor: ThreadPoolExecutor | None = None  # started on the first job
        self._jobs: dict[str, Future[Any]] = {}
        self._lock = threading.Lock()

    def submit(self, key: str, job: Callable[[], Any]) -> bool:
        """Start ``job`` under ``key`` unless a job with that key is known; True if started."""
        with self._lock:
            if key in self._jobs or self._closed:
                return False
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self._workers, thread_name_prefix="generation"
                )
            self._jobs[key] = self._executor.submit(_in_background, job)
            return True

    def running(self) -> int:
        """Jobs submitted and not yet taken."""
        with self._lock:
            return len(self._jobs)

    def take_done(self, keys: Sequence[str], at_least: int) -> dict[str, Any]:
        """Wait for the first ``at_least`` of ``keys``, then hand over the results of all of
        ``keys`` that are done by then (they are forgotten)."""
        with self._lock:
            futures = {key: self._jobs[key] for key in keys}
        wait([futures[key] for key in keys[:at_least]])
        done = [key for key in keys if futures[key].done()]
        with self._lock:
            for key in done:
                self._jobs.pop(key, None)
        return {key: futures[key].result() for key in done}

    def reopen(self) -> None:
        """Take jobs again after ``close`` (a run continued in the same process)."""
        with self._lock:
            self._closed = False

    def close(self) -> None:
        """Cancel jobs not started; running ones finish on their own threads."""
        with self._lock:
            self._jobs.clear()
            self._closed = True  # a job still running cannot start others
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


def plans_ahead(slots: int) -> bool:
    """Whether a run with ``slots`` requests in flight plans ahead (else: lock-step rounds)."""
    return slots > LOCKSTEP_MAX_SLOTS


def lookahead(slots: int, advice_per_round: int) -> int:
    """Generator tasks a run keeps planned and running: enough for ``slots`` requests at once.

    A run on a small server (``--concurrency`` at most ``LOCKSTEP_MAX_SLOTS``: the default, and
    the embedded model) plans no further than its round: it runs in lock-step, its rounds repeat
    exactly under the same seed and answers (the answer cache replays it), and its advisor
    steers on the coverage of every item planned before. Above that, it plans ahead.
    """
    if not plans_ahead(slots):
        return advice_per_round
    return max(advice_per_round, LOOKAHEAD_PER_SLOT * slots)


def collect_per_round(slots: int, advice_per_round: int) -> int:
    """The oldest generator tasks a round waits for (it takes the others already done too): the
    round's advice in lock-step; at most ``ROUND_WAITS_AHEAD`` when planning ahead."""
    if plans_ahead(slots):
        return min(advice_per_round, ROUND_WAITS_AHEAD)
    return min(advice_per_round, lookahead(slots, advice_per_round))


def tasks_to_plan(
    *,
    backlog: int,
    running: int,
    slots: int,
    advice_per_round: int,
    candidates_per_advice: int,
    remaining: int,
    rate: float,
) -> int:
    """How many generator tasks to plan: the tasks ``running`` topped up to the lookahead, the
    ``backlog`` (running or done, not yet judged) held under ``BACKLOG_PER_SLOT`` a slot and no
    larger than the rest of the target needs at acceptance ``rate`` with a margin
    (``END_MARGIN_SD``; the tasks still running when the target is reached are paid for and
    thrown away). In lock-step nothing runs between rounds: ``running`` is the backlog."""
    if remaining <= 0:
        return 0
    rate = min(max(rate, MIN_ACCEPTANCE), 1.0)
    margin = END_MARGIN_SD * math.sqrt(remaining * (1 - rate))
    needed = math.ceil((remaining + margin) / (candidates_per_advice * rate))
    ahead = lookahead(slots, advice_per_round)
    wanted = min(
        ahead - running,
        max(ahead, BACKLOG_PER_SLOT * slots) - backlog,
        max(advice_per_round, needed) - backlog,
    )
    return max(0, wanted)
