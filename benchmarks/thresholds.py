"""Choose the duplicate and relevance thresholds by measurement; prints tables.

Duplicate threshold: cosine similarity of all-MiniLM-L6-v2 embeddings on hand-written pairs
(``benchmarks/data/calibration_pairs.jsonl``): paraphrases of one request must score at or above
it, distinct requests about the same issue below it. Relevance threshold: prompts against issue
names (``relevance_pairs.jsonl``): relevant pairs at or above, irrelevant below.

Run: ``python -m benchmarks.thresholds``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from memory.embeddings import embedded_minilm
from prompts import default_path, read_jsonl

DATA = Path(__file__).parent / "data"


def _cosines(embed, a: list[str], b: list[str]) -> np.ndarray:
    va = np.asarray(embed.embed_documents(a))
    vb = np.asarray(embed.embed_documents(b))
    return (va * vb).sum(axis=1)


def _sweep(
    scores: np.ndarray, positive: np.ndarray, grid: np.ndarray
) -> list[tuple[float, float, float, float]]:
    rows = []
    for t in grid:
        predicted = scores >= t
        tpr = (predicted & positive).sum() / positive.sum()
        fpr = (predicted & ~positive).sum() / (~positive).sum()
        rows.append((float(t), float(tpr), float(fpr), float((predicted == positive).mean())))
    return rows


def _describe(name: str, values: np.ndarray) -> str:
    q = np.percentile(values, [0, 5, 50, 95, 100])
    return f"| {name:<16} | {len(values):>3} | " + " | ".join(f"{x:.3f}" for x in q) + " |"


def main() -> None:
    """Print the similarity distributions and threshold sweeps."""
    embed = embedded_minilm()
    pairs = read_jsonl(DATA / "calibration_pairs.jsonl")
    sims = _cosines(embed, [p["a"] for p in pairs], [p["b"] for p in pairs])
    labels = np.array([p["label"] for p in pairs])
    print("## Duplicate threshold: cosine similarity of prompt pairs\n")
    print("| pairs            |   n |   min |    p5 |   p50 |   p95 |   max |")
    print("|---|---|---|---|---|---|---|")
    for label in ("paraphrase", "same_issue", "different_issue"):
        print(_describe(label, sims[labels == label]))
    positive = labels == "paraphrase"
    print(
        "\n| threshold | paraphrases caught | distinct same-issue pairs wrongly caught | accuracy |"
    )
    print("|---|---|---|---|")
    for t, tpr, fpr, acc in _sweep(sims, positive, np.arange(0.60, 0.96, 0.05)):
        print(f"| {t:.2f} | {tpr:.0%} | {fpr:.0%} | {acc:.0%} |")

    issues = {
        row["name"]: row.get("description", "")
        for row in read_jsonl(default_path("seed_issues.jsonl"))
    }
    rel = read_jsonl(DATA / "relevance_pairs.jsonl")
    issue_text = [f"{r['issue']}: {issues.get(r['issue'], '')}" for r in rel]
    rsims = _cosines(embed, [r["prompt"] for r in rel], issue_text)
    relevant = np.array([bool(r["relevant"]) for r in rel])
    print("\n## Relevance threshold: cosine similarity of prompt and 'issue: description'\n")
    print("| pairs            |   n |   min |    p5 |   p50 |   p95 |   max |")
    print("|---|---|---|---|---|---|---|")
    print(_describe("relevant", rsims[relevant]))
    print(_describe("irrelevant", rsims[~relevant]))
    print("\n| threshold | relevant kept | irrelevant kept | accuracy |")
    print("|---|---|---|---|")
    for t, tpr, fpr, acc in _sweep(rsims, relevant, np.arange(0.10, 0.51, 0.05)):
        print(f"| {t:.2f} | {tpr:.0%} | {fpr:.0%} | {acc:.0%} |")

    names = list(issues)
    vn = np.asarray(embed.embed_documents(names))
    grid = vn @ vn.T
    np.fill_diagonal(grid, -1.0)
    i, j = np.unravel_index(int(np.argmax(grid)), grid.shape)
    syn = read_jsonl(DATA / "issue_synonyms.jsonl")
    ssims = _cosines(embed, [s["a"] for s in syn], [s["b"] for s in syn])
    print("\n## Issue merge threshold: cosine similarity of issue names\n")
    print(
        f"Most similar pair of distinct seed issues: {names[i]!r} ~ {names[j]!r} = {grid[i, j]:.3f}"
    )
    print("\n| threshold | synonym pairs merged | distinct seed-issue pairs merged |")
    print("|---|---|---|")
    upper = grid[np.triu_indices(len(names), k=1)]
    for t in np.arange(0.70, 0.96, 0.05):
        print(
            f"| {t:.2f} | {(ssims >= t).mean():.0%} | {int((upper >= t).sum())} of {len(upper)} |"
        )


if __name__ == "__main__":
    main()
