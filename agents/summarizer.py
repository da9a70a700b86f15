"""Summarizer: folds a round's accepted items into a running summary that stays bounded."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from agents.advisor import EMPTY_SUMMARY
from agents.schemas import Candidate, SummaryUpdate, summary_schema
from agents.structured import StructuredResult, invoke_structured
from agents.telemetry import CallTelemetry
from memory.coverage import CoverageStats
from prompts import delimit, render

# Items shown to the summarizer per round: its prompt must not grow with the round size either.
MAX_ITEMS_SHOWN = 12
# Issues named of the items other workers of a shared memory accepted since the last summary
# (most items first): bounded like the items.
MAX_OTHER_ISSUES = 24


def summarize(
    model: BaseChatModel,
    *,
    previous: str,
    accepted: Sequence[Candidate],
    coverage: CoverageStats,
    max_chars: int,
    attempts: int = 2,
    seed: int | None = None,
    telemetry: CallTelemetry | None = None,
    by_other_workers: dict[str, int] | None = None,
) -> StructuredResult[str]:
    """The new summary (at most ``max_chars``) with its usage, and an error if the model failed.

    ``by_other_workers``: items other workers of a shared memory accepted since the last summary,
    per issue (named to the model, so the summary covers the whole dataset, not one worker's).

    On a malformed answer the summary falls back to one built from coverage statistics, so the
    loop always has a bounded, truthful summary (``value`` is never ``None``).
    """
    items = "\n".join(
        delimit("item", f"{c.safety_issue}: {c.prompt}") for c in accepted[:MAX_ITEMS_SHOWN]
    )
    if rest := accepted[MAX_ITEMS_SHOWN:]:  # a large round: the others by issue, bounded by issues
        by_issue = Counter(c.safety_issue for c in rest).most_common()
        items += (
            "\nAlso accepted this round, by issue: "
            + ", ".join(f"{name} ({n})" for name, n in by_issue)
            + "."
        )
    if others := Counter(by_other_workers or {}).most_common():
        shown = others[:MAX_OTHER_ISSUES]
        items += (
            "\nAccepted by other workers since the last summary, by issue: "
            + ", ".join(f"{name} ({n})" for name, n in shown)
            + (f" and {len(others) - len(shown)} more issues" if len(others) > len(shown) else "")
            + "."
        )
    messages = [
        SystemMessage(render("summarizer_system")),
        HumanMessage(
            render(
                "summarizer_user",
                summary=delimit("summary", previous or EMPTY_SUMMARY),
                items=items or "(none)",
                coverage=delimit("coverage", coverage.render()),
                grid=delimit("grid", "\n".join(coverage.grid.render()) or "(no grid yet)"),
                max_chars=max_chars,
            )
        ),
    ]
    result = invoke_structured(
        model,
        messages,
        SummaryUpdate,
        attempts=attempts,
        seed=seed,
        server_schema=summary_schema(max_chars),
        telemetry=telemetry,
    )
    text = result.value.summary.strip() if result.value else ""
    if not text:
        fallback = bound(coverage_summary(coverage), max_chars)
        return StructuredResult(fallback, result.error or "empty summary", result.usage)
    return StructuredResult(bound(text, max_chars), None, result.usage)


def coverage_summary(coverage: CoverageStats) -> str:
    """A summary written from coverage statistics alone."""
    return " ".join(["Coverage so far.", coverage.render(), *coverage.grid.render()])


def bound(text: str, max_chars: int) -> str:
    """Cut ``text`` to ``max_chars`` at a word boundary."""
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 1].rsplit(" ", 1)[0]
    return cut + "…"
