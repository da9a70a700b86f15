"""Chroma-backed memory: accepted prompts and known safety issues, with the questions the loop asks."""

from __future__ import annotations

import hashlib
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores.utils import maximal_marginal_relevance

T = TypeVar("T")
R = TypeVar("R")

ITEMS = "items"
ISSUES = "issues"
TACTICS = "tactics"
# Each issue's first advice text ("issue: instruction"), by the issue's id: see ``_same_advice``.
ISSUE_ADVICE = "issue-advice"
# Chroma is told the space explicitly: distances are then 1 - cosine similarity. The HNSW index
# is built denser than Chroma's default (16 neighbours, ef 100): measured at 100K stored vectors
# (benchmarks/memory_scale.py), the default found the true nearest prompt for 261-270 of 300
# near-duplicates, these settings for 300 of 300, at ~5 ms instead of ~2 ms per query.
COSINE_INDEX = {
    "hnsw:space": "cosine",
    "hnsw:M": 32,
    "hnsw:construction_ef": 200,
    "hnsw:search_ef": 200,
}
# Chroma refuses larger upserts (its max batch size is 5461 here).
UPSERT_BATCH = 4096
# Issue metadata key holding accepted-item counts (``count:WRITER`` per run in a shared memory).
COUNT = "count"
# Registry metadata: when a name was registered (seconds since the epoch), and, on a name that
# turned out to be an issue registered at the same moment under another name, that issue's name.
REGISTERED = "registered"
MERGED_INTO = "merged_into"
# Cosines are computed in float32 here (Chroma's distances, the critic's vectors) and in float64
# elsewhere (numpy): a pair exactly at a threshold then lands on either side of it (of the world
# double's 17,680 requests, 323 pairs are exactly 0.8 apart on the bag-of-words embeddings; float64
# puts 99 of them just below, float32 27; a benchmark counted 2 near-twins accepted by two workers
# in 12 runs). Every "at or above a threshold" of the project allows this much (``at_least``).
SIMILARITY_TOLERANCE = 1e-5
# Advice texts at least this similar (cosine) name one issue. From the calibration of advice texts
# (``python -m benchmarks.workers --calibrate``, docs/thresholds.md): at 0.70 none of 28,080
# two-issue pairs pass on all-MiniLM-L6-v2 (88.2% of same-issue pairs do), none on the
# bag-of-words fake (49.7%). A proposed issue is compared with every known one, so what counts is
# the rate per pair times the issues known: at 0.65 (0.04% per pair, 94.3% caught) a run of ~40
# issues would join two of them about once in every 60 new names, and did (3 workers, seed 5,
# target 60, embedded model: "fabricated news articles" onto "insurance fraud", 0.676). Stricter
# than the lease similarity (0.60): a false lease conflict costs one advisor call, a false merge
# loses an issue. Measured in world runs (target 200, seeds 1-4) at 0.60: 3 of 31 merges joined
# two issues, all at 0.60-0.64; the true ones reached 0.85.
ADVICE_MERGE_THRESHOLD = 0.70
# Accepted items per grid cell, and the issue and tactic registries, are kept in the process and
# updated as it writes them: advisor calls read them on every call, and reading them back from
# Chroma cost 24 ms for the cells of 640 items (1.06 s at 20,000: every item's metadata) and
# 7.7 ms of CPU for a registry of 150 issues, several times a call (on a 64-slot server, 500+
# advisor calls of a 640-item run held the interpreter for it). A shared memory is read every
# time: other workers write it, and a copy up to 2 s old cost 3 workers 3 of 60 cells
# (benchmarks/workers.py, seeds 1-8: 56.8 +- 2.1 against 59.8 +- 0.7).


@dataclass(frozen=True)
class Neighbor:
    """A stored prompt near a query, with its similarity (cosine, 1 = identical)."""

    id: str
    prompt: str
    response: str
    safety_issue: str
    source: str
    similarity: float
    tactic: str = ""
    kind: str = "harmful"


Cell = tuple[str, str, str, str]
"""A grid cell: (hazard, safety issue, tactic, kind)."""


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


def at_least(similarity: float, threshold: float) -> bool:
    """``similarity >= threshold`` up to float rounding (``SIMILARITY_TOLERANCE``)."""
    return similarity >= threshold - SIMILARITY_TOLERANCE


