"""graph/graph.py routing, graph/nodes.py stop_reason, graph/state.py reducers, budgets."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from agents.schemas import AdviceItem, PlannedAdvice
from graph.context import RunConfig
from graph.graph import (
    recursion_limit,
    route_next_round,
    route_start,
)
from graph.runtime.ledger import stop_reason
from graph.state import add_counts, add_usage, extend_runs, total_calls
from tests.doubles.scripted_runs import SCRIPTED_CONFIG


def config(**kw) -> RunConfig:
    return RunConfig(**SCRIPTED_CONFIG, **kw)


def runtime(**kw):
    return SimpleNamespace(context=config(**kw))


def planned(issue: str, source: str = "advisor") -> PlannedAdvice:
    return PlannedAdvice(
        advice=AdviceItem(safety_issue=issue, instruction="Write one."), source=source
    )


def test_route_start_by_strategy():
    assert route_start({}, runtime()) == "advisor"
    assert route_start({}, runtime(strategy="self-instruct")) == "self_instruct"


@pytest.mark.parametrize(
    ("strategy", "reason", "expected"),
    [
        ("data-advisor", None, "advisor"),
        (None, None, "advisor"),  # a state written before the key existed
        ("data-advisor", "target reached", "finish"),
        ("self-instruct", None, "self_instruct"),
        ("self-instruct", "round budget spent (3 rounds)", "finish"),
    ],
)
def test_route_next_round_reads_the_state_alone(strategy, reason, expected):
    assert route_next_round({"stop_reason": reason, "strategy": strategy}) == expected


def _usage(calls: int) -> dict:
    return {"advisor": {"calls": calls // 2}, "critic": {"calls": calls - calls // 2}}


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ({}, None),
        ({"accepted": 9, "round": 4, "usage": _usage(49)}, None),
        ({"accepted": 10}, "target reached"),
        ({"accepted": 12, "round": 5, "usage": _usage(50)}, "target reached"),  # target wins
        ({"accepted": 3, "round": 5}, "round budget spent (5 rounds)"),
        ({"accepted": 3, "round": 7}, "round budget spent (5 rounds)"),
        ({"accepted": 3, "round": 2, "usage": _usage(50)}, "LLM call budget spent (50 calls)"),
        ({"accepted": 3, "round": 5, "usage": _usage(80)}, "round budget spent (5 rounds)"),
    ],
)
def test_stop_reason(state, expected):
    assert stop_reason(state, config(target=10, max_rounds=5, max_llm_calls=50)) == expected


def test_default_budgets_follow_the_target():
    small = config(target=6, advice_per_round=3, candidates_per_advice=2)
    assert small.per_round == 6
    assert small.round_budget == 20  # ceil(6 / (0.05 * 6))
    assert small.call_budget == 20 * (2 + 2 * 3 + 2 * 6)
    assert (
        config(target=1, advice_per_round=3, candidates_per_advice=2).round_budget == 10
    )  # the minimum
    assert config(target=1000, max_rounds=3, max_llm_calls=7).round_budget == 3
    assert config(target=1000, max_rounds=3, max_llm_calls=7).call_budget == 7


def test_recursion_limit_covers_every_round():
    cfg = config(target=6, max_rounds=4)
    assert recursion_limit(cfg) >= 4 * 4  # four supersteps per round at least


def test_counter_reducers_add_up():
    assert add_counts({"dup": 1}, {"dup": 2, "irr": 1}) == {"dup": 3, "irr": 1}
    assert add_counts(None, None) == {}
    assert extend_runs({"a": 2, "b": 5}, {"a": 3, "b": 0, "c": 1}) == {"a": 5, "b": 0, "c": 1}
    assert extend_runs(None, None) == {}
    left = {"critic": {"calls": 2, "input_tokens": 10}}
    merged = add_usage(left, {"critic": {"calls": 1}, "advisor": {"calls": 4}})
    assert merged == {"critic": {"calls": 3, "input_tokens": 10}, "advisor": {"calls": 4}}
    assert left == {"critic": {"calls": 2, "input_tokens": 10}}  # not mutated
    assert total_calls({"usage": merged}) == 7
    assert total_calls({}) == 0


def test_self_instruct_label_is_kept_when_it_fits_else_the_nearest_known_issue(make_memory):
    from agents.generator import label_issue

    memory = make_memory()
    memory.add_issues([{"name": "phishing emails"}, {"name": "tax evasion"}])
    prompt = "write phishing emails that look like my bank"
    assert label_issue(memory, prompt, "gardening tips", 0.3) == "phishing emails"
    assert label_issue(memory, prompt, "the user wants help", 0.3) == "phishing emails"
    assert "gardening tips" not in memory.issue_counts()
    assert label_issue(memory, prompt, "phishing bank scam", 0.3) == "phishing bank scam"
