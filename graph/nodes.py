"""The graph's nodes: each reads state, calls one agent, records through the ledger, and returns
only the keys it changes."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from functools import partial
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Overwrite

from agents.advisor import RoundPlan, plan_round
from agents.concurrency import foreground_requests
from agents.contrast import CONTRAST_BATCH, Pairs, make_pairs
from agents.critic import review
from agents.generator import draft_candidates, self_instruct_plan
from agents.responder import respond
from agents.schemas import Candidate, LengthCaps, PlannedAdvice
from agents.structured import Usage
from agents.summarizer import summarize
from graph.context import RunConfig
from graph.runtime import ledger
from graph.runtime.pipeline import (
    ADVICE_PER_CALL,
    CONTRAST_BATCH_AHEAD,
    IDLE_ADVICE_PER_CALL,
    GenerationFailure,
    PlanOutcome,
    Steering,
    Tally,
    TaskOutcome,
    collect_per_round,
    pairs_key,
    planners,
    plans_ahead,
    summary_key,
    task_key,
    tasks_to_plan,
)
from graph.runtime.resources import RunResources, resources_of
from graph.runtime.sharing import claim_plan, claims, filled_since
from graph.state import GenerationTask, LoopState, add_counts, add_usage
from memory.coverage import CoverageStats, coverage_stats
from memory.store import Cell


def _seed(config: RunConfig, *parts: int) -> int:
    """A per-call seed derived from the run seed, so runs repeat where the model allows."""
    value = config.seed
    for part in parts:
        value = (value * 1_000_003 + part) % (2**31 - 1)
    return value


def advisor_node(state: LoopState, runtime: Runtime[RunConfig]) -> dict[str, Any]:
    """Plan advice from principles, summary and coverage into the backlog: in lock-step, one
    advisor call for the round; planning ahead, advisor calls keep running in the background
    (``plan_job``) and the node collects those done and starts new ones."""
    config, res = runtime.context, resources_of(runtime.context)
    round_ = state.get("round", 0) + 1
    res.pool.reopen()
    backlog = state.get("backlog") or []
    if plans_ahead(res.slots):
        return _advise_ahead(state, config, res, round_)
    outcome = _plan(
        config,
        res,
        _steering(state),
        round_=round_,
        part=0,
        count=_state_tasks_to_plan(state, config, res),
        in_flight=[task_cell(t) for t in backlog],
    )
    ledger.record_advice(res, round_, outcome.plan.planned, outcome.plan.error)
    return _advice_update(round_, [outcome], backlog + outcome.tasks)


def _advise_ahead(
    state: LoopState, config: RunConfig, res: RunResources, round_: int
) -> dict[str, Any]:
    """Collect the background advisor calls done (waiting for one only when there is nothing
    else to generate) and keep enough running (``plan_more``)."""
    backlog = state.get("backlog") or []
    with res.plans_lock:
        res.steering = _steering(state)
        res.tally = Tally(state.get("accepted", 0), state.get("candidates_seen", 0), len(backlog))
        res.planning_round = round_
    plan_more(config, res)
    done = res.pool.take_done(list(res.plans), at_least=0 if backlog else 1)
    with res.plans_lock:
        outcomes = [done[key] for key in res.plans if key in done]
        res.plans = [key for key in res.plans if key not in done]
    planned = [p for o in outcomes for p in o.plan.planned]
    error = next((o.plan.error for o in outcomes if o.plan.error), None)
    ledger.record_advice(res, round_, planned, error)
    return _advice_update(round_, outcomes, backlog + [t for o in outcomes for t in o.tasks])


def plan_more(config: RunConfig, res: RunResources) -> None:
    """Start advisor calls in the background while the tasks running and being planned fall
    short of the lookahead (and of what the target still needs), at most ``planners`` at once.
    Called by the advisor step, by every advisor call as it ends and by every generator task as
    it ends, so planning never waits for a round."""
    with res.plans_lock:
        round_ = res.planning_round
        if round_ == 0:  # no advisor step in this process yet (a resumed run): it starts them
            return
        wanted = _tasks_wanted(config, res)
        idle = not res.planning and not res.in_flight.cells()
        count = IDLE_ADVICE_PER_CALL if idle else ADVICE_PER_CALL
        for _ in range(min(math.ceil(wanted / count), planners(res.slots) - res.planning)):
            part = next(res.plan_parts)
            key = f"plan-r{round_}-p{part}"
            job = partial(plan_job, config, round_=round_, part=part, count=count)
            if res.pool.submit(key, job):
                res.plans.append(key)
                res.planning += 1


def _tasks_wanted(config: RunConfig, res: RunResources) -> int:
    """Generator tasks the run should plan now, beyond those running and being planned (with
    ``res.plans_lock`` held)."""
    tally = res.tally
    return _tasks_to_plan(
        config,
        res,
        backlog=max(tally.backlog, len(res.in_flight.cells())) + res.planning * ADVICE_PER_CALL,
        running=res.in_flight.running() + res.planning * ADVICE_PER_CALL,
        accepted=tally.accepted,
        judged=tally.judged,
    )


def plan_job(
    config: RunConfig, *, round_: int, part: int, count: int = ADVICE_PER_CALL
) -> PlanOutcome:
    """One advisor call of a run that plans ahead, on a pool thread: coverage as memory holds it
    now with every task in flight counted, its tasks started the moment it returns; then more
    advisor calls if the backlog needs them. Its ``count`` tasks are numbered from
    ``part * ADVICE_PER_CALL`` (``count`` is at most that)."""
    res = resources_of(config)
    with foreground_requests():  # the backlog waits for it
        outcome = _plan(
            config,
            res,
            res.steering or Steering("", {}, {}, 0.0),
            round_=round_,
            part=part,
            count=count,
            first=part * ADVICE_PER_CALL,
            in_flight=res.in_flight.cells(),
            gaps=part % planners(res.slots),  # calls running side by side see other gaps
        )
    # Advisor calls running side by side read the same coverage: a cell another call's task
    # took meanwhile is dropped (the next call, shown that task, advises elsewhere).
    claimed = res.in_flight.claim(
        [(task_key(t["round"], t["branch"]), task_cell(t)) for t in outcome.tasks]
    )
    if not all(claimed):
        res.leases.release(
            [
                task_key(t["round"], t["branch"])
                for t, ok in zip(outcome.tasks, claimed, strict=True)
                if not ok
            ]
        )
        outcome.tasks = [t for t, ok in zip(outcome.tasks, claimed, strict=True) if ok]
        kept = {id(t["planned"]) for t in outcome.tasks}
        outcome.plan.planned = [p for p in outcome.plan.planned if id(p) in kept]
        outcome.plan.discarded["in_flight"] = claimed.count(False)
    for task in outcome.tasks:
        res.pool.submit(task_key(task["round"], task["branch"]), partial(write_task, config, task))
    with res.plans_lock:
        res.planning -= 1  # its tasks count as running now
    plan_more(config, res)
    return outcome


def _steering(state: LoopState) -> Steering:
    return Steering(
        summary=state.get("summary", ""),
        advised=dict(state.get("advised") or {}),
        listed=dict(state.get("listed") or {}),
        recent_redundancy_rate=state.get("recent_redundancy_rate", 0.0),
        dry=dict(state.get("dry") or {}),
    )


def _plan(
    config: RunConfig,
    res: RunResources,
    steering: Steering,
    *,
    round_: int,
    part: int,
    count: int,
    in_flight: list[Cell],
    gaps: int = 0,
    first: int | None = None,
) -> PlanOutcome:
    """One advisor call for ``count`` items, shown slice ``gaps`` of the gaps
    (``coverage_stats(part=)``); its tasks are numbered from ``first`` (default ``part * count``)
    in ``round_``.

    In a shared memory the other workers' live leases count as tasks in flight, advice they
    already claimed, or on a cell another worker filled meanwhile, is planned again
    (``graph.runtime.sharing``), and the tasks are leased."""

    def advise(
        count: int, kept: Sequence[Cell] = (), retry: int = 0
    ) -> tuple[RoundPlan, CoverageStats]:
        # the leases are read for each call: a call again is shown the claims that beat the last
        others = [lease.cell for lease in res.leases.others()]
        return _advise(
            config,
            res,
            steering,
            round_=round_,
            part=part,
            count=count,
            in_flight=[*in_flight, *others, *kept],
            gaps=gaps,
            retry=retry,
        )

    plan, coverage = advise(count)
    plan, provisional = claim_plan(
        res.leases,
        plan,
        lambda again, kept: advise(again, kept, retry=1)[0],
        # the cells as the advisor call read them (a run always has a taxonomy, so they were)
        lambda: filled_since(coverage.held, res.memory.cell_counts()),
    )
    tasks = _tasks(plan.planned, round_, first=part * count if first is None else first)
    res.leases.publish(
        claims([task_key(t["round"], t["branch"]) for t in tasks], [t["planned"] for t in tasks]),
        replacing=provisional,
    )
    return PlanOutcome(
        plan=plan,
        tasks=tasks,
        listed=[*coverage.under_covered, *coverage.grid.issue_holdings],
    )


def _advise(
    config: RunConfig,
    res: RunResources,
    steering: Steering,
    *,
    round_: int,
    part: int,
    count: int,
    in_flight: list[Cell],
    gaps: int,
    retry: int = 0,
) -> tuple[RoundPlan, CoverageStats]:
    """The advisor call of ``_plan`` on coverage with ``in_flight`` counted (``retry`` > 0: a
    call again for advice another worker claimed, on its own seed)."""
    full_view = config.advisor_view == "full"
    coverage = coverage_stats(
        res.memory,
        steering.recent_redundancy_rate,
        steering.advised,
        listed=steering.listed,
        dry=steering.dry,
        hazards=res.inputs.taxonomy.names,
        benign_share=config.benign_share,
        part=gaps,
        in_flight=in_flight,
        summarized=res.counts_in_summary if full_view and config.summary else None,
    )
    plan = plan_round(
        res.models["advisor"],
        res.memory,
        coverage=coverage,
        count=count,
        seed=_seed(config, round_, 1, part, *([retry] if retry else [])),
        principles=res.inputs.principles,
        summary=steering.summary if full_view else "",
        show_grid=full_view,
        advised=steering.advised,
        examples_per_prompt=config.examples_per_prompt,
        taxonomy=res.inputs.taxonomy,
        benign_share=config.benign_share,
        attempts=config.structured_attempts,
        telemetry=res.telemetry,
    )
    return plan, coverage


def _advice_update(
    round_: int, outcomes: list[PlanOutcome], backlog: list[GenerationTask]
) -> dict[str, Any]:
    planned = [p for o in outcomes for p in o.plan.planned]
    usage, discarded = Usage(), Counter[str]()
    for o in outcomes:
        usage.merge(o.plan.usage)
        discarded.update(o.plan.discarded)
    return {
        "strategy": "data-advisor",
        "round": round_,
        "advice": planned,
        "backlog": backlog,
        "advised": dict(Counter(p.advice.safety_issue for p in planned)),
        "listed": dict.fromkeys([n for o in outcomes for n in o.listed], 1),
        "advice_sources": dict(Counter(p.source for p in planned)),
        "discarded_advice": dict(discarded),
        "usage": {"advisor": usage.as_counts()} if outcomes else {},
    }


def self_instruct_node(state: LoopState, runtime: Runtime[RunConfig]) -> dict[str, Any]:
    """The baseline's round: no advisor; generator tasks on random examples, planned ahead as
    far as the Data Advisor's are."""
    config, res = runtime.context, resources_of(runtime.context)
    round_ = state.get("round", 0) + 1
    res.pool.reopen()
    count = _state_tasks_to_plan(state, config, res)
    planned = self_instruct_plan(
        res.memory,
        branches=count,
        examples_per_prompt=config.examples_per_prompt,
        rngs=[random.Random(_seed(config, round_, 100 + b)) for b in range(count)],
    )
    return {
        "strategy": config.strategy,
        "round": round_,
        "advice": planned,
        "backlog": (state.get("backlog") or []) + _tasks(planned, round_),
        "advice_sources": {"self-instruct": len(planned)},
    }


