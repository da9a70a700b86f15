"""Two runs in one process (as under ``langgraph dev``) keep their telemetry, files and stats apart."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from graph.cli import EXIT_OK
from graph.context import RunConfig
from graph.run import run
from tests.doubles.openai_server import FakeOpenAIServer


def config_for(server: FakeOpenAIServer, out: Path) -> RunConfig:
    return RunConfig(
        out=out,
        target=5,
        provider="openai",
        base_url=server.base_url,
        model="fake-model",
        embedding_provider="fake",
        max_retries=6,
        advice_per_round=2,
    )


def test_two_concurrent_runs_keep_their_stats_apart(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    codes: dict[str, int] = {}
    with (
        FakeOpenAIServer(faults=("500",), seed=1) as flaky,
        FakeOpenAIServer() as steady,
    ):

        def flaky_after_the_endpoint_check(schema: str) -> None:
            if schema:  # the check before the run sends no schema; it must pass
                flaky.fault_rate = 0.3

        flaky.on_request = flaky_after_the_endpoint_check
        configs = {
            "flaky": config_for(flaky, tmp_path / "flaky"),
            "steady": config_for(steady, tmp_path / "steady"),
        }

        def go(name: str) -> None:
            codes[name] = run(configs[name], echo=lambda _: None, quiet=True)

        threads = [threading.Thread(target=go, args=(name,)) for name in configs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        injected = flaky.injected["500"]
    assert codes == {"flaky": EXIT_OK, "steady": EXIT_OK}
    stats = {n: json.loads((c.out / "stats.json").read_text()) for n, c in configs.items()}
    assert injected > 0
    # Every injected fault reached the flaky run's own counters, none the steady run's.
    assert stats["flaky"]["transport_faults"] == {"http_500": injected}
    assert stats["steady"]["transport_faults"] == {}
    assert stats["flaky"]["accepted"] == stats["steady"]["accepted"] == 5
