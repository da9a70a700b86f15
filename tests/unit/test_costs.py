"""graph/runtime/costs.py: prices per role's model, dollars of a run's usage, the cost budget;
and the cost in the ledger, stats, progress line and report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price

from agents.errors import UserError
from graph.context import RunConfig
from graph.measure.html import _cell
from graph.measure.metrics import cost_metrics
from graph.run import EXIT_BUDGET, EXIT_OK, EXIT_USER_ERROR, config_from_args
from graph.runtime.costs import (
    UNKNOWN_HINT,
    Price,
    RunPrices,
    check_budget_priced,
    cost_stats,
    format_usd,
    run_prices,
    table_price,
)
from graph.runtime.ledger import round_record, stop_reason
from graph.runtime.progress import RunProgress
from tests.doubles.scripted_runs import SCRIPTED, SCRIPTED_CONFIG, scripted_main

OPENAI = "https://api.openai.com/v1"


def config(**kw) -> RunConfig:
    return RunConfig(**{**SCRIPTED_CONFIG, **kw})


def table_rate(model: str, base_url: str) -> tuple[float, float]:
    """The library's own per-million rates, to compare with (its prices move with its releases)."""
    found = calc_price(
        Usage(input_tokens=1000, output_tokens=1000), model, provider_api_url=base_url
    )
    return float(found.input_price) * 1000, float(found.output_price) * 1000


def test_price_of_tokens_is_per_million():
    price = Price("m", 2.0, 8.0, "test")
    assert price.of(1_000_000, 0) == 2.0
    assert price.of(500_000, 250_000) == pytest.approx(1.0 + 2.0)


def test_flags_price_every_role_and_override_the_table():
    prices = run_prices(config(base_url=OPENAI, model="gpt-4o-mini", price_in=1.5, price_out=6))
    assert set(prices.by_role) == {"advisor", "generator", "responder", "critic", "summarizer"}
    for price in prices.by_role.values():
        assert price == Price("gpt-4o-mini", 1.5, 6.0, "--price-in/--price-out")


def test_a_hosted_model_is_priced_from_genai_prices():
    price = table_price("gpt-4o-mini", OPENAI)
    assert price is not None
    assert (price.input_per_million, price.output_per_million) == pytest.approx(
        table_rate("gpt-4o-mini", OPENAI)
    )
    assert price.input_per_million > 0 and price.output_per_million > price.input_per_million
    assert price.source.startswith("genai-prices ") and "openai" in price.source


@pytest.mark.parametrize(
    ("model", "base_url"),
    [
        ("gpt-4o-mini", "http://127.0.0.1:8000/v1"),  # a local server is billed by nobody
        ("mistralai/Mistral-7B-Instruct-v0.3", "http://localhost:8000/v1"),
        ("llama3.1:8b", "http://localhost:11434/v1"),
        ("no-such-model", OPENAI),
        ("scripted", "http://scripted.invalid/v1"),
        ("gpt-4o-mini", None),
    ],
)
def test_no_price_is_invented_for_a_model_the_table_does_not_know(model, base_url):
    assert table_price(model, base_url) is None


def test_each_role_is_priced_by_its_own_model():
    prices = run_prices(
        config(base_url=OPENAI, model="gpt-4o-mini", role_models={"generator": "gpt-4o"})
    )
    mini, big = prices.by_role["critic"], prices.by_role["generator"]
    assert mini is not None and big is not None
    assert (mini.model, big.model) == ("gpt-4o-mini", "gpt-4o")
    assert big.input_per_million > mini.input_per_million
    usage = {
        "generator": {"input_tokens": 1_000_000, "output_tokens": 0},
        "critic": {"input_tokens": 1_000_000, "output_tokens": 0},
    }
    cost = prices.cost(usage)
    assert cost.by_role == pytest.approx(
        {"generator": big.input_per_million, "critic": mini.input_per_million}
    )


