"""What preference pairs made on purpose cost: the same world runs with and without them.

Run: ``python -m benchmarks.preference_pairs [--target 200] [--seeds 1 2 3]``

Data-advisor in the simulated world (``tests.doubles.world.WorldModel`` over the loopback
OpenAI-compatible server; its responder answers some harmful requests unsafely and refuses some
look-alikes at first) through the real graph, once with ``--preference-pairs`` and once without,
per seed. Prints pairs by type, the extra calls (rewrites and contrasts), all LLM calls, tokens and
the acceptance rate.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys

from benchmarks._harness import machine, run_in_world
from tests.doubles.world import WORLD_BENIGN_SHARE

DEFAULT_TARGET = 200
DEFAULT_SEEDS = (1, 2, 3)
PAIR_TYPES = ("unsafe", "over_refusal", "unhelpful_refusal")


def measure(target: int, seed: int, pairs: bool) -> dict:
    """``stats.json`` of one world run."""
    _, out = run_in_world("data-advisor", target, seed, preference_pairs=pairs)
    try:
        return json.loads((out / "stats.json").read_text(encoding="utf-8"))
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


def row(seed: int, pairs: bool, stats: dict) -> str:
    """One line of the table."""
    made = stats["preference"]
    types = " / ".join(str(made["by_type"].get(t, 0)) for t in PAIR_TYPES) if pairs else "-"
    extra = [str(made["rewrite_calls"]), str(made["contrast_calls"])] if pairs else ["-", "-"]
    tokens = stats["input_tokens"] + stats["output_tokens"]
    return (
        f"| {seed} | {'on' if pairs else 'off'} | {stats['accepted']} | {made['pairs']} | {types} | "
        f"{' | '.join(extra)} | {stats['llm_calls']} | {tokens / 1000:.0f}K | "
        f"{stats['acceptance_rate']:.1%} |"
    )


def main(argv: list[str] | None = None) -> int:
    """Run both settings for every seed and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=int, default=DEFAULT_TARGET)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    args = parser.parse_args(argv)
    print(f"Machine: {machine()}")
    print(
        f"Simulated world, data-advisor, target {args.target}, --benign-share {WORLD_BENIGN_SHARE}"
    )
    print()
    print(
        "| seed | pairs | accepted | pairs made | unsafe / over_refusal / unhelpful_refusal | "
        "rewrite calls | contrast calls | LLM calls | tokens | acceptance |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for seed in args.seeds:
        for pairs in (True, False):
            print(row(seed, pairs, measure(args.target, seed, pairs)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
