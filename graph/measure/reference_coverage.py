"""Coverage of a reference benchmark by a run's prompts: a reference prompt is covered when some
generated prompt has cosine similarity at or above the threshold; recall per category and overall.

Pure functions on unit vectors, so a notebook can call them with any embedding model.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from graph.measure.reference import ReferenceSet

DEFAULT_COVERAGE_THRESHOLD = 0.6
"""Cosine at which a generated prompt covers a reference prompt, for all-MiniLM-L6-v2: MiniLM
scores paraphrases of one request above it and different requests on the same topic below it
(``python -m benchmarks.reference_coverage --calibrate``; docs/benchmarks.md)."""
# Reference rows compared at once, so memory stays bounded on large references and runs.
BLOCK_ROWS = 1024
# Decimal places of recalls and similarities.
DIGITS = 4


@dataclass(frozen=True)
class EmbeddedReference:
    """A reference set with its prompts embedded as unit rows (embedded once for every run)."""

    reference: ReferenceSet
    vectors: np.ndarray


def best_similarities(reference: np.ndarray, generated: np.ndarray) -> np.ndarray:
    """Each reference row's highest cosine to any generated row (both unit rows; -1 if none)."""
    if len(reference) == 0 or len(generated) == 0:
        return np.full(len(reference), -1.0)
    best = np.empty(len(reference))
    for start in range(0, len(reference), BLOCK_ROWS):
        block = reference[start : start + BLOCK_ROWS] @ generated.T
        best[start : start + len(block)] = block.max(axis=1)
    return np.clip(best, -1.0, 1.0)


def _recall(covered: int, total: int) -> float:
    """Covered over total, rounded (0.0 for no total)."""
    return round(covered / total, DIGITS) if total else 0.0


def coverage_by_category(
    labels: Sequence[str], best: np.ndarray, threshold: float
) -> dict[str, dict[str, Any]]:
    """Per category (largest first): reference prompts, how many are covered, recall, and the
    mean of their best similarities."""
    covered = best >= threshold
    label_of_row = np.asarray(labels)
    result = {}
    for label, total in Counter(labels).most_common():
        rows = label_of_row == label
        hits = int(covered[rows].sum())
        result[label] = {
            "covered": hits,
            "total": total,
            "recall": _recall(hits, total),
            "mean_best_similarity": round(float(best[rows].mean()), DIGITS),
        }
    return result


def reference_coverage(
    reference: EmbeddedReference, generated: np.ndarray, threshold: float
) -> dict[str, Any]:
    """The ``reference`` section of a run's metrics: overall and per-category recall."""
    best = best_similarities(reference.vectors, generated)
    covered = int((best >= threshold).sum())
    labels = reference.reference.labels
    return {
        "source": reference.reference.source,
        "text_column": reference.reference.text_column,
        "label_column": reference.reference.label_column,
        "threshold": threshold,
        "total": len(labels),
        "covered": covered,
        "recall": _recall(covered, len(labels)),
        "categories": coverage_by_category(labels, best, threshold),
    }