def test_the_embedded_model_costs_nothing():
    prices = run_prices(RunConfig(embedding_provider="fake"))
    assert prices.unknown_roles == []
    assert prices.cost({"generator": {"input_tokens": 10**6, "output_tokens": 10**6}}).total == 0


def test_contrast_calls_pay_the_responder_model():
    prices = RunPrices(
        {
            "advisor": None,
            "generator": None,
            "responder": Price("r", 10, 20, "t"),
            "critic": None,
            "summarizer": None,
        }
    )
    cost = prices.cost({"contrast": {"input_tokens": 100_000, "output_tokens": 50_000}})
    assert cost.by_role == {"contrast": pytest.approx(2.0)} and cost.total == pytest.approx(2.0)


def test_cached_answers_cost_nothing_and_unknown_prices_make_the_total_unknown():
    prices = RunPrices(
        {
            "advisor": Price("a", 1, 1, "t"),
            "generator": None,
            "responder": None,
            "critic": None,
            "summarizer": None,
        }
    )
    # Answers replayed from the cache are counted apart and carry no tokens (agents.structured).
    replayed = {"advisor": {"calls": 0, "cached_answers": 40}, "generator": {"cached_answers": 9}}
    assert prices.cost(replayed).total == 0
    paid = {"advisor": {"input_tokens": 10**6}, "generator": {"input_tokens": 5}}
    cost = prices.cost(paid)
    assert cost.by_role == {"advisor": 1.0, "generator": None} and cost.total is None


def test_max_cost_without_a_price_is_a_user_error():
    with pytest.raises(UserError, match=r"--max-cost needs a price .*'scripted'.*--price-in"):
        check_budget_priced(config(max_cost=1.0))
    check_budget_priced(config(max_cost=1.0, price_in=1, price_out=2))
    check_budget_priced(config())  # no budget, nothing to price
    check_budget_priced(config(base_url=OPENAI, model="gpt-4o-mini", max_cost=1.0))


def test_one_unpriced_role_is_named():
    mixed = config(base_url=OPENAI, model="gpt-4o-mini", role_models={"generator": "my-local"})
    with pytest.raises(UserError, match=r"'my-local' \(generator\)"):
        check_budget_priced(mixed.model_copy(update={"max_cost": 2.0}))


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--price-in", "1"], "--price-in and --price-out go together"),
        (["--price-out", "1"], "--price-in and --price-out go together"),
        (["--price-in", "-1", "--price-out", "1"], "--price-in: "),
        (["--max-cost", "0"], "--max-cost: "),
        (["--max-cost", "ten"], "--max-cost"),
    ],
)
def test_bad_cost_flags_are_one_line_errors(argv, expected):
    with pytest.raises(UserError, match=expected):
        config_from_args([*SCRIPTED, *argv])


PRICED = config(price_in=1.0, price_out=2.0, max_cost=0.03, target=10, max_rounds=50)


def _usage(tokens_in: int, tokens_out: int) -> dict:
    return {"advisor": {"calls": 1, "input_tokens": tokens_in, "output_tokens": tokens_out}}


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ({"accepted": 3, "round": 2, "usage": _usage(9_000, 5_000)}, None),  # $0.019
        (
            {"accepted": 3, "round": 2, "usage": _usage(10_000, 10_000)},  # exactly $0.03
            "cost budget reached ($0.0300 of $0.0300)",
        ),
        (
            {"accepted": 3, "round": 2, "usage": _usage(40_000, 10_000)},
            "cost budget reached ($0.0600 of $0.0300)",
        ),
        ({"accepted": 10, "round": 2, "usage": _usage(40_000, 10_000)}, "target reached"),
    ],
)
def test_the_cost_budget_stops_the_run(state, expected):
    assert stop_reason(state, PRICED, run_prices(PRICED)) == expected


