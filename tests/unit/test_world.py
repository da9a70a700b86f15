"""tests/doubles/world.py: the simulated world, the capable-model double, and one comparison run."""

from __future__ import annotations

import itertools
import json
import shutil
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from agents.advisor import advise
from agents.critic import format_problem
from agents.generator import generate_for_advice, generate_self_instruct
from agents.issue_names import is_issue_name
from agents.schemas import AdviceItem, Candidate
from agents.summarizer import summarize
from benchmarks._harness import BAG_OF_WORDS_THRESHOLDS, run_against
from memory.coverage import CoverageStats
from memory.embeddings import BagOfWordsEmbeddings
from prompts import default_path, read_jsonl
from tests.doubles.openai_server import FakeOpenAIServer
from tests.doubles.world import WORLD_BENIGN_SHARE, WorldModel, advice_instruction, load_world

WORLD = load_world()
NAMES = [issue.name for issue in WORLD]
TOP_FIVE = set(NAMES[:5])
DUPLICATE = BAG_OF_WORDS_THRESHOLDS["duplicate_threshold"]
RELEVANCE = BAG_OF_WORDS_THRESHOLDS["relevance_threshold"]
SAMPLES = 200


def coverage(counts: dict[str, int], saturated: tuple[str, ...] = ()) -> CoverageStats:
    """Coverage statistics as the memory would compute them from these counts."""
    under = [n for n, _ in sorted(counts.items(), key=lambda x: (x[1], x[0])) if n not in saturated]
    return CoverageStats(counts, sum(counts.values()), under[:8], list(saturated), 0.0)


def advised(model: WorldModel, summary: str, stats: CoverageStats, count: int = 4) -> list[str]:
    """The issues the world's advisor names for this summary and coverage (real advisor prompt)."""
    result = advise(
        model, principles="Cover many issues.", summary=summary, coverage=stats, count=count, seed=3
    )
    assert result.value is not None, result.error
    return [item.safety_issue for item in result.value.advice]


def candidate(issue: str, prompt: str, response: str = "I can't help.") -> Candidate:
    """An accepted-looking candidate of the data-advisor strategy."""
    fields = {"advice": "", "round": 1, "advice_source": "advisor"}
    return Candidate(id=prompt[:8], prompt=prompt, response=response, safety_issue=issue, **fields)


# -- the world data ---------------------------------------------------------------------------
def test_world_has_about_forty_distinct_well_formed_issues_with_zipf_prevalence():
    assert 35 <= len(WORLD) <= 50
    assert len(set(NAMES)) == len(NAMES)
    assert all(is_issue_name(n) and 2 <= len(n.split()) <= 4 and n == n.lower() for n in NAMES)
    shares = [issue.prevalence for issue in WORLD]
    assert sum(shares) == pytest.approx(1.0, abs=1e-3)
    assert sum(shares[:5]) > 0.5 and shares[0] > 10 * shares[-1]


def test_world_is_not_in_the_shipped_prompts():
    seeds = read_jsonl(default_path("seed_issues.jsonl"))
    examples = read_jsonl(default_path("seed_examples.jsonl"))
    shipped = {row["name"] for row in seeds} | {row["safety_issue"] for row in examples}
    assert not shipped & set(NAMES)
    seed_prompts = {row["prompt"] for row in examples}
    assert not seed_prompts & {p for issue in WORLD for p in issue.prompts}


def test_every_request_passes_the_format_rules_and_is_relevant_but_no_duplicate():
    bow = BagOfWordsEmbeddings()
    for issue in WORLD:
        assert len(issue.prompts) >= 10 and len(set(issue.prompts)) == len(issue.prompts)
        for prompt in issue.prompts:
            assert format_problem(candidate(issue.name, prompt, issue.response)) is None, prompt
        vectors = np.array(bow.embed_documents(list(issue.prompts)))
        for a, b in itertools.combinations(range(len(vectors)), 2):
            assert vectors[a] @ vectors[b] < DUPLICATE, (issue.prompts[a], issue.prompts[b])
        # The critic compares with "name: description"; an advised issue's is the instruction.
        for text in (issue.name, f"{issue.name}: {advice_instruction(issue)}"):
            relevance = vectors @ np.array(bow.embed_query(text))
            assert relevance.min() >= RELEVANCE, (issue.name, text)


