"""The loop's state, declared once. It carries what routing needs, not the dataset (that is on disk)."""

from __future__ import annotations

import operator
from typing import Annotated, Any

# pydantic (and so the LangGraph server, for Studio's input/output schemas) refuses
# typing.TypedDict on Python < 3.12.
from typing_extensions import TypedDict

from agents.schemas import Candidate, PlannedAdvice


def add_counts(left: dict[str, float] | None, right: dict[str, float] | None) -> dict[str, float]:
    """Add per-key counters (rejections by reason, usage)."""
    merged = dict(left or {})
    for key, value in (right or {}).items():
        merged[key] = merged.get(key, 0) + value
    return merged


def extend_runs(left: dict[str, int] | None, right: dict[str, int] | None) -> dict[str, int]:
    """Extend per-key runs of events: a positive value adds to the key's run, 0 ends it."""
    merged = dict(left or {})
    for key, value in (right or {}).items():
        merged[key] = merged.get(key, 0) + value if value else 0
    return merged


def add_usage(
    left: dict[str, dict[str, float]] | None, right: dict[str, dict[str, float]] | None
) -> dict[str, dict[str, float]]:
    """Add per-role usage counters (``calls``, ``input_tokens``, ``output_tokens``, ``call_seconds``)."""
    merged = {role: dict(counts) for role, counts in (left or {}).items()}
    for role, counts in (right or {}).items():
        merged[role] = add_counts(merged.get(role), counts)
    return merged


class GenerationTask(TypedDict):
    """One generator task: an advice item (examples included), the round that planned it and its
    branch number in that round (its candidates' ids derive from both)."""

    planned: PlannedAdvice
    round: int
    branch: int


class LoopState(TypedDict, total=False):
    """State of one generation run."""

    strategy: str
    """``data-advisor`` or ``self-instruct`` (the context's; routes read it from here)."""
    round: int
    """Current round number, starting at 1 once the first advice is written."""
    accepted: int
    """Items accepted so far (the same count as lines in ``dataset.jsonl``)."""
    candidates_seen: int
    """Candidates the critic has judged so far."""
    advice: list[PlannedAdvice]
    """The advice items planned this round (each becomes a generator task of the backlog)."""
    backlog: list[GenerationTask]
    """Generator tasks planned and not yet collected, oldest first: they run in the background
    (``graph.runtime.pipeline``); a round collects the oldest ones."""
    round_accepted: list[Candidate]
    """Candidates accepted this round (what the summarizer folds in)."""
    candidates: Annotated[list[Candidate], operator.add]
    """This round's candidates, gathered from the generator branches (the critic clears them
    with ``Overwrite([])``)."""
    advised: Annotated[dict[str, int], add_counts]
    """How often each issue has been advised (the fallback prefers the least tried)."""
    listed: Annotated[dict[str, int], add_counts]
    """How often each issue was listed to the advisor as under-covered (the list moves on)."""
    dry: Annotated[dict[str, int], extend_runs]
    """Per issue, its candidates rejected as duplicates since it last had one accepted: a long run
    means its remaining requests repeat its items, and the advisor no longer advises it
    (``memory.coverage.EXHAUSTED_AFTER``)."""
    advice_sources: Annotated[dict[str, int], add_counts]
    """Advice items used, by source (advisor, fallback, self-instruct), whole run."""
    discarded_advice: Annotated[dict[str, int], add_counts]
    """The advisor's advice items discarded, by reason, whole run."""
    rejections: Annotated[dict[str, int], add_counts]
    """Rejected candidates by reason, whole run."""
    accepted_cells: Annotated[dict[str, int], add_counts]
    """Accepted items per grid cell, keyed ``hazard|tactic|kind`` (``grid_key``), whole run."""
    refusals: Annotated[dict[str, int], add_counts]
    """Generator calls that refused, by hazard and by ``round N``, and the generator tasks each
    round collected (``round N tasks``): the stop rule reads these."""
    pairs: Annotated[dict[str, int], add_counts]
    """Preference pairs by ``pair_type``, items left without one by ``missing:<why>``, responses
    rewritten by the responder (``repaired``) and contrast calls (``contrast_calls``), whole run."""
    judged_by_tactic: Annotated[dict[str, int], add_counts]
    """Candidates judged per tactic, and rejected per ``tactic|reason``, whole run."""
    usage: Annotated[dict[str, dict[str, float]], add_usage]
    """LLM calls and tokens by role, whole run."""
    recent_redundancy_rate: float
    """Share of last round's candidates rejected as duplicates."""
    summary: str
    """The running summary of covered safety issues (bounded)."""
    unpaired: list[Candidate]
    """Items accepted whose preference pairs are still being written (a run that plans ahead
    writes them in the background and records them at a later step; resume starts them again)."""
    unsummarized: list[Candidate]
    """Items accepted and not yet folded into ``summary`` (a run that plans ahead summarizes in
    the background: the summary lags a round or two)."""
    stop_reason: str | None
    """Why the run ended: ``target reached`` or the budget that ran out."""


class RunInput(TypedDict):
    """What a run takes as input: nothing; every parameter is in the context (``RunConfig``)."""


class RunOutput(TypedDict, total=False):
    """What a run returns: where it stopped and what it cost (the dataset is on disk)."""

    round: int
    accepted: int
    candidates_seen: int
    rejections: dict[str, int]
    usage: dict[str, dict[str, float]]
    summary: str
    stop_reason: str | None


GRID_SEPARATOR = "|"


def grid_key(*parts: str) -> str:
    """A state key for a tuple of grid coordinates (state keys must be strings)."""
    return GRID_SEPARATOR.join(parts)


def usage_total(usage: dict[str, dict[str, float]] | None, key: str) -> int:
    """One usage counter (``calls``, ``input_tokens``, ``output_tokens``) summed over roles."""
    return int(sum(counts.get(key, 0) for counts in (usage or {}).values()))


def total_calls(state: dict[str, Any]) -> int:
    """LLM calls made so far, all roles."""
    return usage_total(state.get("usage"), "calls")
