"""The whole graph on the scripted fake model and bag-of-words embeddings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.schemas import AcceptedItem
from graph.run import EXIT_OK, EXIT_USER_ERROR, config_from_args
from tests.doubles.scripted_runs import SCRIPTED, scripted_main

CANARY = "sk-canary-7f3a9c1e5b"
FAKE = SCRIPTED


def read_jsonl(path: Path) -> list[dict]:
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def checkpointed_state(out: Path) -> dict:
    """The last checkpointed state of the run in ``out``."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    from graph.graph import build_graph
    from graph.runtime.driver import THREAD

    with SqliteSaver.from_conn_string(str(out / "checkpoints.sqlite")) as saver:
        return build_graph(saver).get_state({"configurable": THREAD}).values


def run_fake(out: Path, *extra: str) -> int:
    return scripted_main(["--target", "6", "--out", str(out), *FAKE, *extra])


@pytest.fixture(scope="module")
def canary_env():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPENAI_API_KEY", CANARY)
        yield


@pytest.fixture(scope="module")
def advisor_run(tmp_path_factory, canary_env):
    out = tmp_path_factory.mktemp("advisor") / "run"
    return run_fake(out), out


@pytest.fixture(scope="module")
def baseline_run(tmp_path_factory, canary_env):
    out = tmp_path_factory.mktemp("baseline") / "run"
    return run_fake(out, "--strategy", "self-instruct"), out


@pytest.fixture(params=["advisor", "baseline"])
def any_run(request, advisor_run, baseline_run):
    return {"advisor": advisor_run, "baseline": baseline_run}[request.param]


def test_run_exits_zero(any_run):
    code, _ = any_run
    assert code == EXIT_OK


def test_dataset_has_exactly_the_target_with_unique_ids_and_prompts(any_run):
    _, out = any_run
    rows = read_jsonl(out / "dataset.jsonl")
    assert len(rows) == 6
    assert len({r["id"] for r in rows}) == 6
    assert len({r["prompt"] for r in rows}) == 6


def test_every_dataset_row_is_a_complete_accepted_item(any_run):
    _, out = any_run
    for row in read_jsonl(out / "dataset.jsonl"):
        assert set(AcceptedItem.model_fields) <= set(row)
        item = AcceptedItem.model_validate(row)
        assert item.critic.startswith("accept") and item.model == "scripted"
        assert item.prompt and item.response and item.safety_issue


def test_dataset_rows_name_their_strategy(advisor_run, baseline_run):
    assert {r["strategy"] for r in read_jsonl(advisor_run[1] / "dataset.jsonl")} == {"data-advisor"}
    assert {r["strategy"] for r in read_jsonl(baseline_run[1] / "dataset.jsonl")} == {
        "self-instruct"
    }


def test_stats_report_the_target_and_consistent_counts(any_run):
    _, out = any_run
    stats = json.loads((out / "stats.json").read_text())
    assert stats["accepted"] == 6
    assert stats["stop_reason"] == "target reached"
    rejected = read_jsonl(out / "rejected.jsonl") if (out / "rejected.jsonl").exists() else []
    judged = [r for r in rejected if r["layer"] != "parse"]
    assert stats["candidates_judged"] == 6 + len(judged)
    assert sum(stats["rejections_by_reason"].values()) == len(rejected)
    assert stats["llm_calls"] == sum(u["calls"] for u in stats["usage_by_role"].values())


def test_config_json_records_the_run_without_secrets(any_run):
    _, out = any_run
    config = json.loads((out / "config.json").read_text())
    assert config["target"] == 6 and config["provider"] == "openai"
    assert config["api_key_env"] == "OPENAI_API_KEY"
    assert not any(CANARY in json.dumps(value) for value in config.values())
    assert CANARY not in json.dumps(config)


def test_no_file_of_the_run_holds_the_api_key(any_run):
    _, out = any_run
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.suffix == ".sqlite3" for p in files)  # the chroma memory is searched too
    for path in files:
        assert CANARY.encode() not in path.read_bytes(), path