def issue_id(name: str) -> str:
    """Stable id of a safety issue from its normalized name."""
    return "issue-" + hashlib.sha1(normalize_issue(name).encode()).hexdigest()[:16]


def normalized_text(text: str, *, words_only: bool = False) -> str:
    """Text as the project compares it: case-folded and single-spaced; with ``words_only``, only
    its letters and digits (punctuation ignored). The one lexical normaliser of the code base."""
    if words_only:
        return " ".join(re.findall(r"[^\W_]+", text.casefold()))
    return " ".join(text.split()).casefold()


def normalize_issue(name: str) -> str:
    """An issue name's storage key (ids, counts): the name as ``normalized_text`` compares it."""
    return normalized_text(name)


class _ProcessCopy(Generic[T]):
    """A value read from Chroma and the process's copy of it: read when first asked (every time
    if ``shared``: other writers change it), kept up to date by the process's own writes, which
    are made under ``lock``."""

    def __init__(self, read: Callable[[], T], shared: bool) -> None:
        self._read = read
        self.shared = shared
        self.lock = threading.Lock()
        self._value: T | None = None

    def get(self, copy: Callable[[T], R]) -> R:
        """``copy`` of the value (read again first when shared)."""
        with self.lock:
            if self._value is None or self.shared:
                self._value = self._read()
            return copy(self._value)

    def wrote(self, change: Callable[[T], None]) -> None:
        """Apply a write just made (with ``lock`` held) to the copy, if there is one yet."""
        if self._value is not None:
            change(self._value)


class _Registry:
    """An issue or tactic registry: a Chroma collection of names, and the process's copy of its
    rows (id -> (name, metadata))."""

    def __init__(self, collection: Any, shared: bool) -> None:
        self.collection = collection
        self.copy = _ProcessCopy(self._read, shared)
        self.lock = self.copy.lock

    def _read(self) -> dict[str, tuple[str, dict[str, Any]]]:
        got = self.collection.get(include=["documents", "metadatas"])
        return {
            key: (doc, dict(meta or {}))
            for key, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        }

    def rows(self) -> list[tuple[str, dict[str, Any]]]:
        """Every (name, metadata) of the registry, but names merged into another."""
        return self.copy.get(
            lambda rows: [
                (doc, dict(meta)) for doc, meta in rows.values() if not meta.get(MERGED_INTO)
            ]
        )

    def wrote(
        self, ids: Sequence[str], metadatas: Sequence[dict[str, Any]], names: Sequence[str] = ()
    ) -> None:
        """Record a write just made (with ``lock`` held): rows added (``names`` given; an id
        already known is kept, as Chroma's ``add`` keeps it) or metadata keys updated."""

        def change(rows: dict[str, tuple[str, dict[str, Any]]]) -> None:
            for k, (key, meta) in enumerate(zip(ids, metadatas, strict=True)):
                if names and key not in rows:
                    rows[key] = (names[k], dict(meta))
                elif not names and key in rows:
                    rows[key][1].update(meta)

        self.copy.wrote(change)


