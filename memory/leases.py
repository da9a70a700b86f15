"""Leases: what each worker of a shared memory is generating now, visible to the others.

Workers sharing one ``--memory-namespace`` see each other's *accepted* items in memory, but not
what the others are writing: started together, they chase the same gaps. So a worker publishes
each generator task it starts as a lease in the namespace's ``NAME-leases`` collection (the
task's grid cell, its advice text and vector, the writer, an expiry time), releases it when the
task's candidates are judged, and reads the other workers' live leases as work in flight
(``memory.coverage.coverage_stats(in_flight=...)``). A lease expires after ``seconds``, so the
claims of a killed worker block nobody for longer than that. A private memory has no leases.

Expiry compares wall-clock times written by different processes: workers on machines whose
clocks disagree by more than a small part of ``seconds`` see leases expire early or late.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from memory.store import Cell, Memory, at_least, normalize_issue, normalized_text

LEASES = "leases"
# A lease lives this long unless released (--lease-seconds): longer than a generator task plus
# its judging takes on a busy server (a capable model's task took 3-12 s in benchmarks/
# throughput.py), short enough that a killed worker's gaps are taken up within minutes.
DEFAULT_LEASE_SECONDS = 300.0
# Advice texts at least this similar (cosine, all-MiniLM-L6-v2) ask for the same thing
# (--lease-similarity): measured by ``python -m benchmarks.workers --calibrate`` on the world
# double's advice (docs/thresholds.md).
DEFAULT_LEASE_SIMILARITY = 0.60
# Advice texts whose vectors a worker keeps (its own and the other workers' leases): far more than
# live at once (a few dozen), so a text is embedded about once.
EMBEDDED_TEXTS = 4096


class Claim(NamedTuple):
    """A generator task as a lease: its pool key, grid cell and advice text."""

    key: str
    cell: Cell
    text: str


@dataclass(frozen=True)
class Lease:
    """Another worker's live claim on a cell."""

    writer: str
    cell: Cell
    text: str
    expires: float


def cell_key(cell: Cell) -> Cell:
    """A cell as leases compare it (names as memory stores them)."""
    hazard, issue, tactic, kind = cell
    return (
        normalized_text(hazard),
        normalize_issue(issue),
        normalized_text(tactic),
        kind or "harmful",
    )


