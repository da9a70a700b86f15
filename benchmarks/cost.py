"""Cost over run length: tokens per accepted item early vs. late in a long run; prints a table.

Run: ``python -m benchmarks.cost [--rounds 50]``

A long run of the real graph against the loopback fake server (no latency). ``rounds.jsonl``
holds the token totals after every round; the table compares tokens per accepted item in the
first and the last tenth of the rounds. Prompts must not grow with the run (bounded summary,
capped examples and coverage lists), so the two should be close.
"""

from __future__ import annotations

import argparse
import json

from benchmarks._harness import machine, run_against
from tests.doubles.openai_server import FakeOpenAIServer


def window_cost(rounds: list[dict], first: int, last: int) -> tuple[float, int, float]:
    """Tokens per accepted item, items accepted, and tokens per LLM call over rounds first..last."""
    zero = {"input_tokens": 0, "output_tokens": 0, "accepted": 0, "llm_calls": 0}
    before = rounds[first - 2] if first > 1 else zero
    after = rounds[last - 1]

    def delta(key: str) -> int:
        return after[key] - before[key]

    tokens = delta("input_tokens") + delta("output_tokens")
    return (
        tokens / max(delta("accepted"), 1),
        delta("accepted"),
        tokens / max(delta("llm_calls"), 1),
    )


def main() -> None:
    """Print the cost table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    with FakeOpenAIServer() as server:
        _, out = run_against(
            server, target=1_000_000 // 2, max_rounds=args.rounds, seed=3, allow_budget_stop=True
        )
    rounds = [json.loads(line) for line in (out / "rounds.jsonl").read_text().splitlines()]
    tenth = max(1, len(rounds) // 10)
    early, early_n, early_call = window_cost(rounds, 1, tenth)
    late, late_n, late_call = window_cost(rounds, len(rounds) - tenth + 1, len(rounds))
    print(f"Machine: {machine()}")
    print(f"{len(rounds)} rounds against the fake server (data-advisor, default round size)\n")
    print(
        "| part of the run | rounds | items accepted | tokens per accepted item | tokens per LLM call |"
    )
    print("|---|---|---|---|---|")
    print(f"| first tenth | 1-{tenth} | {early_n} | {early:.0f} | {early_call:.0f} |")
    print(
        f"| last tenth | {len(rounds) - tenth + 1}-{len(rounds)} | {late_n} | {late:.0f} | {late_call:.0f} |"
    )
    change = late / early - 1
    print(
        f"\nTokens per accepted item: {change:+.0%} (target within 20%: {'PASS' if abs(change) <= 0.2 else 'FAIL'}); "
        f"tokens per call: {late_call / early_call - 1:+.0%}"
    )
    print(f"Summary length after the last round: {rounds[-1]['summary_chars']} characters")


if __name__ == "__main__":
    main()
