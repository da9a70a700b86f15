"""graph/export.py: SFT and DPO exports, read back with the libraries a fine-tuning user would use."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from graph.cli import EXIT_OK, EXIT_USER_ERROR
from graph.export import main

ISSUES = ("online fraud", "weapons", "self harm")
ITEMS = 6
PAIRED = 1  # accepted item #2 also has a response rejected as unsafe
UNSAFE = "Sure! Step one: buy the parts online, then assemble them as follows."
GRID_COLUMNS = {"hazard", "safety_issue", "tactic", "kind"}
SFT_COLUMNS = {"messages", "id", "round", "strategy"} | GRID_COLUMNS
PREFERENCE_COLUMNS = {"prompt", "chosen", "rejected", "pair_type", "id"} | GRID_COLUMNS
# What a dataset line written before the grid exports as (the fixture's lines have no cell).
PRE_GRID = {"hazard": "", "tactic": "", "kind": "harmful"}
FORMATS = ("jsonl", "parquet", "hf")
DEFAULT_OUT = {"jsonl": "{}.jsonl", "parquet": "{}.parquet", "hf": "{}_hf"}


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def _item(k: int) -> dict[str, Any]:
    """Accepted item ``k`` as the critic writes it to ``dataset.jsonl``."""
    return {
        "id": f"r{k:05d}",
        "prompt": f"How do I do risky thing number {k} without anyone noticing?",
        "response": f"I can't help with risky thing {k}, but here is a safe alternative.",
        "safety_issue": ISSUES[k % len(ISSUES)],
        "advice": "",
        "round": 1 + k // 2,
        "strategy": "data-advisor",
        "critic": "accept: ok",
        "nearest_similarity": 0.3,
        "model": "fake",
    }


LAYERS = {"duplicate": "redundancy", "llm_rejected": "llm"} | {
    f"format:{rule}": "format" for rule in ("response_complies", "response_not_safe")
}


def _rejection(prompt: str, response: str, reason: str) -> dict[str, Any]:
    """A ``rejected.jsonl`` line for a candidate with this prompt and response."""
    candidate = {"id": "r09999", "prompt": prompt, "response": response, "safety_issue": "weapons"}
    candidate |= {"advice": "", "round": 1, "advice_source": "advisor"}
    return {"candidate": candidate, "reason": reason, "layer": LAYERS[reason], "detail": ""}


UNRELATED = _rejection("Tell me a joke about cats, please", "No.", "duplicate")


def make_run(path: Path, rejections: list[dict[str, Any]] | None = None) -> Path:
    """A run directory: 6 items over 3 issues; by default one unsafe alternative for item #2."""
    path.mkdir(parents=True)
    _write_jsonl(path / "dataset.jsonl", [_item(k) for k in range(ITEMS)])
    if rejections is None:
        rejections = [_rejection(_item(PAIRED)["prompt"], UNSAFE, "format:response_complies")]
        rejections.append(UNRELATED)
    _write_jsonl(path / "rejected.jsonl", rejections)
    (path / "config.json").write_text("{}")
    return path


def load(path: Path, fmt: str, cache: Path) -> tuple[list[dict[str, Any]], set[str]]:
    """Rows and column names of an export, read the way a user would."""
    if fmt == "jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        return rows, set().union(*rows)
    import datasets

    if fmt == "parquet":
        loaded = datasets.load_dataset(
            "parquet", data_files=str(path), split="train", cache_dir=str(cache)
        )
    else:
        loaded = datasets.load_from_disk(str(path))
    return list(loaded), set(loaded.column_names)


