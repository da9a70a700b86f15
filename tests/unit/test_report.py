"""graph/report.py: metrics.json per run and one self-contained HTML report with real plots."""

from __future__ import annotations

import base64
import io
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
from matplotlib.colors import to_rgb
from PIL import Image

from graph.cli import EXIT_OK, EXIT_USER_ERROR
from graph.report import main

FAKE = ["--embedding-provider", "fake"]
# (issue as written, items); "fraud online" is the same bag of words as "online fraud".
ISSUES = [("online fraud", 5), ("fraud online", 1), ("weapons smuggling", 5), ("self harm", 3)]
ITEMS = sum(count for _, count in ISSUES)
STATS = {
    "accepted": ITEMS,
    "candidates_judged": 20,
    "acceptance_rate": 0.7,
    "rejections_by_reason": {"duplicate": 2, "format:too_short": 1, "generator_unparsable": 1},
    "rounds": 4,
    "llm_calls": 42,
    "input_tokens": 7000,
    "output_tokens": 1400,
    "usage_by_role": {},
    "seconds": 28.0,
    "stop_reason": "target reached",
}
PNG_URI = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
COLOR_TOLERANCE = 30  # per RGB channel (0-255), for anti-aliased pixels
# A legend swatch alone is ~270 pixels of its run's colour; drawn data adds far more.
LEGEND_PIXELS = 400