def _tasks_to_plan(
    config: RunConfig, res: RunResources, *, backlog: int, running: int, accepted: int, judged: int
) -> int:
    return tasks_to_plan(
        backlog=backlog,
        running=running,
        slots=res.slots,
        advice_per_round=config.advice_per_round,
        candidates_per_advice=config.candidates_per_advice,
        remaining=config.target - accepted,
        rate=res.acceptance_rate.rate(accepted, judged),
    )


def _state_tasks_to_plan(state: LoopState, config: RunConfig, res: RunResources) -> int:
    backlog = len(state.get("backlog") or [])
    return _tasks_to_plan(
        config,
        res,
        backlog=backlog,
        running=backlog,
        accepted=state.get("accepted", 0),
        judged=state.get("candidates_seen", 0),
    )


def task_cell(task: GenerationTask) -> Cell:
    """The grid cell a generator task aims at (hazard, issue, tactic, kind)."""
    advice = task["planned"].advice
    return advice.hazard, advice.safety_issue, advice.tactic, advice.kind


def _tasks(planned: list[PlannedAdvice], round_: int, first: int = 0) -> list[GenerationTask]:
    return [
        GenerationTask(planned=p, round=round_, branch=first + b) for b, p in enumerate(planned)
    ]


def generator_node(state: LoopState, runtime: Runtime[RunConfig]) -> dict[str, Any]:
    """Start every backlog task in the background, then collect the oldest of them and any other
    already done: their requests (generator) and responses (responder) become this round's
    candidates."""
    config, res = runtime.context, resources_of(runtime.context)
    backlog = state.get("backlog") or []
    for task in backlog:  # already running, unless this process resumed the run
        key = task_key(task["round"], task["branch"])
        res.in_flight.add(key, task_cell(task))
        res.pool.submit(key, partial(write_task, config, task))
    done = res.pool.take_done(
        [task_key(t["round"], t["branch"]) for t in backlog],
        at_least=collect_per_round(res.slots, config.advice_per_round),
    )
    taken = [t for t in backlog if task_key(t["round"], t["branch"]) in done]
    # in flight (coverage) and leased until the critic has stored their items
    res.in_flight.judging(done)
    res.leases.judging(list(done))
    outcomes = [done[task_key(t["round"], t["branch"])] for t in taken]
    round_ = state.get("round", 0)
    update: dict[str, Any] = {
        "backlog": [t for t in backlog if task_key(t["round"], t["branch"]) not in done],
        # an item's round is the round that judged it (its id names the round that planned it)
        "candidates": [
            c.model_copy(update={"round": round_}) for o in outcomes for c in o.candidates
        ],
        "usage": {},
        "rejections": {},
        "refusals": {f"round {round_} tasks": len(taken)},
        "pairs": {},
    }
    for outcome in outcomes:
        for failure in outcome.failures:
            ledger.record_generation_failure(res, *failure)
            update["rejections"] = add_counts(update["rejections"], {failure.reason: failure.lost})
        update["usage"] = add_usage(update["usage"], outcome.usage)
        if outcome.refused_hazard is not None:
            update["refusals"] = add_counts(
                update["refusals"], {outcome.refused_hazard: 1, f"round {round_}": 1}
            )
        if outcome.repaired:
            update["pairs"] = add_counts(update["pairs"], {"repaired": outcome.repaired})
    return update