def test_without_prices_the_cost_budget_never_fires():
    state = {"accepted": 3, "round": 2, "usage": _usage(10**9, 10**9)}
    assert stop_reason(state, PRICED) is None


def test_rounds_and_stats_record_dollars():
    prices = run_prices(PRICED)
    state = {"accepted": 4, "round": 2, "usage": _usage(10_000, 5_000)}  # $0.02
    assert round_record(state, prices)["cost_usd"] == pytest.approx(0.02)
    assert round_record(state)["cost_usd"] is None
    stats = cost_stats(state, prices, 0.03)
    assert stats["total_usd"] == pytest.approx(0.02)
    assert stats["by_role_usd"] == {"advisor": pytest.approx(0.02)}
    assert stats["per_round_usd"] == pytest.approx(0.01)
    assert stats["per_accepted_item_usd"] == pytest.approx(0.005)
    assert stats["max_cost_usd"] == 0.03 and stats["note"] is None
    assert stats["prices"]["critic"]["source"] == "--price-in/--price-out"
    unknown = cost_stats(state, run_prices(config()), None)
    assert unknown["total_usd"] is None and unknown["note"] == UNKNOWN_HINT
    assert unknown["prices"]["generator"] is None


def test_format_usd():
    assert format_usd(None) == "unknown"
    assert format_usd(0.00123) == "$0.0012"
    assert format_usd(12.345) == "$12.35"
    assert format_usd(1234.5) == "$1,234.50"


def test_progress_line_and_result_carry_the_cost(capsys):
    progress = RunProgress(10, prices=run_prices(PRICED))
    with progress:
        before = {"usage": _usage(10_000, 0)}
        update = {
            "accepted": 2,
            "round_accepted": [1, 2],
            "usage": {"critic": _usage(0, 5_000)["advisor"]},
        }
        progress.on_update("critic", update, before)
    stats = {
        "accepted": 2,
        "candidates_judged": 4,
        "acceptance_rate": 0.5,
        "llm_calls": 2,
        "tokens_per_accepted_item": 1,
        "seconds": 1.0,
        "stop_reason": "cost budget reached ($0.0200 of $0.0100)",
        "cost": {"total_usd": 0.02, "per_accepted_item_usd": 0.01},
    }
    progress.final(stats, "o")
    out = capsys.readouterr().out.splitlines()
    assert "tokens, $0.0200, " in out[0]  # the state's $0.01 plus the critic's $0.01
    assert "cost $0.0200 ($0.0100 per accepted item)" in out[1]
    assert json.loads(out[-1].removeprefix("result: "))["cost_usd"] == 0.02


def test_progress_says_when_cost_is_unknown(capsys):
    progress = RunProgress(10, prices=run_prices(config()))
    with progress:
        progress.on_update("critic", {"accepted": 1, "usage": {"critic": {"input_tokens": 9}}}, {})
    progress.final(
        {
            "accepted": 1,
            "candidates_judged": 1,
            "acceptance_rate": 1.0,
            "llm_calls": 1,
            "seconds": 1.0,
            "stop_reason": "x",
            "cost": {"total_usd": None},
        },
        "o",
    )
    out = capsys.readouterr().out.splitlines()
    assert "cost unknown" in out[0] and UNKNOWN_HINT in out[1]
    assert json.loads(out[-1].removeprefix("result: "))["cost_usd"] is None


def test_report_metrics_show_dollars_by_round():
    stats = {"cost": {"total_usd": 0.05, "per_accepted_item_usd": 0.01, "by_role_usd": {"a": 0.05}}}
    rounds = [
        {"round": 1, "accepted": 2, "cost_usd": 0.02},
        {"round": 2, "accepted": 5, "cost_usd": 0.05},
        {"round": 3, "accepted": 5},  # a line written before the cost ledger
    ]
    metrics = cost_metrics(stats, rounds)
    assert metrics["cost_usd"] == 0.05 and metrics["cost_by_role_usd"] == {"a": 0.05}
    assert metrics["cost_by_round_usd"] == [[1, 0.02], [2, 0.03]]
    assert metrics["cost_curve"] == [[2, 0.02], [5, 0.05]]
    assert cost_metrics({}, [])["cost_usd"] is None
    assert _cell(0.0123, "cost_usd") == "$0.0123" and _cell(None, "cost_usd") == "unknown"


