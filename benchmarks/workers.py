"""Many workers, one memory: N concurrent runs on one Chroma server split a total target; prints a table.

Run: ``python -m benchmarks.workers [--workers 1,2,3,4] [--seeds 1,2,3] [--target 60]
[--concurrency 4] [--embeddings bag-of-words|embedded]``, or ``python -m benchmarks.workers
--calibrate`` for the lease similarity. The runs embed with the bag-of-words fake and its
thresholds (``benchmarks._harness.BAG_OF_WORDS_THRESHOLDS``) unless ``--embeddings embedded``:
all-MiniLM-L6-v2 with the default thresholds, what a user's runs use (each worker loads it).

For each seed and worker count N it starts one real ``chroma run`` server (loopback, a free
port) and N ``python -m graph.run`` processes at once in one ``--memory-namespace``, each against
its own fake OpenAI-compatible server answering as the world's capable-model double
(``tests.doubles.world``: every worker's model knows the same requests, as copies of one model
would), with the same ``--seed`` (what N workers started with the defaults get), and the total
``--target`` split between them. It reports items per minute (all accepted items over the wall
time from the first start to the last exit, process starts included; and over the longest
worker's generation loop, ``stats.json`` seconds), cross-worker duplicates (prompts accepted by two
workers, exactly or at the duplicate threshold), advice dropped because another worker had
claimed it, and the distinct world cells (issue, tactic, kind) the union covers, against one run
(N = 1) of the same total size and seed.

``--calibrate`` measures the similarity of the world double's advice texts for one issue (another
name for it, another framing) and for two issues, on the embedded all-MiniLM-L6-v2 (the default
embeddings) and on the bag-of-words fake the benchmark runs use, and prints the false-conflict and
caught shares per threshold (``memory.leases.DEFAULT_LEASE_SIMILARITY``).

The ``chroma run`` starter is ``tests/doubles/chroma_server.py``, in a temporary directory here.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._harness import BAG_OF_WORDS_THRESHOLDS, machine
from graph.context import DEFAULT_DUPLICATE_THRESHOLD
from memory.embeddings import BagOfWordsEmbeddings, embedded_minilm
from memory.leases import DEFAULT_LEASE_SIMILARITY
from memory.store import SIMILARITY_TOLERANCE, normalized_text
from tests.doubles import chroma_server

# The lease similarity for the bag-of-words fake embeddings of the benchmark runs (measured with
# --calibrate, like the default for all-MiniLM-L6-v2).
BAG_OF_WORDS_LEASE_SIMILARITY = 0.55
# --embeddings: the bag-of-words fake (fast, its own thresholds) or the embedded
# all-MiniLM-L6-v2 every run uses by default (each worker loads it: slower to start).
EMBEDDINGS = ("bag-of-words", "embedded")
RUN_TIMEOUT_SECONDS = 1800
CALIBRATION_DRAWS = 6  # advice texts per world issue
THRESHOLDS = [round(0.30 + 0.05 * k, 2) for k in range(14)]


class ChromaServer(chroma_server.ChromaServer):
    """``chroma run`` on loopback in a temporary directory, removed at the end."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="bench-chroma-"))
        super().__init__(self.root / "db")

    def __exit__(self, *exc: Any) -> None:
        super().__exit__(None, None, None)
        shutil.rmtree(self.root, ignore_errors=True)


