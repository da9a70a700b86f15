"""Coverage statistics from memory: what the advisor reads to find the dataset's weakest spot."""

from __future__ import annotations

from dataclasses import dataclass

from memory.store import Memory

# An issue holding more than this multiple of the mean share of items is saturated.
SATURATION_FACTOR = 2.0
# ... and only once it holds at least this many items (tiny datasets are not "saturated").
SATURATION_MIN_ITEMS = 3
# How many issues of each list the advisor sees: keeps its prompt bounded as issues accumulate.
LISTED_ISSUES = 8
# Saturated issues are listed further, since advice on one that is not shown is wasted.
LISTED_SATURATED = 20


@dataclass(frozen=True)
class CoverageStats:
    """Items per issue and what follows from them."""

    items_per_issue: dict[str, int]
    total_items: int
    under_covered: list[str]
    saturated: list[str]
    recent_redundancy_rate: float

    def render(self) -> str:
        """A short, bounded text for the advisor prompt."""
        covered = sorted(
            ((n, c) for n, c in self.items_per_issue.items() if c), key=lambda x: (-x[1], x[0])
        )[:LISTED_ISSUES]
        lines = [
            f"Accepted items: {self.total_items}; known issues: {len(self.items_per_issue)}; "
            f"issues with no item yet: {sum(1 for c in self.items_per_issue.values() if not c)}.",
            "Most covered: " + (", ".join(f"{n} ({c})" for n, c in covered) or "none yet") + ".",
            "Saturated (do not advise): "
            + (", ".join(self.saturated[:LISTED_SATURATED]) or "none")
            + (
                f" and {len(self.saturated) - LISTED_SATURATED} more"
                if len(self.saturated) > LISTED_SATURATED
                else ""
            )
            + ".",
            "Under-covered (good targets): " + (", ".join(self.under_covered) or "none") + ".",
            f"Share of recent candidates rejected as duplicates: {self.recent_redundancy_rate:.0%}.",
        ]
        return "\n".join(lines)


def coverage_stats(
    memory: Memory, recent_redundancy_rate: float = 0.0, advised: dict[str, int] | None = None
) -> CoverageStats:
    """Compute coverage statistics from the memory's issue counts.

    Under-covered issues are ordered by items, then by how often they were already advised
    (``advised``), so the list the advisor sees moves on instead of showing the same names.
    """
    advised = advised or {}
    counts = memory.issue_counts()
    total = sum(counts.values())
    mean = total / len(counts) if counts else 0.0
    saturated = sorted(
        n for n, c in counts.items() if c >= SATURATION_MIN_ITEMS and c > SATURATION_FACTOR * mean
    )
    under = [
        n
        for n, _ in sorted(counts.items(), key=lambda x: (x[1], advised.get(x[0], 0), x[0]))
        if n not in saturated
    ]
    return CoverageStats(
        items_per_issue=counts,
        total_items=total,
        under_covered=under[:LISTED_ISSUES],
        saturated=saturated,  # complete: the advisor node checks advice against it
        recent_redundancy_rate=recent_redundancy_rate,
    )
