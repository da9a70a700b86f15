"""The answer cache: a re-run with the same seed and configuration replays from it."""

from __future__ import annotations

import json
import shutil

from benchmarks._harness import run_against
from graph.cli import EXIT_USER_ERROR
from graph.run import main
from tests.doubles.openai_server import FakeOpenAIServer
from tests.doubles.world import WorldModel

KEY_ENV = "DATA_ADVISOR_CACHE_TEST_KEY"
KEY = "sk-cache-test-9z8y7x"
REPLAY_SHARE = 0.05  # the bound: a replay sends at most 5% of the first run's calls


def test_a_rerun_with_the_same_seed_and_cache_replays_without_calls(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    with FakeOpenAIServer(chat_model=WorldModel(seed=1), api_key=KEY) as server:
        _, first = run_against(server, target=20, seed=1, api_key_env=KEY_ENV)
        sent_first = server.requests
        cache = first / "cache.sqlite"
        _, second = run_against(server, target=20, seed=1, api_key_env=KEY_ENV, cache=cache)
        sent_second = server.requests - sent_first
    try:
        runs = [json.loads((run / "stats.json").read_text()) for run in (first, second)]
        datasets = [(run / "dataset.jsonl").read_text() for run in (first, second)]
        # in WAL mode answers sit in cache.sqlite-wal until a checkpoint: read every file
        stored = b"".join(part.read_bytes() for part in cache.parent.glob("cache.sqlite*"))
        own_cache = (second / "cache.sqlite").exists()
    finally:
        for run in (first, second):
            shutil.rmtree(run.parent, ignore_errors=True)
    assert sent_second <= REPLAY_SHARE * sent_first  # the endpoint check is never cached
    assert runs[1]["llm_calls"] == 0 and runs[1]["cached_answers"] >= runs[0]["llm_calls"] // 2
    assert runs[0]["cached_answers"] == 0
    assert [json.loads(line)["prompt"] for line in datasets[1].splitlines()] == [
        json.loads(line)["prompt"] for line in datasets[0].splitlines()
    ]
    assert KEY.encode() not in stored and b"advice" in stored and not own_cache


def test_no_cache_sends_every_call_and_writes_no_cache_file():
    with FakeOpenAIServer(chat_model=WorldModel(seed=1)) as server:
        _, out = run_against(server, target=8, seed=1, use_cache=False)
    try:
        assert not (out / "cache.sqlite").exists()
        assert json.loads((out / "stats.json").read_text())["cached_answers"] == 0
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


def test_a_cache_in_a_missing_folder_is_one_line_and_exit_2(tmp_path, capsys):
    with FakeOpenAIServer() as server:
        args = server.cli_args(tmp_path / "run") + ["--cache", str(tmp_path / "no" / "c.sqlite")]
        assert main([*args, "--target", "2"]) == EXIT_USER_ERROR
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: --cache") and "does not exist" in line
