"""Workers sharing one namespace on a real ``chroma run`` server split the gaps and leave no lease."""

from __future__ import annotations

import chromadb
from chromadb.config import Settings

from benchmarks.workers import ChromaServer, run_workers

TARGET = 24


def test_three_workers_at_once_cover_distinct_cells_and_release_their_leases() -> None:
    with ChromaServer() as chroma:
        # the same seed for all: started together, their advisors see the same memory
        got = run_workers(chroma.url, 3, TARGET, seed=2, concurrency=4, lease_similarity=0.55)
        host, port = chroma.url.removeprefix("http://").split(":")
        client = chromadb.HttpClient(
            host=host, port=int(port), settings=Settings(anonymized_telemetry=False)
        )
        leases = client.get_collection(f"{got['namespace']}-leases")
        assert leases.count() == 0  # every task's lease released once judged, the rest at the end
    assert got["items"] == TARGET
    # One run of 24 items covers 24 distinct world cells; before leases and the other workers'
    # items in the summary, 3 workers at once repeated 8 of 60 cells (benchmarks/workers.py).
    assert got["cells"] >= TARGET - 1
