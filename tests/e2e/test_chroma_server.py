"""Memory on a real ``chroma run`` server (``--chroma-url``): own collections per run, or shared."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.doubles.chroma_server import ChromaServer, connect, free_port
from tests.doubles.openai_server import FakeOpenAIServer

TARGET = 6


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Chroma server on loopback (the ``chroma`` CLI that chromadb installs)."""
    with ChromaServer(tmp_path_factory.mktemp("chroma") / "data") as server:
        yield server.url


ENV = {**os.environ, "OPENAI_API_KEY": "k"}


def command(out: Path, server: FakeOpenAIServer, url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "graph.run", *server.cli_args(out), "--chroma-url", url, *extra]


def run(out: Path, server: FakeOpenAIServer, url: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        command(out, server, url, *extra), capture_output=True, text=True, timeout=300, env=ENV
    )


def dataset(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "dataset.jsonl").read_text().splitlines()]


def generated_ids(url: str, namespace: str) -> list[str]:
    items = connect(url).get_collection(f"{namespace}-items")
    return items.get(where={"source": "generated"}, include=[])["ids"]


def test_each_run_gets_its_own_collections_by_default(tmp_path: Path, chroma_url: str) -> None:
    with FakeOpenAIServer() as server:
        # Two runs at once on one server, same seed: they must not see each other's items.
        processes = [
            subprocess.Popen(
                command(tmp_path / name, server, chroma_url, "--target", str(TARGET)),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=ENV,
            )
            for name in ("a", "b")
        ]
        for process in processes:
            _, stderr = process.communicate(timeout=300)
            assert process.returncode == 0, stderr[-2000:]
        refs = {}
        for name in ("a", "b"):
            out = tmp_path / name
            assert not (out / "memory").exists(), "the memory must live on the server"
            refs[name] = json.loads((out / "memory.json").read_text())
            ids = generated_ids(chroma_url, refs[name]["namespace"])
            assert sorted(ids) == sorted(row["id"] for row in dataset(out))
            assert len(ids) == TARGET
        assert refs["a"]["namespace"] != refs["b"]["namespace"]

        # A resume finds its collections again through memory.json.
        more = run(tmp_path / "a", server, chroma_url, "--resume", "--target", str(TARGET + 2))
        assert more.returncode == 0, more.stderr[-2000:]
        ids = generated_ids(chroma_url, refs["a"]["namespace"])
        assert sorted(ids) == sorted(row["id"] for row in dataset(tmp_path / "a"))
        assert len(ids) == TARGET + 2


def test_runs_in_one_namespace_share_a_memory_on_purpose(tmp_path: Path, chroma_url: str) -> None:
    with FakeOpenAIServer() as server:
        for name in ("first", "second"):
            done = run(
                tmp_path / name,
                server,
                chroma_url,
                "--target",
                str(TARGET),
                "--memory-namespace",
                "team",
            )
            assert done.returncode == 0, done.stderr[-2000:]
    first, second = dataset(tmp_path / "first"), dataset(tmp_path / "second")
    writers = {
        name: json.loads((tmp_path / name / "memory.json").read_text())["writer"]
        for name in ("first", "second")
    }
    # Both runs' items are in the shared collection, each under its own writer: none overwritten
    # although both runs number their items the same way.
    expected = {f"{writers['first']}/{row['id']}" for row in first} | {
        f"{writers['second']}/{row['id']}" for row in second
    }
    assert set(generated_ids(chroma_url, "team")) == expected
    assert len(expected) == 2 * TARGET
    # The second run's advisor saw the first run's coverage and went for other issues: measured
    # 0 of 6 in common, against 5 of 6 for two runs with the same seed and memories of their own.
    assert len({r["safety_issue"] for r in first} & {r["safety_issue"] for r in second}) <= 1
    counts = (
        connect(chroma_url).get_collection("team-issues").get(include=["metadatas"])["metadatas"]
    )
    assert sum(v for m in counts for k, v in m.items() if k.startswith("count")) == 2 * TARGET


def test_an_unreachable_server_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        done = run(tmp_path / "run", server, f"http://127.0.0.1:{free_port()}", "--target", "2")
    assert done.returncode == 2
    assert done.stderr.startswith("error: --chroma-url: no Chroma server answers at")
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
