"""A generator that answers with OpenAI's ``refusal`` field (no content) over real HTTP: the
client reads it off the wire, the run stops in bounded time with one line naming the fix."""

from __future__ import annotations

import json

from graph.runtime.ledger import REFUSAL_WINDOW
from tests.doubles.openai_server import FakeOpenAIServer
from tests.doubles.refusing_model import RefusingModel
from tests.doubles.scripted_model import ScriptedDataModel
from tests.run_checks import run_cli

KEY = "sk-refusals-test"


def test_a_refusal_field_on_the_wire_stops_the_run_with_the_fix(tmp_path):
    model = RefusingModel(inner=ScriptedDataModel(seed=1), rate=1.0, form="refusal")
    out = tmp_path / "run"
    with FakeOpenAIServer(api_key=KEY, chat_model=model) as server:
        done = run_cli("--target", "3", *server.cli_args(out), api_key=KEY)
    assert done.returncode == 1, done.stderr[-2000:]
    errors = [line for line in (done.stdout + done.stderr).splitlines() if "error:" in line]
    assert len(errors) == 1 and "--generator-model" in errors[0]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["rounds"] == REFUSAL_WINDOW
    assert (
        stats["generator_refusals"]["total"] == stats["rejections_by_reason"]["generator_refused"]
    )
    assert stats["usage_by_role"]["generator"]["failed_refused"] == model.refused
