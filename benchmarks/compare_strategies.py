"""Data Advisor vs Self-Instruct: same model, budget and seeds; prints a Markdown table.

Run: ``python -m benchmarks.compare_strategies [--target 60] [--seeds 1 2 3]
[--world | --base-url URL --model NAME | --embedded]``

Each strategy runs through the real code path (the CLI's ``run()``: LangGraph, Chroma, critic)
once per seed, and ``graph.measure.metrics.run_metrics`` measures every run; the table gives the mean and
the standard deviation over seeds.

- ``--world`` (default): against the loopback OpenAI-compatible server answering with
  ``tests.doubles.world.WorldModel``, a stand-in for a capable model over a fixed world of ~40
  safety issues with Zipf-like prevalence, each reachable in four (tactic, kind) cells;
  bag-of-words embeddings and their thresholds. Also reports, by the world's own truth (the cell
  each accepted request was written for, not the tool's labels), how many world issues and
  reachable (issue x tactic x kind) cells the accepted items cover, the balance over tactics and
  hazards, and the benign share. Default target: 1.25 items per reachable cell.
- ``--base-url URL --model NAME``: any OpenAI-compatible endpoint (key from ``OPENAI_API_KEY``),
  embedded all-MiniLM-L6-v2 embeddings and the default thresholds. Run directories are kept.
- ``--embedded``: the embedded SmolLM2-135M (small default target, one seed). Directories kept.
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Collection
from functools import partial
from pathlib import Path
from typing import Any

import graph.run
from agents.errors import UserError
from benchmarks._harness import machine, run_in_world
from graph.context import RunConfig, Strategy
from graph.measure.metrics import load_run, run_metrics
from graph.run import EXIT_BUDGET, EXIT_OK
from memory.embeddings import BagOfWordsEmbeddings, embedded_minilm
from tests.doubles.world import WORLD_BENIGN_SHARE, WorldModel, load_world, reachable_cells
from tests.doubles.world_tactics import TACTICS

STRATEGIES: tuple[Strategy, ...] = ("data-advisor", "self-instruct")
DEFAULT_TARGET = 60
# The world's budget per reachable cell: enough to fill each once with a quarter to spare.
WORLD_ITEMS_PER_CELL = 1.25
DEFAULT_SEEDS = (1, 2, 3)
EMBEDDED_TARGET = 5  # the embedded model writes ~1 usable item a minute on 2 cores
# (metrics key, column title, decimals) of the table, in order.
COLUMNS = (
    ("world_cells_covered", "reachable cells covered", 1),
    ("world_cells_share", "share of reachable cells", 3),
    ("world_issues_covered", "world issues covered", 1),
    ("world_tactic_balance", "tactic balance", 3),
    ("world_hazard_balance", "hazard balance", 3),
    ("world_benign_share", "benign share", 3),
    ("distinct_issues", "distinct issue labels", 1),
    ("issue_balance", "issue balance", 3),
    ("vendi_score", "Vendi score", 2),
    ("mean_pairwise_cosine_distance", "mean pairwise cos distance", 3),
    ("near_duplicate_rate", "near-duplicate rate", 3),
    ("acceptance_rate", "acceptance rate", 3),
    ("llm_calls_per_item", "LLM calls / item", 2),
    ("tokens_per_item", "tokens / item", 0),
)

# (strategy, target, seed) -> the run's metrics
Runner = Callable[..., dict[str, Any]]


def world_run(strategy: Strategy, target: int, seed: int, **overrides: Any) -> dict[str, Any]:
    """One run in the simulated world (``overrides``: more ``RunConfig`` fields); its metrics
    plus what it covers by the world's truth."""
    model, out = run_in_world(strategy, target, seed, **overrides)
    try:
        metrics = run_metrics(out, BagOfWordsEmbeddings())
        metrics.update(world_coverage(model, [item["prompt"] for item in load_run(out)["items"]]))
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)
    return metrics


def world_coverage(model: WorldModel, prompts: list[str]) -> dict[str, Any]:
    """What accepted ``prompts`` cover of the world, by the cell each was written for."""
    reachable = reachable_cells(model.issues)
    cells = [cell for cell in map(model.cell_of, prompts) if cell is not None]
    hazard = {issue.name: issue.hazard for issue in model.issues}
    return {
        "world_cells_covered": len(set(cells) & reachable),
        "world_cells_share": len(set(cells) & reachable) / len(reachable),
        "world_issues_covered": len({cell.issue for cell in cells}),
        "world_tactic_balance": axis_balance([c.tactic for c in cells], [t.name for t in TACTICS]),
        "world_hazard_balance": axis_balance(
            [hazard[c.issue] for c in cells], set(hazard.values())
        ),
        "world_benign_share": sum(cell.kind == "benign" for cell in cells) / max(len(cells), 1),
    }


def axis_balance(values: list[str], axis: Collection[str]) -> float:
    """Normalized Shannon entropy of items over every value of an axis (empty values count):
    1.0 when items spread evenly over the whole axis, 0.0 when they sit on one value."""
    counts = Counter(values)
    shares = [counts[v] / len(values) for v in axis if counts[v]] if values else []
    return -sum(p * math.log(p) for p in shares) / math.log(len(axis)) if len(axis) > 1 else 0.0


