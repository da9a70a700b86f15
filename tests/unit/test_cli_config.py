"""graph/context.py + graph/run.py: flags -> RunConfig, one-line errors; graph/rundir.py."""

from __future__ import annotations

import json

import pytest

from agents.errors import UserError
from graph.run import EXIT_USER_ERROR, config_from_args
from graph.runtime.rundir import RunDirectory
from tests.doubles.scripted_runs import SCRIPTED, SCRIPTED_CONFIG, scripted_main

FAKE = SCRIPTED

BAD_INPUTS = [
    # (id, argv, expected substring of the message)
    ("negative-target", ["--target", "-3"], "--target:"),
    ("zero-target", ["--target", "0"], "--target:"),
    ("unknown-flag", ["--bogus"], "unrecognized arguments: --bogus"),
    ("bad-strategy", ["--strategy", "magic"], "invalid choice"),
    ("bad-provider", ["--provider", "anthropic"], "invalid choice"),
    ("non-number", ["--target", "ten"], "invalid int value"),
    ("non-float", ["--duplicate-threshold", "high"], "invalid float value"),
    ("missing-value", ["--target"], "expected one argument"),
    (
        "openai-without-base-url",
        ["--provider", "openai", "--model", "m"],
        "--provider openai needs --base-url",
    ),
    (
        "openai-without-model",
        ["--provider", "openai", "--base-url", "http://localhost:1/v1"],
        "--model",
    ),
    (
        "embedding-openai-without-url",
        ["--provider", "embedded", "--embedding-provider", "openai"],
        "--embedding-provider openai needs",
    ),
    (
        "missing-principles",
        ["--principles", "/nonexistent/principles.md"],
        "--principles file not found",
    ),
    (
        "missing-seed-examples",
        ["--seed-examples", "/nonexistent/x.jsonl"],
        "--seed-examples file not found",
    ),
    ("threshold-above-one", ["--duplicate-threshold", "1.5"], "--duplicate-threshold:"),
    ("threshold-zero", ["--duplicate-threshold", "0"], "--duplicate-threshold:"),
    ("relevance-one", ["--relevance-threshold", "1"], "--relevance-threshold:"),
    ("merge-negative", ["--issue-merge-threshold", "-0.2"], "--issue-merge-threshold:"),
    ("zero-concurrency", ["--concurrency", "0"], "--concurrency:"),
    ("tiny-summary", ["--summary-max-chars", "10"], "--summary-max-chars:"),
]


@pytest.mark.parametrize(
    ("argv", "expected"), [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS]
)
def test_config_from_args_rejects_bad_input_with_one_line(argv, expected):
    with pytest.raises(UserError) as info:
        config_from_args([*FAKE, *argv] if "--provider" not in argv else argv)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message and len(message) < 300


@pytest.mark.parametrize(
    ("argv", "expected"), [c[1:] for c in BAD_INPUTS[:8]], ids=[c[0] for c in BAD_INPUTS[:8]]
)
def test_main_returns_2_and_prints_one_error_line(capsys, argv, expected):
    assert scripted_main([*FAKE, *argv]) == EXIT_USER_ERROR
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0]
    assert "Traceback" not in out + err
    assert "usage:" not in out + err


def test_config_from_args_good_input(tmp_path):
    cfg, _, _ = config_from_args(
        [
            *FAKE,
            "--target",
            "7",
            "--out",
            str(tmp_path / "r"),
            "--strategy",
            "self-instruct",
            "--seed",
            "3",
            "--no-llm-critic",
            "--duplicate-threshold",
            "0.7",
        ]
    )
    assert (cfg.target, cfg.strategy, cfg.seed, cfg.llm_critic) == (7, "self-instruct", 3, False)
    assert cfg.out == tmp_path / "r" and cfg.duplicate_threshold == 0.7
    assert cfg.provider == "openai" and cfg.model == "scripted"


def test_base_url_alone_implies_openai_provider():
    cfg, _, _ = config_from_args(
        ["--base-url", "http://localhost:1/v1", "--model", "m", "--embedding-provider", "fake"]
    )
    assert cfg.provider == "openai" and cfg.model == "m"


def test_role_models_can_replace_model():
    roles = [
        "--advisor-model",
        "a",
        "--generator-model",
        "g",
        "--responder-model",
        "r",
        "--critic-model",
        "c",
        "--summarizer-model",
        "s",
    ]
    cfg, _, _ = config_from_args(
        [
            "--provider",
            "openai",
            "--base-url",
            "http://x/v1",
            *roles,
            "--embedding-provider",
            "fake",
        ]
    )
    assert cfg.role_models == {
        "advisor": "a",
        "generator": "g",
        "responder": "r",
        "critic": "c",
        "summarizer": "s",
    }


