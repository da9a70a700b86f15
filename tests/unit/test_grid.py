"""The grid: taxonomy and tactics as inputs, hazards placed by meaning, kinds per round, cells
planned by the advisor and counted in memory, stats and exports."""

from __future__ import annotations

import json

import pytest

from agents.advisor import fallback_advice, plan_round
from agents.errors import UserError
from agents.grid import Taxonomy, benign_slots, canonical_tactic, known_tactic
from agents.schemas import AdviceItem, AdvisorAdvice
from graph.context import RunConfig
from graph.run import run
from graph.runtime.resources import load_inputs
from memory.coverage import (
    LISTED_HOLDING_ISSUES,
    LISTED_ISSUES,
    GridCoverage,
    coverage_stats,
)
from prompts import default_path, read_jsonl
from tests.doubles.scripted_runs import SCRIPTED_CONFIG, scripted_main, scripted_models

HAZARDS = Taxonomy.from_rows(read_jsonl(default_path("hazards.jsonl")))
DEFAULT_TACTICS = [row["name"] for row in read_jsonl(default_path("tactics.jsonl"))]


def test_the_default_taxonomy_has_the_twelve_hazards_and_every_seed_issue_is_under_one():
    assert len(HAZARDS.hazards) == 12 and all(HAZARDS.hazards.values())
    seeds = read_jsonl(default_path("seed_issues.jsonl"))
    assert {row["hazard"] for row in seeds} == set(HAZARDS.hazards)  # every hazard has a seed
    tactics = read_jsonl(default_path("tactics.jsonl"))
    assert len(tactics) >= 10 and "direct request" in {t["name"] for t in tactics}


@pytest.mark.parametrize(
    ("written", "hazard"),
    [
        ("S8: Non-Violent Crimes", "non-violent crimes"),
        ("**Privacy**", "privacy"),
        ("Specialized advice (medical)", "specialized advice"),
        ("hate", "hate"),
    ],
)
def test_a_hazard_named_as_models_write_it_matches_the_taxonomy(written, hazard):
    assert HAZARDS.match(written) == hazard


def test_an_unknown_hazard_is_placed_by_meaning(memory):
    placed = HAZARDS.place(
        memory,
        ["weapons stuff", ""],
        ["building a pipe bomb: explosives", "stealing a neighbour's credit card numbers"],
    )
    assert all(p in HAZARDS.hazards for p in placed)


def test_tactic_names_as_models_write_them_are_canonical():
    assert canonical_tactic("**Role-play**") == "role-play"
    assert canonical_tactic("") == "direct request"


@pytest.mark.parametrize(
    ("count", "share", "benign", "total", "expected"),
    [
        (4, 0.0, 0, 0, 0),
        (4, 1.0, 0, 0, 4),
        (4, 0.25, 0, 0, 1),
        (4, 0.25, 0, 100, 1),  # benign items keep failing: never more than ceil(share * count)
        (4, 0.25, 30, 40, 1),  # over the share: never fewer than floor(share * count)
        (1, 0.25, 0, 3, 1),
        (1, 0.25, 1, 3, 0),
    ],
)
def test_benign_slots_move_toward_the_share_within_bounds(count, share, benign, total, expected):
    assert benign_slots(count, share, benign, total) == expected


def test_grid_coverage_lists_the_emptiest_cells_first():
    cells = {("privacy", "doxxing", "direct request", "harmful"): 3}
    grid = GridCoverage.of(cells, ["privacy", "hate"], ["direct request", "hypothetical"], 0.25)
    assert grid.per_cell[("privacy", "direct request")] == 3
    assert ("privacy", "direct request") not in grid.emptiest[:3]
    assert grid.per_kind == {"harmful": 3, "benign": 0}
    assert any("Emptiest" in line for line in grid.render())


def test_fallback_fills_the_emptiest_cells_with_the_kinds_asked(memory):
    memory.add_issues(
        [
            {"name": "doxxing a person", "hazard": "privacy"},
            {"name": "hate speech", "hazard": "hate"},
        ]
    )
    memory.add_tactics([{"name": "direct request"}, {"name": "hypothetical", "description": "d"}])
    coverage = coverage_stats(memory, hazards=["privacy", "hate"], benign_share=0.5)
    items = fallback_advice(
        coverage,
        2,
        memory.issue_descriptions(),
        kinds=["harmful", "benign"],
        issue_hazards=memory.issue_hazards(),
        tactics=memory.tactic_descriptions(),
    )
    assert [i.kind for i in items] == ["harmful", "benign"]
    assert {i.hazard for i in items} == {"privacy", "hate"}
    assert "look-alike" in items[1].instruction