# -- the advisor ------------------------------------------------------------------------------
def test_advisor_advises_uncovered_world_issues_never_covered_or_saturated_ones():
    model = WorldModel(seed=1)
    covered, saturated = NAMES[:3], NAMES[3]
    counts = {name: 2 for name in covered} | {saturated: 9, "phishing emails": 0}
    summary = "Covered issues (items so far): " + ", ".join(f"{n} (2)" for n in covered) + "."
    names = advised(model, summary, coverage(counts, (saturated,)), count=4)
    assert len(names) == 4 and len(set(names)) == 4
    assert set(names) <= set(NAMES[4:])


def test_advisor_falls_back_to_the_least_covered_issues_once_all_are_covered():
    model = WorldModel(seed=1)
    counts = {name: 2 for name in NAMES} | {name: 1 for name in NAMES[-6:]}
    summary = "Covered issues (items so far): " + ", ".join(f"{n} ({c})" for n, c in counts.items())
    assert set(advised(model, summary, coverage(counts), count=4)) <= set(NAMES[-6:])


def test_summary_counts_items_and_the_advisor_reads_it():
    model = WorldModel(seed=1)
    accepted = [candidate(NAMES[0], "p1 about it"), candidate(NAMES[5], "p2 about it")]
    previous = f"Covered issues (items so far): {NAMES[0]} (2)."
    result = summarize(
        model, previous=previous, accepted=accepted, coverage=coverage({}), max_chars=1200
    )
    text = result.value
    assert result.error is None
    assert f"{NAMES[0]} (3)" in text and f"{NAMES[5]} (1)" in text
    assert not {NAMES[0], NAMES[5]} & set(advised(model, text, coverage({}), count=10))


# -- the generators ---------------------------------------------------------------------------
def test_generator_follows_the_advice_with_distinct_requests_until_exhausted():
    model = WorldModel(seed=2)
    issue = WORLD[7]
    advice = AdviceItem(safety_issue=issue.name, instruction="Write a realistic user request.")
    prompts = []
    for seed in range(4):
        result = generate_for_advice(model, advice, [], count=3, seed=seed)
        prompts += [item.prompt for item in result.value.items]
    assert {model.issue_of(p) for p in prompts} == {issue.name}
    assert len(set(prompts[:10])) == 10 and set(prompts[10:]) <= set(prompts[:10])


def test_generator_drifts_to_common_issues_for_an_issue_outside_the_world():
    model = WorldModel(seed=2)
    advice = AdviceItem(safety_issue="lock picking", instruction="Write a user request.")
    result = generate_for_advice(model, advice, [], count=5, seed=1)
    assert all(model.issue_of(item.prompt) in NAMES for item in result.value.items)


def test_self_instruct_over_samples_the_most_prevalent_issues():
    model = WorldModel(seed=0)
    labels = []
    for seed in range(SAMPLES):
        item = generate_self_instruct(model, [], count=1, seed=seed).value.items[0]
        assert model.issue_of(item.prompt) == item.safety_issue
        labels.append(item.safety_issue)
    counts = Counter(labels)
    assert sum(counts[name] for name in TOP_FIVE) / SAMPLES > 0.5
    assert len(counts) < len(WORLD)


def test_answers_are_deterministic_per_seed_and_differ_across_seeds():
    def prompts(seed: int) -> list[str]:
        model = WorldModel(seed=seed)
        return [
            item.prompt
            for call in range(5)
            for item in generate_self_instruct(model, [], count=2, seed=call).value.items
        ]

    assert prompts(4) == prompts(4)
    assert prompts(4) != prompts(5)


def test_concurrent_calls_never_hand_out_the_same_request_twice():
    model = WorldModel(seed=3)
    advice = AdviceItem(safety_issue=NAMES[0], instruction="Write a realistic user request.")
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(
            pool.map(lambda s: generate_for_advice(model, advice, [], count=1, seed=s), range(10))
        )
    assert len({r.value.items[0].prompt for r in results}) == 10


# -- one comparison through the real loop -----------------------------------------------------
def test_data_advisor_covers_more_world_issues_than_self_instruct_on_the_same_budget(
    monkeypatch,
):
    distinct = {}
    for strategy in ("data-advisor", "self-instruct"):
        with FakeOpenAIServer(chat_model=WorldModel(seed=1)) as server:
            _, out = run_against(
                server, strategy=strategy, target=20, seed=1, benign_share=WORLD_BENIGN_SHARE
            )
        rows = [json.loads(line) for line in (out / "dataset.jsonl").read_text().splitlines()]
        shutil.rmtree(out.parent, ignore_errors=True)  # run_against makes a fresh temp dir
        assert len(rows) == 20
        distinct[strategy] = len({row["safety_issue"] for row in rows})
    assert distinct["data-advisor"] > distinct["self-instruct"]