def _write_jsonl(path: Path, rows: list[dict | None]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def make_run(
    path: Path, strategy: str = "data-advisor", issues: list[tuple[str, int]] = ISSUES
) -> Path:
    """A small run directory: by default 14 items over 3 issues, the last prompt repeating the first."""
    path.mkdir(parents=True)
    issues = [name for name, count in issues for _ in range(count)]
    prompts = [f"how to w{i}a w{i}b w{i}c w{i}d w{i}e" for i in range(len(issues) - 1)]
    prompts.append(prompts[0])  # the one near-duplicate pair (cosine 1)
    items = [
        {
            "id": f"r{k:05d}",
            "prompt": prompt,
            "response": "I can't help with that.",
            "safety_issue": issue,
            "advice": "",
            "round": 1 + k * 4 // len(issues),
            "strategy": strategy,
            "critic": "accept: ok",
            "nearest_similarity": 0.3,
            "model": "fake",
        }
        for k, (prompt, issue) in enumerate(zip(prompts, issues, strict=True))
    ]
    _write_jsonl(path / "dataset.jsonl", items)
    rejected = [
        {"candidate": items[0], "reason": r, "layer": "x", "detail": "", "nearest_similarity": None}
        for r in ("duplicate", "duplicate", "format:too_short")
    ]
    rejected.append({"candidate": None, "reason": "generator_unparsable", "layer": "parse"})
    _write_jsonl(path / "rejected.jsonl", rejected)
    (path / "stats.json").write_text(json.dumps(STATS))
    config = {"strategy": strategy, "duplicate_threshold": 0.6, "issue_merge_threshold": 0.85}
    (path / "config.json").write_text(json.dumps(config))
    return path


def embedded_pngs(report: Path) -> list[Image.Image]:
    """The report's embedded PNG images, decoded."""
    images = []
    for encoded in PNG_URI.findall(report.read_text(encoding="utf-8")):
        data = base64.b64decode(encoded, validate=True)
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000
        images.append(Image.open(io.BytesIO(data)).convert("RGB"))
    return images


def color_pixels(image: Image.Image, color: str) -> int:
    """How many pixels of the image are (nearly) the given colour."""
    target = [round(255 * c) for c in to_rgb(color)]
    return sum(
        count
        for count, pixel in image.getcolors(maxcolors=1 << 20)
        if all(abs(p - t) <= COLOR_TOLERANCE for p, t in zip(pixel, target, strict=True))
    )


@pytest.fixture(scope="module")
def one_run(tmp_path_factory) -> Path:
    """A run directory after ``python -m graph.report RUN --embedding-provider fake``."""
    run = make_run(tmp_path_factory.mktemp("report") / "run-a")
    assert main([str(run), *FAKE]) == EXIT_OK
    return run


def test_metrics_json_holds_the_known_values(one_run):
    m = json.loads((one_run / "metrics.json").read_text())
    assert (m["name"], m["strategy"], m["accepted"], m["rounds"]) == (
        "run-a",
        "data-advisor",
        14,
        4,
    )
    assert m["issue_labels"] == 4 and m["distinct_issues"] == 3
    assert m["items_per_issue"] == {"online fraud": 6, "weapons smuggling": 5, "self harm": 3}
    shares = [6 / 14, 5 / 14, 3 / 14]
    expected_balance = -sum(p * math.log(p) for p in shares) / math.log(3)
    assert m["issue_balance"] == pytest.approx(expected_balance, abs=1e-4)
    assert m["issue_growth"][-1] == [14, 3] and len(m["issue_growth"]) == 14
    assert [point[0] for point in m["issue_growth_by_round"]] == [1, 2, 3, 4]
    assert m["near_duplicate_rate"] == pytest.approx(2 / 14, abs=1e-4)
    assert sorted(m["nearest_neighbor_similarities"])[-2:] == [1.0, 1.0]
    assert m["rejected"] == 4
    assert m["rejections_by_reason"] == STATS["rejections_by_reason"]
    assert (m["acceptance_rate"], m["stop_reason"]) == (0.7, "target reached")
    assert (m["llm_calls_per_item"], m["tokens_per_item"], m["seconds_per_item"]) == (3, 600, 2)
    assert 1 < m["vendi_score"] <= 14 and 0 < m["mean_pairwise_cosine_distance"] <= 1


def test_report_embeds_real_plots_of_the_data(one_run):
    page = (one_run / "report.html").read_text(encoding="utf-8")
    assert "run-a (data-advisor)" in page and "Vendi score" in page
    assert "<script" not in page and 'src="http' not in page  # self-contained
    images = embedded_pngs(one_run / "report.html")
    assert len(images) == 6  # coverage, issues, hazards, tactics, neighbours, rejections
    for image in images:
        assert image.width > 100 and image.height > 100
        assert len(image.getcolors(maxcolors=1 << 20)) > 1
        assert color_pixels(image, "C0") > LEGEND_PIXELS  # the run's data is drawn


def test_several_runs_share_one_report_one_colour_each(tmp_path):
    first = make_run(tmp_path / "advisor")
    baseline_issues = [("online fraud", 6), ("self harm", 3)]  # other data: other curves, bars
    second = make_run(tmp_path / "baseline", "self-instruct", baseline_issues)
    out = tmp_path / "compare.html"
    assert main([str(first), str(second), "--out", str(out), *FAKE]) == EXIT_OK
    assert (first / "metrics.json").exists() and (second / "metrics.json").exists()
    assert not (first / "report.html").exists()
    page = out.read_text(encoding="utf-8")
    assert "advisor (data-advisor)" in page and "baseline (self-instruct)" in page
    for image in embedded_pngs(out):
        assert color_pixels(image, "C0") > LEGEND_PIXELS
        assert color_pixels(image, "C1") > LEGEND_PIXELS


def _assert_one_error_line(capsys, expected: str) -> None:
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0], err
    assert "Traceback" not in out + err and "usage:" not in err


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda run: run.parent / "missing", "run directory not found"),
        (lambda run: (run / "dataset.jsonl").unlink(), "the run has accepted no item yet"),
        (lambda run: (run / "dataset.jsonl").write_text("\n"), "is empty"),
        (
            lambda run: (run / "dataset.jsonl").write_text("{oops\n"),
            "dataset.jsonl:1 is not valid JSON",
        ),
        (lambda run: (run / "dataset.jsonl").write_text('{"prompt": 1}\n'), "lacks a prompt"),
        (lambda run: (run / "stats.json").write_text("[1]"), "not a JSON object"),
    ],
    ids=["missing-dir", "no-dataset", "empty-dataset", "corrupt-line", "no-prompt", "stats-list"],
)
def test_bad_run_exits_2_with_one_line_and_damages_nothing(tmp_path, capsys, setup, expected):
    good = make_run(tmp_path / "good")
    (good / "metrics.json").write_text("earlier metrics")
    (good / "report.html").write_text("earlier report")
    bad = make_run(tmp_path / "bad")
    moved = setup(bad)  # a damaged run directory, or another path
    bad = moved if isinstance(moved, Path) else bad
    assert main([str(good), str(bad), *FAKE]) == EXIT_USER_ERROR
    _assert_one_error_line(capsys, expected)
    assert (good / "metrics.json").read_text() == "earlier metrics"
    assert (good / "report.html").read_text() == "earlier report"
    assert not (bad / "metrics.json").exists()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], "the following arguments are required: RUN_DIR"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--embedding-provider", "magic"], "invalid choice"),
        (["--out", "report.txt"], "must end in .html"),
        (["--out", "/nonexistent/dir/report.html"], "does not exist"),
    ],
    ids=["no-run", "unknown-flag", "bad-provider", "out-not-html", "out-dir-missing"],
)
def test_bad_flags_exit_2_with_one_line(tmp_path, capsys, argv, expected):
    run = [str(make_run(tmp_path / "run"))] if argv else []
    assert main([*run, *argv, *FAKE] if argv else argv) == EXIT_USER_ERROR
    _assert_one_error_line(capsys, expected)


def test_module_entry_point_prints_one_error_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "graph.report", str(tmp_path / "missing"), *FAKE],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == EXIT_USER_ERROR
    assert done.stderr.strip().splitlines() == [
        f"error: run directory not found: {tmp_path}/missing"
    ]
