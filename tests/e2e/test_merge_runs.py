"""Two real runs against the loopback OpenAI-compatible server, merged by ``python -m graph.merge``
in a subprocess: one dataset, no cross-run duplicate, provenance per item, exports like a run."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from memory.embeddings import BagOfWordsEmbeddings
from memory.store import normalized_text
from tests.doubles.openai_server import FakeOpenAIServer

TARGET = 5
ENV = {**os.environ, "OPENAI_API_KEY": "k"}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def python(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, timeout=300, env=ENV
    )


def test_two_runs_merge_into_one_dataset_without_cross_run_duplicates(tmp_path: Path) -> None:
    # Two endpoints answering alike and runs of one seed: the two workers write many of the same
    # prompts, as workers of one model that know the same questions do.
    with FakeOpenAIServer() as first, FakeOpenAIServer() as second:
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "graph.run", *server.cli_args(tmp_path / name)]
                + ["--target", str(TARGET), "--quiet"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=ENV,
            )
            for name, server in (("w1", first), ("w2", second))
        ]
        for worker in workers:
            _, stderr = worker.communicate(timeout=300)
            assert worker.returncode == 0, stderr[-2000:]
    runs = [tmp_path / "w1", tmp_path / "w2"]
    # How many prompts the two runs share depends on timing (0-2 in 10 items); so that the test
    # always has a cross-run twin, w2 also accepted w1's first prompt, written as a model writes
    # a request it knows again (other case and spacing): the same normalised text.
    first_item = read_jsonl(runs[0] / "dataset.jsonl")[0]
    planted = {
        **first_item,
        "id": "r00009-b00-c00",
        "round": 9,
        "prompt": "  " + first_item["prompt"].upper().replace(" ", "   ", 2),
    }
    with (runs[1] / "dataset.jsonl").open("a") as lines:
        lines.write(json.dumps(planted) + "\n")
    out = tmp_path / "merged"
    done = python("graph.merge", *map(str, runs), "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]

    items = read_jsonl(out / "dataset.jsonl")
    dropped = read_jsonl(out / "dropped.jsonl")
    assert len(items) + len(dropped) == 2 * TARGET + 1
    twin = next(row for row in dropped if row["source_id"] == "r00009-b00-c00")
    assert (twin["rule"], twin["duplicate_of"]) == ("exact", f"w1/{first_item['id']}")
    assert done.stdout.strip().splitlines()[-1] == (
        f"merge: {out} (2 runs, {2 * TARGET + 1} items in, {len(items)} kept, "
        f"{len(dropped)} dropped as cross-run duplicates)"
    )
    # No two kept items of different workers are twins, by text or by the runs' threshold.
    threshold = json.loads((runs[0] / "config.json").read_text())["duplicate_threshold"]
    vectors = np.asarray(BagOfWordsEmbeddings().embed_documents([i["prompt"] for i in items]))
    for (i, a), (j, b) in itertools.combinations(enumerate(items), 2):
        if a["worker"] != b["worker"]:
            assert normalized_text(a["prompt"]) != normalized_text(b["prompt"])
            assert float(vectors[i] @ vectors[j]) < threshold, (a["prompt"], b["prompt"])
    # Provenance: each kept item is its run's line, under a unique id.
    sources = {run.name: {r["id"]: r for r in read_jsonl(run / "dataset.jsonl")} for run in runs}
    for row in items:
        original = sources[row["worker"]][row["source_id"]]
        assert row["run_dir"] == str(tmp_path / row["worker"])
        assert (row["prompt"], row["round"]) == (original["prompt"], original["round"])
    assert len({row["id"] for row in items}) == len(items)
    kept_ids = {row["id"] for row in items}
    assert all(row["duplicate_of"] in kept_ids for row in dropped)
    assert {p["id"] for p in read_jsonl(out / "pairs.jsonl")} <= kept_ids
    assert json.loads((out / "metrics.json").read_text())["accepted"] == len(items)

    # The merged directory exports like a run.
    exported = python("graph.export", str(out), "--format", "jsonl")
    assert exported.returncode == 0, exported.stderr[-2000:]
    assert len(read_jsonl(out / "export" / "sft.jsonl")) == len(items)

    # A bad input through the CLI: one line, exit 2, nothing written.
    bad = python("graph.merge", str(runs[0]), str(tmp_path / "w3"), "--out", str(tmp_path / "m2"))
    assert bad.returncode == 2
    assert bad.stderr == f"error: run directory {tmp_path / 'w3'} does not exist\n"
    assert not (tmp_path / "m2").exists()
