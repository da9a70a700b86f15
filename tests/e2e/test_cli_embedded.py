"""End to end: the CLI as a user runs it, on the embedded SmolLM2 model and real Chroma."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agents.schemas import AcceptedItem

pytestmark = pytest.mark.e2e
TARGET = 3
CANARY = "sk-canary-e2e-0123456789abcdef"


def run_cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPENAI_API_KEY": CANARY, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "graph.run", *args],
        capture_output=True,
        text=True,
        timeout=1500,
        env=env,
    )


@pytest.mark.parametrize("strategy", ["data-advisor", "self-instruct"])
def test_embedded_run_reaches_target(tmp_path: Path, strategy: str) -> None:
    out = tmp_path / "run"
    done = run_cli(
        "--target", str(TARGET), "--out", str(out), "--strategy", strategy, "--seed", "1"
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stderr

    rows = [json.loads(line) for line in (out / "dataset.jsonl").read_text().splitlines()]
    assert len(rows) == TARGET
    assert len({r["id"] for r in rows}) == TARGET
    assert len({r["prompt"] for r in rows}) == TARGET
    for row in rows:
        AcceptedItem.model_validate(row)
        assert row["strategy"] == strategy
        assert row["model"] == "SmolLM2-135M-Instruct-Q4_1"
        assert 0.0 <= row["nearest_similarity"] < 0.6

    stats = json.loads((out / "stats.json").read_text())
    assert stats["accepted"] == TARGET and stats["stop_reason"] == "target reached"
    assert stats["llm_calls"] > 0 and stats["input_tokens"] > 0
    assert json.loads((out / "config.json").read_text())["strategy"] == strategy
    assert (out / "memory").is_dir() and (out / "rejected.jsonl").exists()
    if strategy == "data-advisor":
        assert (out / "summaries.jsonl").read_text().count("\n") == stats["rounds"]
    for path in out.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path


def test_second_run_into_same_directory_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "dataset.jsonl").write_text('{"kept": true}\n')
    done = run_cli("--target", "2", "--out", str(out))
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error:") and "already holds a run" in done.stderr
    assert (out / "dataset.jsonl").read_text() == '{"kept": true}\n'
