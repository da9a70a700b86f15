"""Bad input, table-driven: each case ends in one clear line, exit code 2, and damages nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from graph.run import main
from tests.doubles.openai_server import FakeOpenAIServer
from tests.doubles.scripted_runs import SCRIPTED, scripted_main

FAKE = SCRIPTED
KEY = "sk-right-key"


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def finished_run(tmp: Path) -> Path:
    out = tmp / "done"
    assert scripted_main(["--target", "2", "--out", str(out), *FAKE]) == 0
    return out


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)
    return path


def corrupt_middle_line(run: Path) -> Path:
    lines = (run / "dataset.jsonl").read_text().splitlines(keepends=True)
    lines.insert(1, "{this is not json\n")
    (run / "dataset.jsonl").write_text("".join(lines))
    return run


SEED = '{"prompt": "How do I pick a lock?", "response": "I cannot help with that, sorry.", "safety_issue": "burglary"}\n'

# (id, build(tmp, server_url) -> argv, expected substring of the one error line)
CASES: list[tuple[str, Callable[[Path, str], list[str]], str]] = [
    ("unknown-flag", lambda t, u: ["--bogus", *FAKE], "unrecognized arguments"),
    ("malformed-int", lambda t, u: ["--target", "ten", *FAKE], "invalid int value"),
    ("negative-target", lambda t, u: ["--target", "-5", "--out", str(t / "r"), *FAKE], "--target"),
    (
        "absurd-target",
        lambda t, u: ["--target", "1000000000", "--out", str(t / "r"), *FAKE],
        "--target",
    ),
    ("missing-value", lambda t, u: [*FAKE, "--out"], "expected one argument"),
    ("bad-strategy", lambda t, u: ["--strategy", "magic", *FAKE], "invalid choice"),
    (
        "threshold-out-of-range",
        lambda t, u: ["--duplicate-threshold", "2", *FAKE],
        "--duplicate-threshold",
    ),
    ("missing-principles", lambda t, u: ["--principles", str(t / "nope.md"), *FAKE], "not found"),
    (
        "empty-principles",
        lambda t, u: ["--out", str(t / "r"), "--principles", str(write(t / "p.md", "  \n")), *FAKE],
        "is empty",
    ),
    (
        "binary-principles",
        lambda t, u: [
            "--out",
            str(t / "r"),
            "--principles",
            str(write(t / "p.md", b"\xff\xfe\x00")),
            *FAKE,
        ],
        "p.md is not UTF-8 text",
    ),
    (
        "unsupported-principles",
        lambda t, u: [
            "--out",
            str(t / "r"),
            "--principles",
            str(write(t / "p.xlsx", b"PK")),
            *FAKE,
        ],
        "unsupported principles format",
    ),
    (
        "taxonomy-entry-without-name",
        lambda t, u: [
            "--out",
            str(t / "r"),
            "--taxonomy",
            str(write(t / "h.jsonl", '{"description": "no name"}\n')),
            *FAKE,
        ],
        "h.jsonl:1 lacks name",
    ),
    (
        "empty-tactics",
        lambda t, u: ["--out", str(t / "r"), "--tactics", str(write(t / "t.jsonl", "")), *FAKE],
        "holds no entry",
    ),
    ("missing-taxonomy", lambda t, u: ["--taxonomy", str(t / "nope.jsonl"), *FAKE], "--taxonomy"),
    ("benign-share-above-one", lambda t, u: ["--benign-share", "1.5", *FAKE], "--benign-share"),
    (
        "missing-seed-examples",
        lambda t, u: ["--seed-examples", str(t / "nope.jsonl"), *FAKE],
        "not found",
    ),
    (
        "seed-examples-bad-json",
        lambda t, u: [
            "--out",
            str(t / "r"),
            "--seed-examples",
            str(write(t / "s.jsonl", SEED + "{oops\n")),
            *FAKE,
        ],
        "s.jsonl:2 is not valid JSON",
    ),
    (
        "seed-examples-missing-field",
        lambda t, u: [
            "--out",
            str(t / "r"),
            "--seed-examples",
            str(write(t / "s.jsonl", '{"prompt": "x"}\n')),
            *FAKE,
        ],
        "lacks response, safety_issue",
    ),
    (
        "seed-examples-not-object",
        lambda t, u: [
            "--out",
            str(t / "r"),
            "--seed-examples",
            str(write(t / "s.jsonl", "[1, 2]\n")),
            *FAKE,
        ],
        "is not a JSON object",
    ),
    (
        "seed-examples-empty",
        lambda t, u: [
            "--out",
            str(t / "r"),
            "--seed-examples",
            str(write(t / "s.jsonl", "\n")),
            *FAKE,
        ],
        "holds no example",
    ),
    (
        "seed-issues-without-name",
        lambda t, u: [
            "--out",
            str(t / "r"),
            "--seed-issues",
            str(write(t / "i.jsonl", '{"description": "x"}\n')),
            *FAKE,
        ],
        "lacks name",
    ),
    (
        "out-is-a-file",
        lambda t, u: ["--out", str(write(t / "file.txt", "keep me")), *FAKE],
        "is not a directory",
    ),
    (
        "out-not-writable",
        lambda t, u: ["--out", "/proc/data-advisor/run", *FAKE],
        "cannot write to --out",
    ),
    (
        "out-holds-a-dataset",
        lambda t, u: ["--out", str(write(t / "r" / "dataset.jsonl", SEED).parent), *FAKE],
        "already holds a run",
    ),
    (
        "out-holds-a-memory",
        lambda t, u: ["--out", str((t / "r" / "memory").mkdir(parents=True) or t / "r"), *FAKE],
        "already holds a run",
    ),
    (
        "chroma-url-no-scheme",
        lambda t, u: ["--chroma-url", "localhost:8000", *FAKE],
        "http://HOST:PORT",
    ),
    (
        "chroma-url-credentials",
        lambda t, u: ["--chroma-url", "http://user:secret@127.0.0.1:8000", *FAKE],
        "credentials do not belong",
    ),
    (
        "chroma-url-bad-port",
        lambda t, u: ["--chroma-url", "http://127.0.0.1:99999", *FAKE],
        "not a valid port",
    ),
    (
        "namespace-without-url",
        lambda t, u: ["--memory-namespace", "team", *FAKE],
        "needs --chroma-url",
    ),
    (
        "namespace-bad-chars",
        lambda t, u: ["--memory-namespace", "a/b", "--chroma-url", "http://127.0.0.1:1", *FAKE],
        "--memory-namespace",
    ),
    ("resume-without-out", lambda t, u: ["--resume"], "--resume needs --out"),
    ("resume-no-run", lambda t, u: ["--resume", "--out", str(t)], "holds no run"),
    (
        "resume-corrupt-config",
        lambda t, u: [
            "--resume",
            "--out",
            str(write(finished_run(t) / "config.json", "{broken").parent),
        ],
        "config.json is unreadable or corrupted",
    ),
    (
        "resume-corrupt-dataset",
        lambda t, u: [
            "--resume",
            "--target",
            "4",
            "--out",
            str(corrupt_middle_line(finished_run(t))),
        ],
        "dataset.jsonl:2 is corrupted",
    ),
    (
        "resume-corrupt-checkpoint",
        lambda t, u: [
            "--resume",
            "--target",
            "4",
            "--out",
            str(write(finished_run(t) / "checkpoints.sqlite", b"garbage" * 100).parent),
        ],
        "checkpoints.sqlite is corrupted",
    ),
    (
        "resume-changes-strategy",
        lambda t, u: ["--resume", "--out", str(finished_run(t)), "--strategy", "self-instruct"],
        "--strategy differs from the saved run",
    ),
    (
        "unreachable-base-url",
        lambda t, u: [
            "--out",
            str(t / "r"),
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--model",
            "m",
            "--max-retries",
            "0",
        ],
        "cannot reach the model server",
    ),
    (
        "wrong-key",
        lambda t, u: [
            "--out",
            str(t / "r"),
            "--base-url",
            u,
            "--model",
            "fake-model",
            "--api-key-env",
            "WRONG_KEY",
        ],
        "refused the API key",
    ),
    (
        "unknown-model",
        lambda t, u: [
            "--out",
            str(t / "r"),
            "--base-url",
            u,
            "--model",
            "gpt-99",
            "--api-key-env",
            "RIGHT_KEY",
        ],
        "does not serve model 'gpt-99'",
    ),
    (
        "openai-without-base-url",
        lambda t, u: ["--provider", "openai", "--model", "m", *FAKE[2:]],
        "needs --base-url",
    ),
]


@pytest.fixture(scope="module")
def server():
    with FakeOpenAIServer(api_key=KEY) as running:
        yield running


@pytest.mark.parametrize(("build", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_ends_in_one_clear_line(tmp_path, server, capsys, monkeypatch, build, expected):
    monkeypatch.setenv("WRONG_KEY", "sk-wrong")
    monkeypatch.setenv("RIGHT_KEY", KEY)
    argv = build(tmp_path, server.base_url)
    capsys.readouterr()
    before = snapshot(tmp_path)
    # Cases pointed at a real (loopback) server take the real path; the rest the scripted double.
    scripted = SCRIPTED[1] in argv or "--resume" in argv  # a resume of a scripted run
    code = scripted_main(argv) if scripted else main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    assert expected in err, err
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before, (
        "something already written changed"
    )


def test_the_table_has_at_least_25_cases():
    assert len(CASES) >= 25
