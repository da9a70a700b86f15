"""The loop's state, declared once. It carries what routing needs, not the dataset (that is on disk)."""

from __future__ import annotations

from typing import Annotated, Any

# pydantic (and so the LangGraph server, for Studio's input/output schemas) refuses
# typing.TypedDict on Python < 3.12.
from typing_extensions import TypedDict

from agents.schemas import AdviceItem, Candidate, Example, PlannedAdvice


def extend_or_clear(left: list[Candidate] | None, right: list[Candidate] | None) -> list[Candidate]:
    """Fan-in reducer for candidates: branches append; the critic sends ``None`` to clear."""
    if right is None:
        return []
    return [*(left or []), *right]


def add_counts(left: dict[str, float] | None, right: dict[str, float] | None) -> dict[str, float]:
    """Add per-key counters (rejections by reason, usage)."""
    merged = dict(left or {})
    for key, value in (right or {}).items():
        merged[key] = merged.get(key, 0) + value
    return merged


def add_usage(
    left: dict[str, dict[str, float]] | None, right: dict[str, dict[str, float]] | None
) -> dict[str, dict[str, float]]:
    """Add per-role usage counters (``calls``, ``input_tokens``, ``output_tokens``, ``call_seconds``)."""
    merged = {role: dict(counts) for role, counts in (left or {}).items()}
    for role, counts in (right or {}).items():
        merged[role] = add_counts(merged.get(role), counts)
    return merged


class LoopState(TypedDict, total=False):
    """State of one generation run."""

    round: int
    """Current round number, starting at 1 once the first advice is written."""
    accepted: int
    """Items accepted so far (the same count as lines in ``dataset.jsonl``)."""
    candidates_seen: int
    """Candidates the critic has judged so far."""
    advice: list[PlannedAdvice]
    """This round's advice items (one generator branch each)."""
    round_accepted: list[Candidate]
    """Candidates accepted this round (what the summarizer folds in)."""
    candidates: Annotated[list[Candidate], extend_or_clear]
    """This round's candidates, gathered from the generator branches."""
    advised: Annotated[dict[str, int], add_counts]
    """How often each issue has been advised (the fallback prefers the least tried)."""
    rejections: Annotated[dict[str, int], add_counts]
    """Rejected candidates by reason, whole run."""
    usage: Annotated[dict[str, dict[str, float]], add_usage]
    """LLM calls and tokens by role, whole run."""
    recent_redundancy_rate: float
    """Share of last round's candidates rejected as duplicates."""
    summary: str
    """The running summary of covered safety issues (bounded)."""
    stop_reason: str | None
    """Why the run ended: ``target reached`` or the budget that ran out."""


class GenerationTask(TypedDict):
    """Input of one generator branch (sent with ``Send``)."""

    advice: AdviceItem
    advice_source: str
    examples: list[Example]
    round: int
    branch: int


def usage_total(usage: dict[str, dict[str, float]] | None, key: str) -> int:
    """One usage counter (``calls``, ``input_tokens``, ``output_tokens``) summed over roles."""
    return int(sum(counts.get(key, 0) for counts in (usage or {}).values()))


def total_calls(state: dict[str, Any]) -> int:
    """LLM calls made so far, all roles."""
    return usage_total(state.get("usage"), "calls")
