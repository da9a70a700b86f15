"""How long ``python -m graph.merge`` takes for workers' runs of a given size, and whether it
finds the twins planted among them.

Writes ``--runs`` synthetic run directories of ``--items`` accepted items each (twelve words
drawn from the project's prompt files: prompts unlike each other), plants twins of the first run's items
in every other run (a share ``--twins`` of each run's items: half copied with other case and
spacing, exact twins; half with two words of twelve swapped, near twins), then merges them with the CLI in a subprocess (the
report included unless ``--no-report``) and prints the wall time and what was dropped.

Run: ``python -m benchmarks.merge_scale [--runs 4] [--items 2500] [--twins 0.1]
[--embedding-provider fake|embedded]``
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from graph.context import RunConfig

WORDS_PER_PROMPT = 12
RESPONSE = (
    "I can't help with that; it could hurt someone. A lawyer or support line can help instead."
)


def vocabulary() -> list[str]:
    """Real English words: those of the project's prompt templates, principles and seed data
    (files that rarely change, so the same seed draws the same prompts)."""
    root = Path(__file__).resolve().parent.parent / "prompts"
    text = " ".join(p.read_text() for p in sorted([*root.glob("*.md"), *root.glob("*.jsonl")]))
    return sorted({w for w in re.findall(r"[a-z]{4,}", text.lower())})


def prompts(count: int, rng: random.Random) -> list[str]:
    """``count`` requests of words drawn at random (unlike each other at any embedding)."""
    words = vocabulary()
    return [" ".join(rng.sample(words, WORDS_PER_PROMPT)).capitalize() + "?" for _ in range(count)]


def write_run(path: Path, texts: list[str], config: dict) -> None:
    """A finished run directory holding ``texts`` as its accepted items."""
    path.mkdir()
    (path / "config.json").write_text(json.dumps(config | {"out": str(path)}))
    rows = [
        {
            "id": f"r{1 + i // 16:05d}-b{i % 16:02d}-c00",
            "prompt": text,
            "response": RESPONSE,
            "hazard": "privacy",
            "safety_issue": "covert tracking",
            "tactic": "direct request",
            "kind": "harmful",
            "advice": "",
            "round": 1 + i // 16,
            "strategy": "data-advisor",
            "critic": "accept: rules only",
            "nearest_similarity": 0.3,
            "model": "synthetic",
        }
        for i, text in enumerate(texts)
    ]
    (path / "dataset.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (path / "stats.json").write_text(json.dumps({"accepted": len(rows)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--items", type=int, default=2500)
    parser.add_argument("--twins", type=float, default=0.1)
    parser.add_argument("--embedding-provider", choices=("fake", "embedded"), default="fake")
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args()
    rng = random.Random(0)
    config = RunConfig.model_construct().public_dict() | {
        "embedding_provider": args.embedding_provider
    }
    everything = prompts(args.runs * args.items, rng)
    planted = int(args.items * args.twins)
    with tempfile.TemporaryDirectory() as tmp:
        runs = []
        first = everything[: args.items]
        for number in range(args.runs):
            texts = everything[number * args.items : (number + 1) * args.items]
            if number:
                for k in range(planted):  # twins of the first run's items, later in the run
                    source = first[k]
                    if k % 2 == 0:
                        twin = "  " + source.upper()
                    else:  # two words of nine swapped for others
                        head, *words, tail = source.split()
                        twin = " ".join(
                            [head, *words[:-3], "quietly", "tonight", *words[-1:], tail]
                        )
                    texts[args.items - planted + k] = twin
            runs.append(Path(tmp) / f"worker{number}")
            write_run(runs[-1], texts, config)
        command = [sys.executable, "-m", "graph.merge", *map(str, runs), "--out", f"{tmp}/merged"]
        started = time.perf_counter()
        done = subprocess.run(
            command + (["--no-report"] if args.no_report else []), capture_output=True, text=True
        )
        seconds = time.perf_counter() - started
        if done.returncode:
            sys.exit(done.stderr)
        lines = Path(f"{tmp}/merged/dropped.jsonl").read_text().splitlines()
        dropped = [json.loads(line) for line in lines]
    by_rule = {rule: sum(d["rule"] == rule for d in dropped) for rule in ("exact", "near")}
    print(done.stdout.strip())
    print(
        f"| {args.runs} | {args.items} | {args.embedding_provider} | "
        f"{'no' if args.no_report else 'yes'} | {planted * (args.runs - 1)} | "
        f"{by_rule['exact']} exact, {by_rule['near']} near | {seconds:.1f} s |"
    )


if __name__ == "__main__":
    main()