def write_task(config: RunConfig, task: GenerationTask) -> TaskOutcome:
    """One generator task, on a pool thread: the generator writes the advice item's requests,
    the responder their responses. Nothing is recorded here (the node that collects it does).
    As it ends, the run plans more if it plans ahead (its slot is free)."""
    res = resources_of(config)
    try:
        return _write_task(config, res, task)
    finally:
        res.in_flight.finish(task_key(task["round"], task["branch"]))
        if plans_ahead(res.slots):
            plan_more(config, res)


def _write_task(config: RunConfig, res: RunResources, task: GenerationTask) -> TaskOutcome:
    round_, branch, planned = task["round"], task["branch"], task["planned"]
    caps = LengthCaps.for_run(config)
    drafted = draft_candidates(
        res.models["generator"],
        res.memory,
        planned,
        round_=round_,
        branch=branch,
        count=config.candidates_per_advice,
        relevance_threshold=config.relevance_threshold,
        attempts=config.structured_attempts,
        seed=_seed(config, round_, 100 + branch),
        telemetry=res.telemetry,
        caps=caps,
    )
    outcome = TaskOutcome(usage={"generator": drafted.usage.as_counts()})
    if not drafted.value:
        if drafted.refused:
            reason = "generator_refused"
            outcome.refused_hazard = planned.advice.hazard or "(none)"
        else:
            reason = "generator_unparsable" if drafted.value is None else "generator_empty"
        outcome.failures.append(
            GenerationFailure(round_, branch, reason, drafted.error or "no items")
        )
        return outcome
    answered = respond(
        res.models["responder"],
        drafted.value,
        principles=res.inputs.principles,
        examples=planned.examples,
        attempts=config.structured_attempts,
        seed=_seed(config, round_, 200 + branch),
        telemetry=res.telemetry,
        caps=caps,
        repair_refused=bool(config.preference_pairs),
    )
    outcome.repaired = sum(1 for c in answered.value or [] if c.failed_response)
    outcome.usage["responder"] = answered.usage.as_counts()
    outcome.candidates = answered.value or []
    if missing := len(drafted.value) - len(answered.value or []):
        reason = "responder_unparsable" if answered.value is None else "responder_missing"
        outcome.failures.append(
            GenerationFailure(round_, branch, reason, answered.error or "no responses", missing)
        )
    return outcome


