"""CLI: ``python -m graph.run --target 20 --out runs/demo`` generates a safety-alignment dataset."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from graph.context import RunConfig
from graph.errors import UserError

EXIT_OK, EXIT_BUDGET, EXIT_USER_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
QUIET = False  # set by --quiet: only errors and the final ``result:`` line


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        raise UserError(message)


def build_parser() -> argparse.ArgumentParser:
    """The CLI's flags; each maps to a ``RunConfig`` field, whose description is its help."""
    fields = RunConfig.model_fields
    parser = _Parser(
        prog="python -m graph.run",
        description="Generate risky user prompts paired with safe responses, steered by Data Advisor "
        "toward the safety issues the dataset still lacks.",
    )

    def add(flag: str, name: str, **kwargs: Any) -> None:
        default = fields[name].default
        shown = (
            ""
            if default is None or callable(fields[name].default_factory)
            else f" (default: {default})"
        )
        parser.add_argument(
            flag,
            dest=name,
            default=argparse.SUPPRESS,
            help=(fields[name].description or "") + shown,
            **kwargs,
        )

    parser.add_argument(
        "--quiet",
        action="store_true",
        help="Print only errors and the final machine-readable 'result: {json}' line.",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="Continue the run in --out from its last checkpoint (budgets and --target may be raised).",
    )
    add("--target", "target", type=int, metavar="N")
    add("--out", "out", type=Path, metavar="DIR")
    add("--strategy", "strategy", choices=["data-advisor", "self-instruct"])
    add("--seed", "seed", type=int)
    group = parser.add_argument_group("model")
    parser_add = add
    parser_add("--provider", "provider", choices=["embedded", "openai", "fake"])
    parser_add("--base-url", "base_url", metavar="URL")
    parser_add("--model", "model")
    for role in ("advisor", "generator", "critic", "summarizer"):
        group.add_argument(
            f"--{role}-model",
            dest=f"role_{role}",
            default=None,
            metavar="NAME",
            help=f"Model for the {role} role (default: --model).",
        )
    parser_add("--api-key-env", "api_key_env", metavar="VAR")
    parser_add("--embedding-provider", "embedding_provider", choices=["embedded", "openai", "fake"])
    parser_add("--embedding-model", "embedding_model")
    parser_add("--embedding-base-url", "embedding_base_url", metavar="URL")
    parser_add("--concurrency", "concurrency", type=int, metavar="N")
    parser_add("--rpm", "rpm", type=int, metavar="N")
    parser_add("--request-timeout", "request_timeout", type=float, metavar="SECONDS")
    parser_add("--max-retries", "max_retries", type=int, metavar="N")
    parser_add("--max-tokens", "max_tokens", type=int, metavar="N")
    parser_add("--structured-attempts", "structured_attempts", type=int, metavar="N")
    parser_add("--max-rounds", "max_rounds", type=int, metavar="N")
    parser_add("--max-llm-calls", "max_llm_calls", type=int, metavar="N")
    parser_add("--advice-per-round", "advice_per_round", type=int, metavar="N")
    parser_add("--candidates-per-advice", "candidates_per_advice", type=int, metavar="N")
    parser_add("--examples-per-prompt", "examples_per_prompt", type=int, metavar="N")
    parser_add("--duplicate-threshold", "duplicate_threshold", type=float, metavar="COS")
    parser_add("--relevance-threshold", "relevance_threshold", type=float, metavar="COS")
    parser_add("--issue-merge-threshold", "issue_merge_threshold", type=float, metavar="COS")
    parser_add("--chroma-url", "chroma_url", metavar="URL")
    parser_add("--memory-namespace", "memory_namespace", metavar="NAME")
    parser.add_argument(
        "--no-llm-critic",
        dest="llm_critic",
        action="store_false",
        default=argparse.SUPPRESS,
        help="Skip the critic's LLM verdict (rules, redundancy and relevance only).",
    )
    parser_add("--summary-max-chars", "summary_max_chars", type=int, metavar="N")
    parser_add("--principles", "principles", type=Path, metavar="FILE")
    parser_add("--seed-examples", "seed_examples", type=Path, metavar="FILE")
    parser_add("--seed-issues", "seed_issues", type=Path, metavar="FILE")
    return parser


# Flags that may change when a run is resumed; everything else is the saved run's.
RESUME_OVERRIDES = frozenset(
    {
        "target",
        "max_rounds",
        "max_llm_calls",
        "concurrency",
        "rpm",
        "request_timeout",
        "max_retries",
        # where the server is, not what it runs: a moved endpoint must not strand a run
        "base_url",
        "embedding_base_url",
        "api_key_env",
        "chroma_url",
    }
)
THREAD = {"thread_id": "run"}


def config_from_args(argv: list[str] | None) -> tuple[RunConfig, bool]:
    """Parse flags into a validated ``RunConfig`` (and whether to resume); errors are one line."""
    values = vars(build_parser().parse_args(argv))
    resume = values.pop("resume", False)
    global QUIET
    QUIET = values.pop("quiet", False)
    roles = {}
    for role in ("advisor", "generator", "critic", "summarizer"):
        name = values.pop(f"role_{role}", None)
        if name:
            roles[role] = name
    if roles:
        values["role_models"] = roles
    if "base_url" in values and "provider" not in values:
        values["provider"] = "openai"
    if resume:
        values = _resumed_values(values)
    try:
        return RunConfig(**values), resume
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        where = f"--{field.replace('_', '-')}: " if field else ""
        raise UserError(f"{where}{first['msg'].removeprefix('Value error, ')}") from None


