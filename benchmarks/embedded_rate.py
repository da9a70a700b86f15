"""The embedded model on this machine: accepted items per minute, per strategy; prints a table.

Run: ``python -m benchmarks.embedded_rate [--target 20] [--strategies data-advisor self-instruct]``

Runs the CLI (a subprocess, exactly as a user would) on the embedded SmolLM2-135M model, offline,
and reads each run's ``stats.json``. Slow by nature: tens of minutes for the default target.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._harness import machine


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=int, default=20)
    parser.add_argument("--strategies", nargs="+", default=["data-advisor", "self-instruct"])
    args = parser.parse_args()
    rows = []
    for strategy in args.strategies:
        out = Path(tempfile.mkdtemp(prefix="embedded-")) / strategy
        started = time.monotonic()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "graph.run",
                "--target",
                str(args.target),
                "--out",
                str(out),
                "--strategy",
                strategy,
            ],
            check=True,
        )
        wall = time.monotonic() - started
        stats = json.loads((out / "stats.json").read_text())
        rows.append((strategy, wall, stats))
    print(f"\nMachine: {machine()}; model SmolLM2-135M-Instruct Q4_1 via llama.cpp (1 slot)\n")
    print(
        "| strategy | items | wall min | items / min | LLM calls | calls / item | tokens / item | acceptance |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for strategy, wall, s in rows:
        print(
            f"| {strategy} | {s['accepted']} | {wall / 60:.1f} | {s['accepted'] / (wall / 60):.2f} | {s['llm_calls']} | "
            f"{s['llm_calls'] / s['accepted']:.1f} | {s['tokens_per_accepted_item']:.0f} | {s['acceptance_rate']:.0%} |"
        )


if __name__ == "__main__":
    main()
