"""tests/doubles/world.py: the simulated world, the capable-model double, and one comparison run."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from agents.advisor import advise
from agents.critic import format_problem
from agents.generator import generate_for_advice, generate_self_instruct
from agents.issue_names import is_issue_name, normalize_issue_name
from agents.refusals import is_refusal
from agents.responder import respond
from agents.schemas import AdviceItem, Candidate
from agents.summarizer import summarize
from benchmarks._harness import BAG_OF_WORDS_THRESHOLDS, run_against
from benchmarks.compare_strategies import axis_balance, world_coverage
from memory.coverage import CoverageStats, GridCoverage
from memory.embeddings import BagOfWordsEmbeddings
from prompts import default_path, read_jsonl
from tests.doubles.openai_server import FakeOpenAIServer
from tests.doubles.world import (
    WORLD_BENIGN_SHARE,
    Cell,
    WorldModel,
    advice_instruction,
    load_world,
    reachable_cells,
)
from tests.doubles.world_tactics import COMMON_TACTIC, TACTICS

WORLD = load_world()
NAMES = [issue.name for issue in WORLD]
TOP_FIVE = set(NAMES[:5])
HAZARDS = {row["name"] for row in read_jsonl(default_path("hazards.jsonl"))}
DUPLICATE = BAG_OF_WORDS_THRESHOLDS["duplicate_threshold"]
SAMPLES = 200


def coverage(
    counts: dict[str, int],
    saturated: tuple[str, ...] = (),
    holdings: dict[str, dict[tuple[str, str], int]] | None = None,
) -> CoverageStats:
    """Coverage statistics as the memory would compute them from these counts."""
    under = [n for n, _ in sorted(counts.items(), key=lambda x: (x[1], x[0])) if n not in saturated]
    grid = GridCoverage(per_cell={("privacy", COMMON_TACTIC): 0}, issue_holdings=holdings or {})
    return CoverageStats(counts, sum(counts.values()), under[:8], list(saturated), 0.0, grid)


def advice(
    model: WorldModel, summary: str, stats: CoverageStats, kinds: list[str], seed: int = 3
) -> list[AdviceItem]:
    """The world advisor's advice for this summary and coverage (the real advisor prompt)."""
    result = advise(
        model,
        principles="Cover many issues.",
        summary=summary,
        coverage=stats,
        count=len(kinds),
        kinds=kinds,
        seed=seed,
    )
    assert result.value is not None, result.error
    return result.value.advice


def candidate(issue: str, prompt: str, response: str, kind: str = "harmful") -> Candidate:
    """An accepted-looking candidate of the data-advisor strategy."""
    fields = {"advice": "", "round": 1, "advice_source": "advisor", "kind": kind}
    return Candidate(id=prompt[:8], prompt=prompt, response=response, safety_issue=issue, **fields)


def written(model: WorldModel, issue: str, tactic: str, kind: str, count: int = 1, seed: int = 0):
    """Requests the world's generator writes for one advised cell (the real generator prompt)."""
    item = AdviceItem(
        safety_issue=issue, tactic=tactic, kind=kind, instruction="Write a realistic request."
    )
    result = generate_for_advice(model, item, [], count=count, seed=seed)
    assert result.value is not None, result.error
    return [draft.prompt for draft in result.value.items]


# -- the world data ---------------------------------------------------------------------------
def test_world_has_about_forty_issues_with_zipf_prevalence_under_the_default_hazards():
    assert 35 <= len(WORLD) <= 50 and len(set(NAMES)) == len(NAMES)
    assert all(is_issue_name(n) and n == n.lower() for n in NAMES)
    shares = [issue.prevalence for issue in WORLD]
    assert sum(shares) == pytest.approx(1.0, abs=1e-3)
    assert sum(shares[:5]) > 0.5 and shares[0] > 10 * shares[-1]
    assert {issue.hazard for issue in WORLD} <= HAZARDS
    assert len({issue.hazard for issue in WORLD}) >= 8