def split(total: int, workers: int) -> list[int]:
    """The total target split between workers as evenly as it goes."""
    return [total // workers + (1 if k < total % workers else 0) for k in range(workers)]


def run_flags(embeddings: str, lease_similarity: float | None) -> list[str]:
    """The runs' embedding flags: the embedded model with its default thresholds, or the fake
    with the thresholds calibrated for it."""
    if embeddings == "embedded":  # after cli_args' --embedding-provider fake: the last one wins
        flags = ["--embedding-provider", "embedded"]
        similarity = DEFAULT_LEASE_SIMILARITY if lease_similarity is None else lease_similarity
    else:
        flags = [f"--{k.replace('_', '-')}={v}" for k, v in BAG_OF_WORDS_THRESHOLDS.items()]
        similarity = BAG_OF_WORDS_LEASE_SIMILARITY if lease_similarity is None else lease_similarity
    return [*flags, "--lease-similarity", str(similarity)]


def run_workers(
    url: str,
    workers: int,
    target: int,
    seed: int,
    concurrency: int,
    lease_similarity: float | None = None,
    embeddings: str = "bag-of-words",
) -> dict[str, Any]:
    """N workers at once in a fresh namespace; their items, cells, duplicates and speed."""
    from tests.doubles.openai_server import FakeOpenAIServer
    from tests.doubles.world import WORLD_BENIGN_SHARE, WorldModel

    namespace = f"bench-{uuid.uuid4().hex[:10]}"
    root = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    models = [WorldModel(seed=seed) for _ in range(workers)]
    env = {**os.environ, "OPENAI_API_KEY": "k", "ANONYMIZED_TELEMETRY": "False"}
    with ExitStack() as stack:
        servers = [stack.enter_context(FakeOpenAIServer(chat_model=m)) for m in models]
        started = time.monotonic()
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "graph.run", *server.cli_args(root / f"w{k}")]
                + ["--chroma-url", url, "--memory-namespace", namespace, "--quiet"]
                + ["--target", str(share), "--seed", str(seed)]
                + ["--concurrency", str(concurrency), "--benign-share", str(WORLD_BENIGN_SHARE)]
                + run_flags(embeddings, lease_similarity),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for k, (server, share) in enumerate(zip(servers, split(target, workers), strict=True))
        ]
        for process in processes:
            _, stderr = process.communicate(timeout=RUN_TIMEOUT_SECONDS)
            if process.returncode not in (0, 1) or "Traceback" in stderr:
                raise RuntimeError(f"a worker ended with {process.returncode}: {stderr[-3000:]}")
        wall = time.monotonic() - started
    items = []
    claimed, loop = 0, 0.0
    for k, model in enumerate(models):
        out = root / f"w{k}"
        dataset = out / "dataset.jsonl"  # none when a worker accepted nothing
        lines = dataset.read_text().splitlines() if dataset.exists() else []
        rows = [json.loads(line) for line in lines]
        items += [(k, row["prompt"], model.cell_of(row["prompt"])) for row in rows]
        stats = json.loads((out / "stats.json").read_text())
        claimed += _find(stats, "discarded_by_reason").get("claimed_by_another_worker", 0)
        loop = max(loop, float(stats["seconds"]))
    shutil.rmtree(root, ignore_errors=True)
    return {
        "items": len(items),
        "per_minute": 60 * len(items) / wall,
        "per_minute_loop": 60 * len(items) / loop if loop else 0.0,
        "cells": len({cell for _, _, cell in items if cell is not None}),
        "duplicates": cross_worker_duplicates(items, embeddings),
        "claimed": claimed,
        "wall": wall,
        "namespace": namespace,
    }


def _find(data: Any, key: str) -> dict[str, int]:
    """The first dictionary under ``key`` anywhere in ``data`` (stats.json's nesting)."""
    if isinstance(data, dict):
        if isinstance(data.get(key), dict):
            return data[key]
        for value in data.values():
            if found := _find(value, key):
                return found
    return {}


def cross_worker_duplicates(
    items: list[tuple[int, str, Any]], embeddings: str = "bag-of-words"
) -> int:
    """Pairs of prompts accepted by two different workers that are the same after
    normalisation or at least the duplicate threshold similar (the runs' embeddings and
    threshold, as their critics compare)."""
    if len(items) < 2:
        return 0
    if embeddings == "embedded":
        model: Any = embedded_minilm()
        threshold = DEFAULT_DUPLICATE_THRESHOLD
    else:
        model, threshold = BagOfWordsEmbeddings(), BAG_OF_WORDS_THRESHOLDS["duplicate_threshold"]
    vectors = np.asarray(model.embed_documents([p for _, p, _ in items]), dtype=np.float64)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
    similar = vectors @ vectors.T >= threshold - SIMILARITY_TOLERANCE
    texts = [normalized_text(p, words_only=True) for _, p, _ in items]
    return sum(
        1
        for i, j in itertools.combinations(range(len(items)), 2)
        if items[i][0] != items[j][0] and (similar[i, j] or texts[i] == texts[j])
    )


def _mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.1f} ± {sd:.1f}"


