"""A run against a faulty OpenAI-compatible server: it completes, counts faults, or stops clearly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.doubles.openai_server import FakeOpenAIServer


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "graph.run", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OPENAI_API_KEY": "k"},
    )


def test_run_completes_its_target_at_a_20_percent_fault_rate(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with FakeOpenAIServer(fault_rate=0.2, stall_seconds=2.5, seed=7) as server:
        done = cli(
            *server.cli_args(out),
            "--target",
            "12",
            "--request-timeout",
            "1.5",
            "--max-retries",
            "4",
        )
        injected = dict(server.injected)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "dataset.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and len({r["id"] for r in rows}) == 12
    assert set(injected) == {"429", "500", "timeout", "drop", "malformed", "schema", "empty"}, (
        injected
    )
    stats = json.loads((out / "stats.json").read_text())
    wire = stats["transport_faults"]
    assert (
        wire.get("http_429", 0) + wire.get("http_500", 0) >= injected["429"] + injected["500"] - 1
    )
    assert wire.get("timeout", 0) >= 1 and wire.get("connection_error", 0) >= 1
    answer_faults = sum(
        n
        for counts in stats["usage_by_role"].values()
        for k, n in counts.items()
        if k in ("failed_malformed_json", "failed_schema_violation", "failed_empty_answer")
    )
    assert answer_faults >= 1


def test_a_server_that_goes_down_stops_the_run_in_one_line_and_resume_continues(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    with FakeOpenAIServer() as server:
        first = cli(*server.cli_args(out), "--target", "3")
        assert first.returncode == 0
        url = server.base_url
    # The server is gone now: a resume with a higher target must fail fast and clearly.
    down = cli("--resume", "--out", str(out), "--target", "6", "--max-retries", "1")
    assert down.returncode == 2 and "cannot reach the model server" in down.stderr
    assert down.stderr.count("\n") == 1 and "Traceback" not in down.stderr
    assert len((out / "dataset.jsonl").read_text().splitlines()) == 3
    with FakeOpenAIServer() as back:
        config = json.loads((out / "config.json").read_text())
        assert config["base_url"] == url
        resumed = cli("--resume", "--out", str(out), "--target", "6", "--base-url", back.base_url)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert len((out / "dataset.jsonl").read_text().splitlines()) == 6