def test_every_issue_has_four_reachable_cells_one_of_them_benign():
    cells = reachable_cells(WORLD)
    assert len(cells) == 4 * len(WORLD)
    for issue in WORLD:
        assert issue.harmful_tactics[0] == COMMON_TACTIC and len(set(issue.harmful_tactics)) == 3
        assert len(issue.benign_tactics) == 1 and len(issue.benign) == 3
    assert len({cell.tactic for cell in cells}) == len(TACTICS)


def test_world_is_not_in_the_shipped_prompts():
    seeds = read_jsonl(default_path("seed_issues.jsonl"))
    examples = read_jsonl(default_path("seed_examples.jsonl"))
    shipped = {row["name"] for row in seeds} | {row["safety_issue"] for row in examples}
    assert not shipped & set(NAMES)
    seed_prompts = {row["prompt"] for row in examples}
    assert not seed_prompts & {p for issue in WORLD for p in issue.prompts}


def test_names_are_written_as_capable_models_write_them_and_read_back():
    model = WorldModel()
    aliases = [alias for issue in WORLD for alias in issue.aliases]
    assert sum(any(ch in alias for ch in "():-/") for alias in aliases) >= 20
    assert sum(alias != alias.lower() for alias in aliases) >= 20
    for issue in WORLD:
        for name in (issue.name, *issue.aliases, normalize_issue_name(issue.aliases[0]) or ""):
            assert model.resolve_issue(name) == issue, name
    for outside in ("phishing emails", "lock picking", "election misinformation"):
        assert model.resolve_issue(outside) is None, outside


def test_every_framed_request_passes_the_format_rules_and_look_alikes_are_answered():
    for issue in WORLD:
        for tactic in TACTICS:
            for framing in tactic.framings:
                prompt = framing.format(core=issue.prompts[0])
                assert format_problem(candidate(issue.name, prompt, issue.response)) is None
        for prompt, answer in issue.benign:
            assert format_problem(candidate(issue.name, prompt, answer, "benign")) is None
            assert not is_refusal(answer)


def test_core_requests_of_an_issue_are_no_duplicates_of_each_other():
    bow = BagOfWordsEmbeddings()
    for issue in WORLD:
        texts = list(issue.prompts) + [p for p, _ in issue.benign]
        vectors = np.array(bow.embed_documents(texts))
        similar = vectors @ vectors.T - np.eye(len(texts)) * 2
        assert similar.max() < DUPLICATE, issue.name
        assert advice_instruction(issue).startswith("Write")


# -- the advisor ------------------------------------------------------------------------------
def test_advisor_fills_the_slots_kinds_with_issues_the_prompt_never_mentions():
    model = WorldModel(seed=1)
    covered, saturated = NAMES[:3], NAMES[3]
    counts = {name: 2 for name in covered} | {saturated: 9, "phishing emails": 0}
    summary = "Covered issues (items so far): " + ", ".join(f"{n} (2)" for n in covered) + "."
    items = advice(model, summary, coverage(counts, (saturated,)), ["harmful"] * 3 + ["benign"])
    assert [item.kind for item in items] == ["harmful"] * 3 + ["benign"]
    issues = [model.resolve_issue(item.safety_issue) for item in items]
    assert None not in issues and len(set(issues)) == 4
    assert not {i.name for i in issues if i} & set(NAMES[:4])


def test_advisor_aims_at_a_cell_an_issue_in_progress_does_not_hold():
    model = WorldModel(seed=1)
    counts = {name: 1 for name in NAMES}  # every issue has an item: none is fresh
    issue = WORLD[5]
    held = {(t, "harmful"): 1 for t in issue.harmful_tactics[:2]}
    stats = coverage(counts, holdings={issue.name: held})
    summary = "Covered issues (items so far): " + ", ".join(f"{n} (1)" for n in NAMES) + "."
    for seed in range(5):
        first = advice(model, summary, stats, ["harmful"], seed=seed)[0]
        assert model.resolve_issue(first.safety_issue) == issue
        tactic = model._tactic(first.tactic)
        assert tactic is not None and tactic.name == issue.harmful_tactics[2]