class Memory:
    """The run's vector memory; embeddings are computed here, so Chroma never downloads a model."""

    def __init__(
        self,
        client: Any,
        embeddings: Embeddings,
        *,
        duplicate_threshold: float,
        issue_merge_threshold: float,
        advice_merge_threshold: float | None = ADVICE_MERGE_THRESHOLD,
        namespace: str = "",
        writer: str = "",
    ) -> None:
        """``namespace`` prefixes the collections; ``writer`` names this run in a shared memory;
        ``advice_merge_threshold`` merges a proposed issue whose advice asks for what a known
        issue's first advice asked (``None``: by names only).

        With a ``writer``, the run's items are stored as ``writer/id`` and its issue counts under
        its own metadata key, so runs sharing one memory never overwrite each other's records.
        """
        self.embeddings = embeddings
        self.duplicate_threshold = duplicate_threshold
        self.issue_merge_threshold = issue_merge_threshold
        self.advice_merge_threshold = advice_merge_threshold
        self.writer = writer
        self.client = client
        prefix = self.prefix = f"{namespace}-" if namespace else ""
        self._items = client.get_or_create_collection(prefix + ITEMS, metadata=COSINE_INDEX)
        shared = bool(writer)
        self._issues = _Registry(
            client.get_or_create_collection(prefix + ISSUES, metadata=COSINE_INDEX), shared
        )
        self._tactics = _Registry(
            client.get_or_create_collection(prefix + TACTICS, metadata=COSINE_INDEX), shared
        )
        self._issue_advice = client.get_or_create_collection(
            prefix + ISSUE_ADVICE, metadata=COSINE_INDEX
        )
        self._count_key = f"{COUNT}:{writer}" if writer else COUNT
        self._cells = _ProcessCopy(self._read_cells, shared)  # cell_counts

    def shared_collection(self, name: str) -> Any:
        """Another collection of this memory's namespace (``NAMESPACE-name``), cosine space."""
        return self.client.get_or_create_collection(self.prefix + name, metadata=COSINE_INDEX)

    def _key(self, item_id: str) -> str:
        return f"{self.writer}/{item_id}" if self.writer else item_id

    def _own(self, key: str) -> str:
        return key.removeprefix(f"{self.writer}/") if self.writer else key

    @classmethod
    def persistent(cls, path: Path, embeddings: Embeddings, **kwargs: Any) -> Memory:
        """Memory stored in a local directory (Chroma ``PersistentClient``)."""
        import chromadb
        from chromadb.config import Settings

        client = chromadb.PersistentClient(
            path=str(path), settings=Settings(anonymized_telemetry=False)
        )
        return cls(client, embeddings, **kwargs)

    @classmethod
    def remote(cls, url: str, embeddings: Embeddings, **kwargs: Any) -> Memory:
        """Memory on a Chroma server (``HttpClient``); ``ConnectionError`` if it does not answer."""
        return cls(chroma_http_client(url), embeddings, **kwargs)

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
        self,
        items: Sequence[dict[str, Any]],
        vectors: np.ndarray | Sequence[np.ndarray],
        source: str = "generated",
    ) -> None:
        """Store items (``id``, ``prompt``, ``response``, ``safety_issue``; optional ``round``,
        ``hazard``, ``tactic``, ``kind``)."""
        if not items:
            return
        if len(items) > UPSERT_BATCH:
            for start in range(0, len(items), UPSERT_BATCH):
                chunk = slice(start, start + UPSERT_BATCH)
                self.add_items(items[chunk], np.asarray(vectors)[chunk], source)
            return
        keys = [self._key(item["id"]) if source == "generated" else item["id"] for item in items]
        metadatas = [
            {
                "response": item["response"],
                "safety_issue": normalize_issue(item["safety_issue"]),
                "hazard": str(item.get("hazard") or ""),
                "tactic": normalized_text(str(item.get("tactic") or "")),
                "kind": str(item.get("kind") or "harmful"),
                "round": int(item.get("round", -1)),
                "source": source,
            }
            for item in items
        ]
        with self._cells.lock:  # a count read meanwhile would miss or double these items
            already = set(self._items.get(ids=keys, include=[])["ids"])
            self._items.upsert(
                ids=keys,
                embeddings=np.asarray(vectors, dtype=np.float32).tolist(),
                documents=[item["prompt"] for item in items],
                metadatas=metadatas,
            )
            fresh = [m for m, key in zip(metadatas, keys, strict=True) if key not in already]
            if source == "generated":
                self._cells.wrote(lambda cells: cells.update(_cell_of(meta) for meta in fresh))
        if source == "generated":
            counts: dict[str, int] = {}
            for meta in fresh:  # re-storing an item must not count it twice
                name = str(meta["safety_issue"])
                counts[name] = counts.get(name, 0) + 1
            self._bump_issues(counts)

    def count(self, source: str = "generated") -> int:
        """Number of stored items of a source (``generated`` or ``seed``)."""
        return len(self._items.get(where={"source": source}, include=[])["ids"])

    def has_item(self, item_id: str) -> bool:
        """Whether an item id is stored."""
        return bool(self._items.get(ids=[self._key(item_id)], include=[])["ids"])

    def nearest(self, vector: np.ndarray, k: int = 5) -> list[Neighbor]:
        """The ``k`` stored prompts nearest to an embedding, most similar first."""
        return self.nearest_many(np.asarray(vector)[None, :], k)[0]

    def nearest_many(self, vectors: np.ndarray, k: int = 5) -> list[list[Neighbor]]:
        """``nearest`` for many embeddings in one Chroma query (one lock, one round trip)."""
        return [[n for n, _ in found] for found in self._query(vectors, k, with_vectors=False)]

    def _query(
        self, vectors: np.ndarray, k: int, *, with_vectors: bool
    ) -> list[list[tuple[Neighbor, np.ndarray | None]]]:
        vectors = np.asarray(vectors, dtype=np.float32)
        if len(vectors) == 0:
            return []
        include = ["documents", "metadatas", "distances"] + (["embeddings"] if with_vectors else [])
        # Chroma returns fewer than k results (none when empty) without complaint: no count
        # needed, which also keeps a memory shared with other runs correct.
        found = self._items.query(query_embeddings=vectors.tolist(), n_results=k, include=include)
        results = []
        for row in range(len(vectors)):
            stored = found["embeddings"][row] if with_vectors else [None] * len(found["ids"][row])
            results.append(
                [
                    (
                        Neighbor(
                            id=self._own(item_id),
                            prompt=doc,
                            response=str(meta.get("response", "")),
                            safety_issue=str(meta.get("safety_issue", "")),
                            source=str(meta.get("source", "")),
                            similarity=1.0 - float(dist),
                            tactic=str(meta.get("tactic", "")),
                            kind=str(meta.get("kind", "harmful")),
                        ),
                        None if vector is None else np.asarray(vector, dtype=np.float32),
                    )
                    for item_id, doc, meta, dist, vector in zip(
                        found["ids"][row],
                        found["documents"][row],
                        found["metadatas"][row],
                        found["distances"][row],
                        stored,
                        strict=True,
                    )
                ]
            )
        return results

    def check_redundancy(self, vector: np.ndarray) -> RedundancyCheck:
        """Is this prompt a near-duplicate of a stored one (similarity >= the duplicate threshold)?"""
        return self.check_redundancy_many(np.asarray(vector)[None, :])[0]

    def check_redundancy_many(self, vectors: np.ndarray) -> list[RedundancyCheck]:
        """``check_redundancy`` for a batch of embeddings, in one query."""
        checks = []
        for neighbors in self.nearest_many(vectors, k=1):
            if not neighbors:
                checks.append(RedundancyCheck(False, 0.0, None))
                continue
            top = neighbors[0]
            checks.append(
                RedundancyCheck(
                    at_least(top.similarity, self.duplicate_threshold), top.similarity, top
                )
            )
        return checks

    def diverse_examples(self, query: np.ndarray, k: int, pool: int = 24) -> list[Neighbor]:
        """``k`` stored items relevant to ``query`` yet unlike each other (maximal marginal relevance)."""
        return self.diverse_examples_many(np.asarray(query)[None, :], k, pool)[0]

    def diverse_examples_many(
        self, queries: np.ndarray, k: int, pool: int = 24
    ) -> list[list[Neighbor]]:
        """``diverse_examples`` for many queries: one Chroma query returns candidates and vectors.

        Run per generator branch, 16 concurrent queries waited ~100 ms each (measured on a busy
        machine); one batched query for the round took ~24 ms in the throughput benchmark and
        77 ms p50 with 100K stored items (``benchmarks/memory_scale.py``).
        """
        chosen_lists = []
        for query, found in zip(
            queries, self._query(queries, pool, with_vectors=True), strict=True
        ):
            if len(found) <= k:
                chosen_lists.append([n for n, _ in found])
                continue
            vectors = [vector.tolist() for _, vector in found if vector is not None]
            chosen = maximal_marginal_relevance(np.asarray(query), vectors, lambda_mult=0.5, k=k)
            chosen_lists.append([found[i][0] for i in chosen])
        return chosen_lists

    def random_examples(self, k: int, rng: random.Random) -> list[Neighbor]:
        """``k`` stored items drawn uniformly at random (the Self-Instruct baseline's examples)."""
        total = self._items.count()
        if total == 0:
            return []
        offsets = rng.sample(range(total), min(k, total))
        picked = []
        for offset in offsets:
            got = self._items.get(limit=1, offset=offset, include=["documents", "metadatas"])
            meta = got["metadatas"][0]
            picked.append(
                Neighbor(
                    id=self._own(got["ids"][0]),
                    prompt=got["documents"][0],
                    response=str(meta.get("response", "")),
                    safety_issue=str(meta.get("safety_issue", "")),
                    source=str(meta.get("source", "")),
                    similarity=0.0,
                    tactic=str(meta.get("tactic", "")),
                    kind=str(meta.get("kind", "harmful")),
                )
            )
        return picked

    # -- issues and tactics -------------------------------------------------------------------
    # Both are registries of names merged by meaning: a proposed name lands on a known one when
    # their embeddings are at least ``issue_merge_threshold`` similar, else it is registered.
    def add_issues(self, issues: Sequence[dict[str, str]], source: str = "seed") -> None:
        """Register known issues (``name``, optional ``description``, ``hazard``); counts untouched."""
        self._register(self._issues, issues, source)

    def add_tactics(self, tactics: Sequence[dict[str, str]], source: str = "seed") -> None:
        """Register known tactics (``name``, optional ``description``)."""
        self._register(self._tactics, tactics, source)

    def _register(self, registry: _Registry, rows: Sequence[dict[str, str]], source: str) -> None:
        unique: dict[str, dict[str, str]] = {}
        for row in rows:  # the first mention of a name wins (it carries the description)
            unique.setdefault(normalize_issue(row["name"]), row)
        unique.pop("", None)
        if not unique:
            return
        with registry.lock:
            found = registry.collection.get(ids=[issue_id(n) for n in unique], include=[])
            fresh = {n: row for n, row in unique.items() if issue_id(n) not in set(found["ids"])}
            if not fresh:
                return
            ids = [issue_id(n) for n in fresh]
            metadatas: list[dict[str, Any]] = [
                {
                    COUNT: 0,
                    "description": str(row.get("description") or ""),
                    "hazard": str(row.get("hazard") or ""),
                    "source": source,
                    REGISTERED: time.time(),
                }
                for row in fresh.values()
            ]
            registry.collection.add(
                ids=ids,
                embeddings=self.embed(list(fresh)).tolist(),
                documents=list(fresh),
                metadatas=metadatas,
            )
            registry.wrote(ids, metadatas, names=list(fresh))
            if registry is self._issues:
                self._add_issue_advice(fresh.values())

    def _add_issue_advice(self, rows: Iterable[dict[str, str]]) -> None:
        """Keep new issues' first advice texts (``name: description``) for ``_same_advice``."""
        names = {
            normalize_issue(row["name"]): row["description"]
            for row in rows
            if row.get("description")
        }
        if names:
            texts = [f"{name}: {description}" for name, description in names.items()]
            self._issue_advice.upsert(
                ids=[issue_id(name) for name in names],
                embeddings=self.embed(texts).tolist(),
                documents=texts,
                metadatas=[{"name": name} for name in names],
            )

    def resolve_issue(self, proposed: str, description: str = "") -> IssueResolution:
        """Map a proposed issue onto a known one when semantically equal, else register it."""
        return self.resolve_issues([(proposed, description)])[0]

    def resolve_issues(
        self, proposed: Sequence[tuple[str, str]], hazards: Sequence[str] | None = None
    ) -> list[IssueResolution]:
        """``resolve_issue`` for a round's advice, in order, with one embedding and one query.

        A later name equal to an earlier new one of the same batch is merged onto it, exactly as
        one-by-one resolution would. A new issue is registered under its ``hazards`` entry.
        """
        hazards = hazards or [""] * len(proposed)
        rows = [
            {"name": n, "description": d, "hazard": h}
            for (n, d), h in zip(proposed, hazards, strict=True)
        ]
        return self._resolve(self._issues, rows)

    def resolve_tactics(self, proposed: Sequence[str]) -> list[IssueResolution]:
        """Map proposed tactics onto known ones by meaning; register the new ones."""
        return self._resolve(self._tactics, [{"name": n} for n in proposed])

    def _resolve(
        self, registry: _Registry, rows: Sequence[dict[str, str]]
    ) -> list[IssueResolution]:
        names = [normalize_issue(row["name"]) for row in rows]
        if not names:
            return []
        vectors = self.embed(names)
        found = registry.collection.query(
            query_embeddings=vectors.tolist(),
            n_results=1,
            include=["documents", "metadatas", "distances"],
        )
        nearest = [
            (str((metas[0] or {}).get(MERGED_INTO) or docs[0]), 1.0 - float(dists[0]))
            if docs
            else ("", 0.0)
            for docs, metas, dists in zip(
                found["documents"], found["metadatas"], found["distances"], strict=True
            )
        ]
        unnamed = [
            k
            for k, (_, similarity) in enumerate(nearest)
            if similarity < self.issue_merge_threshold
        ]
        advised = dict(
            zip(
                unnamed,
                self._same_advice(
                    registry, [names[k] for k in unnamed], [rows[k] for k in unnamed]
                ),
                strict=True,
            )
        )
        resolved: list[IssueResolution] = []
        fresh: list[tuple[dict[str, str], np.ndarray]] = []  # new in this batch, with vectors
        for k, (name, row, vector) in enumerate(zip(names, rows, vectors, strict=True)):
            known, similarity = nearest[k]
            for other, other_vector in fresh:
                if float(vector @ other_vector) > similarity:
                    known, similarity = other["name"], float(vector @ other_vector)
            same, same_similarity = advised.get(k, ("", 0.0))
            if known and similarity >= self.issue_merge_threshold:
                resolved.append(IssueResolution(known, False, similarity))
            elif same:
                resolved.append(IssueResolution(same, False, same_similarity))
            else:
                fresh.append(({**row, "name": name}, vector))
                resolved.append(IssueResolution(name, True, similarity))
        if fresh:
            self._register(registry, [row for row, _ in fresh], source="advisor")
        if fresh and registry is self._issues:
            twins = self._earlier_twins([row for row, _ in fresh], [v for _, v in fresh])
            resolved = [
                IssueResolution(twins[r.name], False, r.similarity) if r.name in twins else r
                for r in resolved
            ]
        return resolved

    def _earlier_twins(
        self, rows: Sequence[dict[str, str]], vectors: Sequence[np.ndarray]
    ) -> dict[str, str]:
        """New issues (just registered) that another worker or advisor call registered at the
        same moment under another name: each such name -> the twin registered first, when that
        is not this one (the name is then merged into it, ``MERGED_INTO``).

        Register first, then look, as accepting an item does (``memory.acceptance``): two workers
        proposing one new issue at once both miss the other's name when they resolve theirs, and
        the one that looks second sees the first; if both see both, both keep the earlier one.
        A twin is what ``_resolve`` merges: a name at least ``issue_merge_threshold`` similar, or
        a first advice text at least ``advice_merge_threshold`` similar; never another name of
        the same batch, which one advisor call named as a different issue and ``_resolve`` kept
        apart (seen on the bag-of-words fake: "culturing anthrax or plague bacteria in a home
        lab" merged into "hyping a low-cap crypto coin ...", 0.66 alike by the advice texts'
        shared framing words, and every later pathogen name followed it).
        """
        names = [row["name"] for row in rows]
        batch = set(names)
        nearby = self._issues.collection.query(
            query_embeddings=[v.tolist() for v in vectors],
            n_results=2,  # itself and the nearest other
            include=["documents", "metadatas", "distances"],
        )
        candidates: list[set[str]] = [
            {
                doc
                for doc, meta, dist in zip(docs, metas, dists, strict=True)
                if doc not in batch
                and not (meta or {}).get(MERGED_INTO)
                and at_least(1.0 - float(dist), self.issue_merge_threshold)
            }
            for name, docs, metas, dists in zip(
                names,
                nearby["documents"],
                nearby["metadatas"],
                nearby["distances"],
                strict=True,
            )
        ]
        if self.advice_merge_threshold is not None and any(row.get("description") for row in rows):
            texts = [f"{row['name']}: {row.get('description') or ''}" for row in rows]
            advised = self._issue_advice.query(
                query_embeddings=self.embed(texts).tolist(),
                n_results=2,
                include=["metadatas", "distances"],
            )
            for row, found, metas, dists in zip(
                rows, candidates, advised["metadatas"], advised["distances"], strict=True
            ):
                if row.get("description"):
                    found.update(
                        str(meta["name"])
                        for meta, dist in zip(metas, dists, strict=True)
                        if meta
                        and meta.get("name") not in batch
                        and at_least(1.0 - float(dist), self.advice_merge_threshold)
                    )
        if not any(candidates):
            return {}
        every = sorted(set(names).union(*candidates))
        got = self._issues.collection.get(ids=[issue_id(n) for n in every], include=["metadatas"])
        meta_of = {key: meta or {} for key, meta in zip(got["ids"], got["metadatas"], strict=True)}

        def order(name: str) -> tuple[float, str]:
            meta = meta_of.get(issue_id(name), {})
            return float(meta.get(REGISTERED, 0.0)), name

        twins = {}
        for name, found in zip(names, candidates, strict=True):
            live = [
                n
                for n in found
                if issue_id(n) in meta_of and not meta_of[issue_id(n)].get(MERGED_INTO)
            ]
            first = min([name, *live], key=order)
            if first != name:
                twins[name] = first
        if twins:
            ids = [issue_id(n) for n in twins]
            metadatas: list[dict[str, Any]] = [{MERGED_INTO: first} for first in twins.values()]
            with self._issues.lock:
                self._issues.collection.update(ids=ids, metadatas=metadatas)
                self._issues.wrote(ids, metadatas)
            # its advice text now names the first one (updated, not deleted: a query racing a
            # delete can fail inside Chroma, see ``memory.leases.Leases.conflicts``)
            self._issue_advice.update(ids=ids, metadatas=[{"name": n} for n in twins.values()])
        return twins

    def _same_advice(
        self, registry: _Registry, names: Sequence[str], rows: Sequence[dict[str, str]]
    ) -> list[tuple[str, float]]:
        """For each proposed issue with a description (its advice's instruction), the known issue
        whose first advice text is at least ``advice_merge_threshold`` similar to its own, with that
        similarity; ``("", 0.0)`` for the others.

        A capable model names one issue in several ways ("stolen credit cards", "cashing out
        stolen credit card data from dark web shops") that embeddings of the names alone put
        below the merge threshold, and its advice then says the same thing in the same words.
        Measured on the world double (``python -m benchmarks.workers --target 200``, 3 workers):
        the union covered 149.5 +- 7.4 of 160 cells with the tactic matcher alone (seeds 1-4),
        157.9 +- 1.1 with this too (seeds 1-8). ``ADVICE_MERGE_THRESHOLD`` says why 0.70.
        """
        unmatched = [("", 0.0)] * len(rows)
        if (
            registry is not self._issues
            or self.advice_merge_threshold is None
            or not any(row.get("description") for row in rows)
            or not self._issue_advice.count()
        ):
            return unmatched
        texts = [f"{n}: {row.get('description') or ''}" for n, row in zip(names, rows, strict=True)]
        found = self._issue_advice.query(
            query_embeddings=self.embed(texts).tolist(),
            n_results=1,
            include=["metadatas", "distances"],
        )
        result = []
        for row, metas, dists in zip(rows, found["metadatas"], found["distances"], strict=True):
            similarity = 1.0 - float(dists[0]) if dists else 0.0
            if (
                row.get("description")
                and metas
                and metas[0]
                and similarity >= self.advice_merge_threshold
            ):
                result.append((str(metas[0]["name"]), similarity))
            else:
                result.append(("", 0.0))
        return result

    def nearest_issue(self, text: str) -> IssueResolution:
        """The known issue most similar to a text (a prompt), without registering anything."""
        return self._nearest(self._issues, text)

    def nearest_tactic(self, text: str) -> IssueResolution:
        """The known tactic most similar to a text, without registering anything."""
        return self._nearest(self._tactics, text)

    def _nearest(self, registry: _Registry, text: str) -> IssueResolution:
        if not registry.collection.count():
            return IssueResolution("", False, 0.0)
        found = registry.collection.query(
            query_embeddings=self.embed([text]).tolist(),
            n_results=1,
            include=["documents", "distances"],
        )
        return IssueResolution(
            found["documents"][0][0], False, 1.0 - float(found["distances"][0][0])
        )

    def issue_counts(self) -> dict[str, int]:
        """Accepted items per known issue (issues with none included, as 0)."""
        return {
            doc: sum(
                int(value)
                for key, value in meta.items()
                if key == COUNT or key.startswith(f"{COUNT}:")
            )
            for doc, meta in self._issues.rows()
        }

    def issue_counts_of_others(self) -> dict[str, int]:
        """Accepted items per issue of the other writers of a shared memory (issues with any)."""
        if not self.writer:
            return {}
        counts = {
            doc: sum(
                int(value)
                for key, value in meta.items()
                if key.startswith(f"{COUNT}:") and key != self._count_key
            )
            for doc, meta in self._issues.rows()
        }
        return {name: n for name, n in counts.items() if n}

    def issue_descriptions(self) -> dict[str, str]:
        """Known issue names and their one-line descriptions."""
        return self._field(self._issues, "description")

    def issue_hazards(self) -> dict[str, str]:
        """Known issue names and the hazard each belongs to (``""`` where none is known)."""
        return self._field(self._issues, "hazard")

    def set_issue_hazards(self, hazards: dict[str, str]) -> None:
        """Place known issues under hazards (issues registered without one)."""
        if hazards:
            ids, metadatas = (
                [issue_id(n) for n in hazards],
                [{"hazard": h} for h in hazards.values()],
            )
            with self._issues.lock:
                self._issues.collection.update(ids=ids, metadatas=metadatas)
                self._issues.wrote(ids, metadatas)

    def tactic_descriptions(self) -> dict[str, str]:
        """Known tactic names and their one-line descriptions."""
        return self._field(self._tactics, "description")

    @staticmethod
    def _field(registry: _Registry, key: str) -> dict[str, str]:
        return {doc: str(meta.get(key, "")) for doc, meta in registry.rows()}

    def cell_counts(self) -> dict[Cell, int]:
        """Accepted items per grid cell (hazard, issue, tactic, kind), every writer included
        (a shared memory's read each time: other workers write it)."""
        return self._cells.get(dict)

    def _read_cells(self) -> Counter[Cell]:
        got = self._items.get(where={"source": "generated"}, include=["metadatas"])
        return Counter(_cell_of(meta) for meta in got["metadatas"])

    def _bump_issues(self, counts: dict[str, int]) -> None:
        """Add accepted-item counts to issues (registering unknown ones): one read, one write."""
        if not counts:
            return
        keys = [issue_id(n) for n in counts]
        got = self._issues.collection.get(ids=keys, include=["metadatas"])
        metas = dict(zip(got["ids"], got["metadatas"], strict=True))
        unknown = [{"name": n} for n in counts if issue_id(n) not in metas]
        if unknown:
            self.add_issues(unknown, source="advisor")
        # Only this run's own key is written: Chroma merges metadata keys on update, so runs
        # sharing a memory never overwrite each other's counts.
        updates: list[dict[str, Any]] = [
            {self._count_key: int(metas.get(key, {}).get(self._count_key, 0)) + added}
            for key, added in zip(keys, counts.values(), strict=True)
        ]
        with self._issues.lock:
            self._issues.collection.update(ids=keys, metadatas=updates)
            self._issues.wrote(keys, updates)


def _cell_of(meta: Any) -> Cell:
    """The grid cell of an item's stored metadata."""
    return (
        str(meta.get("hazard", "")),
        str(meta.get("safety_issue", "")),
        str(meta.get("tactic", "")),
        str(meta.get("kind", "harmful")),
    )


def chroma_http_client(url: str) -> Any:
    """A Chroma ``HttpClient`` for ``http(s)://HOST:PORT``; ``ConnectionError`` if none answers."""
    from urllib.parse import urlsplit

    import chromadb
    from chromadb.config import Settings

    parts = urlsplit(url)
    https = parts.scheme == "https"
    try:
        return chromadb.HttpClient(
            host=parts.hostname or "",
            port=parts.port or (443 if https else 8000),
            ssl=https,
            settings=Settings(anonymized_telemetry=False),
        )
    except Exception as exc:  # chromadb raises ValueError("Could not connect ...") and others
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConnectionError(f"no Chroma server answers at {url}: {reason}") from None
