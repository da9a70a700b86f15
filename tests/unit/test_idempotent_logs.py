"""A step that crashes after writing a side log and before its checkpoint is replayed on resume;
no file of the run directory may then hold a line twice (the window between append and checkpoint
is aimed at directly: the write itself raises once it has landed)."""

from __future__ import annotations

from collections import Counter

import pytest

from graph.cli import EXIT_OK
from graph.context import RunConfig
from graph.run import run
from graph.runtime.rundir import ADVICE, DATASET, REJECTED, ROUNDS, SUMMARIES, RunDirectory
from tests.doubles.scripted_runs import SCRIPTED_CONFIG, scripted_models
from tests.run_checks import assert_no_duplicate_line, rows


class Crash(Exception):
    """Stands for a kill right after a write, before LangGraph checkpoints the step."""


@pytest.mark.parametrize(
    ("name", "nth"), [(ADVICE, 2), (REJECTED, 2), (SUMMARIES, 2), (ROUNDS, 2), (ADVICE, 3)]
)
def test_a_step_replayed_after_a_crash_writes_no_line_twice(tmp_path, monkeypatch, name, nth):
    config = RunConfig(
        out=tmp_path / "run",
        target=8,
        advice_per_round=2,
        concurrency=2,
        seed=3,
        **SCRIPTED_CONFIG,
    )
    original = RunDirectory.write_group
    seen = Counter()

    def write_then_crash(self, file_name, group_rows, group=None):
        written = original(self, file_name, group_rows, group)
        seen[file_name] += bool(group_rows)  # the nth write that wrote something
        if file_name == name and seen[file_name] == nth:
            raise Crash(f"killed after writing {file_name}")
        return written

    monkeypatch.setattr(RunDirectory, "write_group", write_then_crash)
    with pytest.raises(Crash):
        run(config, echo=lambda _: None, quiet=True, models=scripted_models(3))
    before = rows(config.out, name)
    monkeypatch.setattr(RunDirectory, "write_group", original)
    resumed = config.model_copy()
    assert (
        run(resumed, resume=True, echo=lambda _: None, quiet=True, models=scripted_models(3))
        == EXIT_OK
    )
    assert before, f"the crash came before anything reached {name}"
    assert_no_duplicate_line(config.out)
    assert len(rows(config.out, DATASET)) == 8
