"""What batching the responder's requests saves: input tokens per response at 1, 2 and 4 requests
per call (``--candidates-per-advice``), on the real graph with the capable-model double.

Run: ``python -m benchmarks.responder_batching`` (seconds). The responder's system prompt holds the
principles and its examples come as earlier turns; a batch pays for them once.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from agents.models import ROLES
from graph.context import RunConfig
from graph.run import run
from tests.doubles.capable_model import CapableModel
from tests.doubles.scripted_runs import SCRIPTED_CONFIG

TARGET = 24
# The double's long prompts look alike to bag-of-words embeddings; redundancy is not measured here.
DUPLICATE_THRESHOLD = 0.97


def measure(per_call: int) -> dict:
    out = Path(tempfile.mkdtemp(prefix="bench-")) / "run"
    model = CapableModel(seed=1)
    config = RunConfig(
        out=out,
        target=TARGET,
        seed=1,
        duplicate_threshold=DUPLICATE_THRESHOLD,
        candidates_per_advice=per_call,
        **SCRIPTED_CONFIG,
    )
    try:
        run(config, echo=lambda _: None, quiet=True, models={role: model for role in ROLES})
        stats = json.loads((out / "stats.json").read_text())
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)
    usage = stats["usage_by_role"]["responder"]
    return {
        "per_call": per_call,
        "calls": int(usage["calls"]),
        "responses": stats["candidates_judged"],
        "input_per_response": usage["input_tokens"] / max(1, stats["candidates_judged"]),
        "output_per_response": usage["output_tokens"] / max(1, stats["candidates_judged"]),
    }


def main() -> None:
    print(
        "| requests per responder call | calls | responses | input tokens / response | output tokens / response |"
    )
    print("|---|---|---|---|---|")
    for per_call in (1, 2, 4):
        row = measure(per_call)
        print(
            f"| {row['per_call']} | {row['calls']} | {row['responses']} | "
            f"{row['input_per_response']:.0f} | {row['output_per_response']:.0f} |"
        )


if __name__ == "__main__":
    main()
