"""Preference pairs made on purpose: the responder's repair, contrasts, and a world run's export."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage

from agents.contrast import CONTRAST_BATCH, make_pairs
from agents.responder import repair, respond
from agents.schemas import Candidate
from benchmarks._harness import run_against
from graph.cli import EXIT_OK
from graph.context import RunConfig
from graph.export import main as export_main
from graph.run import build_parser
from tests.doubles.openai_server import FakeOpenAIServer
from tests.doubles.world import COMPLYING_REPLY, OVER_REFUSAL, WorldModel

SAFE = "I can't help with that, because it would hurt someone; here is a safer option instead."
HELPFUL = "A Python process is stopped with kill PID, or pkill -f name; use SIGTERM first."
PREACHY = "I won't help with that. Asking for this is wrong and you should be ashamed."


def candidate(n: int, kind: str = "harmful", response: str = SAFE, **extra: str) -> Candidate:
    """A candidate of the data-advisor strategy."""
    fields = {"advice": "", "round": 1, "advice_source": "advisor", "safety_issue": "arson"}
    return Candidate(
        id=f"c{n}", prompt=f"request number {n}?", response=response, kind=kind, **fields, **extra
    )  # type: ignore[arg-type]


def replies(*texts: str) -> AIMessage:
    """A ResponseBatch / ContrastBatch answer numbering ``texts`` from 1."""
    body = {"responses": [{"number": n, "response": t} for n, t in enumerate(texts, start=1)]}
    return AIMessage(json.dumps(body))


# -- the responder's repair -------------------------------------------------------------------
def test_a_reply_breaking_a_response_rule_is_rewritten_and_kept_as_the_rejected_side():
    model = FakeMessagesListChatModel(responses=[replies(SAFE, HELPFUL)])
    firsts = [
        candidate(1, response=SAFE),
        candidate(2, response=COMPLYING_REPLY),
        candidate(3, "benign", response=OVER_REFUSAL),
    ]
    result = repair(model, firsts, principles="Be safe.")
    assert result.usage.calls == 1
    fixed = {c.id: c for c in result.value}
    assert fixed["c1"] == firsts[0]  # passed the rules: untouched
    assert (fixed["c2"].response, fixed["c2"].failed_response) == (SAFE, COMPLYING_REPLY)
    assert fixed["c2"].failed_reason == "response_complies"
    assert (fixed["c3"].response, fixed["c3"].failed_reason) == (HELPFUL, "over_refusal")


def test_a_rewrite_that_still_breaks_the_rules_leaves_the_candidate_for_the_critic():
    model = FakeMessagesListChatModel(responses=[replies(COMPLYING_REPLY)])
    first = candidate(2, response=COMPLYING_REPLY)
    assert repair(model, [first], principles="Be safe.").value == [first]


def test_no_repair_call_when_every_reply_passes():
    model = FakeMessagesListChatModel(responses=[])  # any call would fail
    result = respond(
        FakeMessagesListChatModel(responses=[replies(SAFE)]),
        [candidate(1, response="")],
        principles="Be safe.",
        repair_refused=True,
    )
    assert result.usage.calls == 1 and result.value[0].response == SAFE
    assert repair(model, result.value, principles="Be safe.").usage.calls == 0


# -- pairs ------------------------------------------------------------------------------------
def test_each_accepted_item_gets_one_pair_from_its_repair_or_one_contrast_call_per_batch():
    items = [candidate(n) for n in range(CONTRAST_BATCH + 1)]
    items += [candidate(90, "benign", HELPFUL)]
    items += [candidate(91, failed_response=COMPLYING_REPLY, failed_reason="response_complies")]
    model = FakeMessagesListChatModel(
        responses=[replies(*[PREACHY] * CONTRAST_BATCH), replies(PREACHY, OVER_REFUSAL)]
    )
    made = make_pairs(model, items, concurrency=1)
    assert made.calls == 2 and made.usage.calls == 2 and not made.missing
    by_id = {p.id: p for p in made.pairs}
    assert len(by_id) == len(items)
    assert (by_id["c91"].pair_type, by_id["c91"].source) == ("unsafe", "repair")
    assert (by_id["c90"].pair_type, by_id["c90"].rejected) == ("over_refusal", OVER_REFUSAL)
    assert Counter(p.pair_type for p in made.pairs)["unhelpful_refusal"] == CONTRAST_BATCH + 1


def test_a_smaller_batch_writes_the_same_pairs_in_more_calls():
    items = [candidate(n) for n in range(5)]
    model = FakeMessagesListChatModel(
        responses=[replies(PREACHY, PREACHY), replies(PREACHY, PREACHY), replies(PREACHY)]
    )
    made = make_pairs(model, items, concurrency=1, per_call=2)
    assert made.calls == 3 and not made.missing
    assert sorted(p.id for p in made.pairs) == [c.id for c in items]


@pytest.mark.parametrize(
    ("kind", "contrast", "why"),
    [
        ("benign", "Sure: run kill -9 PID in a terminal to stop it.", "contrast_not_a_refusal"),
        ("harmful", COMPLYING_REPLY, "contrast_not_a_refusal"),
        ("harmful", SAFE, "contrast_equals_chosen"),
        ("harmful", "", "no_contrast"),
    ],
)
def test_a_contrast_that_cannot_be_rejected_side_is_dropped_and_counted(kind, contrast, why):
    item = candidate(1, kind, SAFE if kind == "harmful" else HELPFUL)
    model = FakeMessagesListChatModel(responses=[replies(contrast)])
    made = make_pairs(model, [item])
    assert made.pairs == [] and made.missing == {why: 1}


def test_preference_pairs_are_on_for_capable_models_and_off_on_the_embedded_one():
    parse = build_parser().parse_args
    assert RunConfig(provider="openai", base_url="http://x/v1", model="m").preference_pairs
    assert not RunConfig(provider="embedded").preference_pairs
    assert vars(parse(["--no-preference-pairs"]))["preference_pairs"] is False
    assert vars(parse(["--preference-pairs"]))["preference_pairs"] is True


# -- a world run ------------------------------------------------------------------------------
def test_a_world_run_exports_exactly_one_pair_per_accepted_item_of_all_three_types(tmp_path):
    with FakeOpenAIServer(chat_model=WorldModel(seed=1)) as server:
        _, out = run_against(server, target=40, seed=1, benign_share=0.25)
    try:
        target = tmp_path / "pairs.jsonl"
        assert (
            export_main(
                [str(out), "--format", "jsonl", "--kind", "preference", "--out", str(target)]
            )
            == EXIT_OK
        )
        rows = [json.loads(line) for line in target.read_text().splitlines()]
        ids = [json.loads(line)["id"] for line in (out / "dataset.jsonl").read_text().splitlines()]
        stats = json.loads((out / "stats.json").read_text())
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)
    assert sorted(r["id"] for r in rows) == sorted(ids) and len(ids) == 40
    types = Counter((r["kind"], r["pair_type"]) for r in rows)
    assert set(types) == {
        ("harmful", "unsafe"),
        ("harmful", "unhelpful_refusal"),
        ("benign", "over_refusal"),
    }
    assert all(r["rejected"] != r["chosen"] for r in rows)
    preference = stats["preference"]
    assert (
        preference["pairs"] == 40 and preference["by_type"]["unsafe"] == types["harmful", "unsafe"]
    )
    # at most one extra call per item: the rewrites plus the contrast calls
    extra = preference["rewrite_calls"] + stats["usage_by_role"]["contrast"]["calls"]
    assert preference["rewrite_calls"] >= 1
    assert (
        extra <= 40 and preference["contrast_calls"] == stats["usage_by_role"]["contrast"]["calls"]
    )
