"""Throughput: the graph against a server with fixed latency and a concurrency cap; prints a table.

Run: ``python -m benchmarks.throughput [--target 200] [--latency 0.2] [--cap 16]
[--server fixed|proportional|both] [--proportional-target N]``

It runs the real code path (CLI ``run()``, LangGraph, Chroma, critic) against the loopback fake
OpenAI-compatible server, whose every answer takes ``--latency`` seconds and which serves at most
``--cap`` requests at once. From the server's own request log it counts the sequential waves the
graph's calls imply (a step of n calls needs ceil(n / cap) waves) and the lower bound on wall time
they give; then compares with ``--concurrency 1``.

A fixed latency hides what costs time on a real server: answers take time in proportion to their
length. The second table runs against a length-proportional server (``PROPORTIONAL``: time to
first token plus completion tokens at a per-stream rate, as a decoding server answers) with 16
and 64 slots, at ``--concurrency`` equal to the slots, for a round of 16 advice x 2 candidates
and for the default round (what a user gets by raising ``--concurrency`` alone), answered by the
world's capable-model double (``tests.doubles.world``: answers at a capable model's lengths), and
reports the
server's utilization: summed service time / (slots x the span of the loop's calls).
"""

from __future__ import annotations

import argparse
import json

from benchmarks._harness import ServerProcess, machine, run_against, utilization, waves_and_bound

# A round big enough for a serving cluster: 16 generator branches of 2 items each.
ROUND = {"advice_per_round": 16, "candidates_per_advice": 2}
# The length-proportional server: seconds to the first token, tokens per second per stream.
PROPORTIONAL = {"ttft": 0.1, "tokens_per_second": 60.0}
SLOTS = (16, 64)
# Items of a utilization run per slot count: long enough to be measured past the start and the end
# of a run (each a partly idle server), short enough that the world double still writes new
# requests (at 1,280 items 3 of 4 candidates were duplicates of its 160 cells).
TARGETS = {16: 320, 64: 640}
SHAPES = {"16 advice x 2": ROUND, "default round": {}}
UTILIZATION_TARGET = 0.85


def measure(target: int, latency: float, cap: int, concurrency: int) -> dict:
    """One run; returns the loop's wall time, its calls, waves and bound.

    Wall time is the generation loop's (``stats.json`` seconds): imports, opening Chroma and the
    endpoint check before it are one-off costs, reported separately as ``setup``.
    """
    with ServerProcess(latency, cap) as server:
        total, out = run_against(server, target=target, concurrency=concurrency, seed=1, **ROUND)
    loop = json.loads((out / "stats.json").read_text())["seconds"]
    calls = [entry for entry in server.log if entry[0]]  # "" = the endpoint check before the loop
    waves, bound = waves_and_bound(calls, min(cap, concurrency), latency)
    return {
        "concurrency": concurrency,
        "wall": loop,
        "setup": total - loop,
        "calls": len(calls),
        "waves": waves,
        "bound": bound,
    }


def measure_utilization(target: int, slots: int, shape: dict) -> dict:
    """One run against the length-proportional server with ``slots`` slots."""
    with ServerProcess(0.0, slots, **PROPORTIONAL, model="world") as server:
        _, out = run_against(server, target=target, concurrency=slots, seed=1, **shape)
    stats = json.loads((out / "stats.json").read_text())
    calls = [entry for entry in server.log if entry[0]]
    return {
        "calls": len(calls),
        "wall": stats["seconds"],
        "utilization": utilization(calls, slots),
        "service": sum(b - a for _, a, b in calls),
    }


def utilization_table(target: int | None) -> None:
    """Print the length-proportional server's utilization at each slot count and round shape."""
    print(
        f"\nLength-proportional server: {PROPORTIONAL['ttft']} s + completion tokens / "
        f"{PROPORTIONAL['tokens_per_second']:.0f} tokens/s per stream, answers of the world's "
        f"capable-model double; --concurrency = slots; target "
        f"{target or ', '.join(f'{n} at {k} slots' for k, n in TARGETS.items())} items\n"
    )
    print(
        "| slots | round | target | LLM calls | loop wall s | summed service s | calls/s | utilization |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for slots in SLOTS:
        for name, shape in SHAPES.items():
            items = target or TARGETS[slots]
            row = measure_utilization(items, slots, shape)
            print(
                f"| {slots} | {name} | {items} | {row['calls']} | {row['wall']:.1f} | {row['service']:.1f} | "
                f"{row['calls'] / row['wall']:.1f} | {row['utilization']:.0%} |",
                flush=True,
            )
    print(f"\nTarget: utilization >= {UTILIZATION_TARGET:.0%} at 16 and 64 slots")


def main() -> None:
    """Print the throughput tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--cap", type=int, default=16)
    parser.add_argument("--server", choices=["fixed", "proportional", "both"], default="both")
    parser.add_argument("--proportional-target", type=int, default=None, help=f"default {TARGETS}")
    args = parser.parse_args()
    if args.server == "proportional":
        print(f"Machine: {machine()}")
        utilization_table(args.proportional_target)
        return
    rows = [measure(args.target, args.latency, args.cap, c) for c in (args.cap, 1)]
    print(f"Machine: {machine()}")
    print(
        f"Fake server: {args.latency * 1000:.0f} ms per answer, at most {args.cap} at once; target {args.target} items, "
        f"{ROUND['advice_per_round']} advice x {ROUND['candidates_per_advice']} candidates per round\n"
    )
    print(
        "| --concurrency | loop wall s | setup s | LLM calls | sequential waves | lower bound s | wall / bound | speed-up vs 1 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    serial = rows[1]["wall"]
    for row in rows:
        print(
            f"| {row['concurrency']} | {row['wall']:.1f} | {row['setup']:.1f} | {row['calls']} | {row['waves']} | {row['bound']:.1f} | "
            f"{row['wall'] / row['bound']:.2f} | {serial / row['wall']:.1f}x |"
        )
    fast = rows[0]
    print(
        f"\nTargets: wall/bound <= 1.3: {'PASS' if fast['wall'] / fast['bound'] <= 1.3 else 'FAIL'}; "
        f"speed-up >= 6x: {'PASS' if serial / fast['wall'] >= 6 else 'FAIL'}"
    )
    if args.server == "both":
        utilization_table(args.proportional_target)


if __name__ == "__main__":
    main()
