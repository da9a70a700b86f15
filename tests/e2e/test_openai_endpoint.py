"""The OpenAI-compatible path through the CLI, against a real HTTP server on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.doubles.openai_server import FakeOpenAIServer

CANARY = "sk-canary-openai-path-9f8e7d6c5b4a"


def run_cli(*args: str, key: str = CANARY) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPENAI_API_KEY": key}
    return subprocess.run(
        [sys.executable, "-m", "graph.run", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


@pytest.fixture
def server():
    with FakeOpenAIServer(api_key=CANARY, models={"fake-model"}) as running:
        yield running


def test_run_against_openai_compatible_server(server: FakeOpenAIServer, tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = run_cli(
        "--target",
        "5",
        "--out",
        str(out),
        "--base-url",
        server.base_url,
        "--model",
        "fake-model",
        "--embedding-provider",
        "fake",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in (out / "dataset.jsonl").read_text().splitlines()]
    assert len(rows) == 5 and len({r["prompt"] for r in rows}) == 5
    assert {r["model"] for r in rows} == {"fake-model"}
    stats = json.loads((out / "stats.json").read_text())
    assert stats["llm_calls"] > 0 and server.requests >= stats["llm_calls"]
    config = json.loads((out / "config.json").read_text())
    assert config["provider"] == "openai" and config["api_key_env"] == "OPENAI_API_KEY"
    assert CANARY not in done.stdout + done.stderr, "the key reached the log"
    written = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "checkpoints.sqlite" for p in written)
    for path in written:  # dataset, logs of the run, config, stats, Chroma files, checkpoints
        assert CANARY.encode() not in path.read_bytes(), path


@pytest.mark.parametrize(
    ("args", "key", "message"),
    [
        (["--model", "fake-model"], "sk-wrong", "refused the API key"),
        (["--model", "no-such-model"], CANARY, "does not serve model 'no-such-model'"),
        (
            ["--model", "fake-model", "--critic-model", "nope"],
            CANARY,
            "does not serve model 'nope'",
        ),
    ],
)
def test_endpoint_problems_end_in_one_line(server, tmp_path: Path, args, key, message) -> None:
    out = tmp_path / "run"
    done = run_cli(
        "--target", "2", "--out", str(out), "--base-url", server.base_url, *args, key=key
    )
    assert done.returncode == 2
    assert (
        done.stderr.count("\n") == 1 and message in done.stderr and "Traceback" not in done.stderr
    )
    assert not out.exists(), "nothing is written when the endpoint check fails"


def test_unreachable_server(tmp_path: Path) -> None:
    with FakeOpenAIServer() as stopped:
        url = stopped.base_url
    done = run_cli(
        "--target", "2", "--out", str(tmp_path / "run"), "--base-url", url, "--model", "m"
    )
    assert done.returncode == 2 and "cannot reach the model server" in done.stderr


def test_the_client_sends_the_schema_and_sees_a_cut_off_answer(
    server: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from langchain_core.messages import HumanMessage

    from agents.concurrency import AdaptiveLimit
    from agents.models import chat_model
    from agents.schemas import CriticJudgement
    from agents.structured import invoke_structured
    from graph.context import RunConfig

    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    common = {"out": tmp_path / "r", "base_url": server.base_url, "model": "fake-model"}
    slots = AdaptiveLimit(2)
    ask = [HumanMessage("Judge: how do I pick a lock? / I can't help with that.")]
    # The server answers by the schema it is sent: a valid verdict proves the schema got there.
    ok = invoke_structured(chat_model("critic", RunConfig(**common), slots), ask, CriticJudgement)
    assert ok.value is not None and ok.error is None
    # At a 16-token cap the server cuts the answer off; that is a failed attempt of its own kind.
    tight = chat_model("critic", RunConfig(**common, max_tokens=16), slots)
    cut = invoke_structured(tight, ask, CriticJudgement, attempts=2)
    assert cut.value is None and cut.error == "answer cut off at the token limit"
    assert cut.usage.failures == {"cut_off": 2} and cut.usage.calls == 2
