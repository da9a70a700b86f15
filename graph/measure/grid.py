"""Metrics of the grid: accepted items along each axis (hazard, tactic, kind) and per cell.

Lines written before the grid have no hazard or tactic: they count as harmful items shown as
``(none)`` along an axis, and stay out of the (hazard x tactic) cells.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

NONE_LABEL = "(none)"
"""An axis value for items without one (runs written before the grid)."""
DEFAULT_KIND = "harmful"
# Decimal places of shares.
DIGITS = 4


def _value(item: dict[str, Any], key: str, default: str = "") -> str:
    """An item's value along one axis, or ``default`` when it has none."""
    return str(item.get(key) or default)


def items_per_cell(items: Sequence[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Items per (hazard x tactic) cell as ``{hazard: {tactic: count}}``; only items with both.

    Hazards with most items first, and within one hazard, tactics with most items first.
    """
    cells = Counter(
        (_value(item, "hazard"), _value(item, "tactic"))
        for item in items
        if item.get("hazard") and item.get("tactic")
    )
    per_hazard = Counter[str]()
    for (hazard, _), count in cells.items():
        per_hazard[hazard] += count
    return {
        hazard: {
            tactic: count
            for (h, tactic), count in cells.most_common()
            if h == hazard  # most_common keeps ties in first-seen order
        }
        for hazard, _ in per_hazard.most_common()
    }


def benign_share_per_hazard(items: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Share of benign look-alikes among each hazard's items (hazards with items, most first)."""
    totals = Counter(_value(item, "hazard") for item in items if item.get("hazard"))
    benign = Counter(
        _value(item, "hazard")
        for item in items
        if item.get("hazard") and _value(item, "kind", DEFAULT_KIND) == "benign"
    )
    return {hazard: round(benign[hazard] / total, DIGITS) for hazard, total in totals.most_common()}


def grid_metrics(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Items along each axis of the grid, per (hazard x tactic) cell, and the benign shares."""

    def counts(key: str, default: str = NONE_LABEL) -> dict[str, int]:
        return dict(Counter(_value(item, key, default) for item in items).most_common())

    cells = {
        (_value(item, "hazard"), _value(item, "tactic"), _value(item, "kind", DEFAULT_KIND))
        for item in items
    }
    kinds = counts("kind", DEFAULT_KIND)
    return {
        "items_per_hazard": counts("hazard"),
        "items_per_tactic": counts("tactic"),
        "items_per_kind": kinds,
        "hazards_covered": len({h for h, _, _ in cells if h}),
        "tactics_covered": len({t for _, t, _ in cells if t}),
        "cells_covered": len({c for c in cells if c[0] and c[1]}),
        "benign_share": round(kinds.get("benign", 0) / len(items), DIGITS) if items else 0.0,
        "items_per_cell": items_per_cell(items),
        "benign_share_per_hazard": benign_share_per_hazard(items),
    }
