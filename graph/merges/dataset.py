"""What a merge writes: the order items are judged in, merged items with their provenance, the
dropped twins, the carried-along pairs and rejections, and the merged statistics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.schemas import AcceptedItem
from graph.merges.sources import SourceRun
from graph.merges.twins import Entry, Twin
from graph.runtime.stats import grid_stats
from graph.state import grid_key

PROVENANCE_FIELDS = ("worker", "run_dir", "source_id")
# Run totals that add up over workers (``stats.json``); time is the longest run's, since
# workers run side by side.
SUMMED_STATS = ("candidates_judged", "llm_calls", "cached_answers", "input_tokens", "output_tokens")


@dataclass(frozen=True)
class Slot:
    """One input item at its place in the merge order."""

    run: int
    index: int
    """Its line in its run's ``dataset.jsonl`` (0-based)."""
    item: AcceptedItem


def sort_runs(runs: Sequence[SourceRun]) -> list[SourceRun]:
    """Runs by worker name, then path: the order ties between runs are broken in."""
    return sorted(runs, key=lambda run: (run.worker, str(run.path.resolve())))


def merge_order(runs: Sequence[SourceRun]) -> list[Slot]:
    """Every item, earliest accepted first: by round, then by worker (``sort_runs`` order), then
    by its line in its run. Of two twins the first in this order is kept."""
    slots = [
        Slot(number, index, item)
        for number, run in enumerate(runs)
        for index, item in enumerate(run.items)
    ]
    return sorted(slots, key=lambda slot: (slot.item.round, slot.run, slot.index))


def entries(slots: Sequence[Slot]) -> list[Entry]:
    """The twin search's view of the slots."""
    return [Entry(slot.run, slot.item.prompt) for slot in slots]


def merged_id(run: SourceRun, source_id: str) -> str:
    """An item's id in the merged dataset: ``worker/id``, as a shared memory stores it."""
    return f"{run.worker}/{source_id}"


def merged_item(slot: Slot, run: SourceRun) -> dict[str, Any]:
    """A kept item with its merged id and provenance (worker, run directory, id in its run)."""
    return slot.item.model_dump() | {
        "id": merged_id(run, slot.item.id),
        "worker": run.worker,
        "run_dir": str(run.path),
        "source_id": slot.item.id,
    }


def dropped_row(slot: Slot, kept: Slot, twin: Twin, runs: Sequence[SourceRun]) -> dict[str, Any]:
    """One line of ``dropped.jsonl``: which item, the kept item it repeats, and how closely."""
    run, kept_run = runs[slot.run], runs[kept.run]
    return {
        "id": merged_id(run, slot.item.id),
        "duplicate_of": merged_id(kept_run, kept.item.id),
        "similarity": twin.similarity,
        "rule": twin.rule,
        "prompt": slot.item.prompt,
        "kept_prompt": kept.item.prompt,
        "worker": run.worker,
        "run_dir": str(run.path),
        "source_id": slot.item.id,
        "round": slot.item.round,
    }


def carried_pairs(kept: Sequence[Slot], runs: Sequence[SourceRun]) -> list[dict[str, Any]]:
    """The preference pairs of kept items, under their merged ids, in dataset order."""
    by_item = {(number, pair.id): pair for number, run in enumerate(runs) for pair in run.pairs}
    rows = []
    for slot in kept:
        pair = by_item.get((slot.run, slot.item.id))
        if pair is not None:
            run = runs[slot.run]
            rows.append(pair.model_dump() | {"id": merged_id(run, pair.id), "worker": run.worker})
    return rows


def carried_rejections(runs: Sequence[SourceRun]) -> list[dict[str, Any]]:
    """Every run's rejected candidates, each with its worker (the preference export finds unsafe
    replies to kept prompts there, and the report counts rejections by reason)."""
    return [row | {"worker": run.worker} for run in runs for row in run.rejected]


def merged_stats(
    runs: Sequence[SourceRun], kept: Sequence[Slot], dropped: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """``stats.json`` of the merged dataset: the merge's counts, the runs' totals summed, and
    the grid of the kept items."""
    kept_by_run = Counter(slot.run for slot in kept)
    dropped_by_worker = Counter(row["worker"] for row in dropped)
    stats: dict[str, Any] = {
        "accepted": len(kept),
        "merge": {
            "runs": len(runs),
            "items_in": sum(len(run.items) for run in runs),
            "kept": len(kept),
            "dropped": len(dropped),
            "dropped_by_rule": dict(sorted(Counter(row["rule"] for row in dropped).items())),
            "by_worker": {
                run.worker: {
                    "run_dir": str(run.path),
                    "items": len(run.items),
                    "kept": kept_by_run[number],
                    "dropped": dropped_by_worker[run.worker],
                }
                for number, run in enumerate(runs)
            },
        },
    }
    for name in SUMMED_STATS:
        stats[name] = sum(int(run.stats.get(name) or 0) for run in runs)
    judged = stats["candidates_judged"]
    stats["acceptance_rate"] = round(len(kept) / judged, 4) if judged else 0.0
    stats["rounds"] = max((int(run.stats.get("rounds") or 0) for run in runs), default=0)
    stats["seconds"] = max((float(run.stats.get("seconds") or 0) for run in runs), default=0.0)
    reasons: Counter[str] = Counter()
    for run in runs:
        reasons.update(
            {k: int(v) for k, v in (run.stats.get("rejections_by_reason") or {}).items()}
        )
    stats["rejections_by_reason"] = dict(reasons.most_common())
    costs = [(run.stats.get("cost") or {}).get("total_usd") for run in runs]
    known = all(isinstance(cost, int | float) for cost in costs)
    stats["cost"] = {"total_usd": round(sum(costs), 6) if known else None}  # type: ignore[arg-type]
    stats["stop_reason"] = "merged"
    cells = Counter(grid_key(s.item.hazard, s.item.tactic, s.item.kind) for s in kept)
    stats["grid"] = grid_stats({"accepted_cells": dict(cells)})
    return stats


def merge_record(runs: Sequence[SourceRun], settings: dict[str, Any], out: Path) -> dict[str, Any]:
    """``merge.json``: the runs merged, the settings they share and the rule that kept items."""
    return {
        "out": str(out),
        "runs": [
            {"worker": run.worker, "run_dir": str(run.path), "items": len(run.items)}
            for run in runs
        ],
        "settings": settings,
        "rule": "an item is dropped when its prompt repeats a kept item of another run: the same "
        "normalised text, or cosine >= duplicate_threshold (the critic's rule); items are "
        "visited by round, then worker name, then line, and the first of two twins is kept",
    }
