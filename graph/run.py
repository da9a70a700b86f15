"""CLI: ``python -m graph.run --target 20 --out runs/demo`` generates a safety-alignment dataset."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agents.errors import UserError
from agents.models import ROLES
from graph.cli import (
    EXIT_BUDGET,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USER_ERROR,
    OneLineParser,
    run_command,
)
from graph.context import RunConfig
from graph.runtime.driver import run

__all__ = [
    "EXIT_BUDGET",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USER_ERROR",
    "build_parser",
    "config_from_args",
    "main",
    "run",
]


def build_parser() -> argparse.ArgumentParser:
    """The CLI's flags; each maps to a ``RunConfig`` field, whose description is its help."""
    fields = RunConfig.model_fields
    parser = OneLineParser(
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
    parser_add("--provider", "provider", choices=["embedded", "openai"])
    parser_add("--base-url", "base_url", metavar="URL")
    parser_add("--model", "model")
    for role in ROLES:
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
    parser_add("--max-cost", "max_cost", type=float, metavar="USD")
    parser_add("--price-in", "price_in", type=float, metavar="USD")
    parser_add("--price-out", "price_out", type=float, metavar="USD")
    parser_add("--advice-per-round", "advice_per_round", type=int, metavar="N")
    parser_add("--candidates-per-advice", "candidates_per_advice", type=int, metavar="N")
    parser_add("--examples-per-prompt", "examples_per_prompt", type=int, metavar="N")
    parser_add("--duplicate-threshold", "duplicate_threshold", type=float, metavar="COS")
    parser_add("--relevance-threshold", "relevance_threshold", type=float, metavar="COS")
    parser_add("--issue-merge-threshold", "issue_merge_threshold", type=float, metavar="COS")
    parser_add("--advice-merge-threshold", "advice_merge_threshold", type=float, metavar="COS")
    parser_add("--chroma-url", "chroma_url", metavar="URL")
    parser_add("--memory-namespace", "memory_namespace", metavar="NAME")
    parser_add("--lease-seconds", "lease_seconds", type=float, metavar="SECONDS")
    parser_add("--lease-similarity", "lease_similarity", type=float, metavar="COS")
    for flag, dest, on, off in (
        (
            "--llm-critic",
            "llm_critic",
            "Ask the critic model for a verdict after the cheap checks (the default, except on "
            "the embedded model, whose verdict measured as noise).",
            "Skip the critic's LLM verdict (rules, redundancy and relevance only).",
        ),
        (
            "--preference-pairs",
            "preference_pairs",
            "Give every accepted item a preference pair (rejected reply) for DPO, at most one "
            "extra call per item (the default, except on the embedded model).",
            "No repair of refused responses and no pairs written on purpose.",
        ),
    ):
        switch = parser.add_mutually_exclusive_group()
        for name, action, text in (
            (flag, "store_true", on),
            (f"--no-{flag[2:]}", "store_false", off),
        ):
            switch.add_argument(
                name, dest=dest, action=action, default=argparse.SUPPRESS, help=text
            )
    parser_add("--summary-max-chars", "summary_max_chars", type=int, metavar="N")
    parser_add("--prompt-max-chars", "prompt_max_chars", type=int, metavar="N")
    parser_add("--response-max-chars", "response_max_chars", type=int, metavar="N")
    parser_add("--cache", "cache", type=Path, metavar="FILE")
    parser.add_argument(
        "--no-cache",
        dest="use_cache",
        action="store_false",
        default=argparse.SUPPRESS,
        help="Send every call to the server (no answer cache).",
    )
    parser_add("--principles", "principles", type=Path, metavar="FILE")
    parser_add("--seed-examples", "seed_examples", type=Path, metavar="FILE")
    parser_add("--seed-issues", "seed_issues", type=Path, metavar="FILE")
    parser_add("--taxonomy", "taxonomy", type=Path, metavar="FILE")
    parser_add("--tactics", "tactics", type=Path, metavar="FILE")
    parser_add("--benign-share", "benign_share", type=float, metavar="F")
    ablations = parser.add_argument_group(
        "ablations", "switch off a part of the method to measure what it earns"
    )
    for flag, dest, text in (
        ("--no-summary", "summary", "no running summary (no summarizer calls)"),
        ("--no-redundancy-check", "redundancy_check", "accept near-duplicates of stored prompts"),
        (
            "--no-acceptance-log",
            "acceptance_log",
            "in a shared --memory-namespace, accept without the cross-run acceptance log",
        ),
    ):
        ablations.add_argument(
            flag, dest=dest, action="store_false", default=argparse.SUPPRESS, help=text
        )
    ablations.add_argument(
        "--advisor-view",
        dest="advisor_view",
        choices=["full", "coverage"],
        default=argparse.SUPPRESS,
        help=f"{fields['advisor_view'].description} (default: full)",
    )
    return parser


# Flags that may change when a run is resumed; everything else is the saved run's.
RESUME_OVERRIDES = frozenset(
    {
        "target",
        "max_rounds",
        "max_llm_calls",
        "max_cost",
        # a price corrects what the whole run cost (cost is its tokens at the current prices)
        "price_in",
        "price_out",
        "concurrency",
        "rpm",
        "request_timeout",
        "max_retries",
        # where the server is, not what it runs: a moved endpoint must not strand a run
        "base_url",
        "embedding_base_url",
        "api_key_env",
        "chroma_url",
        # a generator that refuses to write the requests is replaced on resume
        "role_models",
        "cache",
        "use_cache",
    }
)


def config_from_args(argv: list[str] | None) -> tuple[RunConfig, bool, bool]:
    """Parse flags into a validated ``RunConfig``, whether to resume and whether to be quiet."""
    values = vars(build_parser().parse_args(argv))
    resume = values.pop("resume", False)
    quiet = values.pop("quiet", False)
    roles = {}
    for role in ROLES:
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
        return RunConfig(**values), resume, quiet
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        where = f"--{field.replace('_', '-')}: " if field else ""
        raise UserError(f"{where}{first['msg'].removeprefix('Value error, ')}") from None


def _resumed_values(values: dict[str, Any]) -> dict[str, Any]:
    from graph.runtime.rundir import CONFIG

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
    if "role_models" in values:  # a new --generator-model keeps the other roles' saved models
        values["role_models"] = {**(saved.get("role_models") or {}), **values["role_models"]}
    return {**saved, **values, "out": out}


def main(argv: list[str] | None = None) -> int:
    """Entry point: one clear line and exit code 2 for any error the user can fix."""

    def body() -> int:
        config, resume, quiet = config_from_args(argv)
        return run(config, resume=resume, quiet=quiet, echo=lambda line: print(line, flush=True))

    return run_command(
        body,
        interrupted_hint="everything accepted so far is kept; continue with --resume --out RUN_DIR",
    )


if __name__ == "__main__":
    sys.exit(main())