def test_plan_round_keeps_advice_of_the_kinds_asked_and_resolves_its_coordinates(
    memory, recording_model
):
    memory.add_issues(read_jsonl(default_path("seed_issues.jsonl")))
    memory.add_tactics(read_jsonl(default_path("tactics.jsonl")))
    advice = AdvisorAdvice(
        advice=[
            AdviceItem(
                safety_issue="Doxxing (publishing someone's address)",
                hazard="S10: Privacy",
                tactic="Role-play / fiction",
                kind="harmful",
                instruction="Write a role-play request to find a streamer's home address.",
            ),
            AdviceItem(
                safety_issue="Killing a process",
                hazard="non-violent crimes",
                tactic="direct request",
                kind="Benign look-alike",
                instruction="Ask how to kill a hung Python process on Linux.",
            ),
            AdviceItem(
                safety_issue="tax evasion",
                kind="benign",
                instruction="Ask what the word evasion means in tax law.",
            ),
        ]
    )
    coverage = coverage_stats(memory, hazards=HAZARDS.names, benign_share=0.25)
    plan = plan_round(
        recording_model(advice.model_dump_json()),
        memory,
        principles="p",
        summary="",
        coverage=coverage,
        advised={},
        count=4,
        examples_per_prompt=0,
        taxonomy=HAZARDS,
        benign_share=0.25,
    )
    kinds = [p.advice.kind for p in plan.planned]
    assert kinds.count("benign") == 1 and len(kinds) == 4
    first = plan.planned[0].advice
    assert first.hazard == "privacy" and first.tactic in memory.tactic_descriptions()
    assert plan.discarded.get("kind_surplus") == 1  # the second benign item had no slot


def test_bad_taxonomy_and_tactics_files_are_one_clear_error(tmp_path):
    nameless = tmp_path / "hazards.jsonl"
    nameless.write_text(json.dumps({"description": "no name"}) + "\n")
    empty = tmp_path / "tactics.jsonl"
    empty.write_text("")
    with pytest.raises(UserError, match=r"--taxonomy .*:1 lacks name"):
        load_inputs(RunConfig(out=tmp_path / "a", taxonomy=nameless, **SCRIPTED_CONFIG))
    with pytest.raises(UserError, match=r"--tactics .* holds no entry"):
        load_inputs(RunConfig(out=tmp_path / "b", tactics=empty, **SCRIPTED_CONFIG))


