"""Metrics of a run directory: issue coverage and balance, prompt diversity, duplicates, cost.

Every metric is a small pure function on plain data (issue names, embedding vectors), usable from a
notebook; ``run_metrics`` reads a run directory and combines them into one JSON-serializable dict.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from agents.errors import UserError
from graph.context import DEFAULT_DUPLICATE_THRESHOLD, DEFAULT_ISSUE_MERGE_THRESHOLD
from graph.measure.grid import grid_metrics
from graph.measure.reference_coverage import (
    DEFAULT_COVERAGE_THRESHOLD,
    EmbeddedReference,
    reference_coverage,
)
from graph.runtime.rundir import CONFIG, DATASET, REJECTED, ROUNDS, STATS, RunDirectory
from memory.store import SIMILARITY_TOLERANCE, normalize_issue

# Rows of the similarity matrix computed at once, so memory stays bounded on large datasets.
BLOCK_ROWS = 1024
# Eigenvalues below this are numerical noise (Vendi score).
EIGEN_EPSILON = 1e-12
# Decimal places of the similarity metrics in ``run_metrics``.
DIGITS = 4


class EmbeddingsLike(Protocol):
    """What the metrics need of an embedding model (LangChain's ``Embeddings`` interface)."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]: ...


def unit_rows(vectors: Any) -> np.ndarray:
    """Rows scaled to unit length as a float64 (n, d) array; zero rows stay zero."""
    array = np.asarray(vectors, dtype=np.float64)
    if array.size == 0:
        return np.zeros((0, 0))
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.where(norms == 0, 1.0, norms)


def embed_texts(texts: Sequence[str], embeddings: EmbeddingsLike) -> np.ndarray:
    """Embed texts as unit rows (an empty (0, 0) array for no texts)."""
    return unit_rows(embeddings.embed_documents(list(texts))) if texts else np.zeros((0, 0))


# -- issues -----------------------------------------------------------------------------------
def merge_issue_names(
    issue_names: Sequence[str], embeddings: EmbeddingsLike, merge_threshold: float
) -> list[str]:
    """Each name mapped to its cluster's leader: greedy clustering in order, as the run merges.

    A name (normalized) joins the most similar earlier leader if their cosine is >= the
    threshold (as ``Memory.resolve_issue`` does), else it leads a new cluster; so merging is not
    transitive, and clustering a prefix gives the same leaders as clustering the whole list.
    """
    normalized = [normalize_issue(name) for name in issue_names]
    unique = list(dict.fromkeys(normalized))
    vectors = embed_texts(unique, embeddings)
    leader_of: dict[str, str] = {}
    leaders: list[int] = []
    for i, name in enumerate(unique):
        similarities = vectors[leaders] @ vectors[i] if leaders else np.zeros(0)
        if len(similarities) and similarities.max() >= merge_threshold:
            leader_of[name] = unique[leaders[int(similarities.argmax())]]
        else:
            leaders.append(i)
            leader_of[name] = name
    return [leader_of[name] for name in normalized]


def distinct_issues(
    issue_names: Sequence[str], embeddings: EmbeddingsLike, merge_threshold: float
) -> int:
    """Number of distinct issues once near-synonyms (cosine >= ``merge_threshold``) are merged."""
    return len(set(merge_issue_names(issue_names, embeddings, merge_threshold)))


def issue_growth(
    items_in_order: Sequence[str], embeddings: EmbeddingsLike, merge_threshold: float
) -> list[tuple[int, int]]:
    """(accepted count, distinct issues so far) after each item; items are issue names in order."""
    seen: set[str] = set()
    growth = []
    for count, leader in enumerate(merge_issue_names(items_in_order, embeddings, merge_threshold)):
        seen.add(leader)
        growth.append((count + 1, len(seen)))
    return growth


def issue_growth_by_round(
    issue_names: Sequence[str],
    rounds: Sequence[int],
    embeddings: EmbeddingsLike,
    merge_threshold: float,
) -> list[tuple[int, int, int]]:
    """(round, accepted count, distinct issues) at the end of each round that accepted items."""
    order = sorted(range(len(issue_names)), key=lambda k: rounds[k])
    growth = issue_growth([issue_names[k] for k in order], embeddings, merge_threshold)
    last = {rounds[k]: position for position, k in enumerate(order)}
    return [(r, *growth[position]) for r, position in sorted(last.items())]


def issue_balance(issue_names: Sequence[str]) -> float:
    """Normalized Shannon entropy of items per issue: 1.0 perfectly even, 0.0 for one issue or none."""
    counts = np.array(list(Counter(normalize_issue(n) for n in issue_names).values()), dtype=float)
    if len(counts) < 2:
        return 0.0
    shares = counts / counts.sum()
    return float(-(shares * np.log(shares)).sum() / math.log(len(counts)))


# -- prompt diversity -------------------------------------------------------------------------
def mean_pairwise_cosine_distance(vectors: Any) -> float:
    """Mean of 1 - cosine over all pairs of distinct rows (0.0 for fewer than two rows)."""
    x = unit_rows(vectors)
    n = len(x)
    if n < 2:
        return 0.0
    total = x.sum(axis=0)
    pair_sum = (total @ total - np.einsum("ij,ij->", x, x)) / 2  # sum of cos over i < j
    return float(1.0 - pair_sum / (n * (n - 1) / 2))


def vendi_score(vectors: Any) -> float:
    """Vendi score (Friedman & Dieng 2023): exp of the entropy of the eigenvalues of K/n, K cosine."""
    x = unit_rows(vectors)
    n = len(x)
    if n == 0:
        return 0.0
    # K/n = X X^T / n has the same non-zero eigenvalues as X^T X / n; take the smaller matrix.
    gram = (x.T @ x if x.shape[1] < n else x @ x.T) / n
    eigenvalues = np.linalg.eigvalsh(gram)
    eigenvalues = eigenvalues[eigenvalues > EIGEN_EPSILON]
    return float(np.exp(-(eigenvalues * np.log(eigenvalues)).sum()))


def nearest_neighbor_similarities(vectors: Any) -> list[float]:
    """Each row's highest cosine similarity to any other row (empty for fewer than two rows)."""
    x = unit_rows(vectors)
    n = len(x)
    if n < 2:
        return []
    best = np.empty(n)
    for start in range(0, n, BLOCK_ROWS):
        block = x[start : start + BLOCK_ROWS] @ x.T
        rows = np.arange(len(block))
        block[rows, rows + start] = -np.inf
        best[start : start + len(block)] = block.max(axis=1)
    return np.clip(best, -1.0, 1.0).tolist()


def near_duplicate_rate(vectors: Any, threshold: float) -> float:
    """Share of rows whose nearest other row has cosine >= ``threshold`` (0.0 below two rows)."""
    similarities = nearest_neighbor_similarities(vectors)
    if not similarities:
        return 0.0
    return float(np.mean(np.array(similarities) >= threshold - SIMILARITY_TOLERANCE))


# -- a run directory --------------------------------------------------------------------------
class _MemoEmbeddings:
    """Embeddings that embed each distinct text once (issue metrics reuse the same names)."""

    def __init__(self, inner: EmbeddingsLike) -> None:
        self._inner = inner
        self._cache: dict[str, list[float]] = {}

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed many texts, from the cache where possible."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            self._cache.update(zip(missing, self._inner.embed_documents(missing), strict=True))
        return [self._cache[t] for t in texts]


def load_run(run_dir: Path | str) -> dict[str, Any]:
    """Accepted items, rejected lines, stats and config of a run; ``UserError`` if unusable."""
    path = Path(run_dir)
    if not path.is_dir():
        raise UserError(f"run directory not found: {path}")
    if not (path / DATASET).is_file():
        if (path / CONFIG).is_file():
            raise UserError(f"{path}: the run has accepted no item yet, nothing to measure")
        raise UserError(f"{path} has no {DATASET}; is it a run directory?")
    run = RunDirectory(path)
    items = run.read_jsonl(DATASET)
    if not items:
        raise UserError(f"{path / DATASET} is empty: no accepted items to measure")
    for number, item in enumerate(items, start=1):
        texts = (item.get("prompt"), item.get("safety_issue"))
        if (
            not all(isinstance(text, str) for text in texts)
            or type(item.get("round", 0)) is not int
        ):
            raise UserError(
                f"{path / DATASET}: item {number} lacks a prompt, safety_issue or round"
            )
    return {
        "items": items,
        "rejected": run.read_jsonl(REJECTED),
        "stats": run.read_json(STATS),
        "config": run.read_json(CONFIG),
        "rounds": run.read_jsonl(ROUNDS),
    }


def _per_item(value: Any, accepted: int) -> float | None:
    """A run total divided by the accepted items (None when unknown)."""
    return round(value / accepted, 2) if isinstance(value, int | float) and accepted else None


def cost_metrics(stats: dict[str, Any], rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Dollars of a run (``stats.json``'s ``cost``; ``None`` when unknown), by role and per
    round, and the cumulative cost against accepted items after each round (``rounds.jsonl``)."""
    cost = stats.get("cost") or {}
    known = [r for r in rounds if isinstance(r.get("cost_usd"), int | float)]
    spent = [0.0, *(r["cost_usd"] for r in known)]
    return {
        "cost_usd": cost.get("total_usd"),
        "cost_per_item_usd": cost.get("per_accepted_item_usd"),
        "cost_per_round_usd": cost.get("per_round_usd"),
        "cost_by_role_usd": cost.get("by_role_usd") or {},
        "cost_by_round_usd": [
            [r["round"], round(spent[i + 1] - spent[i], 6)] for i, r in enumerate(known)
        ],
        "cost_curve": [[r.get("accepted", 0), r["cost_usd"]] for r in known],
    }


def run_metrics(
    run_dir: Path | str,
    embeddings: EmbeddingsLike,
    reference: EmbeddedReference | None = None,
    coverage_threshold: float = DEFAULT_COVERAGE_THRESHOLD,
) -> dict[str, Any]:
    """All metrics of a run directory as a JSON-serializable dict; with a ``reference`` (embedded
    by the same model), also its coverage by the run's prompts under the key ``reference``."""
    path = Path(run_dir)
    run = load_run(path)
    items, stats, config = run["items"], run["stats"], run["config"]
    memo = _MemoEmbeddings(embeddings)
    duplicate = float(config.get("duplicate_threshold", DEFAULT_DUPLICATE_THRESHOLD))
    merge = float(config.get("issue_merge_threshold", DEFAULT_ISSUE_MERGE_THRESHOLD))
    issues = [item["safety_issue"] for item in items]
    rounds = [item.get("round", 0) for item in items]
    vectors = embed_texts([item["prompt"] for item in items], memo)
    merged = merge_issue_names(issues, memo, merge)
    growth = issue_growth(issues, memo, merge)
    similarities = nearest_neighbor_similarities(vectors)
    reasons = Counter(str(row.get("reason", "unknown")) for row in run["rejected"])
    accepted = int(stats.get("accepted") or len(items))
    tokens = stats.get("input_tokens", 0) + stats.get("output_tokens", 0) if stats else None
    covered = (
        {}
        if reference is None
        else {"reference": reference_coverage(reference, vectors, coverage_threshold)}
    )
    return {
        "run_dir": str(path),
        "name": path.resolve().name,
        "strategy": config.get("strategy") or items[0].get("strategy") or "unknown",
        "embeddings": type(embeddings).__name__,
        "accepted": len(items),
        "rounds": stats.get("rounds", max(rounds)),
        "candidates_judged": stats.get("candidates_judged"),
        "acceptance_rate": stats.get("acceptance_rate"),
        "rejected": len(run["rejected"]),
        "rejections_by_reason": dict(reasons.most_common()),
        "stop_reason": stats.get("stop_reason"),
        "issue_labels": len({normalize_issue(name) for name in issues}),
        "distinct_issues": growth[-1][1],
        "issue_balance": round(issue_balance(merged), DIGITS),
        "items_per_issue": dict(Counter(merged).most_common()),
        **grid_metrics(items),
        "issue_growth": [list(point) for point in growth],
        "issue_growth_by_round": [
            list(point) for point in issue_growth_by_round(issues, rounds, memo, merge)
        ],
        "mean_pairwise_cosine_distance": round(mean_pairwise_cosine_distance(vectors), DIGITS),
        "vendi_score": round(vendi_score(vectors), DIGITS),
        "near_duplicate_rate": round(near_duplicate_rate(vectors, duplicate), DIGITS),
        "duplicate_threshold": duplicate,
        "issue_merge_threshold": merge,
        "llm_calls_per_item": _per_item(stats.get("llm_calls"), accepted),
        "tokens_per_item": _per_item(tokens, accepted),
        "seconds_per_item": _per_item(stats.get("seconds"), accepted),
        **cost_metrics(stats, run["rounds"]),
        "nearest_neighbor_similarities": [round(s, DIGITS) for s in similarities],
        **covered,
    }
