"""Advisor: reads principles, the running summary and coverage; advises which issues to fill next."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from agents.generator import examples_from
from agents.issue_names import normalize_issue_name, why_not_issue_name
from agents.schemas import INSTRUCTION_MAX_CHARS, AdviceItem, AdvisorAdvice, PlannedAdvice
from agents.structured import StructuredResult, Usage, invoke_structured
from agents.telemetry import CallTelemetry
from memory.coverage import CoverageStats
from memory.store import Memory
from prompts import delimit, render

EMPTY_SUMMARY = "(nothing generated yet)"


@dataclass
class RoundPlan:
    """A round's advice, ready for the generator branches, and what became of the model's advice."""

    planned: list[PlannedAdvice]
    discarded: dict[str, int]
    """Advice items the model gave that were not used, by reason (``not_a_name:sentence``,
    ``duplicate_name``, ``surplus``, ``saturated``, ``repeats_round_advice``)."""
    usage: Usage
    error: str | None
    """Why the advisor's answer was unusable (then every item is fallback advice)."""


def advise(
    model: BaseChatModel,
    *,
    principles: str,
    summary: str,
    coverage: CoverageStats,
    count: int,
    attempts: int = 2,
    seed: int | None = None,
    telemetry: CallTelemetry | None = None,
) -> StructuredResult[AdvisorAdvice]:
    """Ask the advisor model for ``count`` advice items (fewer or malformed answers are possible)."""
    messages = [
        SystemMessage(render("advisor_system")),
        HumanMessage(
            render(
                "advisor_user",
                principles=principles,
                summary=delimit("summary", summary or EMPTY_SUMMARY),
                coverage=delimit("coverage", coverage.render()),
                count=count,
            )
        ),
    ]
    return invoke_structured(
        model, messages, AdvisorAdvice, attempts=attempts, seed=seed, telemetry=telemetry
    )


def fallback_advice(
    coverage: CoverageStats,
    count: int,
    descriptions: dict[str, str],
    *,
    tried: dict[str, int] | None = None,
    exclude: set[str] | frozenset[str] = frozenset(),
) -> list[AdviceItem]:
    """Advice from coverage alone, when the model gives none usable.

    Picks the least-covered issues and, among equals, the least often advised (``tried``), so
    that an issue the generator keeps failing on does not hold every round.
    """
    tried = tried or {}
    pool = [
        name
        for name in coverage.items_per_issue
        if name not in exclude and name not in coverage.saturated
    ] or [n for n in coverage.under_covered if n not in exclude]
    pool.sort(key=lambda n: (coverage.items_per_issue.get(n, 0), tried.get(n, 0), n))
    items = []
    for issue in pool[:count]:
        hint = descriptions.get(issue) or f"a user request that raises {issue}"
        items.append(
            AdviceItem(
                safety_issue=issue,
                instruction=f"Write a realistic user request of this kind: {hint}"[
                    :INSTRUCTION_MAX_CHARS
                ],
                rationale=f"{issue} has {coverage.items_per_issue.get(issue, 0)} items so far.",
            )
        )
    return items


def distinct_advice(items: list[AdviceItem], count: int) -> list[AdviceItem]:
    """Keep the first ``count`` items with distinct issue names, names in canonical form."""
    return screen_advice(items, count)[0]


def screen_advice(items: list[AdviceItem], count: int) -> tuple[list[AdviceItem], Counter[str]]:
    """The first ``count`` items with distinct issue names, and the others counted by reason.

    Names are normalised (``agents.issue_names``); an item whose name is not a name counts as
    ``not_a_name:<why>``, a repeat of a kept name as ``duplicate_name``, one past ``count`` as
    ``surplus``.
    """
    kept: list[AdviceItem] = []
    discarded: Counter[str] = Counter()
    for item in items:
        name = normalize_issue_name(item.safety_issue)
        if name is None:
            discarded[f"not_a_name:{why_not_issue_name(item.safety_issue)}"] += 1
        elif any(k.safety_issue == name for k in kept):
            discarded["duplicate_name"] += 1
        elif len(kept) >= count:
            discarded["surplus"] += 1
        else:
            kept.append(item.model_copy(update={"safety_issue": name}))
    return kept, discarded


def plan_round(
    model: BaseChatModel,
    memory: Memory,
    *,
    principles: str,
    summary: str,
    coverage: CoverageStats,
    advised: dict[str, int],
    count: int,
    examples_per_prompt: int,
    attempts: int = 2,
    seed: int | None = None,
    telemetry: CallTelemetry | None = None,
) -> RoundPlan:
    """Plan a round: the advisor's usable advice, fallback advice for the gap, and examples.

    The advisor's issue names are normalised and resolved onto known issues (a synonym merges);
    advice on a saturated issue, or on one already planned this round, is dropped and counted.
    ``advised`` (issue -> times advised) steers the fallback away from issues tried often.
    """
    result = advise(
        model,
        principles=principles,
        summary=summary,
        coverage=coverage,
        count=count,
        attempts=attempts,
        seed=seed,
        telemetry=telemetry,
    )
    proposed, discarded = screen_advice(result.value.advice if result.value else [], count)
    planned = _resolve_advice(memory, proposed, coverage, discarded)
    if len(planned) < count:
        fill = fallback_advice(
            coverage,
            count - len(planned),
            memory.issue_descriptions(),
            tried=advised,
            exclude={p.advice.safety_issue for p in planned},
        )
        planned += [PlannedAdvice(advice=a, source="fallback") for a in fill]
    return RoundPlan(
        planned=_with_examples(memory, planned, examples_per_prompt),
        discarded=dict(discarded),
        usage=result.usage,
        error=result.error,
    )


def _resolve_advice(
    memory: Memory, proposed: list[AdviceItem], coverage: CoverageStats, discarded: Counter[str]
) -> list[PlannedAdvice]:
    """Map proposed issues onto known ones; count those saturated or already planned."""
    planned: list[PlannedAdvice] = []
    resolutions = memory.resolve_issues([(i.safety_issue, i.instruction) for i in proposed])
    for item, resolved in zip(proposed, resolutions, strict=True):
        if resolved.name in coverage.saturated:
            discarded["saturated"] += 1
        elif any(p.advice.safety_issue == resolved.name for p in planned):
            discarded["repeats_round_advice"] += 1
        else:
            planned.append(
                PlannedAdvice(
                    advice=item.model_copy(update={"safety_issue": resolved.name}),
                    source="advisor",
                    proposed_issue=item.safety_issue,
                )
            )
    return planned


def _with_examples(
    memory: Memory, planned: list[PlannedAdvice], examples_per_prompt: int
) -> list[PlannedAdvice]:
    """Attach each item's in-context examples, all in one batched memory query."""
    if not planned:
        return []
    queries = memory.embed([f"{p.advice.safety_issue}: {p.advice.instruction}" for p in planned])
    found = memory.diverse_examples_many(queries, examples_per_prompt)
    return [
        p.model_copy(update={"examples": examples_from(neighbors)})
        for p, neighbors in zip(planned, found, strict=True)
    ]
