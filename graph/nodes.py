"""The graph's nodes: each reads what it needs, calls one agent, and returns only the keys it changes."""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import Any

from langgraph.runtime import Runtime

from agents.advisor import advise, distinct_advice, fallback_advice, is_issue_name
from agents.critic import review
from agents.generator import generate_for_advice, generate_self_instruct
from agents.schemas import (
    AcceptedItem,
    AdviceItem,
    Candidate,
    Example,
    PlannedAdvice,
    RejectedItem,
)
from agents.structured import Usage
from agents.summarizer import summarize
from graph.context import RunConfig
from graph.resources import resources_for
from graph.rundir import ADVICE, DATASET, REJECTED, ROUNDS, STATS, SUMMARIES
from graph.state import GenerationTask, LoopState, add_counts, add_usage, total_calls, usage_total
from graph.stats import build_stats
from memory.coverage import coverage_stats

SELF_INSTRUCT_ADVICE = AdviceItem(
    safety_issue="model's own choice",
    instruction="Write new items in the style of the examples, on any safety issue.",
)


def _usage(role: str, usage: Usage) -> dict[str, dict[str, float]]:
    return {role: usage.as_counts()}


def _seed(config: RunConfig, *parts: int) -> int:
    """A per-call seed derived from the run seed, so runs repeat where the model allows."""
    value = config.seed
    for part in parts:
        value = (value * 1_000_003 + part) % (2**31 - 1)
    return value


def advisor_node(state: LoopState, runtime: Runtime[RunConfig]) -> dict[str, Any]:
    """Advise this round's target issues from principles, summary and coverage."""
    config = runtime.context
    res = resources_for(config)
    round_ = state.get("round", 0) + 1
    coverage = coverage_stats(
        res.memory, state.get("recent_redundancy_rate", 0.0), state.get("advised") or {}
    )
    result = advise(
        res.models["advisor"],
        principles=res.inputs.principles,
        summary=state.get("summary", ""),
        coverage=coverage,
        count=config.advice_per_round,
        attempts=config.structured_attempts,
        seed=_seed(config, round_, 1),
    )
    planned: list[PlannedAdvice] = []
    proposed = distinct_advice(result.value.advice if result.value else [], config.advice_per_round)
    resolutions = res.memory.resolve_issues([(i.safety_issue, i.instruction) for i in proposed])
    for item, resolved in zip(proposed, resolutions, strict=True):
        if resolved.name in coverage.saturated or any(
            p.advice.safety_issue == resolved.name for p in planned
        ):
            continue
        planned.append(
            PlannedAdvice(
                advice=item.model_copy(update={"safety_issue": resolved.name}),
                source="advisor",
                proposed_issue=item.safety_issue,
            )
        )
    gap = config.advice_per_round - len(planned)
    if gap > 0:
        fill = fallback_advice(
            coverage,
            gap,
            res.memory.issue_descriptions(),
            tried=state.get("advised") or {},
            exclude={p.advice.safety_issue for p in planned},
        )
        planned += [PlannedAdvice(advice=a, source="fallback") for a in fill]
    # Every branch's examples in one batched memory query (see Memory.diverse_examples_many).
    queries = res.memory.embed(
        [f"{p.advice.safety_issue}: {p.advice.instruction}" for p in planned]
    )
    found = res.memory.diverse_examples_many(queries, config.examples_per_prompt) if planned else []
    planned = [
        p.model_copy(update={"examples": _examples(neighbors)})
        for p, neighbors in zip(planned, found, strict=True)
    ]
    res.run_dir.append(ADVICE, [_advice_record(round_, p, result.error) for p in planned])
    return {
        "round": round_,
        "advice": planned,
        "advised": dict(Counter(p.advice.safety_issue for p in planned)),
        "usage": _usage("advisor", result.usage),
    }