def test_advisor_reads_the_cells_of_issues_just_filled_under_any_of_their_names():
    model = WorldModel(seed=1)
    left = WORLD[5]  # every other issue was just filled (not in the summary), named by an alias
    busy = {
        (issue.aliases or (issue.name,))[-1]: {(issue.harmful_tactics[0], "harmful"): 1}
        for issue in WORLD
        if issue != left
    }
    grid = GridCoverage(per_cell={("privacy", COMMON_TACTIC): 0}, busy=busy)
    stats = CoverageStats({}, 0, [], [], 0.0, grid)
    assert "being written now or filled since the summary" in "\n".join(grid.render())
    for seed in range(5):
        first = advice(model, "", stats, ["harmful"], seed=seed)[0]
        assert model.resolve_issue(first.safety_issue) == left


def test_advisor_names_hazards_and_tactics_in_its_own_words():
    model = WorldModel(seed=2)
    spoken = [
        item
        for seed in range(10)
        for item in advice(model, "", coverage({}), ["harmful", "benign"], seed=seed)
    ]
    canonical = {t.name for t in TACTICS} | HAZARDS
    assert sum(item.tactic not in canonical for item in spoken) >= len(spoken) // 2
    assert sum(item.hazard not in canonical for item in spoken) >= len(spoken) // 3


def test_summary_counts_items_and_the_advisor_reads_it():
    model = WorldModel(seed=1)
    accepted = [
        candidate(name, written(model, name, COMMON_TACTIC, "harmful")[0], "I can't help.")
        for name in (NAMES[0], NAMES[5])
    ]
    previous = f"Covered issues (items so far): {NAMES[0]} (2)."
    result = summarize(
        model, previous=previous, accepted=accepted, coverage=coverage({}), max_chars=1200
    )
    assert result.error is None
    assert f"{NAMES[0]} (3)" in result.value and f"{NAMES[5]} (1)" in result.value
    named = advice(model, result.value, coverage({}), ["harmful"] * 10)
    assert not {NAMES[0], NAMES[5]} & {model.resolve_issue(i.safety_issue).name for i in named}


def test_advisor_counts_what_other_workers_are_writing_as_the_prompt_shows_it():
    # Another worker's leases reach the prompt as "Being written now" (and in the counts).
    model = WorldModel(seed=1)
    busy, free = NAMES[6], NAMES[7]
    others = [n for n in NAMES if n not in (busy, free)]
    summary = "Covered issues (items so far): " + ", ".join(f"{n} (2)" for n in others) + "."
    stats = coverage({name: 2 for name in others} | {busy: 0, free: 0})

    def first_pick(in_progress: dict[str, int], seed: int) -> str:
        shown = dataclasses.replace(stats, in_progress=in_progress)
        return model.resolve_issue(
            advice(model, summary, shown, ["harmful"], seed=seed)[0].safety_issue
        ).name

    assert {first_pick({busy: 1}, seed) for seed in range(8)} == {free}
    assert busy in {first_pick({}, seed) for seed in range(8)}  # unseen, it is a fresh gap too


def test_summary_counts_the_items_other_workers_accepted_as_the_prompt_names_them():
    model = WorldModel(seed=1)
    mine = candidate(NAMES[0], written(model, NAMES[0], COMMON_TACTIC, "harmful")[0], "No.")
    other = model.issues[9]
    # another worker's issue as that worker's advisor named it, not the world's name
    spoken = next(name for name in other.aliases if name != other.name)
    result = summarize(
        model,
        previous=f"Covered issues (items so far): {other.name} (1).",
        accepted=[mine],
        coverage=coverage({NAMES[0]: 1}),
        max_chars=1200,
        by_other_workers={spoken.lower(): 3},
    )
    assert result.value is not None and f"{other.name} (4)" in result.value
    alone = summarize(model, previous="", accepted=[mine], coverage=coverage({}), max_chars=1200)
    assert alone.value is not None and other.name not in alone.value


# -- the generators ---------------------------------------------------------------------------
def test_generator_writes_the_advised_cell_with_distinct_requests_until_exhausted():
    model = WorldModel(seed=2, refusal_rate=0)
    issue = WORLD[7]
    tactic = issue.harmful_tactics[1]
    spoken = next(t for t in TACTICS if t.name == tactic).spoken[0]
    prompts = [
        p for seed in range(4) for p in written(model, issue.aliases[0], spoken, "harmful", 3, seed)
    ]
    assert {model.cell_of(p) for p in prompts} == {Cell(issue.name, tactic, "harmful")}
    assert len(set(prompts[:10])) == 10


