"""Three workers of one shared namespace, started at once on a real ``chroma run`` server, whose
models know the same questions (``tests.doubles.crowd``): no prompt is accepted twice across
workers, exactly or nearly, and the test fails if the workers never raced at all.

Measured with ``benchmarks/shared_accepts.py`` (docs/operations.md, "A shared Chroma server"):
without the acceptance log, the same three workers accept twins of each other's prompts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings

from graph.context import DEFAULT_DUPLICATE_THRESHOLD
from memory.embeddings import embedded_minilm
from tests.doubles.chroma_server import ChromaServer, connect
from tests.doubles.crowd_runs import read_rows, run_crowd, twin_pairs

# Starts of three workers each: every start is a fresh namespace on the same server. Two keep the
# test near a minute on 2 busy cores (one start: ~26 s, three processes importing the stack).
REPEATS = 2
TARGET = 5


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with ChromaServer(tmp_path_factory.mktemp("chroma") / "data") as server:
        yield server.url


@pytest.fixture(scope="module")
def minilm() -> Embeddings:
    return embedded_minilm()


def test_workers_of_one_namespace_never_accept_a_prompt_twice(
    tmp_path: Path, chroma_url: str, minilm: Embeddings
) -> None:
    twins, races = [], 0
    for repeat in range(REPEATS):
        namespace = f"crowd{repeat}"
        run = run_crowd(tmp_path / f"start-{repeat}", chroma_url, namespace, minilm, target=TARGET)
        for code, error in zip(run.exit_codes, run.errors, strict=True):
            assert code == 0, error[-2000:]
        twins += twin_pairs(run.run_dirs, minilm, DEFAULT_DUPLICATE_THRESHOLD)
        lost = [
            row
            for d in run.run_dirs
            for row in read_rows(d / "rejected.jsonl")
            if "accepted first by worker" in row["detail"]
        ]
        races += len(lost)
        writers = {json.loads((d / "memory.json").read_text())["writer"]: d for d in run.run_dirs}
        for row in lost:  # the rejection names the worker that won, and it holds the twin
            assert row["reason"] == "duplicate" and row["step"] == "critic"
            winner = row["detail"].split("accepted first by worker ", 1)[1].split(" ", 1)[0]
            assert winner in writers
        # Memory holds exactly the workers' datasets: what the datasets prove holds for it.
        stored = connect(chroma_url).get_collection(f"{namespace}-items")
        ids = stored.get(where={"source": "generated"}, include=[])["ids"]
        expected = {
            f"{writer}/{row['id']}"
            for writer, d in writers.items()
            for row in read_rows(d / "dataset.jsonl")
        }
        assert sorted(ids) == sorted(expected)
        assert len(expected) == 3 * TARGET
    assert twins == [], f"{len(twins)} prompts accepted twice across workers: {twins[:3]}"
    assert races > 0, "the workers never raced: the test proves nothing about the log"