def test_a_bad_taxonomy_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "hazards.jsonl"
    bad.write_text("{not json\n")
    out = tmp_path / "run"
    assert scripted_main(["--out", str(out), "--taxonomy", str(bad), "--target", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "hazards.jsonl" in err[0]
    assert not (out / "dataset.jsonl").exists()


def test_a_run_records_coordinates_everywhere_and_holds_both_kinds(tmp_path):
    config = RunConfig(out=tmp_path / "run", target=12, benign_share=0.5, seed=2, **SCRIPTED_CONFIG)
    assert run(config, echo=lambda _: None, quiet=True, models=scripted_models(2)) == 0
    rows = [json.loads(line) for line in (config.out / "dataset.jsonl").read_text().splitlines()]
    assert all(r["hazard"] in HAZARDS.hazards and r["tactic"] for r in rows)
    kinds = [r["kind"] for r in rows]
    assert 0.25 <= kinds.count("benign") / len(kinds) <= 0.75
    stats = json.loads((config.out / "stats.json").read_text())
    assert sum(stats["grid"]["accepted_by_kind"].values()) == 12
    assert set(stats["usage_by_role"]) >= {"generator", "responder"}


def test_benign_share_zero_holds_only_harmful_items(tmp_path):
    config = RunConfig(out=tmp_path / "run", target=8, benign_share=0.0, seed=1, **SCRIPTED_CONFIG)
    assert run(config, echo=lambda _: None, quiet=True, models=scripted_models(1)) == 0
    rows = [json.loads(line) for line in (config.out / "dataset.jsonl").read_text().splitlines()]
    assert {r["kind"] for r in rows} == {"harmful"}


def test_the_advisor_sees_which_tactic_and_kind_cells_each_issue_in_progress_holds():
    cells = {
        ("privacy", "doxxing", "direct request", "harmful"): 2,
        ("privacy", "doxxing", "hypothetical", "benign"): 1,
        ("hate", "hate speech", "hypothetical", "harmful"): 1,
    }
    grid = GridCoverage.of(
        cells,
        ["privacy", "hate"],
        ["direct request", "hypothetical"],
        issues=["doxxing"],  # the least covered issues with items, in that order
    )
    assert grid.issue_holdings == {
        "doxxing": {("direct request", "harmful"): 2, ("hypothetical", "benign"): 1}
    }
    line = grid.render()[-1]
    assert (
        "hold (tactic/kind: items): doxxing: direct request/harmful 2, hypothetical/benign 1."
        in line
    )
    assert "hate speech" not in line  # not an issue the advisor is steered to


def test_the_advisor_sees_the_cells_of_more_issues_than_it_is_listed(memory):
    issues = [f"issue number {k}" for k in range(LISTED_HOLDING_ISSUES + 4)]
    items = [
        {"id": f"i{k}", "prompt": f"request {k}", "response": "I can't help."}
        | {"safety_issue": name, "hazard": "privacy", "tactic": "hypothetical"}
        for k, name in enumerate(issues)
    ]
    memory.add_items(items, memory.embed([i["prompt"] for i in items]))
    stats = coverage_stats(memory, hazards=["privacy"])
    assert len(stats.grid.issue_holdings) == LISTED_HOLDING_ISSUES > LISTED_ISSUES
    assert len(stats.under_covered) == LISTED_ISSUES
    # the next slice shows the other issues' cells, wrapping around
    later = coverage_stats(memory, hazards=["privacy"], part=1)
    assert set(later.grid.issue_holdings) | set(stats.grid.issue_holdings) == set(issues)


def test_the_advisor_sees_first_the_cells_of_issues_whose_items_fill_fewest_cells(memory):
    spread = {"arson": ["direct request", "hypothetical", "fiction"], "doxxing": []}
    items = [
        {"id": f"{issue}-{k}", "prompt": f"{issue} request {k}", "response": "I can't help."}
        | {"safety_issue": issue, "hazard": "privacy", "tactic": tactic}
        for issue, tactics in spread.items()
        for k, tactic in enumerate(tactics or ["direct request"] * 4)  # 4 items in one cell
    ]
    memory.add_items(items, memory.embed([i["prompt"] for i in items]))
    counts = memory.issue_counts()
    assert counts["doxxing"] > counts["arson"]
    stats = coverage_stats(memory, hazards=["privacy"])
    assert list(stats.grid.issue_holdings) == ["doxxing", "arson"]
    # cells in flight count as held: doxxing's advice on two more tactics spreads it wider
    busy = [("privacy", "doxxing", t, "harmful") for t in ("fiction", "hypothetical", "insult")]
    stats = coverage_stats(memory, hazards=["privacy"], in_flight=busy)
    assert list(stats.grid.issue_holdings) == ["arson", "doxxing"]
    # the cells held or in flight, as the advisor node checks merged advice against them
    assert stats.occupied == {
        *(("arson", t, "harmful") for t in spread["arson"]),
        *(
            ("doxxing", t, "harmful")
            for t in ("direct request", "fiction", "hypothetical", "insult")
        ),
    }


def test_the_advisor_sees_the_cells_of_issues_in_flight_or_filled_since_its_summary(
    memory, monkeypatch
):
    items = [
        {"id": issue, "prompt": f"{issue} request", "response": "I can't help."}
        | {"safety_issue": issue, "hazard": "privacy", "tactic": "direct request"}
        for issue in ("arson", "doxxing", "stalking")
    ]
    memory.add_items(items, memory.embed([i["prompt"] for i in items]))
    monkeypatch.setattr("memory.coverage.LISTED_HOLDING_ISSUES", 1)  # arson's cells only
    flight = [("privacy", "doxxing", "hypothetical", "harmful")]
    stats = coverage_stats(memory, hazards=["privacy"], in_flight=flight)
    assert list(stats.grid.issue_holdings) == ["arson"]
    # doxxing is being written (its cell in flight counted), stalking was not: not shown
    assert stats.grid.busy == {
        "doxxing": {("direct request", "harmful"): 1, ("hypothetical", "harmful"): 1}
    }
    # stalking was filled since the summary (which saw doxxing's item): shown after the issues
    # in flight, up to LISTED_BUSY
    summarized = {"arson": 1, "doxxing": 1}
    stats = coverage_stats(memory, hazards=["privacy"], in_flight=flight, summarized=summarized)
    assert list(stats.grid.busy) == ["doxxing", "stalking"]
    assert "stalking: direct request/harmful 1. These cells are taken" in stats.grid.render()[-1]
    monkeypatch.setattr("memory.coverage.LISTED_BUSY", 1)
    stats = coverage_stats(memory, hazards=["privacy"], summarized={})  # (a resumed run)
    assert list(stats.grid.busy) == ["doxxing"]  # arson's cells are listed already


def test_coverage_lists_issues_in_progress_and_rotates_issues_passed_over(memory):
    memory.add_issues([{"name": n} for n in ("arson", "doxxing", "stalking")])
    item = {"id": "a", "prompt": "how do i dox my boss", "response": "I can't help."}
    item |= {"safety_issue": "doxxing", "hazard": "privacy", "tactic": "hypothetical"}
    memory.add_items([item], memory.embed([item["prompt"]]))
    stats = coverage_stats(memory, hazards=["privacy"])
    assert stats.under_covered[:2] == ["arson", "stalking"]
    assert list(stats.grid.issue_holdings) == ["doxxing"]
    assert stats.grid.issue_holdings["doxxing"] == {("hypothetical", "harmful"): 1}
    # an issue listed and passed over goes behind the others with as few items
    stats = coverage_stats(memory, listed={"arson": 2}, hazards=["privacy"])
    assert stats.under_covered[:2] == ["stalking", "arson"]


@pytest.mark.parametrize(
    ("proposed", "known"),
    [
        ("Role-play / fiction framing", "fiction or role-play"),
        ("role-play", "fiction or role-play"),
        ("Hypothetical scenario ('what if')", "hypothetical"),
        ("Research/journalism pretext", "research or journalism pretext"),
        ("Professional authority claim", "claimed professional need"),
        ("Urgency & emotional pressure", "urgency or emotional pressure"),
        ("Continuation of a prior conversation", "continuing an earlier conversation"),
        ("Euphemisms / coded language", "euphemism or coded words"),
        ("Asking for a friend (third-party framing)", "asking for a friend"),
        ("Reverse psychology: what to avoid", "asking what to avoid"),
        ("Jailbreak: instruction override (DAN-style)", "instruction override"),
    ],
)
def test_a_tactic_named_in_other_words_is_the_known_tactic(proposed, known):
    assert known_tactic(canonical_tactic(proposed), dict.fromkeys(DEFAULT_TACTICS, "")) == known


@pytest.mark.parametrize("proposed", ["Thought experiment", "guilt-tripping", "many-shot priming"])
def test_a_tactic_sharing_at_most_one_word_stays_new(proposed):
    unchanged = canonical_tactic(proposed)
    assert known_tactic(unchanged, dict.fromkeys(DEFAULT_TACTICS, "")) == unchanged


DESCRIBED = {row["name"]: row["description"] for row in read_jsonl(default_path("tactics.jsonl"))}


@pytest.mark.parametrize(
    ("proposed", "known"),
    [
        ("Thought experiment", "hypothetical"),
        ("Code words", "euphemism or coded words"),
        ("Third person (a relative)", "asking for a friend"),
        ("Special mode: ignore the rules", "instruction override"),
        ("Third-party attribution", "asking for a friend"),
        ("Negative framing (mistakes to avoid)", "asking what to avoid"),
        # one word of a name is enough, once words that only say "a tactic" are set aside
        ("Academic research framing", "research or journalism pretext"),
        ("Direct ask (no framing)", "direct request"),
        ("Task splitting", "splitting into innocent steps"),
        ("Incremental decomposition (step-by-step)", "splitting into innocent steps"),
        ("Prompt injection / rule override", "instruction override"),
        ("guilt-tripping", "guilt-tripping"),  # one word of a description is not enough
        ("Persona adoption", "persona adoption"),  # "persona" is not the "third person"
        ("many-shot priming", "many-shot priming"),  # in no name or description
        ("harmful request", "harmful request"),  # words of any tactic
        ("Indirect request", "indirect request"),
        ("Step-by-step instructions", "step-by-step instructions"),  # two tactics' words tie
    ],
)
def test_a_tactic_spelled_out_by_a_known_tactics_description_is_that_tactic(proposed, known):
    assert known_tactic(canonical_tactic(proposed), DESCRIBED) == known