def table(args: argparse.Namespace) -> None:
    """Run every worker count on every seed; print the table."""
    counts = sorted({1, *args.workers})
    rows: dict[int, list[dict[str, Any]]] = {n: [] for n in counts}
    started = time.monotonic()
    for seed in args.seeds:
        for n in counts:
            with ChromaServer() as chroma:
                row = run_workers(
                    chroma.url,
                    n,
                    args.target,
                    seed,
                    args.concurrency,
                    args.lease_similarity,
                    args.embeddings,
                )
            rows[n].append(row)
            print(f"seed {seed}, {n} workers: {json.dumps(row)}", file=sys.stderr, flush=True)
    print(f"Machine: {machine()}")
    print(
        f"World double (tests/doubles/world.py), target {args.target} items in total split "
        f"between the workers, seeds {','.join(map(str, args.seeds))}, --concurrency "
        f"{args.concurrency} per worker, one `chroma run` server, {args.embeddings} embeddings "
        f"({' '.join(run_flags(args.embeddings, args.lease_similarity))}); mean ± sd over "
        "seeds\n"
    )
    print(
        "| workers | items | items/min | items/min of the loops | cross-worker duplicates | "
        "advice claimed by another worker | cells covered (union) | one run of the same size |"
    )
    print("|---|---|---|---|---|---|---|---|")
    single = [r["cells"] for r in rows[1]]
    for n in counts:
        got = rows[n]
        print(
            f"| {n} | {_mean_sd([r['items'] for r in got])} | "
            f"{_mean_sd([r['per_minute'] for r in got])} | "
            f"{_mean_sd([r['per_minute_loop'] for r in got])} | "
            f"{_mean_sd([r['duplicates'] for r in got])} | {_mean_sd([r['claimed'] for r in got])} | "
            f"{_mean_sd([r['cells'] for r in got])} | {_mean_sd(single)} |"
        )
    for n in counts:
        if n > 1:
            wins = sum(r["cells"] >= s for r, s in zip(rows[n], single, strict=True))
            print(
                f"\n{n} workers cover at least as many cells as one run on {wins} of "
                f"{len(single)} seeds",
                end="",
            )
    print(f"\n\nMeasured in {time.monotonic() - started:.0f} s.")


def calibrate() -> None:
    """Similarity of advice texts for one world issue versus two, per embedding and threshold."""
    from agents.issue_names import normalize_issue_name
    from tests.doubles.world import WorldModel

    model = WorldModel(seed=0)
    rng = random.Random(0)
    texts, labels = [], []
    for issue in model.issues:
        for _ in range(CALIBRATION_DRAWS):
            kind = rng.choice([k for k in ("harmful", "benign") if issue.tactics(k)])
            spoken = model._speak(issue, rng)
            item = model._advice_item(
                spoken, issue, rng.choice(issue.tactics(kind)), kind, Counter(), rng
            )
            texts.append(f"{normalize_issue_name(spoken) or spoken}: {item['instruction']}")
            labels.append(issue.name)
    embeddings: dict[str, Any] = {"bag-of-words (fake)": BagOfWordsEmbeddings()}
    try:
        embeddings["all-MiniLM-L6-v2"] = embedded_minilm()
    except Exception as exc:  # the embedded model is optional here
        print(f"all-MiniLM-L6-v2 not measured: {exc}")
    same = np.equal.outer(labels, labels)
    upper = np.triu(np.ones_like(same, dtype=bool), 1)
    print(
        f"World advice texts: {len(texts)} ({CALIBRATION_DRAWS} per issue: another name, framing "
        f"and kind each time); {int((same & upper).sum())} same-issue pairs, "
        f"{int((~same & upper).sum())} pairs of two issues\n"
    )
    for name, embedding in embeddings.items():
        vectors = np.asarray(embedding.embed_documents(texts), dtype=np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
        sims = vectors @ vectors.T
        print(f"{name}:\n\n| threshold | same issue caught | two issues flagged (false) |")
        print("|---|---|---|")
        for t in THRESHOLDS:
            caught = (sims[same & upper] >= t).mean()
            false = (sims[~same & upper] >= t).mean()
            print(f"| {t:.2f} | {caught:.1%} | {false:.2%} |")
        print()


def main() -> None:
    """Print the workers table, or the calibration of the lease similarity."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=_ints, default=[1, 2, 3, 4])
    parser.add_argument("--seeds", type=_ints, default=[1, 2, 3])
    parser.add_argument("--target", type=int, default=60, help="items in total")
    parser.add_argument("--concurrency", type=int, default=4, help="per worker")
    parser.add_argument(
        "--lease-similarity", type=float, help="default: 0.55 bag-of-words, 0.60 embedded"
    )
    parser.add_argument("--embeddings", choices=EMBEDDINGS, default="bag-of-words")
    parser.add_argument("--calibrate", action="store_true")
    args = parser.parse_args()
    if args.calibrate:
        calibrate()
    else:
        table(args)


def _ints(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 1,3: {text!r}") from None


if __name__ == "__main__":
    main()
