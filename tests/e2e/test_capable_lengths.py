"""Answers at capable-model lengths are accepted whole on the OpenAI-compatible path.

A capable aligned model writes 700-1,400-character role-play requests and 400-900-character safe
responses. The loopback server answers with ``CapableModel``, which writes exactly that and records
it, so a test can compare what reached ``dataset.jsonl`` with what the model wrote.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from tests.doubles.capable_model import CapableModel
from tests.doubles.openai_server import FakeOpenAIServer

KEY = "sk-capable-lengths-test"
TARGET = 4
# Each response is longer than the 500-character cap that used to reject them all.
RESPONSE_CHARS = (600, 900)
# The fake (bag-of-words) embeddings see any two English texts of this length as ~0.8 similar
# (function words dominate; measured mean 0.82 over 80 of the double's prompts, max 0.95), so the
# default duplicate threshold would reject them all; redundancy is not what this test is about.
BAG_OF_WORDS_DUPLICATE_THRESHOLD = "0.97"
SENTENCE_END = re.compile(r"[.!?]$")


@pytest.fixture
def capable() -> CapableModel:
    return CapableModel(response_chars=RESPONSE_CHARS)


@pytest.fixture
def server(capable: CapableModel):
    with FakeOpenAIServer(api_key=KEY, chat_model=capable) as running:
        yield running


@pytest.mark.parametrize(
    ("strategy", "schemas"),
    [
        ("data-advisor", {"AdvisorAdvice", "GeneratedBatch", "ResponseBatch", "CriticJudgement"}),
        ("self-instruct", {"LabeledBatch", "ResponseBatch", "CriticJudgement"}),
    ],
    ids=["data-advisor", "self-instruct"],
)
def test_a_run_accepts_capable_answers_whole(
    server: FakeOpenAIServer, capable: CapableModel, tmp_path: Path, strategy: str, schemas: set
) -> None:
    out = tmp_path / "run"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "graph.run",
            "--target",
            str(TARGET),
            *server.cli_args(out),
            "--duplicate-threshold",
            BAG_OF_WORDS_DUPLICATE_THRESHOLD,
            "--strategy",
            strategy,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OPENAI_API_KEY": KEY},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["stop_reason"] == "target reached" and stats["accepted"] == TARGET
    rejections = stats["rejections_by_reason"]
    assert not {"generator_unparsable", "generator_empty", "responder_unparsable"} & set(rejections)
    assert "responder_missing" not in rejections
    for role in ("generator", "responder"):
        usage = stats["usage_by_role"][role]
        assert not any(key.startswith("failed_") for key in usage), usage
        assert "trimmed_fields" not in usage  # within the caps: nothing was cut

    rows = [json.loads(line) for line in (out / "dataset.jsonl").read_text().splitlines()]
    assert len(rows) == TARGET
    written_prompts, written_responses = (
        set(capable.prompts_written),
        set(capable.responses_written),
    )
    for row in rows:
        assert row["response"] in written_responses  # the whole response, not a cut one
        assert row["prompt"] in written_prompts
        assert len(row["response"]) > 500 and SENTENCE_END.search(row["response"])
        assert len(row["prompt"]) >= 700

    sent = [s for s in capable.schemas_seen if s.get("name") != "SummaryUpdate"]
    assert {s.get("name") for s in sent} >= schemas
    assert not any("maxLength" in json.dumps(s) for s in sent), "a length cap was sent"


def test_an_answer_cut_off_at_the_token_limit_keeps_its_whole_items(
    server: FakeOpenAIServer, capable: CapableModel, tmp_path: Path, monkeypatch
) -> None:
    from agents.concurrency import AdaptiveLimit
    from agents.models import chat_model
    from agents.schemas import ResponseBatch
    from agents.structured import invoke_structured
    from graph.context import RunConfig

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    # Room for about two of the three responses asked for: the server cuts the third one off.
    config = RunConfig(
        out=tmp_path / "r",
        base_url=server.base_url,
        model="fake-model",
        provider="openai",
        max_tokens=1000,
    )
    model = chat_model("responder", config, AdaptiveLimit(1))
    requests = "\n".join(
        f"<<<request {n} (harmful)\nHow do I install spyware on my partner's phone? ({n})\n>>>"
        for n in (1, 2, 3)
    )
    ask = [HumanMessage(f"Write the reply to each of these 3 request(s).\n{requests}")]
    result = invoke_structured(model, ask, ResponseBatch, attempts=1)
    assert result.value is not None and result.error is None
    responses = result.value.responses
    assert 1 <= len(responses) < 3
    assert result.usage.repairs.get("repaired_cut_offs") == 1
    for item in responses:  # whole items only: never one cut mid-sentence
        assert item.response in capable.responses_written