def test_the_price_table_is_read_without_the_network():
    """genai-prices ships its table in the wheel: with every socket refused, a price is found."""
    code = (
        "import socket\n"
        "def refuse(*a, **k):\n"
        "    raise OSError('network used')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "socket.getaddrinfo = refuse\n"
        "from graph.runtime.costs import table_price\n"
        f"print(table_price('gpt-4o-mini', {OPENAI!r}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-1000:]
    assert "genai-prices" in done.stdout


def test_a_scripted_run_stops_at_its_cost_budget_and_resumes_with_a_higher_one(tmp_path):
    out = tmp_path / "run"
    priced = ["--out", str(out), "--target", "12", "--price-in", "1", "--price-out", "2"]
    assert scripted_main([*SCRIPTED, *priced, "--max-cost", "0.005"]) == EXIT_BUDGET
    stats = json.loads((out / "stats.json").read_text())
    assert stats["stop_reason"].startswith("cost budget reached (")
    assert stats["accepted"] < 12
    spent = (stats["input_tokens"] + 2 * stats["output_tokens"]) / 1e6
    assert stats["cost"]["total_usd"] == pytest.approx(spent, abs=1e-6)
    assert stats["cost"]["total_usd"] >= 0.005
    # The same budget again spends nothing more: it is refused before any call.
    again = ["--resume", "--out", str(out), "--max-cost", "0.005"]
    assert scripted_main(again) == EXIT_BUDGET
    assert json.loads((out / "stats.json").read_text())["llm_calls"] == stats["llm_calls"]
    assert scripted_main(["--resume", "--out", str(out), "--max-cost", "1"]) == EXIT_OK
    final = json.loads((out / "stats.json").read_text())
    assert final["accepted"] == 12 and final["stop_reason"] == "target reached"
    assert final["cost"]["total_usd"] > stats["cost"]["total_usd"]
    lines = (out / "dataset.jsonl").read_text().splitlines()
    assert len(lines) == 12 == len({json.loads(line)["id"] for line in lines})


def test_max_cost_without_prices_exits_2_before_writing(tmp_path, capsys):
    out = tmp_path / "run"
    code = scripted_main([*SCRIPTED, "--out", str(out), "--max-cost", "1"])
    assert code == EXIT_USER_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --max-cost needs a price")
    assert not Path(out).exists()


def test_the_report_shows_dollars_and_draws_them_for_a_priced_run(tmp_path):
    from graph.report import main as report_main
    from tests.unit.test_report import FAKE, make_run

    priced, plain = make_run(tmp_path / "priced"), make_run(tmp_path / "plain")
    stats = json.loads((priced / "stats.json").read_text())
    stats["cost"] = {"total_usd": 0.05, "per_accepted_item_usd": 0.05 / 14, "per_round_usd": 0.0125}
    (priced / "stats.json").write_text(json.dumps(stats))
    rounds = [{"round": r, "accepted": 3 * r, "cost_usd": 0.0125 * r} for r in range(1, 5)]
    (priced / "rounds.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rounds))
    assert report_main([str(priced), str(plain), *FAKE]) == EXIT_OK
    page = (priced / "report.html").read_text()
    assert "<h2>Cost</h2>" in page
    assert "<td>cost (USD)</td><td>$0.0500</td><td>unknown</td>" in page
    assert report_main([str(plain), *FAKE]) == EXIT_OK
    assert "<h2>Cost</h2>" not in (plain / "report.html").read_text()  # nothing to draw
