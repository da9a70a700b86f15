"""CLI: ``python -m graph.run --target 20 --out runs/demo`` generates a safety-alignment dataset."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from graph.context import RunConfig
from graph.errors import UserError

EXIT_OK, EXIT_BUDGET, EXIT_USER_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


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


def config_from_args(argv: list[str] | None) -> RunConfig:
    """Parse flags into a validated ``RunConfig``; any problem is a one-line ``UserError``."""
    values = vars(build_parser().parse_args(argv))
    roles = {}
    for role in ("advisor", "generator", "critic", "summarizer"):
        name = values.pop(f"role_{role}", None)
        if name:
            roles[role] = name
    if roles:
        values["role_models"] = roles
    if "base_url" in values and "provider" not in values:
        values["provider"] = "openai"
    try:
        return RunConfig(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        where = f"--{field.replace('_', '-')}: " if field else ""
        raise UserError(f"{where}{first['msg'].removeprefix('Value error, ')}") from None


def run(config: RunConfig, *, echo=print) -> int:
    """Create the run directory, run the graph to its target or budget; return the exit code."""
    from agents.models import check_reachable
    from graph.graph import build_graph, recursion_limit
    from graph.resources import build_resources, load_inputs, register
    from graph.rundir import CONFIG, RunDirectory

    load_inputs(config)  # a bad input file must fail before anything is written
    check_reachable(config)
    run_dir = RunDirectory.create(config.out)
    run_dir.write_json(CONFIG, config.public_dict())
    resources = build_resources(config, run_dir)
    register(resources)
    echo(
        f"data-advisor: {config.strategy} -> {config.out} (target {config.target}, provider {config.provider}, "
        f"budget {config.round_budget} rounds / {config.call_budget} LLM calls)"
    )
    graph = build_graph()
    final: dict[str, Any] = {}
    started = time.monotonic()
    for chunk in graph.stream(
        {},
        context=config,
        stream_mode=["updates", "values"],
        config={"recursion_limit": recursion_limit(config)},
    ):
        mode, payload = chunk
        if mode == "values":
            final = payload
        elif "critic" in payload:
            update = payload["critic"]
            echo(
                f"round {final.get('round', 0):>3}: accepted {update['accepted']}/{config.target} "
                f"(+{len(update['round_accepted'])}), rejected {dict(update['rejections']) or '{}'}, "
                f"{time.monotonic() - started:.0f}s"
            )
    reason = final.get("stop_reason") or "stopped"
    stats = json.loads(run_dir.file("stats.json").read_text())
    echo(
        f"done: {stats['accepted']} accepted of {stats['candidates_judged']} judged "
        f"({stats['acceptance_rate']:.0%}), {stats['llm_calls']} LLM calls, {stats['seconds']}s; {reason}"
    )
    if final.get("accepted", 0) < config.target:
        echo(
            f"error: {reason} before the target ({final.get('accepted', 0)}/{config.target}); "
            "raise --max-rounds/--max-llm-calls, or use a more capable model (--base-url/--model)"
        )
        return EXIT_BUDGET
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Entry point: one clear line and exit code 2 for any error the user can fix."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        config = config_from_args(argv)
        return run(config, echo=lambda line: print(line, flush=True))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted: everything accepted so far is in the run directory", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