def self_instruct_node(state: LoopState, runtime: Runtime[RunConfig]) -> dict[str, Any]:
    """The baseline's round: no advisor, just as many generator branches on random examples."""
    config = runtime.context
    res = resources_for(config)
    round_ = state.get("round", 0) + 1
    planned = [
        PlannedAdvice(
            advice=SELF_INSTRUCT_ADVICE,
            source="self-instruct",
            examples=_examples(
                res.memory.random_examples(
                    config.examples_per_prompt, random.Random(_seed(config, round_, 100 + branch))
                )
            ),
        )
        for branch in range(config.advice_per_round)
    ]
    return {"round": round_, "advice": planned}


def _examples(neighbors: list[Any]) -> list[Example]:
    return [
        Example(id=n.id, prompt=n.prompt, response=n.response, safety_issue=n.safety_issue)
        for n in neighbors
    ]


def _advice_record(round_: int, planned: PlannedAdvice, error: str | None) -> dict[str, Any]:
    """An ``advice.jsonl`` line: the advice, its source, and the ids of the examples it showed."""
    return {
        "round": round_,
        **planned.model_dump(exclude={"examples"}),
        "example_ids": [e.id for e in planned.examples],
        "advisor_error": error,
    }


def generator_node(task: GenerationTask, runtime: Runtime[RunConfig]) -> dict[str, Any]:
    """Write candidates for one advice item (one ``Send`` branch)."""
    config = runtime.context
    res = resources_for(config)
    advice, round_, branch = task["advice"], task["round"], task["branch"]
    seed = _seed(config, round_, 100 + branch)
    drafts: list[tuple[str, str, str]] = []
    examples = task.get("examples") or []
    if task["advice_source"] == "self-instruct":
        result = generate_self_instruct(
            res.models["generator"],
            examples,
            count=config.candidates_per_advice,
            attempts=config.structured_attempts,
            seed=seed,
        )
        for d in result.value.items if result.value else []:
            issue = label_issue(res.memory, d.prompt, d.safety_issue, config.relevance_threshold)
            drafts.append((d.prompt, d.response, issue))
    else:
        result = generate_for_advice(
            res.models["generator"],
            advice,
            examples,
            count=config.candidates_per_advice,
            attempts=config.structured_attempts,
            seed=seed,
        )
        for d in result.value.items if result.value else []:
            drafts.append((d.prompt, d.response, advice.safety_issue))
    candidates = [
        Candidate(
            id=f"r{round_:05d}-b{branch:02d}-c{index:02d}",
            prompt=prompt.strip(),
            response=response.strip(),
            safety_issue=issue,
            advice=advice.instruction,
            round=round_,
            advice_source=task["advice_source"],
        )
        for index, (prompt, response, issue) in enumerate(drafts[: config.candidates_per_advice])
    ]
    update: dict[str, Any] = {"candidates": candidates, "usage": _usage("generator", result.usage)}
    if result.value is None or not candidates:
        reason = "generator_unparsable" if result.value is None else "generator_empty"
        res.run_dir.append(
            REJECTED,
            [
                RejectedItem(
                    candidate=None,
                    reason=reason,
                    layer="parse",
                    detail=f"round {round_} branch {branch}: {result.error or 'no items'}",
                )
            ],
        )
        update["rejections"] = {reason: 1}
    return update


def label_issue(memory: Any, prompt: str, label: str, relevance_threshold: float) -> str:
    """The Self-Instruct baseline's issue for a prompt: the model's own label when it fits.

    A small model's label is often a sentence, or a word that does not describe its prompt; then
    the nearest known issue labels the prompt instead (nothing is registered), so the baseline
    is judged on its prompts, not on its labelling.
    """
    nearest = memory.nearest_issue(prompt)
    if is_issue_name(label):
        prompt_vector, label_vector = memory.embed([prompt, label])
        if float(prompt_vector @ label_vector) >= relevance_threshold or not nearest.name:
            return memory.resolve_issue(label).name
    return nearest.name or label


