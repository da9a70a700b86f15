"""Chroma-backed memory: accepted prompts and known safety issues, with the questions the loop asks."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores.utils import maximal_marginal_relevance

ITEMS = "items"
ISSUES = "issues"
# Chroma is told the space explicitly: distances are then 1 - cosine similarity. The HNSW index
# is built denser than Chroma's default (16 neighbours, ef 100): measured at 100K stored vectors
# (benchmarks/memory_scale.py), the default found the true nearest prompt for 261-270 of 300
# near-duplicates, these settings for 300 of 300, at ~5 ms instead of ~2 ms per query.
_COSINE = {"hnsw:space": "cosine", "hnsw:M": 32, "hnsw:construction_ef": 200, "hnsw:search_ef": 200}
# Chroma refuses larger upserts (its max batch size is 5461 here).
UPSERT_BATCH = 4096


@dataclass(frozen=True)
class Neighbor:
    """A stored prompt near a query, with its similarity (cosine, 1 = identical)."""

    id: str
    prompt: str
    response: str
    safety_issue: str
    source: str
    similarity: float


@dataclass(frozen=True)
class RedundancyCheck:
    """Whether a prompt repeats a stored one, and the nearest stored prompt it was compared to."""

    is_redundant: bool
    similarity: float
    nearest: Neighbor | None


@dataclass(frozen=True)
class IssueResolution:
    """Where a proposed issue name landed: an existing issue (merged) or a new one."""

    name: str
    is_new: bool
    similarity: float


def issue_id(name: str) -> str:
    """Stable id of a safety issue from its normalized name."""
    return "issue-" + hashlib.sha1(normalize_issue(name).encode()).hexdigest()[:16]


def normalize_issue(name: str) -> str:
    """Lowercase, single-spaced issue name."""
    return " ".join(name.lower().split())


class Memory:
    """The run's vector memory; embeddings are computed here, so Chroma never downloads a model."""

    def __init__(
        self,
        client: Any,
        embeddings: Embeddings,
        *,
        duplicate_threshold: float,
        issue_merge_threshold: float,
        namespace: str = "",
    ) -> None:
        self.embeddings = embeddings
        self.duplicate_threshold = duplicate_threshold
        self.issue_merge_threshold = issue_merge_threshold
        self._items = client.get_or_create_collection(namespace + ITEMS, metadata=_COSINE)
        self._issues = client.get_or_create_collection(namespace + ISSUES, metadata=_COSINE)
        # Counting a 100K collection costs ~7 ms: the count is kept here, not asked per query.
        self._stored = self._items.count()

    @classmethod
    def persistent(cls, path: Path, embeddings: Embeddings, **kwargs: Any) -> Memory:
        """Memory stored in a local directory (Chroma ``PersistentClient``)."""
        import chromadb
        from chromadb.config import Settings

        client = chromadb.PersistentClient(
            path=str(path), settings=Settings(anonymized_telemetry=False)
        )
        return cls(client, embeddings, **kwargs)

    # -- embedding ---------------------------------------------------------------------------
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts as an (n, d) array of unit vectors."""
        if not texts:
            return np.zeros((0, 0))
        vectors = np.asarray(self.embeddings.embed_documents(list(texts)), dtype=np.float32)
        # Cosine thresholds assume unit vectors; not every embedding server returns them.
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1.0, norms)

    # -- items -------------------------------------------------------------------------------
    def add_items(
        self, items: Sequence[dict[str, Any]], vectors: np.ndarray, source: str = "generated"
    ) -> None:
        """Store items (``id``, ``prompt``, ``response``, ``safety_issue``, optional ``round``)."""
        if not items:
            return
        if len(items) > UPSERT_BATCH:
            for start in range(0, len(items), UPSERT_BATCH):
                chunk = slice(start, start + UPSERT_BATCH)
                self.add_items(items[chunk], np.asarray(vectors)[chunk], source)
            return
        already = set(self._items.get(ids=[item["id"] for item in items], include=[])["ids"])
        self._stored += len({item["id"] for item in items} - already)
        self._items.upsert(
            ids=[item["id"] for item in items],
            embeddings=np.asarray(vectors, dtype=np.float32).tolist(),
            documents=[item["prompt"] for item in items],
            metadatas=[
                {
                    "response": item["response"],
                    "safety_issue": normalize_issue(item["safety_issue"]),
                    "round": int(item.get("round", -1)),
                    "source": source,
                }
                for item in items
            ],
        )
        if source == "generated":
            counts: dict[str, int] = {}
            for item in items:
                if item["id"] in already:  # re-storing an item must not count it twice
                    continue
                name = normalize_issue(item["safety_issue"])
                counts[name] = counts.get(name, 0) + 1
            for name, added in counts.items():
                self._bump_issue(name, added)

    def count(self, source: str = "generated") -> int:
        """Number of stored items of a source (``generated`` or ``seed``)."""
        return len(self._items.get(where={"source": source}, include=[])["ids"])

    def has_item(self, item_id: str) -> bool:
        """Whether an item id is stored."""
        return bool(self._items.get(ids=[item_id], include=[])["ids"])

    def nearest(self, vector: np.ndarray, k: int = 5) -> list[Neighbor]:
        """The ``k`` stored prompts nearest to an embedding, most similar first."""
        total = self._stored
        if total == 0:
            return []
        found = self._items.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32).tolist()],
            n_results=min(k, total),
            include=["documents", "metadatas", "distances"],
        )
        return [
            Neighbor(
                id=item_id,
                prompt=doc,
                response=str(meta.get("response", "")),
                safety_issue=str(meta.get("safety_issue", "")),
                source=str(meta.get("source", "")),
                similarity=1.0 - float(dist),
            )
            for item_id, doc, meta, dist in zip(
                found["ids"][0],
                found["documents"][0],
                found["metadatas"][0],
                found["distances"][0],
                strict=True,
            )
        ]

    def check_redundancy(self, vector: np.ndarray) -> RedundancyCheck:
        """Is this prompt a near-duplicate of a stored one (similarity >= the duplicate threshold)?"""
        neighbors = self.nearest(vector, k=1)
        if not neighbors:
            return RedundancyCheck(False, 0.0, None)
        top = neighbors[0]
        return RedundancyCheck(top.similarity >= self.duplicate_threshold, top.similarity, top)

    def diverse_examples(self, query: np.ndarray, k: int, pool: int = 24) -> list[Neighbor]:
        """``k`` stored items relevant to ``query`` yet unlike each other (maximal marginal relevance)."""
        candidates = self.nearest(query, k=pool)
        if len(candidates) <= k:
            return candidates
        # The stored vectors, not a re-embedding: a generator branch must not embed 24 texts.
        stored = self._items.get(ids=[c.id for c in candidates], include=["embeddings"])
        by_id = dict(zip(stored["ids"], stored["embeddings"], strict=True))
        vectors = [np.asarray(by_id[c.id], dtype=np.float32) for c in candidates]
        chosen = maximal_marginal_relevance(np.asarray(query), vectors, lambda_mult=0.5, k=k)
        return [candidates[i] for i in chosen]

    def random_examples(self, k: int, rng: random.Random) -> list[Neighbor]:
        """``k`` stored items drawn uniformly at random (the Self-Instruct baseline's examples)."""
        total = self._stored
        if total == 0:
            return []
        offsets = rng.sample(range(total), min(k, total))
        picked = []
        for offset in offsets:
            got = self._items.get(limit=1, offset=offset, include=["documents", "metadatas"])
            meta = got["metadatas"][0]
            picked.append(
                Neighbor(
                    id=got["ids"][0],
                    prompt=got["documents"][0],
                    response=str(meta.get("response", "")),
                    safety_issue=str(meta.get("safety_issue", "")),
                    source=str(meta.get("source", "")),
                    similarity=0.0,
                )
            )
        return picked

    # -- issues ------------------------------------------------------------------------------
    def add_issues(self, issues: Sequence[dict[str, str]], source: str = "seed") -> None:
        """Register known issues (``name``, optional ``description``) without touching counts."""
        unique: dict[str, dict[str, str]] = {}
        for issue in issues:  # the first mention of a name wins (it carries the description)
            unique.setdefault(normalize_issue(issue["name"]), issue)
        unique.pop("", None)
        fresh = [i for n, i in unique.items() if not self._issues.get(ids=[issue_id(n)])["ids"]]
        if not fresh:
            return
        names = [normalize_issue(i["name"]) for i in fresh]
        self._issues.add(
            ids=[issue_id(n) for n in names],
            embeddings=self.embed(names).tolist(),
            documents=names,
            metadatas=[
                {"count": 0, "description": i.get("description", ""), "source": source}
                for i in fresh
            ],
        )

    def resolve_issue(self, proposed: str, description: str = "") -> IssueResolution:
        """Map a proposed issue onto a known one when semantically equal, else register it."""
        name = normalize_issue(proposed)
        if self._issues.count():
            found = self._issues.query(
                query_embeddings=self.embed([name]).tolist(),
                n_results=1,
                include=["documents", "distances"],
            )
            known, similarity = found["documents"][0][0], 1.0 - float(found["distances"][0][0])
            if similarity >= self.issue_merge_threshold:
                return IssueResolution(known, False, similarity)
        else:
            similarity = 0.0
        self.add_issues([{"name": name, "description": description}], source="advisor")
        return IssueResolution(name, True, similarity)

    def nearest_issue(self, text: str) -> IssueResolution:
        """The known issue most similar to a text (a prompt), without registering anything."""
        if not self._issues.count():
            return IssueResolution("", False, 0.0)
        found = self._issues.query(
            query_embeddings=self.embed([text]).tolist(),
            n_results=1,
            include=["documents", "distances"],
        )
        return IssueResolution(
            found["documents"][0][0], False, 1.0 - float(found["distances"][0][0])
        )

    def issue_counts(self) -> dict[str, int]:
        """Accepted items per known issue (issues with none included, as 0)."""
        got = self._issues.get(include=["documents", "metadatas"])
        return {
            doc: int(meta.get("count", 0))
            for doc, meta in zip(got["documents"], got["metadatas"], strict=True)
        }

    def issue_descriptions(self) -> dict[str, str]:
        """Known issue names and their one-line descriptions."""
        got = self._issues.get(include=["documents", "metadatas"])
        return {
            doc: str(meta.get("description", ""))
            for doc, meta in zip(got["documents"], got["metadatas"], strict=True)
        }

    def _bump_issue(self, name: str, added: int) -> None:
        key = issue_id(name)
        got = self._issues.get(ids=[key], include=["metadatas"])
        if not got["ids"]:
            self.add_issues([{"name": name}], source="advisor")
            got = self._issues.get(ids=[key], include=["metadatas"])
        meta = dict(got["metadatas"][0])
        meta["count"] = int(meta.get("count", 0)) + added
        self._issues.update(ids=[key], metadatas=[meta])
