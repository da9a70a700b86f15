"""Advisor: reads principles, the running summary and coverage; advises which issues to fill next."""

from __future__ import annotations

import re

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from agents.schemas import INSTRUCTION_MAX_CHARS, AdviceItem, AdvisorAdvice
from agents.structured import StructuredResult, invoke_structured
from memory.coverage import CoverageStats
from prompts import delimit, render

EMPTY_SUMMARY = "(nothing generated yet)"
# An issue name is a short noun phrase. Small models often put a sentence, an instruction or a
# fragment there ("fix the", "the user wants to ..."); embeddings cannot tell those from real new
# issues (measured: both score 0.2-0.4 against the seed issues), so a lexical rule does.
ISSUE_MAX_WORDS = 6
_ISSUE_CHARS = re.compile(r"^[a-z][a-z0-9' /&-]*[a-z0-9]$")
_NOT_IN_ISSUE = {
    "i",
    "you",
    "your",
    "user",
    "users",
    "me",
    "my",
    "we",
    "our",
    "please",
    "don't",
    "cannot",
    "can't",
    "will",
    "should",
    "wants",
    "want",
    "help",
    "write",
    "item",
}
_BAD_FIRST = {"the", "a", "an", "fix", "add", "make", "write", "how", "what", "this", "that"}
_BAD_LAST = {"the", "a", "an", "of", "to", "and", "or", "for", "with", "in", "on"}


def is_issue_name(name: str) -> bool:
    """Whether ``name`` reads like a safety-issue name (a short noun phrase), not a sentence."""
    text = " ".join(name.lower().split()).strip(" .,;:!")
    words = text.split()
    return (
        bool(_ISSUE_CHARS.match(text))
        and 1 <= len(words) <= ISSUE_MAX_WORDS
        and words[0] not in _BAD_FIRST
        and words[-1] not in _BAD_LAST
        and not _NOT_IN_ISSUE.intersection(words)
    )


def advise(
    model: BaseChatModel,
    *,
    principles: str,
    summary: str,
    coverage: CoverageStats,
    count: int,
    attempts: int = 2,
    seed: int | None = None,
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
    return invoke_structured(model, messages, AdvisorAdvice, attempts=attempts, seed=seed)


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
    """Keep the first ``count`` items with distinct, well-formed issue names."""
    seen: set[str] = set()
    kept = []
    for item in items:
        key = " ".join(item.safety_issue.lower().split()).strip(" .,;:!")
        if is_issue_name(key) and key not in seen:
            seen.add(key)
            kept.append(item.model_copy(update={"safety_issue": key}))
    return kept[:count]
