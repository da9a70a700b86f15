"""Drive one run: open (or resume) its directory and checkpoints, attach its resources, stream
the graph to its target or budget, and say how it ended."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from langchain_core.language_models import BaseChatModel

from agents.errors import UserError
from agents.models import Role, check_reachable
from graph.cli import EXIT_BUDGET, EXIT_OK
from graph.context import RunConfig
from graph.runtime.costs import RunPrices, check_budget_priced, cost_stop, format_usd, run_prices
from graph.runtime.progress import RunProgress
from graph.runtime.resources import build_resources, check_memory_server, load_inputs
from graph.runtime.rundir import (
    CHECKPOINTS,
    CONFIG,
    DATASET,
    SIDE_LOGS,
    STATS,
    RunDirectory,
)

THREAD = {"thread_id": "run"}
Echo = Callable[[str], None]


def run(
    config: RunConfig,
    *,
    resume: bool = False,
    echo: Echo = print,
    quiet: bool = False,
    models: dict[Role, BaseChatModel] | None = None,
) -> int:
    """Start (or resume) a run and drive the graph to its target or budget; return the exit code.

    ``models`` replaces the model factory's (a test double, or a model built in a notebook); then
    no endpoint is checked. A run directory is resumable from the instant it exists: resuming one
    that was killed before its first checkpoint starts it over with its saved configuration.
    """
    from langgraph.checkpoint.sqlite import SqliteSaver

    from graph.graph import build_graph

    load_inputs(config)  # a bad input file must fail before anything is written
    prices = run_prices(config)
    check_budget_priced(config, prices)
    if models is None:
        check_reachable(config)
    check_memory_server(config)
    run_dir = RunDirectory(config.out) if resume else RunDirectory.create(config.out)
    with (
        run_dir.lock(),
        SqliteSaver.from_conn_string(str(run_dir.file(CHECKPOINTS))) as saver,
    ):
        graph = build_graph(checkpointer=saver)
        snapshot = _saved_state(graph, run_dir) if resume else None
        if snapshot is not None:  # validate everything before touching anything
            for name in (DATASET, *SIDE_LOGS):
                if run_dir.repair_jsonl(name):
                    echo(f"resume: dropped a partial last line of {name} left by the crash")
        run_dir.write_json(CONFIG, config.public_dict())  # on resume: with raised budgets
        resources = build_resources(config, run_dir, models=models)
        config.attach(resources)
        start: dict[str, Any] | None = {}
        if snapshot is not None and snapshot.values:
            if restored := resources.sync_memory_with_dataset():
                echo(f"resume: restored {restored} dataset item(s) missing from memory")
            done = snapshot.values.get("accepted", 0) >= config.target
            # Ended: no step left. A step whose nodes all wrote their results before a kill,
            # with no checkpoint after it, has no ``next`` either (LangGraph lists only nodes
            # still to run) but still has its ``tasks``: it goes on from their writes. Taken
            # for ended, its writes were dropped (a round's accepted items lost their pairs, or
            # its judged candidates were judged again).
            ended = not snapshot.next and not snapshot.tasks
            if ended and done:
                echo(f"run already complete: {snapshot.values['accepted']} items in {config.out}")
                return EXIT_OK
            if reason := cost_stop(snapshot.values, config, prices):  # spend nothing past it
                echo(_budget_error(reason, snapshot.values, config, ""))
                return EXIT_BUDGET
            if ended:
                graph.update_state(
                    {"configurable": THREAD},
                    {"stop_reason": None, "strategy": config.strategy},
                    as_node="summarizer",
                )
            start = None
        elif snapshot is not None:
            echo("resume: the run was stopped before its first checkpoint; starting it over")
        try:
            return _drive(graph, start, config, run_dir, echo, quiet, prices)
        finally:  # an interrupted run must not wait for, or pay for, the tasks planned ahead
            resources.stop_background()


def _saved_state(graph: Any, run_dir: RunDirectory) -> Any:
    try:
        return graph.get_state({"configurable": THREAD})
    except sqlite3.DatabaseError:
        raise UserError(f"--resume: {run_dir.file(CHECKPOINTS)} is corrupted") from None


def _drive(
    graph: Any,
    start: dict[str, Any] | None,
    config: RunConfig,
    run_dir: RunDirectory,
    echo: Echo,
    quiet: bool,
    prices: RunPrices,
) -> int:
    from graph.graph import recursion_limit

    final: dict[str, Any] = {}
    with RunProgress(config.target, quiet=quiet, prices=prices) as progress:
        dollars = f" / {format_usd(config.max_cost)}" if config.max_cost is not None else ""
        progress.note(
            f"data-advisor: {config.strategy} -> {config.out} (target {config.target}, provider "
            f"{config.provider}, budget {config.round_budget} rounds / {config.call_budget} LLM "
            f"calls{dollars})"
        )
        progress.note(prices.describe())
        for mode, payload in graph.stream(
            start,
            context=config,
            stream_mode=["updates", "values"],
            config={
                "configurable": THREAD,
                "recursion_limit": recursion_limit(config),
                "max_concurrency": config.concurrency,  # generator branches in parallel
            },
        ):
            if mode == "values":
                final = payload
            else:
                for node, update in payload.items():
                    progress.on_update(node, update or {}, final)
    stats = run_dir.read_json(STATS)
    progress.final(stats, str(config.out))
    if warning := (stats.get("advice") or {}).get("warning"):
        echo(f"warning: {warning}")
    if final.get("accepted", 0) < config.target:
        reason = final.get("stop_reason") or "stopped"
        echo(_budget_error(reason, final, config, main_rejection(stats)))
        return EXIT_BUDGET
    return EXIT_OK


def _budget_error(reason: str, state: dict[str, Any], config: RunConfig, hint: str) -> str:
    """The line that says a run stopped before its target, and how to continue it."""
    resume = f"python -m graph.run --resume --out {config.out}"
    if reason.startswith("cost budget") and config.max_cost is not None:
        how = f"{resume} --max-cost USD (more than {format_usd(config.max_cost)})"
    else:
        how = f"{resume} --max-rounds N, or use a more capable model (--base-url/--model)"
    return (
        f"error: {reason} before the target ({state.get('accepted', 0)}/{config.target}); "
        f"{hint}continue with: {how}"
    )


# What to change when most candidates fail for one reason.
REJECTION_ADVICE = {
    "duplicate": "raise --duplicate-threshold or give more varied --seed-examples",
    "irrelevant": "lower --relevance-threshold (calibrated for all-MiniLM-L6-v2)",
    "llm_rejected": "the critic model rejects most candidates: use a stronger generator model",
    "generator_refused": "the generator model refuses to write the requests: resume with another "
    "one, --resume --generator-model NAME",
}


def main_rejection(stats: dict[str, Any]) -> str:
    """The most common rejection reason of a run and what to change about it, or ``""``."""
    reasons = stats.get("rejections_by_reason") or {}
    if not reasons:
        return ""
    reason, count = max(reasons.items(), key=lambda kv: kv[1])
    share = count / max(1, sum(reasons.values()))
    hint = REJECTION_ADVICE.get(reason, "the generator model writes weak items")
    return f"most rejections were {reason} ({share:.0%}): {hint}; "