def critic_node(state: LoopState, runtime: Runtime[RunConfig]) -> dict[str, Any]:
    """Judge the round's candidates; the ledger stores the outcome and decides whether to stop."""
    config, res = runtime.context, resources_of(runtime.context)
    candidates = state.get("candidates") or []
    # After a crash inside this step, some candidates may already be in dataset.jsonl: they are
    # kept as recorded (not judged again, not written twice); resume already put them in memory.
    recorded = [c for c in candidates if c.id in res.accepted_ids]
    report = review(
        [c for c in candidates if c.id not in res.accepted_ids],
        memory=res.memory,
        relevance_threshold=config.relevance_threshold,
        issue_descriptions=res.memory.issue_descriptions(),
        model=res.models["critic"] if config.llm_critic else None,
        principles=res.inputs.principles,
        concurrency=config.concurrency,
        attempts=config.structured_attempts,
        seed=_seed(config, state.get("round", 0), 7),
        telemetry=res.telemetry,
        redundancy_check=config.redundancy_check,
    )
    update = ledger.settle_round(res, dict(state), report, recorded)
    # Until now the round's cells counted as in flight: advisor calls running meanwhile (a round
    # of 100+ candidates is judged for seconds) would otherwise have seen them nowhere.
    res.in_flight.release_judged()
    res.leases.release_judged()
    with res.plans_lock:  # background advisor calls plan for what the target still needs
        res.acceptance_rate.record(update["accepted"], update["candidates_seen"])
        res.tally = Tally(
            update["accepted"], update["candidates_seen"], len(state.get("backlog") or [])
        )
    return {**update, "candidates": Overwrite([])}