def _resumed_values(values: dict[str, Any]) -> dict[str, Any]:
    from graph.rundir import CONFIG

    if "out" not in values:
        raise UserError("--resume needs --out RUN_DIR")
    out = Path(values.pop("out"))
    try:
        saved = json.loads((out / CONFIG).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"--resume: {out} holds no run ({CONFIG} not found)") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        raise UserError(f"--resume: {out / CONFIG} is unreadable or corrupted") from None
    if not isinstance(saved, dict):
        raise UserError(f"--resume: {out / CONFIG} is corrupted")
    changed = sorted(
        key
        for key, value in values.items()
        if key not in RESUME_OVERRIDES
        and json.dumps(value, default=str) != json.dumps(saved.get(key), default=str)
    )
    if changed:
        raise UserError(
            f"--{changed[0].replace('_', '-')} differs from the saved run and cannot change on --resume "
            f"(allowed: {', '.join('--' + k.replace('_', '-') for k in sorted(RESUME_OVERRIDES))})"
        )
    return {**saved, **values, "out": out}


def run(config: RunConfig, *, resume: bool = False, echo=print) -> int:
    """Start (or resume) a run and drive the graph to its target or budget; return the exit code."""
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    from agents.models import check_reachable
    from graph.graph import build_graph
    from graph.resources import build_resources, check_memory_server, load_inputs, register
    from graph.rundir import CHECKPOINTS, CONFIG, DATASET, REJECTED, RunDirectory

    load_inputs(config)  # a bad input file must fail before anything is written
    check_reachable(config)
    check_memory_server(config)
    run_dir = RunDirectory(config.out) if resume else RunDirectory.create(config.out)
    with (
        run_dir.lock(),
        SqliteSaver.from_conn_string(str(run_dir.file(CHECKPOINTS))) as saver,
    ):
        graph = build_graph(checkpointer=saver)
        snapshot = None
        if resume:  # validate everything before touching anything
            try:
                snapshot = graph.get_state({"configurable": THREAD})
            except sqlite3.DatabaseError:
                raise UserError(f"--resume: {run_dir.file(CHECKPOINTS)} is corrupted") from None
            if not snapshot.values:
                raise UserError(f"--resume: {config.out} has no checkpoint to resume from")
            for name in (DATASET, REJECTED):
                if run_dir.repair_jsonl(name):
                    echo(f"resume: dropped a partial last line of {name} left by the crash")
        run_dir.write_json(CONFIG, config.public_dict())  # on resume: with raised budgets
        resources = build_resources(config, run_dir)
        register(resources)
        start: dict[str, Any] | None = {}
        if snapshot is not None:
            if restored := resources.sync_memory_with_dataset():
                echo(f"resume: restored {restored} dataset item(s) missing from memory")
            if not snapshot.next:
                if snapshot.values.get("accepted", 0) >= config.target:
                    echo(
                        f"run already complete: {snapshot.values['accepted']} items in {config.out}"
                    )
                    return EXIT_OK
                last = "summarizer" if config.strategy == "data-advisor" else "critic"
                graph.update_state({"configurable": THREAD}, {"stop_reason": None}, as_node=last)
            start = None
        return _drive(graph, start, config, run_dir, echo)


def _drive(graph: Any, start: dict[str, Any] | None, config: RunConfig, run_dir: Any, echo) -> int:
    from graph.graph import recursion_limit
    from graph.progress import RunProgress

    final: dict[str, Any] = {}
    with RunProgress(config.target, quiet=QUIET) as progress:
        progress.note(
            f"data-advisor: {config.strategy} -> {config.out} (target {config.target}, provider "
            f"{config.provider}, budget {config.round_budget} rounds / {config.call_budget} LLM calls)"
        )
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
    reason = final.get("stop_reason") or "stopped"
    stats = json.loads(run_dir.file("stats.json").read_text())
    progress.final(stats, str(config.out))
    if final.get("accepted", 0) < config.target:
        echo(
            f"error: {reason} before the target ({final.get('accepted', 0)}/{config.target}); "
            f"{_main_rejection(stats)}continue with: python -m graph.run --resume --out {config.out} "
            "--max-rounds N, or use a more capable model (--base-url/--model)"
        )
        return EXIT_BUDGET
    return EXIT_OK


# What to change when most candidates fail for one reason.
REJECTION_ADVICE = {
    "duplicate": "raise --duplicate-threshold or give more varied --seed-examples",
    "irrelevant": "lower --relevance-threshold (calibrated for all-MiniLM-L6-v2)",
    "llm_rejected": "the critic model rejects most candidates: use a stronger generator model",
}


def _main_rejection(stats: dict[str, Any]) -> str:
    reasons = stats.get("rejections_by_reason") or {}
    if not reasons:
        return ""
    reason, count = max(reasons.items(), key=lambda kv: kv[1])
    share = count / max(1, sum(reasons.values()))
    hint = REJECTION_ADVICE.get(reason, "the generator model writes weak items")
    return f"most rejections were {reason} ({share:.0%}): {hint}; "


def main(argv: list[str] | None = None) -> int:
    """Entry point: one clear line and exit code 2 for any error the user can fix."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        config, resume = config_from_args(argv)
        return run(config, resume=resume, echo=lambda line: print(line, flush=True))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(
            "interrupted: everything accepted so far is kept; continue with --resume --out RUN_DIR",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
