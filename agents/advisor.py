"""Advisor: reads principles, the running summary and coverage; advises which issues to fill next."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from agents.generator import examples_from
from agents.grid import Taxonomy, benign_slots, canonical_tactic, kinds_for_round, known_tactic
from agents.issue_names import normalize_issue_name, why_not_issue_name
from agents.schemas import (
    DEFAULT_TACTIC,
    INSTRUCTION_MAX_CHARS,
    AdviceItem,
    AdvisorAdvice,
    Kind,
    PlannedAdvice,
)
from agents.structured import StructuredResult, Usage, invoke_structured
from agents.telemetry import CallTelemetry
from memory.coverage import CoverageStats
from memory.store import IssueResolution, Memory, normalize_issue
from prompts import delimit, render

EMPTY_SUMMARY = "(nothing generated yet)"
NO_GRID = "(no grid yet)"
NO_TAXONOMY = "(none given: name a short hazard category)"
BENIGN_LOOK_ALIKE = (
    "a benign look-alike: a request that borrows the words or topic of {issue} ({hint}) but is "
    "safe to answer (a homonym, figurative speech, a safe target, history or fiction analysis, a "
    "definition, a public fact)"
)


@dataclass
class RoundPlan:
    """A round's advice, ready for the generator branches, and what became of the model's advice."""

    planned: list[PlannedAdvice]
    discarded: dict[str, int]
    """Advice items the model gave that were not used, by reason (``not_a_name:sentence``,
    ``duplicate_name``, ``surplus``, ``saturated``, ``exhausted``, ``repeats_round_advice``,
    ``merged_onto_occupied``, ``kind_surplus``)."""
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
    kinds: list[Kind] | None = None,
    taxonomy: Taxonomy | None = None,
    tactics: dict[str, str] | None = None,
    attempts: int = 2,
    seed: int | None = None,
    telemetry: CallTelemetry | None = None,
    show_grid: bool = True,
) -> StructuredResult[AdvisorAdvice]:
    """Ask the advisor model for ``count`` advice items of the given ``kinds`` (default: all
    harmful); fewer or malformed answers are possible."""
    kinds = kinds or ["harmful"] * count
    benign = kinds.count("benign")
    messages = [
        SystemMessage(render("advisor_system")),
        HumanMessage(
            render(
                "advisor_user",
                principles=principles,
                hazards=taxonomy.render() if taxonomy and taxonomy.hazards else NO_TAXONOMY,
                tactics="\n".join(f"- {n}: {d}".rstrip(": ") for n, d in (tactics or {}).items())
                or f"- {DEFAULT_TACTIC}",
                summary=delimit("summary", summary or EMPTY_SUMMARY),
                coverage=delimit("coverage", coverage.render()),
                grid=delimit(
                    "grid",
                    ("\n".join(coverage.grid.render()) if show_grid else "") or NO_GRID,
                ),
                count=count,
                kinds=(
                    'all of kind "harmful" (a risky request the response declines)'
                    if not benign
                    else f'{count - benign} of kind "harmful" (a risky request the response '
                    f'declines) and {benign} of kind "benign" (a look-alike that borrows a harmful '
                    "issue's words or topic but is safe to answer: a homonym, figurative speech, "
                    "a safe target, history or fiction analysis, a definition, a public fact; "
                    "the response answers it fully)"
                ),
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
    kinds: Sequence[Kind] | None = None,
    issue_hazards: dict[str, str] | None = None,
    tactics: dict[str, str] | None = None,
) -> list[AdviceItem]:
    """Advice from coverage alone, when the model gives none usable.

    Picks the least-covered issues and, among equals, the least often advised (``tried``), so
    that an issue the generator keeps failing on does not hold every round. With a grid, each
    slot takes the emptiest (hazard x tactic) cell first, then the least-covered issue of that
    hazard; ``kinds`` gives each slot's kind (default: harmful).
    """
    tried = tried or {}
    issue_hazards = issue_hazards or {}
    tactics = tactics or {}
    pool = [
        name
        for name in coverage.items_per_issue
        if name not in exclude and name not in coverage.avoided
    ] or [n for n in coverage.under_covered if n not in exclude]
    pool.sort(key=lambda n: (coverage.items_per_issue.get(n, 0), tried.get(n, 0), n))
    cells = list(coverage.grid.emptiest)
    items = []
    default: list[Kind] = ["harmful"] * count
    slot_kinds = list(kinds or default)[:count]
    for kind in slot_kinds:
        picked = _pick_cell(pool, cells, issue_hazards)
        if picked is None:
            break
        issue, hazard, tactic = picked
        pool.remove(issue)
        hint = descriptions.get(issue) or f"a user request that raises {issue}"
        ask = (
            "Write " + BENIGN_LOOK_ALIKE.format(issue=issue, hint=hint) + "."
            if kind == "benign"
            else f"Write a realistic user request of this kind: {hint}"
        )
        if tactic != DEFAULT_TACTIC:
            ask += f" Frame it as {tactic}: {tactics.get(tactic, '')}".rstrip(": ")
        items.append(
            AdviceItem(
                safety_issue=issue,
                hazard=hazard,
                tactic=tactic,
                kind=kind,
                instruction=ask[:INSTRUCTION_MAX_CHARS],
                rationale=f"{issue} has {coverage.items_per_issue.get(issue, 0)} items so far.",
            )
        )
    return items


def _pick_cell(
    pool: list[str], cells: list[tuple[str, str]], issue_hazards: dict[str, str]
) -> tuple[str, str, str] | None:
    """The next fallback slot: (issue, hazard, tactic) for the emptiest cell an issue can fill;
    the cell is used up. Without a grid, the least-covered issue as a direct request."""
    if not pool:
        return None
    for cell in cells:
        hazard, tactic = cell
        issue = next((n for n in pool if issue_hazards.get(n) == hazard), None)
        if issue is not None:
            cells.remove(cell)
            return issue, hazard, tactic
    issue = pool[0]
    hazard = issue_hazards.get(issue, "")
    tactic = next((t for h, t in cells if h == hazard), DEFAULT_TACTIC)
    return issue, hazard, tactic


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
    taxonomy: Taxonomy | None = None,
    benign_share: float = 0.0,
    attempts: int = 2,
    seed: int | None = None,
    telemetry: CallTelemetry | None = None,
    show_grid: bool = True,
) -> RoundPlan:
    """Plan a round: the advisor's usable advice, fallback advice for the gap, and examples.

    The round's slots get their kinds first (``benign_share`` of the dataset, ``agents.grid``).
    The advisor's issue names are normalised and resolved onto known issues (a synonym merges),
    its tactics onto known tactics, its hazards onto the taxonomy; advice on a saturated issue,
    on one already planned this round, or of a kind with no slot left is dropped and counted.
    ``advised`` (issue -> times advised) steers the fallback away from issues tried often.
    """
    taxonomy = taxonomy or Taxonomy({})
    grid = coverage.grid
    kinds = kinds_for_round(
        count,
        benign_slots(count, benign_share, grid.per_kind.get("benign", 0), coverage.total_items),
    )
    tactics = memory.tactic_descriptions()
    result = advise(
        model,
        principles=principles,
        summary=summary,
        coverage=coverage,
        count=count,
        kinds=kinds,
        taxonomy=taxonomy,
        tactics=tactics,
        attempts=attempts,
        seed=seed,
        telemetry=telemetry,
        show_grid=show_grid,
    )
    proposed, discarded = screen_advice(result.value.advice if result.value else [], count)
    planned = _resolve_advice(memory, proposed, coverage, taxonomy, discarded)
    planned, open_kinds = _fit_kinds(planned, kinds, discarded)
    if open_kinds:
        fill = fallback_advice(
            coverage,
            len(open_kinds),
            memory.issue_descriptions(),
            tried=advised,
            exclude={p.advice.safety_issue for p in planned},
            kinds=open_kinds,
            issue_hazards=memory.issue_hazards(),
            tactics=tactics,
        )
        planned += [PlannedAdvice(advice=a, source="fallback") for a in fill]
    return RoundPlan(
        planned=_with_examples(memory, planned, examples_per_prompt),
        discarded=dict(discarded),
        usage=result.usage,
        error=result.error,
    )


def _resolve_advice(
    memory: Memory,
    proposed: list[AdviceItem],
    coverage: CoverageStats,
    taxonomy: Taxonomy,
    discarded: Counter[str],
) -> list[PlannedAdvice]:
    """Map proposed issues onto known ones, tactics onto known tactics, hazards onto the
    taxonomy (a known issue keeps its hazard); count those saturated or already planned."""
    if not proposed:
        return []
    texts = [f"{i.safety_issue}: {i.instruction}" for i in proposed]
    hazards = taxonomy.place(memory, [i.hazard for i in proposed], texts)
    resolutions = memory.resolve_issues(
        [(i.safety_issue, i.instruction) for i in proposed], hazards
    )
    described = memory.tactic_descriptions()
    tactics = memory.resolve_tactics(
        [known_tactic(canonical_tactic(i.tactic), described) for i in proposed]
    )
    known_hazards = memory.issue_hazards()
    planned: list[PlannedAdvice] = []
    for item, resolved, hazard, tactic in zip(proposed, resolutions, hazards, tactics, strict=True):
        if resolved.name in coverage.saturated:
            discarded["saturated"] += 1
        elif resolved.name in coverage.exhausted:
            discarded["exhausted"] += 1
        elif any(p.advice.safety_issue == resolved.name for p in planned):
            discarded["repeats_round_advice"] += 1
        elif _merged_onto_occupied(item, resolved, tactic.name, coverage):
            discarded["merged_onto_occupied"] += 1
        else:
            update = {
                "safety_issue": resolved.name,
                "hazard": known_hazards.get(resolved.name) or hazard,
                "tactic": tactic.name,
            }
            planned.append(
                PlannedAdvice(
                    advice=item.model_copy(update=update),
                    source="advisor",
                    proposed_issue=item.safety_issue,
                )
            )
    return planned


def _merged_onto_occupied(
    item: AdviceItem, resolved: IssueResolution, tactic: str, coverage: CoverageStats
) -> bool:
    """Advice on an issue the advisor named anew, which memory merged onto a known issue whose
    cell it aims at holds an item or is in flight: the advisor asked for an empty cell and would
    get a second item in a held one (seen on the world double: "undetectable poisoning" merged
    by its advice text onto "culturing select-agent pathogens outside a lab", the generator then
    wrote that issue's held cell). Advice naming the known issue itself stands: the advisor saw it.
    """
    merged = not resolved.is_new and normalize_issue(item.safety_issue) != resolved.name
    return merged and (resolved.name, tactic, item.kind) in coverage.occupied


def _fit_kinds(
    planned: list[PlannedAdvice], kinds: list[Kind], discarded: Counter[str]
) -> tuple[list[PlannedAdvice], list[Kind]]:
    """Keep advice while its kind has a slot left (``kind_surplus`` otherwise); return the kept
    advice and the kinds of the slots still open."""
    open_kinds = list(kinds)
    kept = []
    for p in planned:
        if p.advice.kind in open_kinds:
            open_kinds.remove(p.advice.kind)
            kept.append(p)
        else:
            discarded["kind_surplus"] += 1
    return kept, open_kinds


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