def contrast_node(state: LoopState, runtime: Runtime[RunConfig]) -> dict[str, Any]:
    """Give each item accepted this round a preference pair (``agents.contrast``). A run that
    plans ahead writes them in the background and records those done (the next round's step, or
    the finish, records the rest): the round does not wait for them."""
    config, res = runtime.context, resources_of(runtime.context)
    if not config.preference_pairs:
        return {}
    if not plans_ahead(res.slots) and not state.get("unpaired"):
        accepted = state.get("round_accepted") or []
        if not accepted:
            return {}
        return ledger.record_pairs(res, dict(state), _pairs(config, res, accepted))
    # (a run resumed in lock-step from one that planned ahead pairs the items left at once)
    unpaired = [*(state.get("unpaired") or []), *(state.get("round_accepted") or [])]
    update, paired = _record_pairs_done(
        config, res, state, unpaired, wait=not plans_ahead(res.slots)
    )
    return {**update, "unpaired": [c for c in unpaired if c.id not in paired]}


def _pairs(config: RunConfig, res: RunResources, items: list[Candidate]) -> Pairs:
    """The preference pairs of items one round accepted (the round seeds the contrast calls)."""
    with foreground_requests():  # a background job's calls go first too: the run waits for them
        return make_pairs(
            res.models["responder"],
            items,
            concurrency=config.concurrency,
            attempts=config.structured_attempts,
            seed=_seed(config, items[0].round, 8),
            telemetry=res.telemetry,
            caps=LengthCaps.for_run(config),
            per_call=CONTRAST_BATCH_AHEAD if plans_ahead(res.slots) else CONTRAST_BATCH,
        )