def test_public_dict_holds_the_key_variable_name_not_a_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-canary-public-dict")
    data = config_from_args(FAKE)[0].public_dict()
    assert data["api_key_env"] == "OPENAI_API_KEY"
    assert "sk-canary-public-dict" not in json.dumps(data)


# -- run directory ---------------------------------------------------------------------------


@pytest.mark.parametrize("marker", ["config.json", "dataset.jsonl"])
def test_run_directory_refuses_a_directory_holding_a_run(tmp_path, marker):
    (tmp_path / marker).write_text("{}")
    with pytest.raises(UserError, match="already holds a run"):
        RunDirectory.create(tmp_path)


def test_run_directory_refuses_a_directory_holding_memory(tmp_path):
    (tmp_path / "memory").mkdir()
    with pytest.raises(UserError, match="already holds a run"):
        RunDirectory.create(tmp_path)


def test_run_directory_refuses_a_regular_file(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("x")
    with pytest.raises(UserError, match="not a directory"):
        RunDirectory.create(target)


def test_run_directory_refuses_an_unwritable_path(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(UserError, match="cannot write") as info:
        RunDirectory.create(blocker / "run")
    assert "\n" not in str(info.value)


def test_main_reports_an_unwritable_out_as_one_line(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    assert scripted_main([*FAKE, "--target", "2", "--out", str(blocker / "run")]) == EXIT_USER_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: cannot write to --out")


def test_run_directory_accepts_new_nested_and_empty_existing_dirs(tmp_path):
    nested = RunDirectory.create(tmp_path / "a" / "b")
    assert nested.path.is_dir() and list(nested.path.iterdir()) == []
    (tmp_path / "empty").mkdir()
    assert RunDirectory.create(tmp_path / "empty").path == tmp_path / "empty"


def test_run_directory_appends_whole_lines_and_writes_json_atomically(tmp_path):
    run_dir = RunDirectory.create(tmp_path / "run")
    assert run_dir.append("x.jsonl", []) == 0
    assert not run_dir.file("x.jsonl").exists()
    assert run_dir.append("x.jsonl", [{"a": 1}, {"b": "é"}]) == 2
    run_dir.append("x.jsonl", [{"c": 3}])
    assert run_dir.read_jsonl("x.jsonl") == [{"a": 1}, {"b": "é"}, {"c": 3}]
    assert run_dir.read_jsonl("absent.jsonl") == []
    run_dir.write_json("stats.json", {"n": 1})
    run_dir.write_json("stats.json", {"n": 2})
    assert json.loads(run_dir.file("stats.json").read_text()) == {"n": 2}
    assert sorted(p.name for p in run_dir.path.iterdir()) == ["stats.json", "x.jsonl"]


def test_the_embedded_model_gets_no_more_requests_than_it_has_slots() -> None:
    from agents.embedded import DEFAULT_SLOTS
    from graph.context import RunConfig
    from graph.runtime.resources import requests_in_flight

    assert requests_in_flight(RunConfig(concurrency=8)) == min(8, DEFAULT_SLOTS)
    remote = RunConfig(concurrency=8, **SCRIPTED_CONFIG)
    assert requests_in_flight(remote) == 8


def test_llm_critic_defaults_by_provider_and_obeys_the_flags(tmp_path):
    """The embedded model's verdict is noise (benchmarks/critic_judge.py): off by default there."""
    out = ["--out", str(tmp_path / "r")]
    embedded, _, _ = config_from_args([*out, "--embedding-provider", "fake"])
    assert embedded.provider == "embedded" and embedded.llm_critic is False
    forced, _, _ = config_from_args([*out, "--embedding-provider", "fake", "--llm-critic"])
    assert forced.llm_critic is True
    capable, _, _ = config_from_args([*out, *FAKE])
    assert capable.provider == "openai" and capable.llm_critic is True
    skipped, _, _ = config_from_args([*out, *FAKE, "--no-llm-critic"])
    assert skipped.llm_critic is False


def test_llm_critic_flags_exclude_each_other(tmp_path, capsys):
    code = scripted_main(["--out", str(tmp_path / "r"), "--llm-critic", "--no-llm-critic"])
    assert code == EXIT_USER_ERROR
    assert "not allowed with argument" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
