"""The run's bookkeeping in one place: what each step writes to the run directory and memory.

Nodes judge and generate; this module records. Every write here is idempotent under LangGraph's
replay of a step that crashed before its checkpoint: side logs replace their group
(``RunDirectory.write_group``), ``dataset.jsonl`` never takes an id twice, memory upserts.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from agents.critic import CriticReport
from agents.schemas import AcceptedItem, Candidate, PlannedAdvice, RejectedItem
from graph.context import RunConfig
from graph.runtime.resources import RunResources
from graph.runtime.rundir import ADVICE, DATASET, REJECTED, ROUNDS, STATS, SUMMARIES
from graph.runtime.stats import build_stats
from graph.state import add_counts, add_usage, total_calls, usage_total


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
    )


def record_generation_failure(
    res: RunResources, round_: int, branch: int, reason: str, detail: str
) -> None:
    """``rejected.jsonl``: a generator branch that produced no usable candidate."""
    res.run_dir.write_group(
        REJECTED,
        [
            RejectedItem(
                candidate=None,
                reason=reason,
                layer="parse",
                detail=f"round {round_} branch {branch}: {detail}",
                round=round_,
                step=f"generator-b{branch:02d}",
            )
        ],
    )


def settle_round(
    res: RunResources, state: dict[str, Any], report: CriticReport, recorded: list[Candidate]
) -> dict[str, Any]:
    """Store the critic's outcome of a round and return the state update it implies.

    Accepted items beyond the target become ``surplus`` rejections; the dataset line is written
    (and synced) before memory, so a crash between the two is repaired from the dataset on
    resume. Then ``rejected.jsonl``, ``stats.json`` and ``rounds.jsonl``.
    """
    config = res.config
    round_ = int(state.get("round", 0))
    candidates = state.get("candidates") or []
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
    res.run_dir.append(DATASET, rows)
    res.accepted_ids.update(r.id for r in rows)
    res.memory.add_items(
        [r.model_dump() for r in rows], [report.vectors[r.id] for r in rows] if rows else []
    )
    res.run_dir.write_group(
        REJECTED, [r.model_copy(update={"round": round_, "step": "critic"}) for r in rejected]
    )
    reasons = Counter(r.reason for r in rejected)
    update: dict[str, Any] = {
        "accepted": state.get("accepted", 0) + len(recorded) + len(kept),
        "candidates_seen": state.get("candidates_seen", 0) + len(candidates),
        "round_accepted": recorded + [v.candidate for v in kept],
        "rejections": dict(reasons),
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
    }
    update["stop_reason"] = stop_reason(projected, config)
    write_stats(res, projected, update["stop_reason"])
    res.run_dir.write_group(ROUNDS, [round_record(projected)])
    return update


def record_summary(res: RunResources, round_: int, text: str, error: str | None) -> None:
    """``summaries.jsonl``: the running summary after a round."""
    res.run_dir.write_group(SUMMARIES, [{"round": round_, "summary": text, "error": error}])


def stop_reason(state: dict[str, Any], config: RunConfig) -> str | None:
    """Why the run must stop now, or ``None`` to go on."""
    if state.get("accepted", 0) >= config.target:
        return "target reached"
    if state.get("round", 0) >= config.round_budget:
        return f"round budget spent ({config.round_budget} rounds)"
    if total_calls(state) >= config.call_budget:
        return f"LLM call budget spent ({config.call_budget} calls)"
    return None


def round_record(state: dict[str, Any]) -> dict[str, Any]:
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
        "advice_discarded": sum((state.get("discarded_advice") or {}).values()),
    }


def write_stats(res: RunResources, state: dict[str, Any], reason: str | None) -> None:
    """Replace ``stats.json`` with the run's totals so far."""
    stats = build_stats(
        state, time.monotonic() - res.started, reason, res.telemetry.transport_faults()
    )
    res.run_dir.write_json(STATS, stats)
