"""The paper's ablations in the simulated world: which part of Data Advisor earns its coverage.

Run: ``python -m benchmarks.ablations [--target 200] [--seeds 1 2 3]``

Data-advisor through the real graph against the world double (``tests.doubles.world``: 160
reachable (issue x tactic x kind) cells, capable-model naming, refusals), the same target and
seeds for each setting, one part switched off at a time:

- ``full``: the method as shipped;
- ``no summary`` (``--no-summary``): no running summary, no summarizer calls;
- ``no redundancy check`` (``--no-redundancy-check``): near-duplicates are accepted;
- ``no LLM verdict`` (``--no-llm-critic``): rules, redundancy and relevance only;
- ``principles subset`` (``--principles FILE``): the default principles without their
  "Breadth" section;
- ``coverage only`` (``--advisor-view coverage``): the advisor reads the coverage statistics
  only (no summary, no grid block).

Prints mean ± std over seeds: cells covered by the world's truth, tactic balance, benign share,
near-duplicate rate, acceptance, LLM calls and tokens per item.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._harness import machine
from benchmarks.compare_strategies import mean_std, world_run
from prompts import default_path
from tests.doubles.world import WORLD_BENIGN_SHARE, reachable_cells

DEFAULT_TARGET = 200
DEFAULT_SEEDS = (1, 2, 3)
DROPPED_SECTION = "Breadth"
# (metrics key, column title, decimals)
COLUMNS = (
    ("world_cells_covered", "reachable cells covered", 1),
    ("world_tactic_balance", "tactic balance", 3),
    ("world_benign_share", "benign share", 3),
    ("near_duplicate_rate", "near-duplicate rate", 3),
    ("acceptance_rate", "acceptance", 3),
    ("llm_calls_per_item", "LLM calls / item", 2),
    ("tokens_per_item", "tokens / item", 0),
)


def principles_subset(folder: Path) -> Path:
    """The default principles without their ``DROPPED_SECTION`` section, as a file."""
    text = default_path("principles.md").read_text(encoding="utf-8")
    kept = re.sub(rf"\n## {DROPPED_SECTION}\n.*?(?=\n## |\Z)", "\n", text, flags=re.DOTALL)
    if kept == text:
        raise RuntimeError(f"the default principles have no '## {DROPPED_SECTION}' section")
    path = folder / "principles_subset.md"
    path.write_text(kept, encoding="utf-8")
    return path


def settings(folder: Path) -> dict[str, dict[str, Any]]:
    """Each ablation's ``RunConfig`` overrides."""
    return {
        "full": {},
        "no summary": {"summary": False},
        "no redundancy check": {"redundancy_check": False},
        "no LLM verdict": {"llm_critic": False},
        "principles subset": {"principles": principles_subset(folder)},
        "coverage only": {"advisor_view": "coverage"},
    }


def main(argv: list[str] | None = None) -> int:
    """Run every setting on every seed and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=int, default=DEFAULT_TARGET)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    args = parser.parse_args(argv)
    started = time.monotonic()
    rows = []
    with tempfile.TemporaryDirectory(prefix="ablations-") as folder:
        for name, overrides in settings(Path(folder)).items():
            runs = [
                world_run("data-advisor", args.target, seed, **overrides) for seed in args.seeds
            ]
            print(f"  {name}: done ({time.monotonic() - started:.0f} s)", file=sys.stderr)
            cells = [
                mean_std([m[key] for m in runs if m.get(key) is not None], digits)
                for key, _, digits in COLUMNS
            ]
            rows.append(f"| {name} | " + " | ".join(cells) + " |")
    print(f"Machine: {machine()}")
    print(
        f"Simulated world ({len(reachable_cells())} reachable cells), data-advisor, target "
        f"{args.target}, --benign-share {WORLD_BENIGN_SHARE}, seeds "
        f"{' '.join(map(str, args.seeds))}; mean ± std over seeds"
    )
    print()
    print("| setting | " + " | ".join(title for _, title, _ in COLUMNS) + " |")
    print("|---|" + "---|" * len(COLUMNS))
    print("\n".join(rows))
    print(f"\nTotal wall time: {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