def critic_node(state: LoopState, runtime: Runtime[RunConfig]) -> dict[str, Any]:
    """Judge the round's candidates; store accepted ones (dataset first, then memory)."""
    config = runtime.context
    res = resources_for(config)
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
    )
    room = max(0, config.target - state.get("accepted", 0) - len(recorded))
    kept, surplus = report.accepted[:room], report.accepted[room:]
    rejected = report.rejected + [
        RejectedItem(
            candidate=v.candidate,
            reason="surplus",
            layer="surplus",
            detail="target already reached",
            nearest_similarity=v.nearest_similarity,
        )
        for v in surplus
    ]
    rows = [
        AcceptedItem(
            **v.candidate.model_dump(
                include={"id", "prompt", "response", "safety_issue", "advice", "round"}
            ),
            strategy=config.strategy,
            critic=v.critic,
            nearest_similarity=v.nearest_similarity,
            model=res.model_label(),
        )
        for v in kept
    ]
    # Write order: dataset line (synced) first, then memory; resume repairs memory from dataset.
    res.run_dir.append(DATASET, rows)
    res.accepted_ids.update(r.id for r in rows)
    res.memory.add_items(
        [r.model_dump() for r in rows], [report.vectors[r.id] for r in rows] if rows else []
    )
    res.run_dir.append(REJECTED, rejected)
    reasons = Counter(r.reason for r in rejected)
    accepted = state.get("accepted", 0) + len(recorded) + len(kept)
    update: dict[str, Any] = {
        "accepted": accepted,
        "candidates_seen": state.get("candidates_seen", 0) + len(candidates),
        "candidates": None,
        "round_accepted": recorded + [v.candidate for v in kept],
        "rejections": dict(reasons),
        "usage": _usage("critic", report.usage),
        "recent_redundancy_rate": reasons.get("duplicate", 0) / len(candidates)
        if candidates
        else 0.0,
    }
    # What the state will be once the reducers merge this update (for stop rules and stats).
    projected = {
        **state,
        **update,
        "usage": add_usage(state.get("usage"), update["usage"]),
        "rejections": add_counts(state.get("rejections"), update["rejections"]),
    }
    update["stop_reason"] = stop_reason(projected, config)
    _write_stats(res, projected, update["stop_reason"])
    res.run_dir.append(ROUNDS, [_round_record(projected)])
    return update


def summarizer_node(state: LoopState, runtime: Runtime[RunConfig]) -> dict[str, Any]:
    """Fold the round's accepted items into the bounded running summary."""
    config = runtime.context
    res = resources_for(config)
    text, usage, error = summarize(
        res.models["summarizer"],
        previous=state.get("summary", ""),
        accepted=state.get("round_accepted") or [],
        coverage=coverage_stats(res.memory, state.get("recent_redundancy_rate", 0.0)),
        max_chars=config.summary_max_chars,
        attempts=config.structured_attempts,
        seed=_seed(config, state.get("round", 0), 9),
    )
    res.run_dir.append(
        SUMMARIES, [{"round": state.get("round", 0), "summary": text, "error": error}]
    )
    return {"summary": text, "usage": _usage("summarizer", usage)}


def finish_node(state: LoopState, runtime: Runtime[RunConfig]) -> dict[str, Any]:
    """Write the final statistics."""
    res = resources_for(runtime.context)
    _write_stats(res, dict(state), state.get("stop_reason"))
    return {}


def stop_reason(state: dict[str, Any], config: RunConfig) -> str | None:
    """Why the run must stop now, or ``None`` to go on."""
    if state.get("accepted", 0) >= config.target:
        return "target reached"
    if state.get("round", 0) >= config.round_budget:
        return f"round budget spent ({config.round_budget} rounds)"
    if total_calls(state) >= config.call_budget:
        return f"LLM call budget spent ({config.call_budget} calls)"
    return None


def _round_record(state: dict[str, Any]) -> dict[str, Any]:
    """Totals after a round (``rounds.jsonl``): how cost and acceptance develop over a run."""
    usage = state.get("usage")
    return {
        "round": state.get("round", 0),
        "accepted": state.get("accepted", 0),
        "candidates_judged": state.get("candidates_seen", 0),
        "llm_calls": total_calls(state),
        "input_tokens": usage_total(usage, "input_tokens"),
        "output_tokens": usage_total(usage, "output_tokens"),
        "summary_chars": len(state.get("summary", "")),
    }


def _write_stats(res: Any, state: dict[str, Any], reason: str | None) -> None:
    res.run_dir.write_json(STATS, build_stats(state, time.monotonic() - res.started, reason))
