"""``--max-cost`` through the CLI against a real HTTP server: the run stops at its budget with
exit 1, the dollars it records are its tokens at the given prices, and ``--resume --max-cost
HIGHER`` completes it without a line twice. The key never reaches any file or log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.doubles.openai_server import FakeOpenAIServer
from tests.run_checks import assert_no_duplicate_line, rows, run_cli

KEY = "sk-canary-cost-budget-5a4b3c2d1e"
TARGET = 20
PRICE_IN, PRICE_OUT = 3.0, 15.0  # USD per million tokens
# The fake server's run to 20 items costs about $0.2 at these prices: the budget stops it early.
MAX_COST = 0.06


def dollars(stats: dict) -> float:
    return (stats["input_tokens"] * PRICE_IN + stats["output_tokens"] * PRICE_OUT) / 1e6


def test_max_cost_stops_the_run_and_a_higher_budget_completes_it(tmp_path: Path) -> None:
    out = tmp_path / "run"
    prices = ("--price-in", str(PRICE_IN), "--price-out", str(PRICE_OUT))
    with FakeOpenAIServer(api_key=KEY) as server:
        first = run_cli(
            "--target", str(TARGET), *server.cli_args(out), *prices, "--max-cost", str(MAX_COST),
            api_key=KEY,
        )  # fmt: skip
        assert first.returncode == 1, first.stderr[-2000:]
        stats = json.loads((out / "stats.json").read_text())
        assert stats["stop_reason"].startswith("cost budget reached (")
        assert "of $0.0600)" in stats["stop_reason"]
        assert stats["accepted"] < TARGET
        cost = stats["cost"]
        assert cost["total_usd"] >= MAX_COST
        assert abs(cost["total_usd"] - dollars(stats)) < 1e-5
        assert abs(sum(cost["by_role_usd"].values()) - cost["total_usd"]) < 1e-5
        assert cost["per_accepted_item_usd"] * stats["accepted"] == pytest.approx(
            cost["total_usd"], abs=1e-5
        )
        assert cost["prices"]["generator"]["source"] == "--price-in/--price-out"
        round_costs = [r["cost_usd"] for r in rows(out, "rounds.jsonl")]
        assert round_costs == sorted(round_costs) and round_costs[-1] >= MAX_COST
        assert all(c < MAX_COST for c in round_costs[:-1]), "it went on past its budget"
        assert "cost budget reached" in first.stdout + first.stderr
        assert "--max-cost USD (more than $0.0600)" in first.stdout + first.stderr
        progress = [line for line in first.stdout.splitlines() if line.startswith("round")]
        assert progress and all("tokens, $0.0" in line for line in progress)
        dataset_before = (out / "dataset.jsonl").read_text().splitlines()

        again = run_cli("--resume", "--out", str(out), "--max-cost", "5", api_key=KEY)
        assert again.returncode == 0, again.stderr[-2000:]
    final = json.loads((out / "stats.json").read_text())
    assert final["accepted"] == TARGET and final["stop_reason"] == "target reached"
    assert MAX_COST <= final["cost"]["total_usd"] < 5
    assert abs(final["cost"]["total_usd"] - dollars(final)) < 1e-5
    assert final["cost"]["max_cost_usd"] == 5
    dataset = (out / "dataset.jsonl").read_text().splitlines()
    assert dataset[: len(dataset_before)] == dataset_before, "the resumed run kept every item"
    assert len(dataset) == TARGET
    assert_no_duplicate_line(out)
    result = json.loads(again.stdout.splitlines()[-1].removeprefix("result: "))
    assert result["cost_usd"] == final["cost"]["total_usd"]
    for path in (p for p in out.rglob("*") if p.is_file()):
        assert KEY.encode() not in path.read_bytes(), f"{path.name} holds the key"
