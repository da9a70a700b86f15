"""The grid over the OpenAI-compatible path: every item carries its cell, both kinds arrive in
about the share asked for, and the responder role answers every request."""

from __future__ import annotations

import json

from tests.doubles.openai_server import FakeOpenAIServer
from tests.doubles.scripted_model import ScriptedDataModel
from tests.run_checks import run_cli

KEY = "sk-grid-test"
TARGET = 20


def test_a_run_holds_both_kinds_in_about_the_share_asked_for(tmp_path):
    out = tmp_path / "run"
    with FakeOpenAIServer(api_key=KEY, chat_model=ScriptedDataModel(seed=4)) as server:
        done = run_cli(
            "--target",
            str(TARGET),
            "--benign-share",
            "0.3",
            "--seed",
            "4",
            *server.cli_args(out),
            api_key=KEY,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in (out / "dataset.jsonl").read_text().splitlines()]
    assert len(rows) == TARGET
    assert all(row["hazard"] and row["tactic"] and row["safety_issue"] for row in rows)
    benign = sum(row["kind"] == "benign" for row in rows) / TARGET
    assert 0.15 <= benign <= 0.45, benign
    stats = json.loads((out / "stats.json").read_text())
    responder = stats["usage_by_role"]["responder"]
    assert responder["calls"] >= stats["usage_by_role"]["generator"]["calls"] - 1
    assert stats["grid"]["benign_share"] == round(benign, 4)