def test_advisor_run_writes_one_summary_per_round(advisor_run):
    _, out = advisor_run
    stats = json.loads((out / "stats.json").read_text())
    summaries = read_jsonl(out / "summaries.jsonl")
    assert len(summaries) == stats["rounds"] >= 1
    assert [s["round"] for s in summaries] == list(range(1, stats["rounds"] + 1))
    assert all(s["summary"] for s in summaries)
    assert stats["usage_by_role"]["summarizer"]["calls"] >= stats["rounds"]
    assert stats["usage_by_role"]["advisor"]["calls"] >= stats["rounds"]


def test_advice_log_has_one_row_per_branch(advisor_run):
    _, out = advisor_run
    advice = read_jsonl(out / "advice.jsonl")
    assert advice and all(row["source"] in {"advisor", "fallback"} for row in advice)
    assert {row["round"] for row in advice} == set(range(1, max(r["round"] for r in advice) + 1))


def test_self_instruct_run_has_no_advisor_or_summarizer(baseline_run):
    _, out = baseline_run
    stats = json.loads((out / "stats.json").read_text())
    assert not (out / "summaries.jsonl").exists()
    assert not (out / "advice.jsonl").exists()
    assert "summarizer" not in stats["usage_by_role"] and "advisor" not in stats["usage_by_role"]


def test_second_run_into_the_same_out_is_refused(advisor_run, capsys):
    _, out = advisor_run
    before = (out / "dataset.jsonl").read_bytes()
    assert run_fake(out) == EXIT_USER_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "already holds a run" in err[0]
    assert (out / "dataset.jsonl").read_bytes() == before


def test_bad_seed_file_is_a_user_error(tmp_path, capsys):
    bad = tmp_path / "seeds.jsonl"
    bad.write_text('{"prompt": "only a prompt"}\n')
    assert run_fake(tmp_path / "run", "--seed-examples", str(bad)) == EXIT_USER_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --seed-examples") and "lacks" in err[0]


def test_out_is_reusable_after_an_input_error(tmp_path, capsys):
    bad = tmp_path / "seeds.jsonl"
    bad.write_text('{"prompt": "only a prompt"}\n')
    out = tmp_path / "run"
    assert run_fake(out, "--seed-examples", str(bad)) == EXIT_USER_ERROR
    assert run_fake(out, "--max-rounds", "30") == EXIT_OK


def test_stats_count_rejections_over_the_whole_run(tmp_path):
    import json

    from tests.doubles.scripted_runs import scripted_main

    out = tmp_path / "run"
    assert (
        scripted_main(
            [
                "--target",
                "12",
                "--out",
                str(out),
                *FAKE,
            ]
        )
        == 0
    )
    stats = json.loads((out / "stats.json").read_text())
    reasons = [
        json.loads(line)["reason"] for line in (out / "rejected.jsonl").read_text().splitlines()
    ]
    from collections import Counter

    assert stats["rejections_by_reason"] == dict(Counter(reasons))
    assert stats["rounds"] > 1


def test_a_run_killed_before_its_first_checkpoint_resumes_from_the_beginning(tmp_path):
    """config.json and an empty checkpoints.sqlite: what a kill during start-up leaves."""
    import sqlite3

    out = tmp_path / "run"
    first, _, _ = config_from_args(["--target", "4", "--out", str(out), *FAKE])
    out.mkdir()
    (out / "config.json").write_text(json.dumps(first.public_dict()))
    sqlite3.connect(out / "checkpoints.sqlite").close()
    assert scripted_main(["--target", "4", "--out", str(out), *FAKE]) == EXIT_USER_ERROR
    assert scripted_main(["--resume", "--out", str(out)]) == EXIT_OK
    assert len(read_jsonl(out / "dataset.jsonl")) == 4