def _record_pairs_done(
    config: RunConfig,
    res: RunResources,
    state: LoopState,
    unpaired: list[Candidate],
    *,
    wait: bool,
) -> tuple[dict[str, Any], set[str]]:
    """Start the pairs of the unpaired items no job of this process holds yet (the round's
    accepted items; after a resume, every item the checkpoint lists), record the jobs done (all
    of them with ``wait``): the state update, and the ids of the items recorded."""
    res.pool.reopen()  # closed when a run of this process ended: a resume continues it
    started = {item for items in res.pairs_jobs.values() for item in items}
    fresh = [c for c in unpaired if c.id not in started]
    if fresh:
        key = pairs_key(next(res.pairs_numbers))
        if res.pool.submit(key, partial(_pairs, config, res, fresh)):
            res.pairs_jobs[key] = [c.id for c in fresh]
    keys = list(res.pairs_jobs)
    done = res.pool.take_done(keys, at_least=len(keys) if wait else 0)
    projected: dict[str, Any] = dict(state)
    update: dict[str, Any] = {"pairs": {}, "usage": {}}
    paired: set[str] = set()
    for key in keys:
        if key in done:
            recorded = ledger.record_pairs(res, projected, done[key])
            for name, add in (("pairs", add_counts), ("usage", add_usage)):
                update[name] = add(update[name], recorded[name])
                projected[name] = add(projected.get(name), recorded[name])
            paired.update(res.pairs_jobs.pop(key))
    return update, paired


def summarizer_node(state: LoopState, runtime: Runtime[RunConfig]) -> dict[str, Any]:
    """Fold the round's accepted items into the bounded running summary (the backlog's tasks
    keep the server busy meanwhile). A run that plans ahead summarizes in the background: this
    step takes in the summary done since the last one and starts the next (the advisor calls
    read a summary a round or two old); none while the tasks planned cover the target, nor
    once the run stops: no advisor call would read it (a run's last summary call, 4-5 s on a
    length-proportional server, held the end of 64-slot runs for ~2 s), and a resumed run
    folds the items in."""
    config, res = runtime.context, resources_of(runtime.context)
    if config.strategy != "data-advisor" or not config.summary or config.advisor_view != "full":
        return {}  # the baseline, and ablations: nobody reads a summary
    round_, accepted = state.get("round", 0), state.get("round_accepted") or []
    redundancy = state.get("recent_redundancy_rate", 0.0)
    pending = [*(state.get("unsummarized") or []), *accepted]
    if not plans_ahead(res.slots):  # (resumed from a run that planned ahead: the items left too)
        summarized = _summary(
            config, res, state.get("summary", ""), pending, round_, redundancy, _counts(res)
        )
        left: dict[str, Any] = {"unsummarized": []} if state.get("unsummarized") else {}
        return {**_summary_update(res, summarized), **left}
    update: dict[str, Any] = {"summary": state.get("summary", "")}
    if res.summary_job is not None:
        key, folded = res.summary_job
        done = res.pool.take_done([key], at_least=0)
        if key in done:
            res.summary_job, pending = None, pending[folded:]
            update = _summary_update(res, done[key])
    with res.plans_lock:  # the tasks planned and running cover the target: no advisor call
        advising = res.planning > 0 or _tasks_wanted(config, res) > 0  # reads a new summary
    if res.summary_job is None and pending and advising and not state.get("stop_reason"):
        res.pool.reopen()  # closed when a run of this process ended: a resume continues it
        key = summary_key(round_)
        job = partial(
            _summary, config, res, update["summary"], pending, round_, redundancy, _counts(res)
        )
        if res.pool.submit(key, job):
            res.summary_job = (key, len(pending))
    return {**update, "unsummarized": pending}


