"""The graph's nodes: each reads state, calls one agent, records through the ledger, and returns
only the keys it changes."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Overwrite

from agents.advisor import plan_round
from agents.contrast import make_pairs
from agents.critic import review
from agents.generator import draft_candidates, self_instruct_plan
from agents.responder import respond
from agents.schemas import LengthCaps
from agents.summarizer import summarize
from graph.context import RunConfig
from graph.runtime import ledger
from graph.runtime.resources import resources_of
from graph.state import GenerationTask, LoopState
from memory.coverage import coverage_stats


def _seed(config: RunConfig, *parts: int) -> int:
    """A per-call seed derived from the run seed, so runs repeat where the model allows."""
    value = config.seed
    for part in parts:
        value = (value * 1_000_003 + part) % (2**31 - 1)
    return value


def advisor_node(state: LoopState, runtime: Runtime[RunConfig]) -> dict[str, Any]:
    """Plan this round's advice from principles, summary and coverage."""
    config, res = runtime.context, resources_of(runtime.context)
    round_ = state.get("round", 0) + 1
    advised = state.get("advised") or {}
    coverage = coverage_stats(
        res.memory,
        state.get("recent_redundancy_rate", 0.0),
        advised,
        listed=state.get("listed") or {},
        hazards=res.inputs.taxonomy.names,
        benign_share=config.benign_share,
    )
    full_view = config.advisor_view == "full"
    plan = plan_round(
        res.models["advisor"],
        res.memory,
        principles=res.inputs.principles,
        summary=state.get("summary", "") if full_view else "",
        coverage=coverage,
        show_grid=full_view,
        advised=advised,
        count=config.advice_per_round,
        examples_per_prompt=config.examples_per_prompt,
        taxonomy=res.inputs.taxonomy,
        benign_share=config.benign_share,
        attempts=config.structured_attempts,
        seed=_seed(config, round_, 1),
        telemetry=res.telemetry,
    )
    ledger.record_advice(res, round_, plan.planned, plan.error)
    return {
        "round": round_,
        "advice": plan.planned,
        "advised": dict(Counter(p.advice.safety_issue for p in plan.planned)),
        "listed": dict.fromkeys([*coverage.under_covered, *coverage.grid.issue_holdings], 1),
        "advice_sources": dict(Counter(p.source for p in plan.planned)),
        "discarded_advice": plan.discarded,
        "usage": {"advisor": plan.usage.as_counts()},
    }


def self_instruct_node(state: LoopState, runtime: Runtime[RunConfig]) -> dict[str, Any]:
    """The baseline's round: no advisor, as many generator branches on random examples."""
    config, res = runtime.context, resources_of(runtime.context)
    round_ = state.get("round", 0) + 1
    planned = self_instruct_plan(
        res.memory,
        branches=config.advice_per_round,
        examples_per_prompt=config.examples_per_prompt,
        rngs=[
            random.Random(_seed(config, round_, 100 + b)) for b in range(config.advice_per_round)
        ],
    )
    return {
        "round": round_,
        "advice": planned,
        "advice_sources": {"self-instruct": len(planned)},
    }


def generator_node(task: GenerationTask, runtime: Runtime[RunConfig]) -> dict[str, Any]:
    """Write one advice item's requests (generator), then their responses (responder)."""
    config, res = runtime.context, resources_of(runtime.context)
    round_, branch = task["round"], task["branch"]
    caps = LengthCaps.for_run(config)
    drafted = draft_candidates(
        res.models["generator"],
        res.memory,
        task["planned"],
        round_=round_,
        branch=branch,
        count=config.candidates_per_advice,
        relevance_threshold=config.relevance_threshold,
        attempts=config.structured_attempts,
        seed=_seed(config, round_, 100 + branch),
        telemetry=res.telemetry,
        caps=caps,
    )
    update: dict[str, Any] = {"usage": {"generator": drafted.usage.as_counts()}}
    if not drafted.value:
        if drafted.refused:
            reason = "generator_refused"
            update["refusals"] = {
                task["planned"].advice.hazard or "(none)": 1,
                f"round {round_}": 1,
            }
        else:
            reason = "generator_unparsable" if drafted.value is None else "generator_empty"
        ledger.record_generation_failure(res, round_, branch, reason, drafted.error or "no items")
        return {**update, "candidates": [], "rejections": {reason: 1}}
    answered = respond(
        res.models["responder"],
        drafted.value,
        principles=res.inputs.principles,
        examples=task["planned"].examples,
        attempts=config.structured_attempts,
        seed=_seed(config, round_, 200 + branch),
        telemetry=res.telemetry,
        caps=caps,
        repair_refused=bool(config.preference_pairs),
    )
    if fixed := sum(1 for c in answered.value or [] if c.failed_response):
        update["pairs"] = {"repaired": fixed}
    update["usage"]["responder"] = answered.usage.as_counts()
    update["candidates"] = answered.value or []
    missing = len(drafted.value) - len(answered.value or [])
    if missing:
        reason = "responder_unparsable" if answered.value is None else "responder_missing"
        ledger.record_generation_failure(
            res, round_, branch, reason, answered.error or "no responses", count=missing
        )
        update["rejections"] = {reason: missing}
    return update


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
    """Fold the round's accepted items into the bounded running summary."""
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
    """Write the final statistics."""
    ledger.write_stats(resources_of(runtime.context), dict(state), state.get("stop_reason"))
    return {}
