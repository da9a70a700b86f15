"""What the acceptance log of a shared namespace earns and costs (``memory.acceptance``).

1. **Races.** ``--repeats`` starts of 3 workers (``tests.doubles.crowd_runs``: self-instruct,
   target 5 each, models that know the same questions) on one ``chroma run`` server, each start
   in a fresh namespace, with the acceptance log off (``--no-acceptance-log``) and on: twin pairs
   accepted across workers (same words, or all-MiniLM cosine >= the duplicate threshold),
   starts with at least one, and races the log settled.
2. **Cost.** One writer settles ``--rounds`` rounds of ``--batch`` claims (random unit vectors of
   dimension 384) in a log already holding ``--prefill`` claims of another writer, on the same
   server: wall time per round and per accepted item (``time.perf_counter``). A run with a
   memory of its own has no log: its cost is zero.

Run: ``python -m benchmarks.shared_accepts [--repeats 10] [--rounds 100] [--batch 4]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from graph.context import DEFAULT_DUPLICATE_THRESHOLD
from memory.acceptance import ACCEPTS, AcceptanceLog, Claim
from memory.embeddings import embedded_minilm
from tests.doubles.chroma_server import ChromaServer, connect
from tests.doubles.crowd_runs import races_settled, run_crowd, twin_pairs

DIM = 384


def races(root: Path, url: str, repeats: int) -> None:
    """Print twin pairs across workers with the log off and on."""
    minilm = embedded_minilm()
    print(
        "| acceptance log | starts | twin pairs across workers | starts with a twin | races settled by the log | seconds per start |"
    )
    print("|---|---|---|---|---|---|")
    for on in (False, True):
        pairs, hit, settled, seconds = 0, 0, 0, []
        for repeat in range(repeats):
            name = f"{'on' if on else 'off'}{repeat}"
            run = run_crowd(
                root / name,
                url,
                name,
                minilm,
                extra=() if on else ("--no-acceptance-log",),
            )
            if any(run.exit_codes):
                raise SystemExit(f"a worker failed: {run.errors}")
            found = len(twin_pairs(run.run_dirs, minilm, DEFAULT_DUPLICATE_THRESHOLD))
            pairs, hit = pairs + found, hit + bool(found)
            settled += races_settled(run.run_dirs)
            seconds.append(run.seconds)
        print(
            f"| {'on' if on else 'off'} | {repeats} | {pairs} | {hit} of {repeats} | {settled} | "
            f"{np.median(seconds):.0f} (median) |",
            flush=True,
        )


def cost(url: str, rounds: int, batch: int, prefill: int) -> None:
    """Print the wall time of settling claims in a shared log."""
    rng = np.random.default_rng(0)
    namespace = f"cost{uuid.uuid4().hex[:8]}"

    def claims(prefix: str, n: int) -> list[Claim]:
        vectors = rng.normal(size=(n, DIM))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return [Claim(f"{prefix}{i}", f"request {prefix}{i}", v) for i, v in enumerate(vectors)]

    client = connect(url)
    other = AcceptanceLog(client, f"{namespace}-{ACCEPTS}", "other", DEFAULT_DUPLICATE_THRESHOLD)
    for start in range(0, prefill, 1000):
        other.settle(claims(f"p{start}-", min(1000, prefill - start)))
    mine = AcceptanceLog(client, f"{namespace}-{ACCEPTS}", "mine", DEFAULT_DUPLICATE_THRESHOLD)
    times = []
    for number in range(rounds):
        batch_claims = claims(f"r{number}-", batch)
        began = time.perf_counter()
        mine.settle(batch_claims)
        times.append(time.perf_counter() - began)
    ms = np.asarray(times) * 1000
    print(
        f"\nsettle {batch} claims, log of {prefill} + up to {rounds * batch}: "
        f"p50 {np.median(ms):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms per round; "
        f"{np.median(ms) / batch:.1f} ms per accepted item (p50)"
    )


def main() -> None:
    """Run both measurements on one fresh ``chroma run`` server."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--prefill", type=int, default=2000)
    parser.add_argument("--skip-races", action="store_true")
    args = parser.parse_args()
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, ChromaServer(Path(tmp) / "data") as server:
        cost(server.url, args.rounds, args.batch, args.prefill)
        if not args.skip_races:
            races(Path(tmp), server.url, args.repeats)
    print(f"\n{time.monotonic() - began:.0f} s in all")


if __name__ == "__main__":
    main()