def _summary(
    config: RunConfig,
    res: RunResources,
    previous: str,
    accepted: list[Candidate],
    round_: int,
    redundancy: float,
    seen: dict[str, int],
) -> tuple[int, Any, dict[str, int]]:
    """One summarizer call: ``previous`` with ``accepted`` folded in, as of ``round_``, passing
    on ``seen``, the items per issue it covers (``_counts``)."""
    with foreground_requests():  # a background job's call goes first too
        result = summarize(
            res.models["summarizer"],
            previous=previous,
            accepted=accepted,
            coverage=coverage_stats(
                res.memory,
                redundancy,
                hazards=res.inputs.taxonomy.names,
                benign_share=config.benign_share,
            ),
            max_chars=config.summary_max_chars,
            attempts=config.structured_attempts,
            seed=_seed(config, round_, 9),
            telemetry=res.telemetry,
            by_other_workers=_new_of_other_workers(res),
        )
    return round_, result, seen


def _counts(res: RunResources) -> dict[str, int]:
    """Items per issue, every worker's, as a summary that starts now covers them: read when its
    items are fixed (a job can wait for a slot; what is stored meanwhile stays news to the
    advisor, ``coverage_stats(summarized=)``)."""
    return res.memory.issue_counts()


def _summary_update(
    res: RunResources, summarized: tuple[int, Any, dict[str, int]]
) -> dict[str, Any]:
    round_, result, counts = summarized
    res.counts_in_summary = counts  # as the summary the advisor reads from now on saw them
    ledger.record_summary(res, round_, result.value or "", result.error)
    return {"summary": result.value or "", "usage": {"summarizer": result.usage.as_counts()}}


def _new_of_other_workers(res: RunResources) -> dict[str, int]:
    """Items other workers of a shared memory accepted since this run's last summary, per issue
    (after a resume: all of them, once)."""
    now = res.memory.issue_counts_of_others()
    new = {name: n - res.others_summarized.get(name, 0) for name, n in now.items()}
    res.others_summarized = now
    return {name: n for name, n in new.items() if n > 0}


def finish_node(state: LoopState, runtime: Runtime[RunConfig]) -> dict[str, Any]:
    """Record the preference pairs and the summary still being written in the background, write
    the final statistics; stop the generator tasks still planned (not needed now)."""
    config, res = runtime.context, resources_of(runtime.context)
    update: dict[str, Any] = {}
    if state.get("unpaired"):  # a run that plans ahead: every accepted item gets its pair
        recorded, _ = _record_pairs_done(config, res, state, state["unpaired"], wait=True)
        update = {**recorded, "unpaired": []}
    if res.summary_job is not None:  # paid for: kept (items accepted since wait for a resume)
        key, folded = res.summary_job
        summarized = _summary_update(res, res.pool.take_done([key], at_least=1)[key])
        update |= {
            "summary": summarized["summary"],
            "unsummarized": (state.get("unsummarized") or [])[folded:],
            "usage": add_usage(update.get("usage"), summarized["usage"]),
        }
    res.stop_background()
    before: dict[str, Any] = dict(state)
    final = {
        **before,
        **update,
        "pairs": add_counts(before.get("pairs"), update.get("pairs")),
        "usage": add_usage(before.get("usage"), update.get("usage")),
    }
    ledger.write_stats(res, final, state.get("stop_reason"))
    return update
