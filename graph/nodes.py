"""The graph's nodes: each reads state, calls one agent, records through the ledger, and returns
only the keys it changes."""

from __future__ import annotations

import random
from collections import Counter
from functools import partial
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Overwrite

from agents.advisor import AdvisorCall, plan_advice
from agents.contrast import make_pairs
from agents.critic import review
from agents.generator import draft_candidates, self_instruct_plan
from agents.responder import respond
from agents.schemas import LengthCaps, PlannedAdvice
from agents.summarizer import summarize
from graph.context import RunConfig
from graph.runtime import ledger
from graph.runtime.pipeline import (
    ADVICE_PER_CALL,
    GenerationFailure,
    TaskOutcome,
    advisor_calls,
    collect_per_round,
    plans_ahead,
    task_key,
    tasks_to_plan,
)
from graph.runtime.resources import resources_of
from graph.state import GenerationTask, LoopState, add_counts, add_usage
from memory.coverage import coverage_stats
from memory.store import Cell


def _seed(config: RunConfig, *parts: int) -> int:
    """A per-call seed derived from the run seed, so runs repeat where the model allows."""
    value = config.seed
    for part in parts:
        value = (value * 1_000_003 + part) % (2**31 - 1)
    return value


def advisor_node(state: LoopState, runtime: Runtime[RunConfig]) -> dict[str, Any]:
    """Plan advice ahead into the backlog from principles, summary and coverage: as many items
    as keep the server busy (``graph.runtime.pipeline``), from several advisor calls at once,
    each shown another part of the gaps."""
    config, res = runtime.context, resources_of(runtime.context)
    round_ = state.get("round", 0) + 1
    advised = state.get("advised") or {}
    backlog = state.get("backlog") or []
    count = _tasks_to_plan(state, config, res.slots)
    full_view = config.advisor_view == "full"
    calls = [
        AdvisorCall(
            coverage_stats(
                res.memory,
                state.get("recent_redundancy_rate", 0.0),
                advised,
                listed=state.get("listed") or {},
                hazards=res.inputs.taxonomy.names,
                benign_share=config.benign_share,
                part=part,
                in_flight=[task_cell(t) for t in backlog],
            ),
            items,
            _seed(config, round_, 1, part),
        )
        for part, items in enumerate(advisor_calls(count, _advice_per_call(config, res.slots)))
    ]
    plan = plan_advice(
        res.models["advisor"],
        res.memory,
        calls,
        principles=res.inputs.principles,
        summary=state.get("summary", "") if full_view else "",
        show_grid=full_view,
        advised=advised,
        examples_per_prompt=config.examples_per_prompt,
        taxonomy=res.inputs.taxonomy,
        benign_share=config.benign_share,
        attempts=config.structured_attempts,
        telemetry=res.telemetry,
    )
    ledger.record_advice(res, round_, plan.planned, plan.error)
    listed = [
        n for c in calls for n in [*c.coverage.under_covered, *c.coverage.grid.issue_holdings]
    ]
    return {
        "round": round_,
        "advice": plan.planned,
        "backlog": backlog + _tasks(plan.planned, round_),
        "advised": dict(Counter(p.advice.safety_issue for p in plan.planned)),
        "listed": dict.fromkeys(listed, 1),
        "advice_sources": dict(Counter(p.source for p in plan.planned)),
        "discarded_advice": plan.discarded,
        "usage": {"advisor": plan.usage.as_counts()},
    }


def self_instruct_node(state: LoopState, runtime: Runtime[RunConfig]) -> dict[str, Any]:
    """The baseline's round: no advisor; generator tasks on random examples, planned ahead as
    far as the Data Advisor's are."""
    config, res = runtime.context, resources_of(runtime.context)
    round_ = state.get("round", 0) + 1
    count = _tasks_to_plan(state, config, res.slots)
    planned = self_instruct_plan(
        res.memory,
        branches=count,
        examples_per_prompt=config.examples_per_prompt,
        rngs=[random.Random(_seed(config, round_, 100 + b)) for b in range(count)],
    )
    return {
        "round": round_,
        "advice": planned,
        "backlog": (state.get("backlog") or []) + _tasks(planned, round_),
        "advice_sources": {"self-instruct": len(planned)},
    }