class Leases:
    """The leases of one worker in a shared memory; every method is a no-op for a private one."""

    def __init__(
        self,
        memory: Memory | None,
        *,
        seconds: float = DEFAULT_LEASE_SECONDS,
        similarity: float = DEFAULT_LEASE_SIMILARITY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Leases in ``memory``'s namespace when it is shared (it has a writer), else none."""
        self.seconds = seconds
        self.similarity = similarity
        self._clock = clock
        self._memory = memory if memory is not None and memory.writer else None
        self._collection: Any = (
            self._memory.shared_collection(LEASES) if self._memory is not None else None
        )
        self._judging: set[str] = set()
        self._embedded: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    @classmethod
    def private(cls) -> Leases:
        """No leases (a run with a memory of its own)."""
        return cls(None)

    @property
    def shared(self) -> bool:
        """Whether this worker shares its memory (and so publishes and reads leases)."""
        return self._collection is not None

    @property
    def writer(self) -> str:
        return self._memory.writer if self._memory is not None else ""

    def _id(self, key: str) -> str:
        return f"{self.writer}/{key}"

    def publish(self, claims: Sequence[Claim], replacing: Sequence[str] = ()) -> None:
        """Lease each claim's cell until ``seconds`` from now, in place of the provisional
        claims ``replacing`` (``contest``); drop every expired lease."""
        if self._collection is None or self._memory is None:
            return
        if claims:
            now = self._clock()
            self._collection.delete(where={"expires": {"$lt": now}})
            self._write([self._id(c.key) for c in claims], claims)
        if replacing:
            self._collection.delete(ids=list(replacing))

    def _write(self, ids: Sequence[str], claims: Sequence[Claim]) -> None:
        assert self._memory is not None and self._collection is not None
        expires = self._clock() + self.seconds
        self._collection.upsert(
            ids=list(ids),
            embeddings=self._vectors([c.text for c in claims]).tolist(),
            documents=[c.text for c in claims],
            metadatas=[_metadata(c.cell, self.writer, expires) for c in claims],
        )

    def contest(self, cells: Sequence[Cell], texts: Sequence[str]) -> tuple[list[bool], list[str]]:
        """Claim advice items against the other workers: which are free, and the ids of their
        provisional claims (``publish(..., replacing=ids)`` turns them into leases).

        Write first, then look: of two workers claiming one cell at once, the one that looks
        second sees the other's claim, so at least one of them gives it up (both may: each then
        plans again, which costs an advisor call, not a duplicate cell).
        """
        if self._collection is None or not cells:
            return [True] * len(cells), []
        ids = [self._id(f"claim-{uuid.uuid4().hex[:12]}") for _ in cells]
        self._write(ids, [Claim("", c, t) for c, t in zip(cells, texts, strict=True)])
        free = [lease is None for lease in self.conflicts(cells, texts)]
        lost = [i for i, ok in zip(ids, free, strict=True) if not ok]
        if lost:
            self._collection.delete(ids=lost)
        return free, [i for i, ok in zip(ids, free, strict=True) if ok]

    def judging(self, keys: Sequence[str]) -> None:
        """These tasks' candidates are being judged: their leases hold until ``release_judged``
        (until their items are in memory, where the other workers see them)."""
        with self._lock:
            self._judging.update(keys)

    def release_judged(self) -> None:
        """Release the leases of the tasks whose candidates were judged."""
        with self._lock:
            keys, self._judging = sorted(self._judging), set()
        self.release(keys)

    def release(self, keys: Sequence[str]) -> None:
        """Release these tasks' leases."""
        if self._collection is not None and keys:
            self._collection.delete(ids=[self._id(k) for k in keys])

    def release_all(self) -> None:
        """Release every lease of this worker (the run ends or stops)."""
        if self._collection is not None:
            self._collection.delete(where={"writer": self.writer})
        with self._lock:
            self._judging.clear()

    def _others_filter(self) -> dict[str, Any]:
        return {"$and": [{"writer": {"$ne": self.writer}}, {"expires": {"$gt": self._clock()}}]}

    def others(self) -> list[Lease]:
        """The other workers' live leases."""
        if self._collection is None:
            return []
        got = self._collection.get(where=self._others_filter(), include=["documents", "metadatas"])
        return [
            _lease(meta, doc or "")
            for doc, meta in zip(got["documents"], got["metadatas"], strict=True)
            if meta is not None
        ]

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of advice texts (rows), each text embedded once per process."""
        assert self._memory is not None
        with self._lock:
            known = {t: self._embedded[t] for t in texts if t in self._embedded}
        missing = sorted(set(texts) - set(known))
        if missing:
            known.update(zip(missing, self._memory.embed(missing), strict=True))
            with self._lock:
                if len(self._embedded) > EMBEDDED_TEXTS:
                    self._embedded.clear()
                self._embedded.update({t: known[t] for t in missing})
        return np.asarray([known[t] for t in texts], dtype=np.float32)

    def conflicts(self, cells: Sequence[Cell], texts: Sequence[str]) -> list[Lease | None]:
        """For each advice item (its cell and text), the other worker's live lease it repeats:
        the same issue (in any tactic or kind: two workers writing one issue at once write
        near-twin requests, measured in benchmarks/workers.py), or advice at least
        ``similarity`` similar by meaning (the same issue under another name); else ``None``.

        The leases' texts are read (metadata only) and embedded and compared here: a Chroma
        query, or a read of the stored vectors, racing another worker's release failed inside the
        server ("Error finding id": 2 of 3 runs on the embedded model at a total of 200, each
        stopping a worker). A text is embedded once per process.
        """
        if self._collection is None or self._memory is None or not cells:
            return [None] * len(cells)
        others = self.others()
        if not others:
            return [None] * len(cells)
        by_issue = {cell_key(lease.cell)[1]: lease for lease in others}
        similar = self._vectors(list(texts)) @ self._vectors([lease.text for lease in others]).T
        result: list[Lease | None] = []
        for cell, row in zip(cells, similar, strict=True):
            nearest = int(np.argmax(row))
            near = others[nearest] if at_least(float(row[nearest]), self.similarity) else None
            result.append(by_issue.get(cell_key(cell)[1]) or near)
        return result


def _metadata(cell: Cell, writer: str, expires: float) -> dict[str, Any]:
    hazard, issue, tactic, kind = cell_key(cell)
    return {
        "hazard": hazard,
        "safety_issue": issue,
        "tactic": tactic,
        "kind": kind,
        "writer": writer,
        "expires": expires,
    }


def _lease(meta: dict[str, Any], text: str) -> Lease:
    cell = (
        str(meta.get("hazard", "")),
        str(meta.get("safety_issue", "")),
        str(meta.get("tactic", "")),
        str(meta.get("kind", "harmful")),
    )
    return Lease(str(meta.get("writer", "")), cell, text, float(meta.get("expires", 0.0)))