def endpoint_run(
    strategy: Strategy, target: int, seed: int, max_rounds: int | None = None, **model: Any
) -> dict[str, Any]:
    """One run against a real model (an endpoint or the embedded one); its directory is kept."""
    out = Path(tempfile.mkdtemp(prefix=f"compare-{strategy}-{seed}-")) / "run"
    config = RunConfig(
        out=out,
        strategy=strategy,
        target=target,
        seed=seed,
        max_rounds=max_rounds,
        embedding_provider="embedded",
        **model,
    )
    code = graph.run.run(config, echo=lambda _line: None, quiet=True)
    if code not in (EXIT_OK, EXIT_BUDGET):
        raise RuntimeError(f"run ended with exit code {code} in {out}")
    print(f"  kept: {out}", file=sys.stderr)
    try:
        return run_metrics(out, embedded_minilm())
    except UserError:  # a weak model may stop at its budget with nothing accepted
        return {"accepted": 0, "distinct_issues": 0, "stop_reason": "budget, nothing accepted"}


def mean_std(values: list[float], digits: int) -> str:
    """``mean ± std`` over seeds (sample standard deviation; 0 for one seed)."""
    if not values:
        return "n/a"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.{digits}f} ± {std:.{digits}f}"


def table(results: dict[str, list[dict[str, Any]]]) -> str:
    """The Markdown table: one row per strategy, one column per metric present in the runs."""
    columns = [c for c in COLUMNS if any(c[0] in m for runs in results.values() for m in runs)]
    lines = [
        "| strategy | runs | " + " | ".join(title for _, title, _ in columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for strategy, runs in results.items():
        cells = [
            mean_std([m[key] for m in runs if isinstance(m.get(key), int | float)], digits)
            for key, _, digits in columns
        ]
        lines.append(f"| {strategy} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def compare(runner: Runner, target: int, seeds: list[int]) -> dict[str, list[dict[str, Any]]]:
    """Run both strategies for every seed; return the metrics by strategy."""
    results: dict[str, list[dict[str, Any]]] = {s: [] for s in STRATEGIES}
    for seed in seeds:
        for strategy in STRATEGIES:
            started = time.monotonic()
            metrics = runner(strategy, target, seed)
            results[strategy].append(metrics)
            print(
                f"  {strategy} seed {seed}: {metrics['accepted']} accepted, "
                f"{metrics['distinct_issues']} distinct issues, {metrics['stop_reason']} "
                f"({time.monotonic() - started:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The benchmark's flags."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=int, default=None, help=f"default {DEFAULT_TARGET}")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="default 1 2 3")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--world", action="store_true", help="the simulated world (default)")
    mode.add_argument("--base-url", help="an OpenAI-compatible endpoint (needs --model)")
    mode.add_argument("--embedded", action="store_true", help="the embedded SmolLM2-135M")
    parser.add_argument("--model", help="model name at --base-url")
    parser.add_argument(
        "--max-rounds",
        type=int,
        default=None,
        help="the same round budget for every run (--embedded, --base-url); default: from target",
    )
    args = parser.parse_args(argv)
    if args.base_url and not args.model:
        parser.error("--base-url needs --model")
    if args.model and not args.base_url:
        parser.error("--model goes with --base-url")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print the table."""
    args = parse_args(argv)
    if args.embedded:
        target, seeds = args.target or EMBEDDED_TARGET, args.seeds or [DEFAULT_SEEDS[0]]
        label = "embedded SmolLM2-135M-Instruct, all-MiniLM-L6-v2 embeddings, default thresholds"
        runner: Runner = partial(endpoint_run, provider="embedded", max_rounds=args.max_rounds)
    elif args.base_url:
        target, seeds = args.target or DEFAULT_TARGET, args.seeds or list(DEFAULT_SEEDS)
        label = f"{args.model} at {args.base_url}, all-MiniLM-L6-v2 embeddings, default thresholds"
        runner = partial(
            endpoint_run,
            provider="openai",
            base_url=args.base_url,
            model=args.model,
            max_rounds=args.max_rounds,
        )
    else:
        cells = len(reachable_cells())
        target = args.target or round(WORLD_ITEMS_PER_CELL * cells)
        seeds = args.seeds or list(DEFAULT_SEEDS)
        label = (
            f"simulated world ({len(load_world())} issues, {cells} reachable cells, WorldModel "
            "over the loopback server), bag-of-words embeddings and thresholds"
        )
        runner = world_run
    started = time.monotonic()
    try:
        results = compare(runner, target, seeds)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Machine: {machine()}")
    print(f"Model: {label}")
    budget = f", at most {args.max_rounds} rounds" if args.max_rounds else ""
    print(
        f"Target {target} accepted items per run{budget}; seeds {' '.join(map(str, seeds))}; mean ± std over seeds"
    )
    if not (args.embedded or args.base_url):
        print(
            f"World: {len(load_world())} issues, {len(reachable_cells())} reachable "
            f"(issue x tactic x kind) cells; --benign-share {WORLD_BENIGN_SHARE}"
        )
    print()
    print(table(results))
    print(f"\nTotal wall time: {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