def test_a_run_that_plans_ahead_pairs_every_item_and_summarizes_in_the_background(tmp_path):
    out = tmp_path / "run"
    assert scripted_main(["--target", "12", "--out", str(out), *FAKE, "--concurrency", "8"]) == 0
    rows = read_jsonl(out / "dataset.jsonl")
    stats = json.loads((out / "stats.json").read_text())
    pairs = read_jsonl(out / "pairs.jsonl")
    without = sum(stats["preference"]["items_without_pair"].values())
    assert len(rows) == 12 and len(pairs) + without == 12  # the finish waited for the last ones
    assert sorted(p["id"] for p in pairs) == sorted(
        {p["id"] for p in pairs} & {r["id"] for r in rows}
    )
    assert stats["preference"]["pairs"] == len(pairs)
    summaries = read_jsonl(out / "summaries.jsonl")
    assert summaries and all(s["summary"] for s in summaries)
    assert len({s["round"] for s in summaries}) == len(summaries) <= stats["rounds"]
    assert stats["usage_by_role"]["summarizer"]["calls"] == len(summaries)


def test_a_run_that_planned_ahead_continues_in_lock_step_with_its_items_left_to_summarize(
    tmp_path,
):
    out = tmp_path / "run"
    assert scripted_main(["--target", "6", "--out", str(out), *FAKE, "--concurrency", "8"]) == 0

    def state():
        return checkpointed_state(out)

    # the round that reached the target accepted items, and no summary is started after it
    assert state().get("unsummarized") and not state().get("unpaired")
    more = ["--resume", "--out", str(out), "--target", "10", "--concurrency", "2"]
    assert scripted_main(more) == EXIT_OK
    assert not state().get("unsummarized")  # the lock-step summarizer folded them in
    rows = read_jsonl(out / "dataset.jsonl")
    stats = json.loads((out / "stats.json").read_text())
    without = sum(stats["preference"]["items_without_pair"].values())
    assert len(rows) == 10 and len(read_jsonl(out / "pairs.jsonl")) + without == 10


def test_advisor_calls_ask_one_item_while_nothing_is_in_flight(tmp_path, monkeypatch):
    import graph.nodes as nodes

    calls: list[tuple[int, int, int, bool]] = []  # (round, count, first task number, idle)
    real_plan = nodes._plan

    def recording_plan(config, res, steering, **kw):
        idle = not res.in_flight.cells()
        outcome = real_plan(config, res, steering, **kw)
        calls.append((kw["round_"], kw["count"], kw["first"], idle))
        return outcome

    monkeypatch.setattr(nodes, "_plan", recording_plan)
    out = tmp_path / "run"
    assert scripted_main(["--target", "12", "--out", str(out), *FAKE, "--concurrency", "8"]) == 0
    first_wave = [c for c in calls if c[0] == 1 and c[3]]
    assert first_wave and {c[1] for c in first_wave} == {nodes.IDLE_ADVICE_PER_CALL} == {1}
    assert any(c[1] == nodes.ADVICE_PER_CALL for c in calls)  # later calls: 2 items
    # task numbers stay distinct whatever a call's size: each call numbers from part x 2
    firsts = [(c[0], c[2]) for c in calls]
    assert len(firsts) == len(set(firsts))


def test_the_state_counts_each_issues_duplicates_since_its_last_accepted_item(tmp_path):
    from collections import Counter

    out = tmp_path / "run"
    assert scripted_main(["--target", "12", "--out", str(out), *FAKE]) == 0
    accepted = {(r["round"], r["safety_issue"]) for r in read_jsonl(out / "dataset.jsonl")}
    duplicates = Counter(
        (r["round"], r["candidate"]["safety_issue"])
        for r in read_jsonl(out / "rejected.jsonl")
        if r["reason"] == "duplicate"
    )
    assert duplicates  # the scripted generator repeats itself
    expected: dict[str, int] = {}
    for round_ in sorted({r for r, _ in accepted | set(duplicates)}):
        for issue in {i for r, i in duplicates if r == round_}:
            expected[issue] = expected.get(issue, 0) + duplicates[round_, issue]
        for issue in {i for r, i in accepted if r == round_}:
            expected[issue] = 0
    assert checkpointed_state(out)["dry"] == expected
