"""Under sustained 429s the run backs off its requests in flight to what the server takes.

The loopback server has 4 slots and answers 429 (``Retry-After: 1``) at once to a request beyond
them, as a rate-limited API does; the run asks for 16 in flight. Measured (three runs, target 40):
the time-weighted mean limit over the second half of the loop was 3.65, 3.88 and 4.12; with the
limit held at 16 instead, the same runs took 116-121 429s against 17-21 (and with the server in a
process of its own, two of three gave up: ``benchmarks/adaptive_concurrency.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from agents.concurrency import mean_limit_between
from tests.doubles.openai_server import FakeOpenAIServer

CAPACITY = 4
CONCURRENCY = 16
TARGET = 40


def test_the_limit_settles_near_the_servers_capacity_and_the_run_completes(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    with FakeOpenAIServer(
        latency=0.2, max_concurrent=CAPACITY, over_capacity="429", retry_after=1
    ) as server:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "graph.run",
                *server.cli_args(out),
                "--target",
                str(TARGET),
                "--concurrency",
                str(CONCURRENCY),
                "--advice-per-round",
                "16",
                "--candidates-per-advice",
                "2",
                "--quiet",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "OPENAI_API_KEY": "k"},
        )
        rejected = server.rejected
    assert done.returncode == 0, done.stderr[-3000:]
    assert len((out / "dataset.jsonl").read_text().splitlines()) == TARGET
    stats = json.loads((out / "stats.json").read_text())
    used = stats["concurrency"]
    # The 429s were sustained, not one burst at the start: the limit was cut again and again.
    assert rejected >= 5 and stats["transport_faults"].get("http_429") == rejected
    assert used["maximum"] == CONCURRENCY and used["decreases"] >= 3
    samples = used["limit_over_time"]
    assert all(1 <= limit <= CONCURRENCY for _, limit, _ in samples)
    end = used["seconds"]
    settled = mean_limit_between(samples, end / 2, end)
    assert 2 <= settled <= 8, (settled, samples)
