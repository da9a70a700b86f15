"""The acceptance log of a shared memory: no two runs of one namespace accept twins of a prompt.

Runs sharing a ``--memory-namespace`` each check redundancy against memory before writing, so two
of them judging twins at the same moment would both pass. Every accept in a shared namespace
therefore goes through a per-namespace sequence log, the Chroma collection ``NAME-accepts``:

1. **Claim.** The run adds its accepted items at the next free slots ``0, 1, 2, ...`` (the slot is
   the record's id). Chroma's ``add`` never overwrites an id, so when two runs take the same slot
   the log keeps whichever write reached it first; reading the slots back shows each run which
   ones it holds, and it claims the rest at the following slots. Slots are dense and immutable: a
   run holding slot ``s`` reads every slot below ``s`` (each was written before its own).
2. **Resolve.** An item at slot ``s`` loses to any earlier slot of *another* run holding its twin:
   the same text (``normalized_text``, punctuation ignored) or a cosine similarity at or above
   the duplicate threshold. Both racers compute this from the same immutable prefix of the log,
   so of two racing twins only the one at the lower slot can survive (and does, unless it lost
   to an earlier twin itself).

A claim is keyed ``WRITER/ITEM_ID``: a run that crashed after claiming and re-judges the item on
resume finds its slot again and reaches the same outcome (no second slot, nothing lost). A
loser's claim stays in the log, so a later twin of it loses too, even when no item of the pair
is stored (conservative: at most one of any pair of twins is kept). A run with a memory of its
own has no log and pays nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from memory.store import COSINE_INDEX, Memory, at_least, normalized_text

ACCEPTS = "accepts"
# Slots are zero-padded so that the log's ids sort in slot order (12 digits: 10^12 accepts).
SLOT_DIGITS = 12
# A claim retries at the following slots while other runs take the ones it tried. Each retry
# means another run's write landed in between; this many in a row means the server misbehaves.
MAX_CLAIM_ATTEMPTS = 50


@dataclass(frozen=True)
class Claim:
    """An item a run wants to accept: its id, prompt and unit embedding."""

    item_id: str
    prompt: str
    vector: np.ndarray


@dataclass(frozen=True)
class Outcome:
    """What the log decided for a claim: won, or lost to an earlier twin of another run."""

    item_id: str
    slot: int
    won: bool
    winner: str = ""
    """The run (writer id) whose earlier claim holds the twin; ``""`` when won."""
    winner_slot: int = -1
    similarity: float = 0.0
    """Cosine similarity to that twin (1.0 for the same text)."""

    def describe(self) -> str:
        """The rejection detail of a lost claim: who accepted the twin first, and where."""
        return (
            f"accepted first by worker {self.winner} (acceptance log slot {self.winner_slot}, "
            f"this claim slot {self.slot}, similarity {self.similarity:.3f})"
        )


def text_key(prompt: str) -> str:
    """The log's key for a prompt's text: the same words in the same order, whatever the case,
    spacing and punctuation."""
    return hashlib.sha1(normalized_text(prompt, words_only=True).encode()).hexdigest()


def slot_id(slot: int) -> str:
    """The log record id of a slot."""
    return f"{slot:0{SLOT_DIGITS}d}"


class AcceptanceLog:
    """The sequence log of one shared namespace, as one run (``writer``) sees it."""

    def __init__(self, client: Any, collection: str, writer: str, threshold: float) -> None:
        """Open (or create) the log collection; ``threshold``: the duplicate similarity."""
        if not writer:
            raise ValueError("an acceptance log needs the run's writer id")
        self.writer = writer
        self.threshold = threshold
        self._log = client.get_or_create_collection(collection, metadata=COSINE_INDEX)

    @classmethod
    def of(cls, memory: Memory) -> AcceptanceLog | None:
        """The log of a memory shared with other runs (it has a writer), else ``None``."""
        if not memory.writer:
            return None
        return cls(
            memory.client, memory.prefix + ACCEPTS, memory.writer, memory.duplicate_threshold
        )

    def settle(self, claims: Sequence[Claim]) -> list[Outcome]:
        """Claim slots for ``claims`` (or find the ones claimed before a crash) and decide each:
        won, or lost to an earlier twin of another run. Outcomes in the order of ``claims``."""
        if not claims:
            return []
        slots = self._claim(claims)
        return self._resolve(claims, slots)

    def _claim(self, claims: Sequence[Claim]) -> dict[str, int]:
        keys = {c.item_id: f"{self.writer}/{c.item_id}" for c in claims}
        if len(keys) != len(claims):
            raise ValueError("claims must have distinct item ids")
        slots: dict[str, int] = {}
        earlier = self._log.get(
            where={"claim": {"$in": list(keys.values())}}, include=["metadatas"]
        )
        for meta in earlier["metadatas"]:  # claimed before a crash: keep that slot
            item = str(meta["claim"]).split("/", 1)[1]
            slots[item] = min(int(meta["slot"]), slots.get(item, int(meta["slot"])))
        pending = [c for c in claims if c.item_id not in slots]
        tried = 0  # every slot below this one is taken: the previous attempt filled them
        for _ in range(MAX_CLAIM_ATTEMPTS):
            if not pending:
                return slots
            # The count is never above the next free slot (slots are dense), at worst stale.
            start = max(self._log.count(), tried)
            tried = start + len(pending)
            ids = [slot_id(start + i) for i in range(len(pending))]
            self._log.add(
                ids=ids,
                embeddings=np.asarray([c.vector for c in pending], dtype=np.float32).tolist(),
                documents=[c.prompt for c in pending],
                metadatas=[
                    {
                        "writer": self.writer,
                        "claim": keys[c.item_id],
                        "text": text_key(c.prompt),
                        "slot": start + i,
                    }
                    for i, c in enumerate(pending)
                ],
            )
            held = self._log.get(ids=ids, include=["metadatas"])["metadatas"]
            mine = {str(m["claim"]): int(m["slot"]) for m in held if m["writer"] == self.writer}
            for c in pending:
                if keys[c.item_id] in mine:
                    slots[c.item_id] = mine[keys[c.item_id]]
            pending = [c for c in pending if c.item_id not in slots]
        raise RuntimeError(
            f"acceptance log: {len(pending)} claim(s) found no free slot in "
            f"{MAX_CLAIM_ATTEMPTS} attempts"
        )

    def _resolve(self, claims: Sequence[Claim], slots: dict[str, int]) -> list[Outcome]:
        others = {"writer": {"$ne": self.writer}}
        first, last = min(slots.values()), max(slots.values())
        # Exact twins: the same text under another run's earlier slot.
        texts = {c.item_id: text_key(c.prompt) for c in claims}
        same = self._log.get(
            where={"$and": [others, {"text": {"$in": sorted(set(texts.values()))}}]},
            include=["metadatas"],
        )["metadatas"]
        # Near twins: among other runs' slots below the last claimed one, at most
        # ``last - first`` lie at or above a given claim's slot, so the nearest
        # ``last - first + 1`` always include an earlier twin when one exists (see the module).
        found = self._log.query(
            query_embeddings=np.asarray([c.vector for c in claims], dtype=np.float32).tolist(),
            n_results=last - first + 1,
            where={"$and": [others, {"slot": {"$lt": last}}]},
            include=["metadatas", "distances"],
        )
        outcomes = []
        for row, claim in enumerate(claims):
            slot = slots[claim.item_id]
            twins = [
                (int(m["slot"]), str(m["writer"]), 1.0)
                for m in same
                if m["text"] == texts[claim.item_id] and int(m["slot"]) < slot
            ]
            twins += [
                (int(m["slot"]), str(m["writer"]), 1.0 - float(d))
                for m, d in zip(found["metadatas"][row], found["distances"][row], strict=True)
                if int(m["slot"]) < slot and at_least(1.0 - float(d), self.threshold)
            ]
            if not twins:
                outcomes.append(Outcome(claim.item_id, slot, True))
                continue
            winner_slot, winner, similarity = min(twins)
            outcomes.append(
                Outcome(claim.item_id, slot, False, winner, winner_slot, round(similarity, 4))
            )
        return outcomes
