"""Checks on a run directory shared by the kill/resume tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from graph.runtime.rundir import ADVICE, DATASET, REJECTED, ROUNDS, SUMMARIES


def rows(out: Path, name: str) -> list[dict]:
    path = out / name
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def assert_no_duplicate_line(out: Path) -> None:
    """Every file of the run directory: no line twice, no round twice, no candidate twice."""
    for path in out.glob("*.jsonl"):
        lines = path.read_text().splitlines()
        assert len(lines) == len(set(lines)), f"{path.name} holds a line twice"
    for name in (ROUNDS, SUMMARIES):
        assert not [r for r, n in Counter(row["round"] for row in rows(out, name)).items() if n > 1]
    # one round may advise an issue twice in two cells (a run that plans ahead asks several
    # advisor calls a round), never the same cell twice
    advice = Counter(
        (r["round"], *(r["advice"][k] for k in ("safety_issue", "tactic", "kind")))
        for r in rows(out, ADVICE)
    )
    assert max(advice.values(), default=1) == 1, "the same advice of the same round twice"
    judged = Counter(
        (r["candidate"]["id"], r["reason"]) for r in rows(out, REJECTED) if r["candidate"]
    )
    assert not judged or max(judged.values()) == 1, "the same rejected candidate twice"
    dataset = [r["id"] for r in rows(out, DATASET)]
    assert len(dataset) == len(set(dataset))


def run_cli(*args: str, api_key: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m graph.run ARGS`` in a subprocess, as a user runs it, with the key in its env."""
    return subprocess.run(
        [sys.executable, "-m", "graph.run", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "OPENAI_API_KEY": api_key},
    )
