"""graph/metrics.py: every metric on a small hand-made dataset with a known answer."""

from __future__ import annotations

import math

import numpy as np
import pytest

from graph.measure import metrics
from graph.measure.metrics import (
    distinct_issues,
    issue_balance,
    issue_growth,
    issue_growth_by_round,
    mean_pairwise_cosine_distance,
    merge_issue_names,
    near_duplicate_rate,
    nearest_neighbor_similarities,
    vendi_score,
)

E1, E2, E3, E4 = np.eye(4)
ORTHOGONAL = [E1, E2, E3, E4]
IDENTICAL = [E1, E1, E1, E1]
TWO_PAIRS = [E1, E1, E2, E2]  # two identical pairs, the pairs orthogonal
DIAGONAL = (E2 + E3) / math.sqrt(2)  # cosine 0.7071 to E2 and to E3


def _vector(*components: float) -> list[float]:
    """A 3-d vector of the given components."""
    return [*components, *[0.0] * (3 - len(components))]


def _at_cosine(cosine: float) -> list[float]:
    """A unit vector at the given cosine to (1, 0, 0)."""
    return _vector(cosine, math.sqrt(1 - cosine**2))


class NamedVectors:
    """Fake embeddings: each known text maps to a given vector; records what it was asked."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors
        self.calls: list[list[str]] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed many texts."""
        self.calls.append(list(texts))
        return [self.vectors[text] for text in texts]


ISSUES = NamedVectors(
    {
        "online fraud": _vector(1.0),
        "internet fraud": _at_cosine(0.9),  # cosine 0.9 to online fraud: a synonym at 0.85
        "weapons": _vector(0, 0, 1.0),
        "bomb making": [0.0, math.sqrt(0.75), 0.5],  # cosine 0.5 to weapons: distinct
    }
)


@pytest.mark.parametrize(
    ("vectors", "expected"),
    [
        (ORTHOGONAL, 4.0),
        (IDENTICAL, 1.0),
        (TWO_PAIRS, 2.0),
        ([E1, E1, E2, E3], 2**1.5),  # eigenvalues of K/n: 1/2, 1/4, 1/4
        ([3 * E1, 0.5 * E1, 4 * E1, 2 * E2, E2, 7 * E2], 2.0),  # unnormalized; more rows than dims
        ([E1], 1.0),
        ([], 0.0),
    ],
    ids=["orthogonal", "identical", "two-pairs", "pair-and-two", "scaled-tall", "one", "empty"],
)
def test_vendi_score(vectors, expected):
    assert vendi_score(np.array(vectors)) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    ("vectors", "expected"),
    [
        (ORTHOGONAL, 1.0),
        (IDENTICAL, 0.0),
        (TWO_PAIRS, 4 / 6),  # 4 of the 6 pairs are orthogonal
        ([E1, -E1], 2.0),
        ([E1], 0.0),
    ],
    ids=["orthogonal", "identical", "two-pairs", "opposite", "one"],
)
def test_mean_pairwise_cosine_distance(vectors, expected):
    assert mean_pairwise_cosine_distance(np.array(vectors)) == pytest.approx(expected, abs=1e-9)


def test_mean_pairwise_cosine_distance_matches_brute_force():
    x = np.random.default_rng(0).normal(size=(9, 5))
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    pairs = [1 - unit[i] @ unit[j] for i in range(9) for j in range(i + 1, 9)]
    assert mean_pairwise_cosine_distance(x) == pytest.approx(np.mean(pairs))


def test_nearest_neighbor_similarities(monkeypatch):
    vectors = np.array([E1, E1, E2, DIAGONAL])
    expected = [1.0, 1.0, math.sqrt(0.5), math.sqrt(0.5)]
    assert nearest_neighbor_similarities(vectors) == pytest.approx(expected)
    monkeypatch.setattr(metrics, "BLOCK_ROWS", 3)  # computed in blocks: same answer
    assert nearest_neighbor_similarities(vectors) == pytest.approx(expected)
    assert nearest_neighbor_similarities([E1]) == []


@pytest.mark.parametrize(("threshold", "expected"), [(0.9, 0.5), (0.7, 1.0), (1.01, 0.0)], ids=str)
def test_near_duplicate_rate(threshold, expected):
    assert near_duplicate_rate(np.array([E1, E1, E2, DIAGONAL]), threshold) == expected


def test_near_duplicate_rate_of_orthogonal_and_tiny_sets():
    assert near_duplicate_rate(np.array(ORTHOGONAL), 0.6) == 0.0
    assert near_duplicate_rate(np.array([E1]), 0.6) == 0.0


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["a", "a", "b", "b"], 1.0),
        (["a", "b", "c"], 1.0),
        (["a", "a", "a", "a"], 0.0),
        ([], 0.0),
        (["a", "a", "a", "b"], 0.811278),  # -(3/4 ln 3/4 + 1/4 ln 1/4) / ln 2
        (["Fraud", " fraud ", "theft", "THEFT"], 1.0),  # names are normalized
    ],
    ids=["two-even", "three-even", "single", "empty", "skewed", "normalized"],
)
def test_issue_balance(names, expected):
    assert issue_balance(names) == pytest.approx(expected, abs=1e-6)


def test_distinct_issues_merges_synonyms_only():
    names = ["online fraud", "Internet Fraud", "weapons", "bomb making", "online fraud"]
    assert distinct_issues(names, ISSUES, 0.85) == 3
    assert distinct_issues(names, ISSUES, 0.95) == 4  # the synonym stays apart
    assert distinct_issues(names, ISSUES, 0.4) == 2  # weapons and bomb making merge too
    assert distinct_issues([], ISSUES, 0.85) == 0


def test_merged_names_are_the_first_seen_leader():
    names = ["online fraud", "weapons", "internet fraud"]
    assert merge_issue_names(names, ISSUES, 0.85) == ["online fraud", "weapons", "online fraud"]


def test_merging_is_greedy_not_transitive():
    # b is a synonym of a and c is one of b, but c is not one of a: c leads its own cluster.
    chain = NamedVectors({"a": _vector(1.0), "b": _at_cosine(0.9), "c": _at_cosine(0.62)})
    assert np.dot(chain.vectors["b"], chain.vectors["c"]) == pytest.approx(0.9, abs=1e-3)
    assert merge_issue_names(["a", "b", "c"], chain, 0.85) == ["a", "a", "c"]


def test_issue_growth_counts_distinct_issues_after_each_item():
    names = ["online fraud", "weapons", "internet fraud", "bomb making", "weapons"]
    assert issue_growth(names, ISSUES, 0.85) == [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3)]
    assert issue_growth([], ISSUES, 0.85) == []


def test_issue_growth_by_round_reports_the_end_of_each_round():
    names = ["online fraud", "internet fraud", "weapons", "bomb making", "weapons"]
    rounds = [1, 1, 2, 4, 4]
    assert issue_growth_by_round(names, rounds, ISSUES, 0.85) == [(1, 2, 1), (2, 3, 2), (4, 5, 3)]


def test_issue_growth_by_round_orders_items_by_round():
    names = ["weapons", "online fraud", "internet fraud"]
    assert issue_growth_by_round(names, [2, 1, 1], ISSUES, 0.85) == [(1, 2, 1), (2, 3, 2)]
