"""Workers sharing one memory split the gaps: advice another worker has claimed is dropped.

An advisor call already counts the other workers' live leases as work in flight (coverage), but
two calls of two workers that start together see neither's lease. So when a call returns, each
advice item is claimed against the other workers' live leases (``memory.leases.Leases.contest``:
write the claim, then look): an item on an issue another worker holds, or by meaning the same
advice, is dropped (another worker took it first, counted as ``claimed_by_another_worker``) and the advisor is asked once more for that many items, with the
kept advice counted as in flight. Bounded: the second call's claimed items are dropped too,
even when that leaves nothing to generate (a round with fewer tasks, or none, costs less than a
cell two workers write at once: measured, letting the last advice stand then had two workers of
the same seed write the same 4 cells in their first round).

A lease is released once its items are in memory, so an advisor call that read coverage before
another worker's item was stored, and returns after its lease was released, sees that cell
nowhere: advice on a cell that was empty when the call read coverage and holds an item when it
returns (``filled_since``, read after the leases) is dropped the same way (seen once: 3 workers,
seed 1, target 60, two workers accepted one cell in their tenth rounds).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from agents.advisor import RoundPlan
from agents.schemas import PlannedAdvice
from memory.leases import Claim, Leases, cell_key
from memory.store import Cell

CLAIMED = "claimed_by_another_worker"
# Advisor calls after the first when advice was claimed by another worker: each costs one more
# call, and each sees the leases the last one missed.
REPLANS = 1


def advice_cell(planned: PlannedAdvice) -> Cell:
    """The grid cell an advice item aims at (hazard, issue, tactic, kind)."""
    advice = planned.advice
    return advice.hazard, advice.safety_issue, advice.tactic, advice.kind


def advice_text(planned: PlannedAdvice) -> str:
    """The advice as leases compare it by meaning: its issue and instruction."""
    return f"{planned.advice.safety_issue}: {planned.advice.instruction}"


def filled_since(before: dict[Cell, int], now: dict[Cell, int]) -> set[Cell]:
    """The cells (``cell_key``) empty in the memory's ``before`` counts and holding items ``now``."""
    return {cell_key(cell) for cell, items in now.items() if items and not before.get(cell)}


def claim(
    leases: Leases,
    planned: Sequence[PlannedAdvice],
    ids: list[str],
    filled: Callable[[], set[Cell]] = set,
) -> list[PlannedAdvice]:
    """The advice items this worker could claim (``Leases.contest``, and not on a cell in
    ``filled()``, read after the leases); their provisional claims' ids are added to ``ids``."""
    free, provisional = leases.contest(
        [advice_cell(p) for p in planned], [advice_text(p) for p in planned]
    )
    taken = filled()
    claimed = iter(provisional)  # one per free item, in order
    kept: list[PlannedAdvice] = []
    for item, ok in zip(planned, free, strict=True):
        if not ok:
            continue
        held = next(claimed)
        if cell_key(advice_cell(item)) in taken:
            leases.publish([], replacing=[held])
        else:
            kept.append(item)
            ids.append(held)
    return kept


def claim_plan(
    leases: Leases,
    plan: RoundPlan,
    replan: Callable[[int, list[Cell]], RoundPlan],
    filled: Callable[[], set[Cell]] = set,
) -> tuple[RoundPlan, list[str]]:
    """``plan`` without the advice other workers have claimed, or whose cell was ``filled()``
    while it was planned, topped up by ``replan(count, kept cells)`` (at most ``REPLANS`` more
    advisor calls); and the ids of the provisional claims its advice holds
    (``Leases.publish(replacing=)``)."""
    ids: list[str] = []
    if not leases.shared or not plan.planned:
        return plan, ids
    discarded, usage = Counter(plan.discarded), plan.usage
    kept = claim(leases, plan.planned, ids, filled)
    dropped = len(plan.planned) - len(kept)
    for _ in range(REPLANS):
        if not dropped:
            break
        discarded[CLAIMED] += dropped
        again = replan(dropped, [advice_cell(p) for p in kept])
        usage.merge(again.usage)
        discarded.update(again.discarded)
        fresh = claim(leases, again.planned, ids, filled)
        kept, dropped = kept + fresh, len(again.planned) - len(fresh)
    discarded[CLAIMED] += dropped
    return RoundPlan(kept, dict(+discarded), usage, plan.error), ids


def claims(keys: Sequence[str], planned: Sequence[PlannedAdvice]) -> list[Claim]:
    """Leases for generator tasks (their pool keys) of these advice items."""
    return [
        Claim(key, advice_cell(p), advice_text(p)) for key, p in zip(keys, planned, strict=True)
    ]