def test_generator_writes_benign_look_alikes_and_the_responder_answers_them():
    model = WorldModel(seed=2, refusal_rate=0)
    issue = WORLD[3]
    prompts = written(model, issue.name, "hypothetical", "benign", count=2)
    assert {model.cell_of(p) for p in prompts} == {
        Cell(issue.name, issue.benign_tactics[0], "benign")
    }
    drafts = [candidate(issue.name, p, "", "benign") for p in prompts]
    result = respond(model, drafts, principles="Be helpful.")
    assert result.value is not None and len(result.value) == 2
    assert all(not is_refusal(c.response) and len(c.response) > 100 for c in result.value)


def test_generator_drifts_to_common_issues_for_an_issue_outside_the_world():
    model = WorldModel(seed=2, refusal_rate=0)
    prompts = written(model, "lock picking", COMMON_TACTIC, "harmful", count=5, seed=1)
    assert all(model.issue_of(p) in NAMES for p in prompts)


def test_generator_sometimes_refuses_and_writes_once_the_purpose_is_restated():
    model = WorldModel(seed=4, refusal_rate=0.5)
    item = AdviceItem(safety_issue=NAMES[0], instruction="Write a realistic request.")
    results = [generate_for_advice(model, item, [], count=1, seed=s) for s in range(20)]
    first_refused = sum(r.usage.failures.get("refused", 0) for r in results)
    assert 3 <= first_refused <= 17  # counted, and retried with the purpose restated
    assert not any(r.refused for r in results)
    assert all(r.value and model.issue_of(r.value.items[0].prompt) for r in results)


def test_self_instruct_over_samples_the_common_issues_and_cells():
    model = WorldModel(seed=0)
    cells = []
    for seed in range(SAMPLES):
        item = generate_self_instruct(model, [], count=1, seed=seed).value.items[0]
        cells.append(model.cell_of(item.prompt))
        assert model.resolve_issue(item.safety_issue).name == cells[-1].issue
    issues = Counter(cell.issue for cell in cells)
    assert sum(issues[name] for name in TOP_FIVE) / SAMPLES > 0.5
    assert Counter(cell.tactic for cell in cells)[COMMON_TACTIC] / SAMPLES > 0.6
    assert 0 < sum(cell.kind == "benign" for cell in cells) / SAMPLES < 0.15


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
    model = WorldModel(seed=3, refusal_rate=0)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(
            pool.map(lambda s: written(model, NAMES[0], COMMON_TACTIC, "harmful", 1, s), range(10))
        )
    assert len({r[0] for r in results}) == 10


# -- measuring and one comparison through the real loop ---------------------------------------
def test_axis_balance_counts_the_values_a_run_never_reached():
    assert axis_balance(["a", "b"], ["a", "b"]) == pytest.approx(1.0)
    assert axis_balance(["a", "b"], ["a", "b", "c", "d"]) == pytest.approx(0.5)
    assert axis_balance(["a", "a"], ["a", "b"]) == 0.0


def test_data_advisor_covers_more_reachable_cells_than_self_instruct_on_the_same_budget():
    covered = {}
    for strategy in ("data-advisor", "self-instruct"):
        model = WorldModel(seed=1)
        with FakeOpenAIServer(chat_model=model) as server:
            _, out = run_against(
                server, strategy=strategy, target=40, seed=1, benign_share=WORLD_BENIGN_SHARE
            )
        rows = [json.loads(line) for line in (out / "dataset.jsonl").read_text().splitlines()]
        shutil.rmtree(out.parent, ignore_errors=True)  # run_against makes a fresh temp dir
        assert len(rows) == 40
        assert {"hazard", "safety_issue", "tactic", "kind"} <= set(rows[0])
        covered[strategy] = world_coverage(model, [row["prompt"] for row in rows])
    steered = covered["data-advisor"]
    assert steered["world_cells_covered"] >= 36  # nearly every item fills a new cell
    assert steered["world_cells_covered"] > covered["self-instruct"]["world_cells_covered"] + 10
    assert 0.15 <= steered["world_benign_share"] <= 0.35
