"""graph/runtime/pipeline.py: the background pool and how far a run plans ahead."""

from __future__ import annotations

import threading
import time

import pytest

from graph.runtime.pipeline import (
    END_MARGIN_SD,
    MIN_ACCEPTANCE,
    PRIOR_ACCEPTANCE,
    AcceptanceRate,
    InFlight,
    WorkPool,
    collect_per_round,
    lookahead,
    planners,
    tasks_to_plan,
)


def test_pool_runs_each_key_once_and_hands_over_the_oldest_and_whatever_else_is_done():
    pool = WorkPool(4)
    started = []
    release = threading.Event()

    def job(value: int, gate: threading.Event | None = None) -> int:
        started.append(value)
        if gate:
            gate.wait(5)
        return value * 10

    assert pool.submit("a", lambda: job(1, release))
    assert pool.submit("b", lambda: job(2))
    assert pool.submit("c", lambda: job(3))
    assert not pool.submit("a", lambda: job(99))  # known key: not started again
    time.sleep(0.1)
    assert sorted(started) == [1, 2, 3] and pool.running() == 3  # running before anyone waits
    threading.Timer(0.2, release.set).start()
    done = pool.take_done(["a", "b", "c"], at_least=1)  # waits for "a", takes "b" and "c" too
    assert done == {"a": 10, "b": 20, "c": 30}
    assert pool.running() == 0
    assert pool.submit("a", lambda: 7) and pool.take_done(["a"], 1) == {"a": 7}  # keys may recur
    pool.close()


def test_pool_leaves_what_is_not_done_for_a_later_round():
    pool = WorkPool(2)
    gate = threading.Event()
    pool.submit("old", lambda: 1)
    pool.submit("slow", lambda: gate.wait(5))
    assert pool.take_done(["old", "slow"], at_least=1) == {"old": 1}
    assert pool.running() == 1
    gate.set()
    assert pool.take_done(["slow"], at_least=1) == {"slow": True}
    pool.close()


def test_pool_raises_a_jobs_error_where_it_is_taken():
    pool = WorkPool(1)
    pool.submit("x", lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        pool.take_done(["x"], at_least=1)
    pool.close()


def test_closed_pool_cancels_what_has_not_started_and_can_start_again():
    pool = WorkPool(1)
    gate = threading.Event()
    ran = []
    pool.submit("slow", lambda: gate.wait(5))
    pool.submit("queued", lambda: ran.append(1))
    pool.close()
    gate.set()
    time.sleep(0.1)
    assert ran == [] and pool.running() == 0
    pool.reopen()
    pool.submit("again", lambda: 3)
    assert pool.take_done(["again"], at_least=1) == {"again": 3}
    pool.close()


def test_a_run_on_a_small_server_runs_in_lock_step_and_plans_ahead_above():
    assert lookahead(1, 4) == 4 and lookahead(4, 4) == 4  # the default: a round, no further
    assert lookahead(4, 16) == 16 and collect_per_round(4, 16) == 16  # ... collected whole
    assert lookahead(16, 16) == 48 and lookahead(16, 4) == 48 and lookahead(64, 4) == 192
    # planning ahead, a round waits for the oldest 4 tasks at most and takes the others done
    assert collect_per_round(16, 4) == 4 and collect_per_round(64, 16) == 4
    assert collect_per_round(16, 2) == 2


def plan(**kw):
    args = dict(
        backlog=0,
        running=0,
        slots=16,
        advice_per_round=4,
        candidates_per_advice=1,
        remaining=1000,
        rate=0.5,
    )
    return tasks_to_plan(**{**args, **kw})


def test_tasks_to_plan_tops_the_backlog_up_to_the_lookahead():
    assert plan() == 48
    assert plan(backlog=40, running=40) == 8
    assert plan(backlog=48, running=48) == 0


def test_tasks_done_and_waiting_for_a_round_leave_their_slot_to_new_tasks():
    assert plan(backlog=60, running=20) == 28  # 48 running again
    assert plan(backlog=90, running=10) == 6  # at most 6 a slot planned and not yet judged


def test_tasks_to_plan_stops_planning_what_the_target_cannot_use():
    # 10 items left at 50% acceptance: 20 tasks, and a margin of 5 sd (5 x sqrt(10 x 0.5)): 43
    assert END_MARGIN_SD == 5.0
    assert plan(remaining=10) == 43
    # at 90%, 10 items need 17 tasks with the margin; 5 are planned already
    assert plan(remaining=10, rate=0.9, backlog=5, running=5) == 12
    # two candidates per task halve it; the floor on the rate bounds it
    assert plan(remaining=10, candidates_per_advice=2) == 22
    assert plan(remaining=10, rate=0.01) == 48  # at the 20% floor: 121 tasks, over the lookahead
    assert plan(remaining=0) == 0
    assert plan(remaining=1, advice_per_round=4, slots=1) == 4  # a round's advice at least


def test_acceptance_rate_follows_the_latest_candidates():
    rate = AcceptanceRate()
    assert rate.rate(accepted=3, judged=4) == PRIOR_ACCEPTANCE  # too few judged to tell
    rate.record(accepted=90, judged=100)  # 90% early on ...
    assert rate.rate(accepted=90, judged=100) == pytest.approx(0.9)
    rate.record(accepted=110, judged=200)  # ... 20% over the last 100
    assert rate.rate(accepted=110, judged=200) == pytest.approx(0.2)
    assert rate.rate(accepted=90, judged=150) == pytest.approx(0.6)  # window back to the start
    rate.record(accepted=110, judged=300)  # nothing accepted lately: the floor
    assert rate.rate(accepted=110, judged=300) == MIN_ACCEPTANCE


def test_in_flight_cells_come_and_go_by_key():
    cells = InFlight()
    cells.add("r1-b0", ("h", "doxxing", "t", "harmful"))
    cells.add("r1-b1", ("h", "malware", "t", "benign"))
    cells.add("r1-b1", ("h", "malware", "t", "benign"))  # a resumed run registers it again
    assert sorted(c[1] for c in cells.cells()) == ["doxxing", "malware"]
    cells.remove(["r1-b0", "unknown"])
    assert [c[1] for c in cells.cells()] == ["malware"]


def test_a_cell_in_flight_is_claimed_once_and_done_tasks_leave_the_running_count():
    cells = InFlight()
    doxxing, malware = ("h", "doxxing", "t", "harmful"), ("h", "malware", "t", "benign")
    assert cells.claim([("r1-b0", doxxing), ("r1-b1", malware), ("r1-b2", malware)]) == [
        True,
        True,
        False,  # the same cell twice in one call
    ]
    assert cells.claim([("r2-b0", doxxing)]) == [False]  # another call's task holds it
    assert cells.running() == 2
    cells.finish("r1-b0")
    cells.finish("r9-b9")  # not registered: ignored
    assert cells.running() == 1 and len(cells.cells()) == 2  # done, still counted as coverage
    cells.remove(["r1-b0"])
    assert cells.claim([("r2-b0", doxxing)]) == [True]


def test_planners_grow_with_the_slots():
    assert planners(1) == 1 and planners(16) == 8 and planners(64) == 32


def test_a_closed_pool_starts_nothing_until_reopened():
    pool = WorkPool(1)
    pool.close()
    assert not pool.submit("late", lambda: 1)  # a job still running after the run ended
    pool.reopen()
    assert pool.submit("again", lambda: 2) and pool.take_done(["again"], 1) == {"again": 2}
    pool.close()