def _advice_per_call(config: RunConfig, slots: int) -> int:
    """A run in lock-step asks one advisor for its round; one planning ahead asks several, each
    for a few items (a short answer: the round waits for the longest)."""
    return ADVICE_PER_CALL if plans_ahead(slots) else config.advice_per_round


def _tasks_to_plan(state: LoopState, config: RunConfig, slots: int) -> int:
    return tasks_to_plan(
        backlog=len(state.get("backlog") or []),
        slots=slots,
        advice_per_round=config.advice_per_round,
        candidates_per_advice=config.candidates_per_advice,
        remaining=config.target - state.get("accepted", 0),
        accepted=state.get("accepted", 0),
        judged=state.get("candidates_seen", 0),
    )


def task_cell(task: GenerationTask) -> Cell:
    """The grid cell a generator task aims at (hazard, issue, tactic, kind)."""
    advice = task["planned"].advice
    return advice.hazard, advice.safety_issue, advice.tactic, advice.kind


def _tasks(planned: list[PlannedAdvice], round_: int) -> list[GenerationTask]:
    return [GenerationTask(planned=p, round=round_, branch=b) for b, p in enumerate(planned)]


def generator_node(state: LoopState, runtime: Runtime[RunConfig]) -> dict[str, Any]:
    """Start every backlog task in the background, then collect the oldest of them and any other
    already done: their requests (generator) and responses (responder) become this round's
    candidates."""
    config, res = runtime.context, resources_of(runtime.context)
    backlog = state.get("backlog") or []
    for task in backlog:
        res.pool.submit(task_key(task["round"], task["branch"]), partial(write_task, config, task))
    done = res.pool.take_done(
        [task_key(t["round"], t["branch"]) for t in backlog],
        at_least=collect_per_round(res.slots, config.advice_per_round),
    )
    taken = [t for t in backlog if task_key(t["round"], t["branch"]) in done]
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
    the responder their responses. Nothing is recorded here (the node that collects it does)."""
    res = resources_of(config)
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
    return {**update, "candidates": Overwrite([])}


def contrast_node(state: LoopState, runtime: Runtime[RunConfig]) -> dict[str, Any]:
    """Give each item accepted this round a preference pair (``agents.contrast``)."""
    config, res = runtime.context, resources_of(runtime.context)
    if not config.preference_pairs or not state.get("round_accepted"):
        return {}
    pairs = make_pairs(
        res.models["responder"],
        state.get("round_accepted") or [],
        concurrency=config.concurrency,
        attempts=config.structured_attempts,
        seed=_seed(config, state.get("round", 0), 8),
        telemetry=res.telemetry,
        caps=LengthCaps.for_run(config),
    )
    return ledger.record_pairs(res, dict(state), pairs)


def summarizer_node(state: LoopState, runtime: Runtime[RunConfig]) -> dict[str, Any]:
    """Fold the round's accepted items into the bounded running summary (the backlog's tasks
    keep the server busy meanwhile)."""
    config, res = runtime.context, resources_of(runtime.context)
    if not config.summary or config.advisor_view != "full":  # ablations: nobody reads one
        return {}
    result = summarize(
        res.models["summarizer"],
        previous=state.get("summary", ""),
        accepted=state.get("round_accepted") or [],
        coverage=coverage_stats(
            res.memory,
            state.get("recent_redundancy_rate", 0.0),
            hazards=res.inputs.taxonomy.names,
            benign_share=config.benign_share,
        ),
        max_chars=config.summary_max_chars,
        attempts=config.structured_attempts,
        seed=_seed(config, state.get("round", 0), 9),
        telemetry=res.telemetry,
    )
    ledger.record_summary(res, state.get("round", 0), result.value or "", result.error)
    return {"summary": result.value or "", "usage": {"summarizer": result.usage.as_counts()}}


def finish_node(state: LoopState, runtime: Runtime[RunConfig]) -> dict[str, Any]:
    """Write the final statistics; stop the generator tasks still planned (not needed now)."""
    res = resources_of(runtime.context)
    res.pool.close()
    ledger.write_stats(res, dict(state), state.get("stop_reason"))
    return {}
