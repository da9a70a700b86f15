"""Kill a real run with SIGKILL at chosen moments, resume it, and check nothing is lost or doubled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import chromadb
import pytest
from chromadb.config import Settings

from tests.doubles.openai_server import FakeOpenAIServer
from tests.run_checks import assert_no_duplicate_line

TARGET = 20


def start(out: Path, server: FakeOpenAIServer, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "graph.run", *server.cli_args(out), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OPENAI_API_KEY": "k"},
    )


def memory_ids(out: Path) -> set[str]:
    client = chromadb.PersistentClient(
        path=str(out / "memory"), settings=Settings(anonymized_telemetry=False)
    )
    return set(client.get_collection("items").get(where={"source": "generated"}, include=[])["ids"])


def check_consistent(out: Path, expected: int | None = None) -> list[dict]:
    path = out / "dataset.jsonl"
    text = path.read_text() if path.exists() else ""
    assert text == "" or text.endswith("\n"), "no partial line"
    rows = [json.loads(line) for line in text.splitlines()]
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == len(ids), "an item was written twice"
    assert len({r["prompt"] for r in rows}) == len(rows)
    if expected is not None:
        assert len(rows) == expected
    assert_no_duplicate_line(out)  # every file of the run directory, not just the dataset
    return rows


class KillSwitch:
    """Kills the child process when the server sees the Nth request of a given schema."""

    def __init__(self, schema: str, nth: int) -> None:
        self.schema, self.nth, self.seen, self.process = schema, nth, 0, None
        self.fired = threading.Event()

    def __call__(self, schema: str) -> None:
        if schema == self.schema and self.process is not None and not self.fired.is_set():
            self.seen += 1
            if self.seen >= self.nth:
                self.fired.set()
                os.kill(self.process.pid, signal.SIGKILL)


def kill_when_dataset_grows(process: subprocess.Popen, dataset: Path, timeout: float = 60) -> bool:
    """SIGKILL right after dataset.jsonl grows: between the dataset write and the memory write."""
    size = dataset.stat().st_size if dataset.exists() else 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if dataset.exists() and dataset.stat().st_size > size:
            os.kill(process.pid, signal.SIGKILL)
            return True
        time.sleep(0.0005)
    return False


@pytest.mark.parametrize("strategy", ["data-advisor", "self-instruct"])
def test_sigkill_at_several_moments_then_resume(tmp_path: Path, strategy: str) -> None:
    out = tmp_path / "run"
    moments = [
        ("GeneratedBatch" if strategy == "data-advisor" else "LabeledBatch", 3),
        ("CriticJudgement", 9),
    ]
    if strategy == "data-advisor":
        moments.append(("SummaryUpdate", 3))
    switch = KillSwitch(*moments[0])
    with FakeOpenAIServer(latency=0.05, on_request=lambda s: switch(s)) as server:
        common = (
            "--target",
            str(TARGET),
            "--strategy",
            strategy,
            "--advice-per-round",
            "2",
            "--concurrency",
            "2",
        )
        # First kill: right after the first dataset write, before memory and checkpoint catch up.
        # It comes first so that the run is still far from its target when it happens.
        process = start(out, server, *common)
        assert kill_when_dataset_grows(process, out / "dataset.jsonl"), "no dataset write seen"
        process.wait(timeout=30)
        check_consistent(out)
        killed = 1
        for schema, nth in moments:
            switch.schema, switch.nth, switch.seen = schema, nth, 0
            switch.fired.clear()
            process = start(out, server, "--resume", "--target", str(TARGET))
            switch.process = process
            process.wait(timeout=120)
            assert switch.fired.is_set(), (
                f"never reached {schema} #{nth}: {process.stderr.read()[-800:]}"
            )
            assert process.returncode == -signal.SIGKILL
            killed += 1
            check_consistent(out)
        switch.process = None
        process = start(out, server, "--resume", "--target", str(TARGET))
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr[-2000:]
    assert killed == len(moments) + 1
    rows = check_consistent(out, expected=TARGET)
    assert memory_ids(out) == {r["id"] for r in rows}, "dataset and memory disagree"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["accepted"] == TARGET and stats["stop_reason"] == "target reached"


@pytest.mark.parametrize("after", [1, 3, 6, 10])
def test_sigkill_seconds_after_start_then_resume_to_the_target(
    tmp_path: Path, after: float
) -> None:
    """Killed at any moment, even before the first checkpoint, a run resumes to its full target.

    At 1 s the process may not have made its directory yet: then there is no run to resume and
    the same command starts it again (what a user would do); once the directory holds a run,
    ``--resume`` continues it, from its first checkpoint or from nothing.
    """
    out = tmp_path / "run"
    target = "16"  # with 0.3 s answers the run outlasts the last kill (about 15 s in all)
    with FakeOpenAIServer(latency=0.3) as server:
        first = start(out, server, "--target", target, "--advice-per-round", "2")
        time.sleep(after)
        assert first.poll() is None, "the run ended before the kill: make it longer"
        first.kill()
        first.wait(timeout=30)
        resumable = (out / "config.json").exists()
        again = (
            start(out, server, "--resume")
            if resumable
            else start(out, server, "--target", target, "--advice-per-round", "2")
        )
        stdout, stderr = again.communicate(timeout=180)
    assert again.returncode == 0, stderr[-2000:]
    check_consistent(out, expected=int(target))
    assert memory_ids(out) == {r["id"] for r in check_consistent(out)}


def test_resume_of_a_finished_run_says_so(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with FakeOpenAIServer() as server:
        first = start(out, server, "--target", "3")
        assert first.wait(timeout=120) == 0
        again = start(out, server, "--resume")
        stdout, _ = again.communicate(timeout=120)
        assert again.returncode == 0 and "already complete" in stdout
        more = start(out, server, "--resume", "--target", "5")
        assert more.wait(timeout=120) == 0
    check_consistent(out, expected=5)


def test_a_second_writer_is_refused_while_the_first_runs(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with FakeOpenAIServer(latency=0.2) as server:
        first = start(out, server, "--target", "30")
        deadline = time.monotonic() + 60
        while (
            not (out / "dataset.jsonl").exists()
            and time.monotonic() < deadline
            and first.poll() is None
        ):
            time.sleep(0.05)
        second = start(out, server, "--resume")
        _, stderr = second.communicate(timeout=120)
        first.kill()
        first.wait()
    assert second.returncode == 2 and "another process is writing" in stderr


def test_sigkill_while_pairs_and_summary_are_written_in_the_background(tmp_path: Path) -> None:
    """A run that plans ahead (--concurrency above 4) writes each round's preference pairs and
    its summary in the background while the next rounds run: killed while they are being
    written, it resumes, writes them, and every accepted item ends with exactly one pair."""
    out = tmp_path / "run"
    switch = KillSwitch("ContrastBatch", 2)
    common = ("--target", str(TARGET), "--concurrency", "8")
    with FakeOpenAIServer(latency=0.05, on_request=lambda s: switch(s)) as server:
        for schema, nth in [("ContrastBatch", 2), ("SummaryUpdate", 2)]:
            switch.schema, switch.nth, switch.seen = schema, nth, 0
            switch.fired.clear()
            resume = ("--resume",) if (out / "config.json").exists() else ()
            process = start(out, server, *resume, *common)
            switch.process = process
            process.wait(timeout=120)
            assert switch.fired.is_set(), (
                f"never reached {schema} #{nth}: {process.stderr.read()[-800:]}"
            )
            assert process.returncode == -signal.SIGKILL
            check_consistent(out)
        switch.process = None
        process = start(out, server, "--resume", *common)
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr[-2000:]
    rows = check_consistent(out, expected=TARGET)
    pairs = [json.loads(line) for line in (out / "pairs.jsonl").read_text().splitlines()]
    stats = json.loads((out / "stats.json").read_text())
    missing = sum(stats["preference"]["items_without_pair"].values())
    assert len({p["id"] for p in pairs}) == len(pairs), "an item has two pairs"
    assert {p["id"] for p in pairs} <= {r["id"] for r in rows}
    assert len(pairs) + missing == len(rows), stats["preference"]
    assert stats["preference"]["pairs"] == len(pairs)
