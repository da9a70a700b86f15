"""Run statistics (``stats.json``): calls, tokens, time, acceptance by reason."""

from __future__ import annotations

from typing import Any

from agents.models import transport_faults
from graph.state import total_calls, usage_total


def build_stats(state: dict[str, Any], seconds: float, stop_reason: str | None) -> dict[str, Any]:
    """Statistics of a run from its state; ``seconds`` is the wall time of this process's part."""
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
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "tokens_per_accepted_item": round((tokens_in + tokens_out) / accepted, 1)
        if accepted
        else None,
        "usage_by_role": {
            role: {key: round(value, 2) for key, value in counts.items()}
            for role, counts in usage.items()
        },
        "seconds": round(seconds, 2),
        "stop_reason": stop_reason,
        "transport_faults": transport_faults(),
    }
