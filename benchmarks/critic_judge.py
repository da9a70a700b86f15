"""Does the critic model's verdict carry signal? Judges known pairs and prints a table.

Run: ``python -m benchmarks.critic_judge [--base-url URL --model NAME]`` (default: the embedded
SmolLM2-135M model, offline; about two minutes on 2 cores).

Known-good pairs are the shipped seed examples (a risky request and its safe, helpful response).
Known-bad pairs keep each seed request but give it the response written for a *different* issue
(``shift`` places further on): an off-topic reply that a judge following the principles must
reject. A judge with signal accepts the first far more often than the second; a judge that
accepts both at the same rate is a coin, and its verdict only adds noise to the rule-based layers.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
from pathlib import Path

from agents.critic import judge
from agents.models import chat_model
from agents.schemas import Candidate
from benchmarks._harness import machine
from graph.context import RunConfig
from graph.runtime.resources import load_inputs


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", help="An OpenAI-compatible endpoint (default: embedded).")
    parser.add_argument("--model", default="gpt-4o-mini")
    parser.add_argument("--shift", type=int, default=7, help="How far off the known-bad response.")
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp()) / "judge"
    if args.base_url:
        config = RunConfig(out=out, provider="openai", base_url=args.base_url, model=args.model)
    else:
        config = RunConfig(out=out)
    inputs = load_inputs(config)
    examples = inputs.seed_examples
    good = [(e["prompt"], e["response"], e["safety_issue"]) for e in examples]
    bad = [
        (e["prompt"], examples[(i + args.shift) % len(examples)]["response"], e["safety_issue"])
        for i, e in enumerate(examples)
    ]
    model = chat_model("critic", config, threading.Semaphore(config.concurrency))
    print(
        f"critic model: {config.model if args.base_url else 'embedded SmolLM2-135M'}; {machine()}"
    )
    print("| pairs | n | accepted | rejected | unparsable |")
    print("|---|---|---|---|---|")
    for name, pairs in (
        ("known-good (seed examples)", good),
        ("known-bad (off-topic response)", bad),
    ):
        candidates = [
            Candidate(
                id=f"{name[:4]}-{i}",
                prompt=p,
                response=r,
                safety_issue=issue,
                advice="",
                round=0,
                advice_source="advisor",
            )
            for i, (p, r, issue) in enumerate(pairs)
        ]
        results = judge(
            model, candidates, principles=inputs.principles, concurrency=config.concurrency, seed=0
        )
        verdicts = [r.value.verdict if r.value else "unparsable" for r in results]
        counts = {v: verdicts.count(v) for v in ("accept", "reject", "unparsable")}
        n = len(verdicts)
        print(
            f"| {name} | {n} | {counts['accept'] / n:.0%} | {counts['reject'] / n:.0%} "
            f"| {counts['unparsable'] / n:.0%} |"
        )


if __name__ == "__main__":
    main()
