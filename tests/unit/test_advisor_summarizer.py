"""agents/advisor.py and agents/summarizer.py: dedup, fallback, bounded summaries."""

from __future__ import annotations

import json

import pytest

from agents.advisor import advise, distinct_advice, fallback_advice
from agents.schemas import INSTRUCTION_MAX_CHARS, AdviceItem
from agents.summarizer import bound, coverage_summary, summarize
from memory.coverage import CoverageStats


def coverage(counts: dict[str, int]) -> CoverageStats:
    ordered = [n for n, _ in sorted(counts.items(), key=lambda x: (x[1], x[0]))]
    return CoverageStats(counts, sum(counts.values()), ordered, [], 0.0)


def item(issue: str, instruction: str = "Write a blunt request.") -> AdviceItem:
    return AdviceItem(safety_issue=issue, instruction=instruction)


# -- advisor -------------------------------------------------------------------------------


def test_distinct_advice_drops_case_and_space_variants():
    items = [
        item("Online Fraud", "first"),
        item("online  fraud", "second"),
        item(" ONLINE fraud ", "third"),
        item("doxxing"),
        item("Doxxing "),
    ]
    kept = distinct_advice(items, 5)
    assert [i.safety_issue for i in kept] == ["online fraud", "doxxing"]
    assert kept[0].instruction == "first"


def test_distinct_advice_keeps_at_most_count_in_order():
    names = ["online fraud", "doxxing", "stalking", "malware", "hate speech"]
    items = [item(n) for n in names]
    assert [i.safety_issue for i in distinct_advice(items, 3)] == names[:3]
    assert distinct_advice([], 3) == []


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("online fraud", True),
        ("Covert Phone Surveillance", True),
        ("self-harm", True),
        ("fix the", False),
        ("the user wants to stalk", False),
        ("Write about scams", False),
        ("how to make a bomb", False),
        ("one two three four five six seven", False),
    ],
)
def test_distinct_advice_drops_names_that_are_not_issue_names(name, ok):
    kept = distinct_advice([item(name), item("doxxing")], 3)
    assert [i.safety_issue for i in kept] == ([name.lower()] if ok else []) + ["doxxing"]


def test_fallback_advice_picks_the_least_covered_issues():
    stats = coverage({"fraud": 9, "doxxing": 0, "stalking": 2, "malware": 1})
    advice = fallback_advice(stats, 2, {"doxxing": "publishing private addresses"})
    assert [a.safety_issue for a in advice] == ["doxxing", "malware"]
    assert "publishing private addresses" in advice[0].instruction
    assert "malware" in advice[1].instruction  # generic hint when no description is known
    assert advice[1].rationale == "malware has 1 items so far."
    assert all(len(a.instruction) <= 240 for a in advice)


def test_fallback_advice_with_long_description_stays_valid():
    stats = coverage({"doxxing": 0})
    [advice] = fallback_advice(stats, 3, {"doxxing": "x " * 300})
    assert len(advice.instruction) == INSTRUCTION_MAX_CHARS


def test_fallback_advice_without_under_covered_issues_is_empty():
    assert fallback_advice(coverage({}), 3, {}) == []


def test_advise_parses_a_valid_answer(recording_model):
    answer = {"advice": [{"safety_issue": "doxxing", "instruction": "Ask for a home address."}]}
    result = advise(
        recording_model(json.dumps(answer)),
        principles="P",
        summary="",
        coverage=coverage({"a": 1}),
        count=2,
    )
    assert result.value.advice[0].safety_issue == "doxxing"


def test_advise_returns_no_value_on_garbage(recording_model):
    result = advise(
        recording_model("no idea"), principles="P", summary="s", coverage=coverage({}), count=2
    )
    assert result.value is None and result.error and result.usage.calls == 2


# -- summarizer ------------------------------------------------------------------------------


@pytest.mark.parametrize("max_chars", [1, 2, 5, 17, 50, 199, 200, 1000])
@pytest.mark.parametrize(
    "text",
    [
        "word " * 500,
        "x" * 3000,
        "short",
        "",
        "  many   spaces\n\nand\tnewlines  " * 40,
        "ab " * 1000,
    ],
    ids=["words", "one-long-word", "short", "empty", "whitespace", "tiny-words"],
)
def test_bound_never_exceeds_max_chars(text, max_chars):
    assert len(bound(text, max_chars)) <= max_chars


def test_bound_keeps_short_text_and_cuts_long_text_at_a_word():
    assert bound("  a   short\ntext ", 100) == "a short text"
    cut = bound("alpha beta gamma delta epsilon", 15)
    assert cut == "alpha beta…"
    assert cut.endswith("…") and len(cut) <= 15


def _candidates(make_candidate, n):
    return [make_candidate(safety_issue="doxxing") for _ in range(n)]


def test_summarize_falls_back_to_coverage_on_garbage(recording_model, make_candidate):
    stats = coverage({"fraud": 3, "doxxing": 0})
    text, usage, error = summarize(
        recording_model("garbage", "more garbage"),
        previous="old",
        accepted=_candidates(make_candidate, 2),
        coverage=stats,
        max_chars=300,
    )
    assert error
    assert text == bound(coverage_summary(stats), 300)
    assert text.startswith("Coverage so far.") and "fraud (3)" in text
    assert usage.calls == 2


def test_summarize_empty_model_summary_is_an_error(recording_model):
    stats = coverage({"fraud": 3})
    text, _, error = summarize(
        recording_model('{"summary": "   "}'),
        previous="",
        accepted=[],
        coverage=stats,
        max_chars=500,
    )
    assert error == "empty summary"
    assert text.startswith("Coverage so far.")


def test_summarize_bounds_a_model_that_writes_too_much(recording_model, make_candidate):
    long = {"summary": "The dataset covers fraud and doxxing well. " * 200}
    text, usage, error = summarize(
        recording_model(json.dumps(long)),
        previous="old",
        accepted=_candidates(make_candidate, 3),
        coverage=coverage({"fraud": 2}),
        max_chars=250,
    )
    assert error is None and usage.calls == 1
    assert 0 < len(text) <= 250
    assert text.startswith("The dataset covers fraud")


def test_summarize_fallback_is_bounded_too(recording_model):
    stats = coverage({f"issue {i:02d} " + "y" * 40: i for i in range(30)})
    text, _, error = summarize(
        recording_model("x"), previous="", accepted=[], coverage=stats, max_chars=200
    )
    assert error and len(text) <= 200


def test_summarizer_prompt_shows_a_bounded_number_of_items(recording_model, make_candidate):
    model = recording_model('{"summary": "ok"}')
    summarize(
        model,
        previous="",
        accepted=_candidates(make_candidate, 50),
        coverage=coverage({}),
        max_chars=300,
    )
    prompt = model.seen[0][-1].content
    assert 0 < prompt.count("<<<item") <= 12


def test_fallback_prefers_least_covered_then_least_tried():
    stats = coverage({"a issue": 0, "b issue": 0, "c issue": 0, "d issue": 2})
    picked = fallback_advice(stats, 2, {}, tried={"a issue": 3, "b issue": 1})
    assert [p.safety_issue for p in picked] == ["c issue", "b issue"]
    picked = fallback_advice(stats, 2, {}, tried={"a issue": 3}, exclude={"c issue"})
    assert [p.safety_issue for p in picked] == ["b issue", "a issue"]
