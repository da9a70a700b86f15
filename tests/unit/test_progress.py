"""graph/progress.py: the per-round line, the ETA and the machine-readable result line."""

from __future__ import annotations

import json

from agents.schemas import AdviceItem, PlannedAdvice
from graph.runtime.progress import RunProgress


def advice(issue: str) -> PlannedAdvice:
    return PlannedAdvice(
        advice=AdviceItem(safety_issue=issue, instruction="Write it."), source="advisor"
    )


def test_lines_follow_the_stream_and_the_result_line_is_json(capsys):
    progress = RunProgress(10)
    with progress:
        progress.on_update(
            "advisor",
            {
                "round": 1,
                "advice": [advice("doxxing")],
                "advice_sources": {"advisor": 1, "fallback": 2},
                "discarded_advice": {"not_a_name:sentence": 3, "saturated": 1},
                "usage": {"advisor": {"input_tokens": 100, "output_tokens": 20}},
            },
            {},
        )
        progress.on_update(
            "critic",
            {
                "accepted": 4,
                "round_accepted": [1, 2, 3, 4],
                "accepted_cells": {
                    "privacy|direct request|harmful": 3,
                    "privacy|hypothetical|benign": 1,
                },
                "rejections": {"duplicate": 2},
                "usage": {"critic": {"input_tokens": 30, "output_tokens": 0}},
            },
            {},
        )
    assert progress.advice == ["doxxing"] and progress.tokens == 150
    assert progress.eta_seconds() is not None
    stats = {
        "accepted": 4,
        "candidates_judged": 6,
        "acceptance_rate": 0.67,
        "llm_calls": 9,
        "input_tokens": 130,
        "output_tokens": 20,
        "tokens_per_accepted_item": 37.5,
        "seconds": 1.0,
        "stop_reason": "x",
    }
    progress.final(stats, "runs/x")
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(
        "round   1: accepted 4/10 (+4), 2 cells, 1 benign, rejected: duplicate 2; "
        "advice: 1 advisor, 2 fallback, "
        "4 discarded (mostly not_a_name:sentence); 150 tokens"
    )
    result = json.loads(out[-1].removeprefix("result: "))
    assert result["accepted"] == 4 and result["target"] == 10 and result["out"] == "runs/x"


def test_quiet_prints_only_the_result_line(capsys):
    progress = RunProgress(3, quiet=True)
    with progress:
        progress.note("starting")
        progress.on_update("critic", {"accepted": 3, "round_accepted": [1, 2, 3]}, {})
    progress.final(
        {
            "accepted": 3,
            "candidates_judged": 3,
            "acceptance_rate": 1.0,
            "llm_calls": 3,
            "tokens_per_accepted_item": 1,
            "seconds": 0.1,
            "stop_reason": "target reached",
        },
        "o",
    )
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("result: ")


def test_no_eta_before_the_first_item():
    assert RunProgress(5).eta_seconds() is None
