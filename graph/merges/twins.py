"""Cross-run twins: which items of a merge repeat an item another run already contributed.

The rule is the critic's (``agents.critic.review``): a prompt is a duplicate when its normalised
text equals a kept one's (``memory.store.normalized_text``), or when the nearest kept prompt is
at least the runs' duplicate threshold similar, asked of a ``memory.store.Memory`` built on the
runs' own embedding model and threshold (``Memory.check_redundancy_many``); prompts of one batch
are compared with each other as the critic compares a round's candidates. Only twins from
*different* runs are dropped: each run's critic already judged its own items.

Items are visited in the merge order (``graph.merges.plan.merge_order``); the first of two twins
is kept, so the outcome never depends on the order the runs were named in.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from memory.store import (
    ISSUE_ADVICE,
    ISSUES,
    ITEMS,
    TACTICS,
    Memory,
    at_least,
    normalized_text,
)

# Items embedded and looked up at once: one embedding call and one Chroma query per run and batch.
TWIN_BATCH = 256


class RememberedEmbeddings(Embeddings):
    """An embedding model that embeds each distinct text once per merge: the report measures the
    same prompts the twin search embedded (on the embedded model, half of a merge's time)."""

    def __init__(self, inner: Embeddings) -> None:
        self._inner = inner
        self._vectors: dict[str, np.ndarray] = {}

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed many texts, each new one once."""
        missing = [text for text in dict.fromkeys(texts) if text not in self._vectors]
        if missing:
            fresh = self._inner.embed_documents(missing)
            self._vectors.update(zip(missing, np.asarray(fresh, dtype=np.float32), strict=True))
        return [self._vectors[text].tolist() for text in texts]

    def embed_query(self, text: str) -> list[float]:
        """Embed one text."""
        return self.embed_documents([text])[0]


@dataclass(frozen=True)
class Entry:
    """An item as the twin search sees it: its run (index) and prompt."""

    run: int
    prompt: str


@dataclass(frozen=True)
class Twin:
    """An item dropped as a twin of an earlier kept item of another run."""

    kept: int
    """The kept item's position in the merge order."""
    similarity: float
    rule: str
    """``exact`` (the same normalised text) or ``near`` (cosine >= the duplicate threshold)."""


def find_twins(
    entries: Sequence[Entry],
    client: Any,
    embeddings: Embeddings,
    duplicate_threshold: float,
    on_batch: Callable[[int], None] = lambda done: None,
) -> dict[int, Twin]:
    """Twins among ``entries`` (in merge order), by position; ``client`` is a Chroma client
    (in-process) that holds the kept items of each run while the search runs."""
    if not entries:
        return {}
    namespaces = {run: f"merge-{uuid.uuid4().hex[:12]}-{run}" for run in {e.run for e in entries}}
    try:
        memories = {
            run: Memory(
                client,
                embeddings,
                duplicate_threshold=duplicate_threshold,
                issue_merge_threshold=1.0,  # no issue is registered: only items are stored
                namespace=namespace,
            )
            for run, namespace in sorted(namespaces.items())
        }
        return _search(entries, memories, on_batch)
    finally:  # the client may serve other work in this process: leave no collection behind
        existing = {c if isinstance(c, str) else c.name for c in client.list_collections()}
        for namespace in namespaces.values():
            for name in (ITEMS, ISSUES, ISSUE_ADVICE, TACTICS):
                if f"{namespace}-{name}" in existing:
                    client.delete_collection(f"{namespace}-{name}")


def _search(
    entries: Sequence[Entry], memories: dict[int, Memory], on_batch: Callable[[int], None]
) -> dict[int, Twin]:
    twins: dict[int, Twin] = {}
    exact: dict[str, dict[int, int]] = {}  # normalised prompt -> run -> first kept position
    stored: set[int] = set()  # runs with kept items in their memory
    any_memory = next(iter(memories.values()))
    threshold = any_memory.duplicate_threshold
    for start in range(0, len(entries), TWIN_BATCH):
        batch = range(start, min(start + TWIN_BATCH, len(entries)))
        vectors = any_memory.embed([entries[i].prompt for i in batch])
        nearest = _nearest_in_other_runs(entries, batch, vectors, memories, stored)
        kept: list[tuple[int, np.ndarray]] = []
        for position, vector, (similarity, other) in zip(batch, vectors, nearest, strict=True):
            run, text = entries[position].run, normalized_text(entries[position].prompt)
            earlier = [p for r, p in exact.get(text, {}).items() if r != run]
            if earlier:
                twins[position] = Twin(min(earlier), 1.0, "exact")
                continue
            for kept_position, kept_vector in kept:  # this batch, as the critic's batch check
                if entries[kept_position].run != run and float(vector @ kept_vector) > similarity:
                    similarity, other = float(vector @ kept_vector), kept_position
            if other is not None and at_least(similarity, threshold):
                twins[position] = Twin(other, round(similarity, 4), "near")
                continue
            kept.append((position, vector))
            exact.setdefault(text, {}).setdefault(run, position)
        for run, memory in memories.items():
            mine = [(p, v) for p, v in kept if entries[p].run == run]
            if mine:
                memory.add_items(
                    [_stored(p, entries[p]) for p, _ in mine],
                    np.asarray([v for _, v in mine]),
                    source="merge",
                )
                stored.add(run)
        on_batch(len(batch))
    return twins


def _nearest_in_other_runs(
    entries: Sequence[Entry],
    batch: range,
    vectors: np.ndarray,
    memories: dict[int, Memory],
    stored: set[int],
) -> list[tuple[float, int | None]]:
    """Per item of the batch: the most similar kept item of another run, and its similarity."""
    best: list[tuple[float, int | None]] = [(0.0, None)] * len(batch)
    for run in sorted(stored):
        checks = memories[run].check_redundancy_many(vectors)
        for i, (position, check) in enumerate(zip(batch, checks, strict=True)):
            if entries[position].run == run or check.nearest is None:
                continue
            if check.similarity > best[i][0]:
                best[i] = (check.similarity, int(check.nearest.id))
    return best


def _stored(position: int, entry: Entry) -> dict[str, object]:
    """A kept item as memory stores it, under its merge position."""
    return {"id": str(position), "prompt": entry.prompt, "response": "", "safety_issue": ""}