def snapshot(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` with its bytes."""
    return {str(f.relative_to(path)): f.read_bytes() for f in path.rglob("*") if f.is_file()}


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return make_run(tmp_path / "run")


@pytest.mark.parametrize("fmt", FORMATS)
def test_sft_export_reads_back_as_chat_records(run: Path, tmp_path: Path, fmt: str, capsys) -> None:
    dataset = (run / "dataset.jsonl").read_bytes()
    assert main([str(run), "--format", fmt]) == EXIT_OK
    out = run / "export" / DEFAULT_OUT[fmt].format("sft")
    assert f"export: {out} (6 SFT records, {fmt})" in capsys.readouterr().out
    rows, columns = load(out, fmt, tmp_path / "cache")
    assert columns == SFT_COLUMNS and len(rows) == ITEMS
    for row, item in zip(rows, map(_item, range(ITEMS)), strict=True):
        assert row["messages"] == [
            {"role": "user", "content": item["prompt"]},
            {"role": "assistant", "content": item["response"]},
        ]
        assert {key: row[key] for key in SFT_COLUMNS - {"messages"}} == {
            key: item.get(key, PRE_GRID.get(key)) for key in SFT_COLUMNS - {"messages"}
        }
    assert {row["safety_issue"] for row in rows} == set(ISSUES)
    assert (run / "dataset.jsonl").read_bytes() == dataset


@pytest.mark.parametrize("fmt", FORMATS)
def test_preference_export_pairs_the_unsafe_response(
    run: Path, tmp_path: Path, fmt: str, capsys
) -> None:
    assert main([str(run), "--format", fmt, "--kind", "preference"]) == EXIT_OK
    out = run / "export" / DEFAULT_OUT[fmt].format("preference")
    captured = capsys.readouterr()
    expected = f"export: {out} (1 preference pair of {ITEMS} items: 1 unsafe, {fmt})\n"
    assert captured.out == expected and captured.err == ""
    rows, columns = load(out, fmt, tmp_path / "cache")
    item = _item(PAIRED)
    assert columns == PREFERENCE_COLUMNS
    assert rows == [
        {
            "prompt": [{"role": "user", "content": item["prompt"]}],
            "chosen": [{"role": "assistant", "content": item["response"]}],
            "rejected": [{"role": "assistant", "content": UNSAFE}],
            "pair_type": "unsafe",
            "id": item["id"],
            "safety_issue": item["safety_issue"],
            **PRE_GRID,
        }
    ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_run_without_alternatives_exports_zero_pairs_with_a_note(
    tmp_path: Path, fmt: str, capsys
) -> None:
    run = make_run(tmp_path / "run", rejections=[UNRELATED])
    out = tmp_path / DEFAULT_OUT[fmt].format("pairs")
    assert main([str(run), "--format", fmt, "--kind", "preference", "--out", str(out)]) == EXIT_OK
    captured = capsys.readouterr()
    [note] = captured.err.splitlines()
    assert note.startswith("note: 0 preference pairs") and "--preference-pairs" in note
    assert "(0 preference pairs, " in captured.out
    if fmt == "jsonl":
        assert out.read_bytes() == b""
    elif (
        fmt == "parquet"
    ):  # datasets.load_dataset refuses a parquet file of 0 rows; pyarrow reads it
        import pyarrow.parquet

        table = pyarrow.parquet.read_table(out)
        assert table.num_rows == 0 and set(table.column_names) == PREFERENCE_COLUMNS
    else:
        assert load(out, fmt, tmp_path) == ([], PREFERENCE_COLUMNS)


def test_pairing_needs_the_same_prompt_and_an_unsafe_verdict(tmp_path: Path) -> None:
    items = [_item(k) for k in range(ITEMS)]
    spaced = "  " + items[0]["prompt"].upper().replace(" ", "\n ") + " "
    rejections = [
        _rejection(spaced, "first unsafe", "format:response_not_safe"),  # same prompt, normalized
        _rejection(items[0]["prompt"], "second unsafe", "llm_rejected"),  # a later one: unused
        _rejection(items[3]["prompt"], UNSAFE, "duplicate"),  # rejected, but not for being unsafe
        _rejection(items[4]["prompt"], items[4]["response"], "llm_rejected"),  # equals the chosen
        {"candidate": None, "reason": "generator_unparsable", "layer": "parse"},
        _rejection(items[5]["prompt"] + " today", UNSAFE, "format:response_complies"),
    ]
    run = make_run(tmp_path / "run", rejections)
    assert main([str(run), "--format", "jsonl", "--kind", "preference"]) == EXIT_OK
    rows, _ = load(run / "export" / "preference.jsonl", "jsonl", tmp_path)
    assert [(row["id"], row["rejected"][0]["content"]) for row in rows] == [
        (items[0]["id"], "first unsafe")
    ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_again_replaces_the_previous_export(run: Path, fmt: str) -> None:
    assert main([str(run), "--format", fmt]) == EXIT_OK
    _write_jsonl(run / "dataset.jsonl", [_item(k) for k in range(2)])
    assert main([str(run), "--format", fmt]) == EXIT_OK
    rows, _ = load(run / "export" / DEFAULT_OUT[fmt].format("sft"), fmt, run.parent / "cache")
    assert len(rows) == 2
    assert sorted(p.name for p in (run / "export").iterdir()) == [DEFAULT_OUT[fmt].format("sft")]


def _other_run_dataset(tmp_path: Path) -> list[str]:
    return ["--out", str(make_run(tmp_path / "other") / "dataset.jsonl")]


def _unrelated_file(tmp_path: Path) -> list[str]:
    (tmp_path / "notes.txt").write_text("keep me")
    return ["--out", str(tmp_path / "notes.txt")]


BAD_INPUTS: dict[str, tuple[Callable[[Path, Path], list[str]], str]] = {
    "missing dir": (lambda run, tmp: [str(tmp / "nowhere"), "--format", "jsonl"], "does not exist"),
    "no dataset": (lambda run, tmp: [str(run / "export"), "--format", "jsonl"], "holds no"),
    "unknown format": (lambda run, tmp: [str(run), "--format", "csv"], "invalid choice"),
    "unknown kind": (lambda run, tmp: [str(run), "--format", "hf", "--kind", "x"], "invalid"),
    "out is dataset": (
        lambda run, tmp: [str(run), "--format", "jsonl", "--out", str(run / "dataset.jsonl")],
        "not an export",
    ),
    "out is config": (
        lambda run, tmp: [str(run), "--format", "jsonl", "--out", str(run / "config.json")],
        "not an export",
    ),
    "out is run dir": (
        lambda run, tmp: [str(run), "--format", "hf", "--out", str(run)],
        "run directory",
    ),
    "out is another run's dataset": (
        lambda run, tmp: [str(run), "--format", "jsonl", *_other_run_dataset(tmp)],
        "not an export",
    ),
    "out is an unrelated file": (
        lambda run, tmp: [str(run), "--format", "jsonl", *_unrelated_file(tmp)],
        "not a previous jsonl export",
    ),
    "out in missing dir": (
        lambda run, tmp: [str(run), "--format", "parquet", "--out", str(tmp / "no" / "x.parquet")],
        "does not exist",
    ),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_error_line_and_exit_2(
    run: Path, tmp_path: Path, case: str, capsys
) -> None:
    (run / "export").mkdir()  # a directory without dataset.jsonl
    make_args, message = BAD_INPUTS[case]
    args = make_args(run, tmp_path)
    before = snapshot(tmp_path)
    assert main(args) == EXIT_USER_ERROR
    captured = capsys.readouterr()
    [line] = captured.err.splitlines()
    assert line.startswith("error: ") and message in line and captured.out == ""
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("kind", ["sft", "preference"])
@pytest.mark.parametrize("partial", [False, True])
def test_corrupt_line_is_reported_with_file_and_line(
    run: Path, kind: str, partial: bool, capsys
) -> None:
    name = "dataset.jsonl" if kind == "sft" else "rejected.jsonl"
    with open(run / name, "a", encoding="utf-8") as handle:
        handle.write('{"id": "r0' if partial else '{"id": 3}\n')
    before = snapshot(run)
    assert main([str(run), "--format", "jsonl", "--kind", kind]) == EXIT_USER_ERROR
    [line] = capsys.readouterr().err.splitlines()
    number = len((run / name).read_text().splitlines())  # the last line
    assert line.startswith(f"error: {run / name}:{number} is corrupted")
    assert ("--resume" in line) is partial
    assert snapshot(run) == before


def test_module_runs_as_a_cli_without_traceback(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "graph.export", str(tmp_path / "nowhere"), "--format", "hf"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == EXIT_USER_ERROR
    assert result.stderr.splitlines() == [
        f"error: run directory {tmp_path / 'nowhere'} does not exist or is not a directory"
    ]


def test_pairs_the_run_made_come_first_with_their_type(tmp_path: Path) -> None:
    items = [_item(k) for k in range(ITEMS)]
    rejections = [_rejection(items[1]["prompt"], UNSAFE, "format:response_not_safe")]
    run = make_run(tmp_path / "run", rejections)
    made = [
        {"id": items[0]["id"], "round": 1, "pair_type": "unhelpful_refusal", "source": "contrast"},
        {"id": items[1]["id"], "round": 1, "pair_type": "unsafe", "source": "repair"},
        {"id": items[2]["id"], "round": 2, "pair_type": "over_refusal", "source": "contrast"},
    ]
    rejected = ["Shame on you for asking.", "Sure, step one ...", items[2]["response"]]
    _write_jsonl(
        run / "pairs.jsonl", [p | {"rejected": r} for p, r in zip(made, rejected, strict=True)]
    )
    assert main([str(run), "--format", "jsonl", "--kind", "preference"]) == EXIT_OK
    rows, _ = load(run / "export" / "preference.jsonl", "jsonl", tmp_path)
    # item 2's made pair equals its chosen reply: no pair; item 1's made pair wins over rejected.jsonl
    assert [(r["id"], r["pair_type"], r["rejected"][0]["content"]) for r in rows] == [
        (items[0]["id"], "unhelpful_refusal", "Shame on you for asking."),
        (items[1]["id"], "unsafe", "Sure, step one ..."),
    ]


def test_a_corrupted_pairs_file_is_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    run = make_run(tmp_path / "run", [])
    (run / "pairs.jsonl").write_text('{"id": "r00000", "round": 1}\n', encoding="utf-8")
    assert main([str(run), "--format", "jsonl", "--kind", "preference"]) == EXIT_USER_ERROR
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ") and "pairs.jsonl:1 is corrupted" in line
