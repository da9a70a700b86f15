"""graph/rundir.py: crash repair of JSONL files and the one-writer lock."""

from __future__ import annotations

import pytest

from agents.errors import UserError
from graph.runtime.rundir import ADVICE, PAIRS, REJECTED, RunDirectory


def test_repair_drops_only_a_partial_last_line(tmp_path):
    run = RunDirectory(tmp_path)
    (tmp_path / "dataset.jsonl").write_text('{"id": "a"}\n{"id": "b"}\n{"id": "c", "pro')
    assert run.repair_jsonl("dataset.jsonl") > 0
    assert (tmp_path / "dataset.jsonl").read_text() == '{"id": "a"}\n{"id": "b"}\n'
    assert run.repair_jsonl("dataset.jsonl") == 0


def test_repair_refuses_a_corrupt_complete_line_and_changes_nothing(tmp_path):
    run = RunDirectory(tmp_path)
    text = '{"id": "a"}\nnot json\n{"id": "c"}\n'
    (tmp_path / "dataset.jsonl").write_text(text)
    with pytest.raises(UserError, match=r"dataset.jsonl:2 is corrupted"):
        run.repair_jsonl("dataset.jsonl")
    assert (tmp_path / "dataset.jsonl").read_text() == text


def test_repair_of_a_missing_file_is_a_no_op(tmp_path):
    assert RunDirectory(tmp_path).repair_jsonl("rejected.jsonl") == 0


def test_second_lock_on_the_same_run_is_refused_and_released_after(tmp_path):
    first, second = RunDirectory(tmp_path), RunDirectory(tmp_path)
    with first.lock(), pytest.raises(UserError, match="another process is writing"), second.lock():
        pass
    with second.lock():
        pass


def test_write_json_replaces_atomically(tmp_path):
    run = RunDirectory(tmp_path)
    run.write_json("stats.json", {"accepted": 1})
    run.write_json("stats.json", {"accepted": 2})
    assert (tmp_path / "stats.json").read_text().strip().endswith("}")
    assert not list(tmp_path.glob("*.tmp"))


def test_pairs_written_by_several_jobs_for_one_round_all_stay_and_a_rewrite_replaces_its_own(
    tmp_path,
):
    run_dir = RunDirectory(tmp_path)
    pair = {"round": 2, "pair_type": "unhelpful_refusal", "rejected": "No.", "source": "contrast"}
    run_dir.write_group(PAIRS, [pair | {"id": "a"}, pair | {"id": "b"}])
    run_dir.write_group(PAIRS, [pair | {"id": "c"}])  # a later job, items of the same round
    run_dir.write_group(PAIRS, [pair | {"id": "b", "rejected": "Again."}])  # replayed on resume
    written = {row["id"]: row["rejected"] for row in run_dir.read_jsonl(PAIRS)}
    assert written == {"a": "No.", "b": "Again.", "c": "No."}
    assert len(run_dir.read_jsonl(PAIRS)) == 3


def test_a_replayed_step_that_writes_no_row_still_drops_what_its_first_attempt_wrote(tmp_path):
    run_dir = RunDirectory(tmp_path)
    rejected = {"candidate": None, "reason": "irrelevant", "layer": "relevance", "detail": ""}
    run_dir.write_group(REJECTED, [rejected | {"round": 1, "step": "critic"}])
    run_dir.write_group(REJECTED, [rejected | {"round": 2, "step": "critic"}])
    replay = RunDirectory(tmp_path)  # the resumed process: its round 1 rejects nothing
    assert replay.write_group(REJECTED, [], group=(1, "critic")) == 0
    assert [row["round"] for row in replay.read_jsonl(REJECTED)] == [2]
    assert not (tmp_path / "advice.jsonl").exists()
    replay.write_group(ADVICE, [], group=1)  # nothing to drop, no file made
    assert not (tmp_path / "advice.jsonl").exists()
