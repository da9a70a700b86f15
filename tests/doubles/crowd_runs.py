"""Several workers (``python -m graph.run`` processes) of one shared namespace started at once,
each with its own run directory and its own fake server answering as ``CrowdModel``; and what a
test or benchmark measures of them: prompts accepted twice across workers, races the log settled.

The fake servers also serve ``/v1/embeddings`` from one embedding model loaded in the caller's
process, so the workers judge with real embeddings (all-MiniLM-L6-v2) without each loading it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from memory.store import normalized_text
from tests.doubles.crowd import CrowdModel
from tests.doubles.openai_server import FakeOpenAIServer

# The detail of a duplicate rejection the acceptance log decided (``memory.acceptance``).
LOG_SETTLED = "accepted first by worker"


@dataclass
class CrowdRun:
    """The workers of one start: their run directories, exit codes, stderr and wall time."""

    run_dirs: list[Path]
    exit_codes: list[int]
    errors: list[str]
    seconds: float


def run_crowd(
    root: Path,
    chroma_url: str,
    namespace: str,
    embeddings: Embeddings,
    *,
    workers: int = 3,
    target: int = 5,
    extra: tuple[str, ...] = (),
    timeout: float = 300,
) -> CrowdRun:
    """Start ``workers`` self-instruct workers of ``namespace`` at once; wait for all of them."""
    env = {**os.environ, "OPENAI_API_KEY": "k"}
    with ExitStack() as stack:
        servers = [
            stack.enter_context(
                FakeOpenAIServer(chat_model=CrowdModel(worker=n), embeddings=embeddings)
            )
            for n in range(workers)
        ]
        run_dirs = [root / f"worker-{n}" for n in range(workers)]
        began = time.monotonic()
        processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "graph.run",
                    "--out",
                    str(out),
                    "--base-url",
                    server.base_url,
                    "--model",
                    "fake-model",
                    "--embedding-provider",
                    "openai",
                    "--embedding-base-url",
                    server.base_url,
                    "--embedding-model",
                    "all-minilm-l6-v2",
                    "--strategy",
                    "self-instruct",
                    "--no-preference-pairs",
                    "--target",
                    str(target),
                    "--seed",
                    str(n),
                    "--chroma-url",
                    chroma_url,
                    "--memory-namespace",
                    namespace,
                    "--quiet",
                    *extra,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for n, (out, server) in enumerate(zip(run_dirs, servers, strict=True))
        ]
        errors = [p.communicate(timeout=timeout)[1] for p in processes]
        seconds = time.monotonic() - began
    return CrowdRun(run_dirs, [p.returncode for p in processes], errors, seconds)


def read_rows(path: Path) -> list[dict]:
    """The JSON lines of a file ([] if it does not exist)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def twin_pairs(
    run_dirs: list[Path], embeddings: Embeddings, threshold: float
) -> list[tuple[str, str, float]]:
    """Prompts accepted by two different workers that are twins: the same words (``1.0``) or a
    cosine similarity at or above ``threshold``, as ``(prompt, prompt, similarity)``."""
    accepted = [
        (n, row["prompt"]) for n, d in enumerate(run_dirs) for row in read_rows(d / "dataset.jsonl")
    ]
    if not accepted:
        return []
    vectors = np.asarray(embeddings.embed_documents([p for _, p in accepted]), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    pairs = []
    for (i, (wi, pi)), (j, (wj, pj)) in combinations(enumerate(accepted), 2):
        if wi == wj:
            continue
        same = normalized_text(pi, words_only=True) == normalized_text(pj, words_only=True)
        similarity = 1.0 if same else float(vectors[i] @ vectors[j])
        if similarity >= threshold:
            pairs.append((pi, pj, round(similarity, 4)))
    return pairs


def races_settled(run_dirs: list[Path]) -> int:
    """Duplicate rejections the acceptance log decided: twins that passed the memory check of
    their worker because another worker's twin was not stored yet."""
    return sum(
        LOG_SETTLED in str(row.get("detail", ""))
        for d in run_dirs
        for row in read_rows(d / "rejected.jsonl")
    )
