"""Adaptive concurrency: the run against a server that answers 429 beyond its capacity; a table.

Run: ``python -m benchmarks.adaptive_concurrency [--capacity 4] [--concurrency 16] [--target 40]
[--seeds 1 2 3] [--factors 0.5 0.75 1]`` (about 4 minutes)

The fake server runs in its own process with ``--capacity`` slots, 0.2 s per answer, and answers
429 with ``Retry-After: 1`` at once to a request beyond them (``--over-capacity 429``), as a
rate-limited API does. The run asks for ``--concurrency`` requests in flight, 16 advice x 2
candidates per round. Each row is one multiplicative-decrease factor of ``AdaptiveLimit``
(``agents.concurrency.DECREASE_FACTOR``; 1 keeps the limit fixed at ``--concurrency``, what the
run did before the adaptive limit), the runs that completed (a run gives up after 3 calls in a row
failed despite the client's retries), and the mean over those: the loop's seconds, its LLM calls, the 429s
it received, the time-weighted mean limit over the second half of the loop and in flight over
all of it (``stats.json`` ``concurrency``), and the server's utilization (summed service time
over capacity x the span of the calls).
"""

from __future__ import annotations

import argparse
import json
import statistics

import agents.concurrency
from agents.concurrency import mean_limit_between
from agents.errors import UserError
from benchmarks._harness import ServerProcess, machine, run_against, utilization

ROUND = {"advice_per_round": 16, "candidates_per_advice": 2}
LATENCY = 0.2


def measure(capacity: int, concurrency: int, target: int, seed: int) -> dict | None:
    """One run at the current ``DECREASE_FACTOR``; what its ``stats.json`` and the server saw,
    or ``None`` if the run gave up (calls that failed in a row despite the client's retries)."""
    with ServerProcess(LATENCY, capacity, over_capacity="429") as server:
        try:
            _, out = run_against(server, target=target, concurrency=concurrency, seed=seed, **ROUND)
        except UserError as exc:
            print(f"seed {seed}: {exc}", flush=True)
            return None
    stats = json.loads((out / "stats.json").read_text())
    used = stats["concurrency"]
    calls = [entry for entry in server.log if entry[0]]  # "": the endpoint check
    return {
        "seconds": stats["seconds"],
        "calls": stats["llm_calls"],
        "429s": stats["transport_faults"].get("http_429", 0),
        "settled": mean_limit_between(
            used["limit_over_time"], used["seconds"] / 2, used["seconds"]
        ),
        "in_flight": used["mean_in_flight"],
        "utilization": utilization(calls, capacity),
    }


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--target", type=int, default=40)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--factors", type=float, nargs="+", default=[0.5, 0.75, 1.0])
    args = parser.parse_args()
    print(f"Machine: {machine()}")
    print(
        f"Server: {args.capacity} slots, {LATENCY} s per answer, 429 (Retry-After: 1) beyond; "
        f"--concurrency {args.concurrency}, target {args.target}, 16 advice x 2, "
        f"seeds {' '.join(map(str, args.seeds))} (mean)\n"
    )
    keys = ("seconds", "calls", "429s", "settled", "in_flight", "utilization")
    print(
        "| decrease factor | runs completed | loop s | LLM calls | 429s | mean limit, 2nd half | "
        "mean in flight | server utilization |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for factor in args.factors:
        # The module's default, read when each run builds its limit (one run at a time here).
        agents.concurrency.DECREASE_FACTOR = factor
        runs = [measure(args.capacity, args.concurrency, args.target, s) for s in args.seeds]
        rows = [row for row in runs if row is not None]
        label = f"{factor:g}" + (" (fixed limit)" if factor == 1 else "")
        done = f"{len(rows)} of {len(runs)}"
        if not rows:
            print(f"| {label} | {done} | | | | | | |", flush=True)
            continue
        mean = {k: statistics.fmean(r[k] for r in rows) for k in keys}
        print(
            f"| {label} | {done} | {mean['seconds']:.1f} | {mean['calls']:.0f} | "
            f"{mean['429s']:.0f} | {mean['settled']:.2f} | {mean['in_flight']:.2f} | "
            f"{mean['utilization']:.0%} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
