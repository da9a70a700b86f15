"""Run statistics (``stats.json``): calls, tokens, time, acceptance by reason."""

from __future__ import annotations

from typing import Any, get_args

from agents.schemas import PairType
from graph.state import GRID_SEPARATOR, total_calls, usage_total

# Warn when more than this share of the advisor's proposed advice items was discarded.
DISCARDED_ADVICE_WARNING_SHARE = 0.5
PAIR_TYPES = get_args(PairType)


def build_stats(
    state: dict[str, Any],
    seconds: float,
    stop_reason: str | None,
    transport_faults: dict[str, int] | None = None,
    concurrency: dict[str, Any] | None = None,
    *,
    cost: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Statistics of a run from its state; ``seconds`` is the wall time of this process's part.

    ``transport_faults`` and ``concurrency`` (the limit on requests in flight over time,
    ``CallTelemetry.concurrency_report``) are the run's own, never another run's; ``cost`` is the
    dollars section (``graph.runtime.costs.cost_stats``).
    """
    usage = state.get("usage") or {}
    seen = int(state.get("candidates_seen", 0))
    accepted = int(state.get("accepted", 0))
    rejections = dict(sorted((state.get("rejections") or {}).items(), key=lambda kv: -kv[1]))
    tokens_in = usage_total(usage, "input_tokens")
    tokens_out = usage_total(usage, "output_tokens")
    return {
        "accepted": accepted,
        "candidates_judged": seen,
        "acceptance_rate": round(accepted / seen, 4) if seen else 0.0,
        "rejections_by_reason": rejections,
        "rounds": int(state.get("round", 0)),
        "llm_calls": total_calls(state),
        "cached_answers": usage_total(usage, "cached_answers"),
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "tokens_per_accepted_item": round((tokens_in + tokens_out) / accepted, 1)
        if accepted
        else None,
        "cost": cost or {"total_usd": None},
        "usage_by_role": {
            role: {key: round(value, 2) for key, value in counts.items()}
            for role, counts in usage.items()
        },
        "seconds": round(seconds, 2),
        "stop_reason": stop_reason,
        "transport_faults": dict(transport_faults or {}),
        "concurrency": concurrency,
        "advice": advice_stats(state),
        "grid": grid_stats(state),
        "generator_refusals": refusal_stats(state),
        "preference": preference_stats(state),
    }


def preference_stats(state: dict[str, Any]) -> dict[str, Any]:
    """Preference pairs made (``pairs.jsonl``) by type, items without one and why, and what
    making them cost in calls: responses rewritten (the first reply is the pair's rejected side)
    and the calls that rewrote them (their tokens are in ``usage_by_role.responder``), and
    contrast calls (``usage_by_role.contrast``)."""
    counts = state.get("pairs") or {}
    by_type = {k: int(n) for k, n in sorted(counts.items()) if k in PAIR_TYPES}
    missing = {
        k.split(":", 1)[1]: int(n) for k, n in sorted(counts.items()) if k.startswith("missing:")
    }
    return {
        "pairs": sum(by_type.values()),
        "by_type": by_type,
        "items_without_pair": missing,
        "repaired_responses": int(counts.get("repaired", 0)),
        "rewrite_calls": int(
            (state.get("usage") or {}).get("responder", {}).get("rewrite_calls", 0)
        ),
        "contrast_calls": int(counts.get("contrast_calls", 0)),
    }


def refusal_stats(state: dict[str, Any]) -> dict[str, Any]:
    """Generator calls that refused to write requests, in all and by hazard."""
    counts = state.get("refusals") or {}
    by_hazard = {k: int(n) for k, n in sorted(counts.items()) if not k.startswith("round ")}
    return {"total": sum(by_hazard.values()), "by_hazard": by_hazard}


def grid_stats(state: dict[str, Any]) -> dict[str, Any]:
    """Accepted items along each axis of the grid, and format rejections per tactic.

    ``not_a_user_request_by_tactic`` is the share of a tactic's candidates rejected as
    ``format:prompt_not_a_user_request``: a tactic the format rules mistake for an assistant's
    answer shows up there.
    """
    by: dict[str, dict[str, int]] = {"hazard": {}, "tactic": {}, "kind": {}, "cell": {}}
    for key, n in (state.get("accepted_cells") or {}).items():
        hazard, tactic, kind = (key.split(GRID_SEPARATOR) + ["", "", ""])[:3]
        for axis, value in (
            ("hazard", hazard),
            ("tactic", tactic),
            ("kind", kind),
            ("cell", f"{hazard} x {tactic}"),
        ):
            by[axis][value] = by[axis].get(value, 0) + int(n)
    accepted = sum(by["kind"].values())
    judged = state.get("judged_by_tactic") or {}
    not_a_request = {
        tactic: round(
            judged.get(f"{tactic}{GRID_SEPARATOR}format:prompt_not_a_user_request", 0) / n, 4
        )
        for tactic, n in sorted(judged.items())
        if GRID_SEPARATOR not in tactic and n
    }
    return {
        **{f"accepted_by_{axis}": dict(sorted(counts.items())) for axis, counts in by.items()},
        "benign_share": round(by["kind"].get("benign", 0) / accepted, 4) if accepted else 0.0,
        "judged_by_tactic": {
            t: int(n) for t, n in sorted(judged.items()) if GRID_SEPARATOR not in t
        },
        "not_a_user_request_by_tactic": not_a_request,
    }


def advice_stats(state: dict[str, Any]) -> dict[str, Any]:
    """Advice used by source, and the advisor's items discarded by reason (with a warning)."""
    by_source = dict(state.get("advice_sources") or {})
    discarded = dict(sorted((state.get("discarded_advice") or {}).items(), key=lambda kv: -kv[1]))
    proposed = by_source.get("advisor", 0) + sum(discarded.values())
    share = sum(discarded.values()) / proposed if proposed else 0.0
    return {
        "used_by_source": by_source,
        "discarded_by_reason": discarded,
        "discarded_share": round(share, 4),
        "warning": discarded_warning(share, discarded)
        if share > DISCARDED_ADVICE_WARNING_SHARE
        else None,
    }


def discarded_warning(share: float, discarded: dict[str, int]) -> str:
    """One line saying that most of the advisor's advice was thrown away, and why."""
    reason = next(iter(discarded), "unknown")
    return (
        f"{share:.0%} of the advisor's advice items were discarded (mostly {reason}); the run is "
        "steered by fallback advice from coverage statistics, not by the advisor"
    )
