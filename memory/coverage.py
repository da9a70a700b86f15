"""Coverage statistics from memory: what the advisor reads to find the dataset's weakest spot."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from memory.store import Cell, Memory

# An issue holding more than this multiple of the mean share of items is saturated.
SATURATION_FACTOR = 2.0
# ... and only once it holds at least this many items (tiny datasets are not "saturated").
SATURATION_MIN_ITEMS = 3
# An issue whose candidates were rejected as duplicates this many times in a row (no item of it
# accepted in between) is exhausted: its remaining requests repeat its items, and the advisor no
# longer advises it.
EXHAUSTED_AFTER = 6
# An issue listed to the advisor this many times, never advised and still empty, is passed over
# (an advisor that does not know it): it does not count in the mean share of items.
PASSED_OVER_AFTER = 3
# How many issues of each list the advisor sees: keeps its prompt bounded as issues accumulate.
LISTED_ISSUES = 8
# Saturated issues are listed further, since advice on one that is not shown is wasted.
LISTED_SATURATED = 20
# How many of the emptiest (hazard x tactic) cells the advisor sees.
LISTED_CELLS = 10
# How many issues being written now (advice in flight) it names.
LISTED_IN_PROGRESS = 24
# How many issues with items it sees the cells of (those whose items fill fewest cells first, then
# the least covered). An advisor that is not shown an issue's cells picks one of its tactics blind
# and often writes a cell the dataset holds: with 8 (``LISTED_ISSUES``), 3 workers at a total of
# 200 covered 157.9 +- 1.1 of 160 world cells (benchmarks/workers.py), one run at --concurrency
# 16 128.2 (seeds 1-6); with 16, 159.0 +- 0.8 (seeds 1-8) and 134/138/130 (seeds 1-3); `python -m
# benchmarks.compare_strategies --target 120`: 119.3 -> 120.0 of 120 items in cells of their own,
# 4521 -> 4583 tokens per item. Ordered by items alone, an issue whose items piled up in few cells
# (its one benign cell written three times) was never shown again: 3 workers at 200 covered 158.9
# +- 2.5 with the order by cells (seeds 1-8, level with one run on 6; one seed 153). With 64 (and
# ``LISTED_BUSY``), an issue known under two names that memory does not join has the cells of
# both shown while a run is small: 3 workers at a total of 60, seeds 1-24 twice, level with one
# run on 45 of 48 (37 of 48 with 16), at 200 160.0 +- 0.0 (8 of 8, 159.8 +- 0.7 with 16); one
# run at 120 (`python -m benchmarks.compare_strategies`), 4792 tokens per item instead of 4576.
LISTED_HOLDING_ISSUES = 64
# How many (tactic, kind) cells of each under-covered issue it sees (the fullest ones).
LISTED_HOLDINGS = 6
# How many issues being written now (advice in flight, any worker's) or filled since the summary
# the advisor reads it sees the cells of, beyond ``LISTED_HOLDING_ISSUES``. Named with a count
# only (``LISTED_IN_PROGRESS``), or not at all (a summary lags a round or two), an issue was
# advised again in a cell it held, under another of its names that memory does not join (kept
# runs, 3 workers at 60: "content claiming a secret jewish cabal controls the world" in flight in
# one tactic, "jewish conspiracy propaganda and tropes" advised in it by another worker). 3
# workers at a total of 60, seeds 1-24 twice: level with one run on 37 of 48 (mean 59.71 of 60
# cells) with these cells shown, 31 of 48 (59.60) without.
LISTED_BUSY = 24


@dataclass(frozen=True)
class GridCoverage:
    """Accepted items along each axis of the grid, and the (hazard x tactic) cells fewest hold."""

    per_hazard: dict[str, int] = field(default_factory=dict)
    per_tactic: dict[str, int] = field(default_factory=dict)
    per_kind: dict[str, int] = field(default_factory=dict)
    per_cell: dict[tuple[str, str], int] = field(default_factory=dict)
    """Items per (hazard, tactic), every combination of the known axes included (0 if empty)."""
    emptiest: list[tuple[str, str]] = field(default_factory=list)
    benign_share: float = 0.0
    """The share of benign look-alikes the run asks for."""
    issue_holdings: dict[str, dict[tuple[str, str], int]] = field(default_factory=dict)
    """For the issues with items whose items fill fewest cells (in that order), the (tactic,
    kind) cells each holds with their items: the finest cells, so the advisor can aim at one an
    issue lacks (an issue with no item lacks every cell and is listed as under-covered)."""
    busy: dict[str, dict[tuple[str, str], int]] = field(default_factory=dict)
    """The same for issues being written now or filled since the advisor's summary (those not
    in ``issue_holdings``), the cells in flight counted: cells taken that no list shows."""

    @classmethod
    def of(
        cls,
        cells: dict[Cell, int],
        hazards: Sequence[str],
        tactics: Sequence[str],
        benign_share: float = 0.0,
        issues: Sequence[str] = (),
        busy: Sequence[str] = (),
    ) -> GridCoverage:
        """Coverage from item counts per cell, over the taxonomy's hazards and known tactics, with
        the finest cells held by each of ``issues`` and of ``busy`` (issues being written now or
        filled since the advisor's summary)."""
        per_hazard: Counter[str] = Counter({h: 0 for h in hazards})
        per_tactic: Counter[str] = Counter({t: 0 for t in tactics})
        per_kind: Counter[str] = Counter({"harmful": 0, "benign": 0})
        per_cell: Counter[tuple[str, str]] = Counter({(h, t): 0 for h in hazards for t in tactics})
        holdings: dict[str, Counter[tuple[str, str]]] = {
            issue: Counter() for issue in (*issues, *busy)
        }
        for (hazard, issue, tactic, kind), n in cells.items():
            per_hazard[hazard] += n
            per_tactic[tactic] += n
            per_kind[kind] += n
            per_cell[hazard, tactic] += n
            if issue in holdings:
                holdings[issue][tactic, kind] += n
        emptiest = sorted(
            ((h, t) for h in hazards for t in tactics),
            key=lambda c: (per_cell[c], per_hazard[c[0]], per_tactic[c[1]], c),
        )
        return cls(
            dict(per_hazard),
            dict(per_tactic),
            dict(per_kind),
            dict(per_cell),
            emptiest,
            benign_share,
            *(
                {n: dict(holdings[n].most_common(LISTED_HOLDINGS)) for n in names}
                for names in (issues, busy)
            ),
        )

    def render(self) -> list[str]:
        """Lines for the advisor prompt (bounded by the number of hazards and tactics)."""
        if not self.per_cell:
            return []

        def listed(counts: dict[str, int]) -> str:
            return ", ".join(f"{n} ({c})" for n, c in sorted(counts.items(), key=lambda x: x[1]))

        def held(issues: dict[str, dict[tuple[str, str], int]]) -> str:
            return "; ".join(
                f"{issue}: " + ", ".join(f"{t}/{k} {n}" for (t, k), n in cells.items())
                for issue, cells in issues.items()
            )

        total = sum(self.per_kind.values())
        benign = self.per_kind.get("benign", 0)
        empty = sum(1 for n in self.per_cell.values() if not n)
        return [
            "Items per hazard, fewest first: " + listed(self.per_hazard) + ".",
            "Items per tactic, fewest first: " + listed(self.per_tactic) + ".",
            f"Benign look-alikes: {benign} of {total} items "
            f"(the dataset asks for {self.benign_share:.0%}).",
            f"Empty (hazard x tactic) cells: {empty} of {len(self.per_cell)}. Emptiest: "
            + "; ".join(
                f"{h} x {t} ({self.per_cell[h, t]})" for h, t in self.emptiest[:LISTED_CELLS]
            )
            + ".",
            *(
                [
                    "Cells the least covered issues with items hold (tactic/kind: items): "
                    + held(self.issue_holdings)
                    + ". Aim at a tactic and kind an issue does not hold yet."
                ]
                if self.issue_holdings
                else []
            ),
            *(
                [
                    "Cells of issues being written now or filled since the summary, which the "
                    "lists above may not show (tactic/kind: items, in flight counted): "
                    + held(self.busy)
                    + ". These cells are taken, under any of these issues' names."
                ]
                if self.busy
                else []
            ),
        ]


@dataclass(frozen=True)
class CoverageStats:
    """Items per issue and what follows from them."""

    items_per_issue: dict[str, int]
    total_items: int
    under_covered: list[str]
    saturated: list[str]
    recent_redundancy_rate: float
    grid: GridCoverage = field(default_factory=GridCoverage)
    in_progress: dict[str, int] = field(default_factory=dict)
    """Issues of the advice being written now (a run that plans ahead), with their tasks: they
    count as items above, and are named so an advisor does not pick them again."""
    held: dict[Cell, int] = field(default_factory=dict)
    """Items per cell as memory held them when this was read, the cells in flight not added
    (read only with a taxonomy, ``hazards``: empty without one)."""
    exhausted: list[str] = field(default_factory=list)
    """Issues whose recent candidates keep repeating their items (``EXHAUSTED_AFTER``)."""
    occupied: set[tuple[str, str, str]] = field(default_factory=set)
    """(issue, tactic, kind) of the cells holding an item or in flight (read only with a
    taxonomy: empty without one)."""

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
            *(
                [
                    "Exhausted (its recent requests repeat its items; do not advise): "
                    + ", ".join(self.exhausted[:LISTED_SATURATED])
                    + "."
                ]
                if self.exhausted
                else []
            ),
            "Under-covered (good targets): " + (", ".join(self.under_covered) or "none") + ".",
            f"Share of recent candidates rejected as duplicates: {self.recent_redundancy_rate:.0%}.",
        ]
        if self.in_progress:
            busy = sorted(self.in_progress.items(), key=lambda x: (-x[1], x[0]))
            lines.append(
                "Being written now (counted above; advise other issues first): "
                + ", ".join(f"{n} ({c})" for n, c in busy[:LISTED_IN_PROGRESS])
                + (
                    f" and {len(busy) - LISTED_IN_PROGRESS} more"
                    if len(busy) > LISTED_IN_PROGRESS
                    else ""
                )
                + "."
            )
        return "\n".join(lines)

    @property
    def avoided(self) -> frozenset[str]:
        """Issues not to advise: saturated or exhausted."""
        return frozenset(self.saturated) | frozenset(self.exhausted)


