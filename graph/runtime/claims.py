"""Settling a round's accepted items in a shared namespace's acceptance log (``memory.acceptance``).

The ledger calls this between the critic's verdicts and the dataset line: an item another run
accepted first (a twin at an earlier slot of the log) becomes a ``duplicate`` rejection instead.
"""

from __future__ import annotations

from agents.critic import CriticReport, Verdict
from agents.schemas import RejectedItem
from memory.acceptance import AcceptanceLog, Claim


def claim_accepts(
    log: AcceptanceLog | None, report: CriticReport, room: int
) -> tuple[list[Verdict], list[RejectedItem], list[Verdict]]:
    """Split the critic's accepted items into kept, lost to another run, and surplus.

    Without a log (a memory of the run's own) the first ``room`` are kept. With one, they are
    settled in the log, and every item lost to another run's earlier twin frees its place for
    the next accepted item, so a round still fills the target; only claimed items enter the log.
    """
    if log is None:
        return report.accepted[:room], [], report.accepted[room:]
    kept: list[Verdict] = []
    lost: list[RejectedItem] = []
    queue = list(report.accepted)
    while queue and len(kept) < room:
        batch, queue = queue[: room - len(kept)], queue[room - len(kept) :]
        outcomes = log.settle(
            [
                Claim(v.candidate.id, v.candidate.prompt, report.vectors[v.candidate.id])
                for v in batch
            ]
        )
        for verdict, outcome in zip(batch, outcomes, strict=True):
            if outcome.won:
                kept.append(verdict)
                continue
            lost.append(
                RejectedItem(
                    candidate=verdict.candidate,
                    reason="duplicate",
                    layer="redundancy",
                    detail=outcome.describe(),
                    nearest_similarity=outcome.similarity,
                )
            )
    return kept, lost, queue
