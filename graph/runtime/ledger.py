"""The run's bookkeeping in one place: what each step writes to the run directory and memory.

Nodes judge and generate; this module records. Every write here is idempotent under LangGraph's
replay of a step that crashed before its checkpoint: side logs replace their group
(``RunDirectory.write_group``), ``dataset.jsonl`` never takes an id twice, memory upserts.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from agents.contrast import Pairs
from agents.critic import CriticReport
from agents.schemas import AcceptedItem, Candidate, PlannedAdvice, RejectedItem
from graph.context import RunConfig
from graph.runtime.claims import claim_accepts
from graph.runtime.costs import RunPrices, cost_stats, cost_stop, spent
from graph.runtime.resources import RunResources
from graph.runtime.rundir import ADVICE, DATASET, PAIRS, REJECTED, ROUNDS, STATS, SUMMARIES
from graph.runtime.stats import build_stats
from graph.state import add_counts, add_usage, grid_key, total_calls, usage_total


def record_advice(
    res: RunResources, round_: int, planned: list[PlannedAdvice], error: str | None
) -> None:
    """``advice.jsonl``: the round's advice, its source, and the ids of the examples it showed."""
    res.run_dir.write_group(
        ADVICE,
        [
            {
                "round": round_,
                **p.model_dump(exclude={"examples"}),
                "example_ids": [e.id for e in p.examples],
                "advisor_error": error,
            }
            for p in planned
        ],
        group=round_,
    )


def record_generation_failure(
    res: RunResources, round_: int, branch: int, reason: str, detail: str, count: int = 1
) -> None:
    """``rejected.jsonl``: a generator branch that produced no usable candidate, or requests the
    responder left without a response (``count`` of them, one line)."""
    lost = f" ({count} requests)" if count > 1 else ""
    res.run_dir.write_group(
        REJECTED,
        [
            RejectedItem(
                candidate=None,
                reason=reason,
                layer="parse",
                detail=f"round {round_} branch {branch}: {detail}{lost}",
                round=round_,
                step=f"generator-b{branch:02d}",
            )
        ],
    )


def settle_round(
    res: RunResources, state: dict[str, Any], report: CriticReport, recorded: list[Candidate]
) -> dict[str, Any]:
    """Store the critic's outcome of a round and return the state update it implies.

    Accepted items beyond the target become ``surplus`` rejections. In a shared namespace the
    items within the target are first settled in the acceptance log (``claim_accepts``): a twin
    another run claimed first becomes a ``duplicate`` rejection. The dataset line is written (and
    synced) before memory, so a crash between the two is repaired from the dataset on resume.
    Then ``rejected.jsonl``, ``stats.json`` and ``rounds.jsonl``.
    """
    config = res.config
    round_ = int(state.get("round", 0))
    candidates = state.get("candidates") or []
    room = max(0, config.target - state.get("accepted", 0) - len(recorded))
    kept, lost, surplus = claim_accepts(res.acceptance, report, room)
    judged_out = report.rejected + lost
    rejected = judged_out + [
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
                include={
                    "id",
                    "prompt",
                    "response",
                    "hazard",
                    "safety_issue",
                    "tactic",
                    "kind",
                    "advice",
                    "round",
                }
            ),
            strategy=config.strategy,
            critic=v.critic,
            nearest_similarity=v.nearest_similarity,
            model=res.model_label(),
        )
        for v in kept
    ]
    res.run_dir.append(DATASET, rows)
    res.accepted_ids.update(r.id for r in rows)
    res.memory.add_items(
        [r.model_dump() for r in rows], [report.vectors[r.id] for r in rows] if rows else []
    )
    res.run_dir.write_group(
        REJECTED,
        [r.model_copy(update={"round": round_, "step": "critic"}) for r in rejected],
        group=(round_, "critic"),
    )
    reasons = Counter(r.reason for r in rejected)
    judged = Counter(c.tactic for c in candidates)
    judged.update(
        grid_key(r.candidate.tactic, r.reason) for r in judged_out if r.candidate is not None
    )
    duplicates = Counter(
        r.candidate.safety_issue for r in judged_out if r.reason == "duplicate" and r.candidate
    )
    kept_issues = {c.safety_issue for c in recorded} | {v.candidate.safety_issue for v in kept}
    update: dict[str, Any] = {
        "accepted": state.get("accepted", 0) + len(recorded) + len(kept),
        "dry": dict(duplicates) | dict.fromkeys(kept_issues, 0),
        "candidates_seen": state.get("candidates_seen", 0) + len(candidates),
        "round_accepted": recorded + [v.candidate for v in kept],
        "rejections": dict(reasons),
        "accepted_cells": dict(Counter(grid_key(r.hazard, r.tactic, r.kind) for r in rows)),
        "judged_by_tactic": dict(judged),
        "usage": {"critic": report.usage.as_counts()},
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
        "accepted_cells": add_counts(state.get("accepted_cells"), update["accepted_cells"]),
        "judged_by_tactic": add_counts(state.get("judged_by_tactic"), update["judged_by_tactic"]),
    }
    update["stop_reason"] = stop_reason(projected, config, res.prices)
    write_stats(res, projected, update["stop_reason"])
    res.run_dir.write_group(ROUNDS, [round_record(projected, res.prices)])
    return update


