"""Shared harness for benchmarks that run the real graph against the loopback fake server."""

from __future__ import annotations

import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from itertools import groupby
from pathlib import Path
from typing import Any

from graph.context import RunConfig
from graph.run import run
from tests.doubles.openai_server import FakeOpenAIServer

# The default thresholds are calibrated for all-MiniLM-L6-v2 (benchmarks/thresholds.py). The fake
# bag-of-words embeddings score a relevant templated prompt ~0.15 against its issue and two
# unrelated templated prompts ~0.5, so they need their own values. Their advice merge threshold is
# 0.65 (61% of the world's same-issue advice pairs caught, 0.01% of two-issue pairs: 0.70 caught
# 50%, and 3 workers at a total of 200 then covered 154 of 160 cells on 2 of 8 seeds).
BAG_OF_WORDS_THRESHOLDS = {
    "relevance_threshold": 0.1,
    "duplicate_threshold": 0.8,
    "advice_merge_threshold": 0.65,
}


def machine() -> str:
    """One line naming the machine a table was measured on."""
    with open("/proc/meminfo") as handle:
        mem_kb = int(handle.readline().split()[1])
    return f"{platform.machine()}, {os.cpu_count()} cores, {mem_kb / 2**20:.0f} GiB RAM, Python {platform.python_version()}"


def run_against(
    server: FakeOpenAIServer | ServerProcess, allow_budget_stop: bool = False, **overrides: Any
) -> tuple[float, Path]:
    """Run the CLI's code path in-process against ``server``; return wall seconds and run dir."""
    out = Path(tempfile.mkdtemp(prefix="bench-")) / "run"
    config = RunConfig(
        out=out,
        provider="openai",
        base_url=server.base_url,
        model="fake-model",
        embedding_provider="fake",
        **{**BAG_OF_WORDS_THRESHOLDS, **overrides},
    )
    started = time.monotonic()
    code = run(config, echo=lambda _line: None)
    wall = time.monotonic() - started
    if code != 0 and not (allow_budget_stop and code == 1):
        raise RuntimeError(f"benchmark run ended with exit code {code} in {out}")
    return wall, out


def run_in_world(strategy: str, target: int, seed: int, **overrides: Any) -> tuple[Any, Path]:
    """One run against the world double (``tests.doubles.world``) over the loopback server, at
    the world's benign share; returns the world model (it knows each request's cell) and the run
    directory (the caller removes ``out.parent``)."""
    from tests.doubles.world import WORLD_BENIGN_SHARE, WorldModel

    model = WorldModel(seed=seed)
    with FakeOpenAIServer(chat_model=model) as server:
        _, out = run_against(
            server,
            allow_budget_stop=True,
            **{"strategy": strategy, "target": target, "seed": seed},
            **{"benign_share": WORLD_BENIGN_SHARE, **overrides},
        )
    return model, out


class ServerProcess:
    """The fake server in its own process, as a real endpoint would be (no shared GIL)."""

    def __init__(
        self,
        latency: float,
        cap: int,
        ttft: float = 0.0,
        tokens_per_second: float | None = None,
        model: str = "scripted",
        over_capacity: str = "queue",
    ) -> None:
        self.cap = cap
        self.log_path = Path(tempfile.mkdtemp(prefix="bench-log-")) / "requests.tsv"
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.doubles.openai_server",
                "--latency",
                str(latency),
                "--cap",
                str(cap),
                "--log",
                str(self.log_path),
                "--ttft",
                str(ttft),
                *(["--tokens-per-second", str(tokens_per_second)] if tokens_per_second else []),
                "--model",
                model,
                "--over-capacity",
                over_capacity,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.base_url = self._process.stdout.readline().strip()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.5)  # let the server flush its last log lines
        self._process.terminate()
        self._process.wait(timeout=10)

    @property
    def log(self) -> list[tuple[str, float, float]]:
        """(schema, start, end) per answered request."""
        if not self.log_path.exists():
            return []
        rows = [line.split("\t") for line in self.log_path.read_text().splitlines()]
        return [(schema, float(a), float(b)) for schema, a, b in rows]


def utilization(log: list[tuple[str, float, float]], slots: int) -> float:
    """Summed service time over (slots x span from the first call to the last answer)."""
    calls = [(a, b) for schema, a, b in log if schema]  # "": the endpoint check
    if not calls:
        return 0.0
    span = max(b for _, b in calls) - min(a for a, _ in calls)
    return sum(b - a for a, b in calls) / (slots * span) if span > 0 else 0.0


def waves_and_bound(
    log: list[tuple[str, float, float]], capacity: int, latency: float
) -> tuple[int, float]:
    """Sequential waves implied by the graph's own calls, and the wall-time lower bound.

    Calls of one kind in a row (advisor, the generator branches, the critic's verdicts, the
    summarizer) form one step of the graph; a step of n calls needs ceil(n / capacity) waves.
    """
    ordered = sorted(log, key=lambda entry: entry[1])
    waves = sum(
        math.ceil(len(list(group)) / capacity) for _, group in groupby(ordered, key=lambda e: e[0])
    )
    return waves, waves * latency