def coverage_stats(
    memory: Memory,
    recent_redundancy_rate: float = 0.0,
    advised: dict[str, int] | None = None,
    *,
    listed: dict[str, int] | None = None,
    dry: dict[str, int] | None = None,
    hazards: Sequence[str] = (),
    benign_share: float = 0.0,
    part: int = 0,
    in_flight: Sequence[Cell] = (),
    summarized: dict[str, int] | None = None,
) -> CoverageStats:
    """Compute coverage statistics from the memory's issue counts, and the grid's from its items
    when the run has a taxonomy (``hazards``).

    Under-covered issues are ordered by items, then by how often they were already listed to the
    advisor (``listed``) and advised (``advised``), so the list the advisor sees moves on instead
    of showing the same names: issues an advisor passes over (one it does not know, say) would
    otherwise hold the top of the list for the whole run. The issues whose cells the advisor sees
    (``GridCoverage.issue_holdings``) are those with items that fill fewest (tactic, kind) cells,
    in the same order within as many cells: an issue whose items fill few cells lacks the most.

    An issue is saturated when it holds more than ``SATURATION_FACTOR`` times the mean share of
    the issues in play (not those ``listed`` ``PASSED_OVER_AFTER`` times, never advised and still
    empty); one whose candidates came back as duplicates ``EXHAUSTED_AFTER`` times in a row
    (``dry``, the run state's) is exhausted. Neither is listed or advised.

    ``part`` shows the next slice of that order instead of its head (part 1: the 9th to 16th
    under-covered issues, ...; it wraps around): advisors asked at once each see other gaps.
    ``in_flight`` are the cells of advice given and not yet judged (the run's backlog): each
    counts as an item there, so advice planned ahead does not aim again at the gaps it fills.
    ``summarized`` are the items per issue (every worker's) as the summary the advisor reads saw
    them. The cells of the issues in flight (most tasks first), then of those with items since
    (most new items first), are shown beyond the under-covered issues' (``LISTED_BUSY``,
    ``GridCoverage.busy``); without ``summarized``, the issues in flight only.
    """
    advised, listed = advised or {}, listed or {}
    counts = memory.issue_counts()
    new = {} if summarized is None else {n: c - summarized.get(n, 0) for n, c in counts.items()}
    held = memory.cell_counts() if hazards else {}
    cells = dict(held)
    for cell in in_flight:
        counts[cell[1]] = counts.get(cell[1], 0) + 1
        cells[cell] = cells.get(cell, 0) + 1
    total = sum(counts.values())
    in_play = [
        n
        for n, c in counts.items()
        if c or advised.get(n, 0) or listed.get(n, 0) < PASSED_OVER_AFTER
    ]
    mean = total / len(in_play) if in_play else 0.0
    saturated = sorted(
        n for n, c in counts.items() if c >= SATURATION_MIN_ITEMS and c > SATURATION_FACTOR * mean
    )
    exhausted = sorted(
        n for n, run in (dry or {}).items() if run >= EXHAUSTED_AFTER and n not in saturated
    )

    def least_first(item: tuple[str, int]) -> tuple[int, int, int, str]:
        name, items = item
        return items, listed.get(name, 0), advised.get(name, 0), name

    avoided = {*saturated, *exhausted}
    ordered = [n for n, _ in sorted(counts.items(), key=least_first) if n not in avoided]
    under = _slice(ordered, part)
    occupied = {(cell[1], cell[2], cell[3]) for cell, n in cells.items() if n}
    spread = Counter(issue for issue, _, _ in occupied)
    holding = _slice(
        sorted((n for n in ordered if counts[n]), key=lambda n: spread[n]),
        part,
        LISTED_HOLDING_ISSUES,
    )
    return CoverageStats(
        items_per_issue=counts,
        total_items=total,
        under_covered=under,
        saturated=saturated,  # complete: the advisor node checks advice against it
        recent_redundancy_rate=recent_redundancy_rate,
        exhausted=exhausted,
        in_progress=dict(Counter(cell[1] for cell in in_flight)),
        held=held,
        occupied=occupied,
        grid=GridCoverage.of(
            cells,
            hazards,
            sorted(memory.tactic_descriptions()),
            benign_share,
            issues=holding,
            busy=_busy(in_flight, new, shown=holding),
        )
        if hazards
        else GridCoverage(),
    )


def _busy(in_flight: Sequence[Cell], new: dict[str, int], shown: Sequence[str]) -> list[str]:
    """The issues of ``in_flight`` (most tasks first), then those of ``new`` (items per issue
    since the summary, most first), not ``shown`` already, up to ``LISTED_BUSY``."""
    tasks = Counter(cell[1] for cell in in_flight)
    fresh = sorted((n for n, c in new.items() if c > 0), key=lambda n: (-new[n], n))
    ordered = [n for n, _ in sorted(tasks.items(), key=lambda x: (-x[1], x[0]))] + fresh
    return [n for n in dict.fromkeys(ordered) if n not in shown][:LISTED_BUSY]


def _slice(names: list[str], part: int, size: int = LISTED_ISSUES) -> list[str]:
    """The ``part``-th run of ``size`` names, wrapping around a short list."""
    if not names or part == 0:
        return names[:size]
    start = (part * size) % len(names)
    return (names[start:] + names[:start])[:size]