def record_pairs(res: RunResources, state: dict[str, Any], pairs: Pairs) -> dict[str, Any]:
    """``pairs.jsonl``: the round's preference pairs; ``stats.json`` again with their cost.
    Returns the state update (pair counts and the contrast calls' usage)."""
    res.run_dir.write_group(PAIRS, pairs.pairs)
    counts: dict[str, float] = dict(Counter(p.pair_type for p in pairs.pairs))
    counts |= {f"missing:{why}": n for why, n in pairs.missing.items()}
    if pairs.calls:
        counts["contrast_calls"] = pairs.calls
    usage = {"contrast": pairs.usage.as_counts()} if pairs.usage.calls else {}
    update: dict[str, Any] = {"pairs": counts, "usage": usage}
    projected = {
        **state,
        "pairs": add_counts(state.get("pairs"), counts),
        "usage": add_usage(state.get("usage"), update["usage"]),
    }
    write_stats(res, projected, state.get("stop_reason"))
    return update


def record_summary(res: RunResources, round_: int, text: str, error: str | None) -> None:
    """``summaries.jsonl``: the running summary after a round."""
    res.run_dir.write_group(SUMMARIES, [{"round": round_, "summary": text, "error": error}])


# The run stops when the generator refused at least this share of its calls over the last
# ``REFUSAL_WINDOW`` rounds: a model that will not write the requests only burns the budget. A
# generator refusing 30% of its calls keeps going (each refused call earns one retry that restates
# the dataset's purpose, ``agents.structured``).
REFUSAL_STOP_SHARE = 0.8
REFUSAL_WINDOW = 3


def refusal_stop(state: dict[str, Any], config: RunConfig) -> str | None:
    """The stop reason when the generator keeps refusing, or ``None``."""
    round_ = int(state.get("round", 0))
    if round_ < REFUSAL_WINDOW:
        return None
    refusals = state.get("refusals") or {}
    window = range(round_ - REFUSAL_WINDOW + 1, round_ + 1)
    refused = sum(refusals.get(f"round {r}", 0) for r in window)
    calls = sum(refusals.get(f"round {r} tasks", 0) for r in window)
    if not calls or refused < REFUSAL_STOP_SHARE * calls:
        return None
    return (
        f"the generator model refused {refused} of its {calls} calls in the last "
        f"{REFUSAL_WINDOW} rounds: give a model that writes the requests with --generator-model"
    )


def stop_reason(
    state: dict[str, Any], config: RunConfig, prices: RunPrices | None = None
) -> str | None:
    """Why the run must stop now, or ``None`` to go on (``prices``: for ``--max-cost``)."""
    if state.get("accepted", 0) >= config.target:
        return "target reached"
    if reason := refusal_stop(state, config):
        return reason
    if state.get("round", 0) >= config.round_budget:
        return f"round budget spent ({config.round_budget} rounds)"
    if total_calls(state) >= config.call_budget:
        return f"LLM call budget spent ({config.call_budget} calls)"
    return cost_stop(state, config, prices)


def round_record(state: dict[str, Any], prices: RunPrices | None = None) -> dict[str, Any]:
    """Totals after a round (``rounds.jsonl``): how cost and acceptance develop over a run."""
    dollars = spent(state, prices)
    usage = state.get("usage")
    return {
        "round": state.get("round", 0),
        "accepted": state.get("accepted", 0),
        "candidates_judged": state.get("candidates_seen", 0),
        "llm_calls": total_calls(state),
        "input_tokens": usage_total(usage, "input_tokens"),
        "output_tokens": usage_total(usage, "output_tokens"),
        "cost_usd": None if dollars is None else round(dollars, 6),
        "summary_chars": len(state.get("summary", "")),
        "advice_discarded": sum((state.get("discarded_advice") or {}).values()),
    }


def write_stats(res: RunResources, state: dict[str, Any], reason: str | None) -> None:
    """Replace ``stats.json`` with the run's totals so far."""
    stats = build_stats(
        state,
        time.monotonic() - res.started,
        reason,
        res.telemetry.transport_faults(),
        res.telemetry.concurrency_report(),
        cost=cost_stats(state, res.prices, res.config.max_cost),
    )
    res.run_dir.write_json(STATS, stats)
