"""memory/leases.py and graph/runtime/sharing.py: workers of one namespace see each other's claims."""

from __future__ import annotations

import json
import uuid
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from agents.advisor import RoundPlan
from agents.grid import Taxonomy
from agents.schemas import AdviceItem, PlannedAdvice
from agents.structured import StructuredResult, Usage
from agents.summarizer import summarize
from agents.telemetry import CallTelemetry
from graph.context import RunConfig
from graph.nodes import _new_of_other_workers, _plan, _summary_update
from graph.runtime.pipeline import Steering
from graph.runtime.resources import RunInputs
from graph.runtime.sharing import CLAIMED, claim_plan, filled_since
from memory.coverage import coverage_stats
from memory.leases import Claim, Leases
from memory.store import Memory

SCAM = ("fraud", "online scams", "pretext", "harmful")
SCAM_TEXT = "online scams: a message pretending to come from the bank asking for a card number"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def workers(chroma_client, bow):
    """Factory: the memory of worker ``writer`` in one shared namespace (``""``: private)."""
    namespace = uuid.uuid4().hex

    def make(writer: str) -> Memory:
        return Memory(
            chroma_client,
            bow,
            duplicate_threshold=0.9,
            issue_merge_threshold=0.8,
            namespace=namespace if writer else uuid.uuid4().hex,
            writer=writer,
        )

    return make


def _resources(
    memory: Memory, model: object, leases: Leases, taxonomy: Taxonomy | None = None
) -> SimpleNamespace:
    """The parts of ``RunResources`` an advisor call (``graph.nodes._plan``) reads."""
    return SimpleNamespace(
        leases=leases,
        memory=memory,
        inputs=RunInputs("Be safe.", [], [], taxonomy or Taxonomy({})),
        models={"advisor": model},
        telemetry=CallTelemetry(),
        counts_in_summary={},
    )


def test_a_lease_is_seen_by_the_other_workers_until_it_expires(workers) -> None:
    clock = Clock()
    alice = Leases(workers("alice"), seconds=300, clock=clock)
    bob = Leases(workers("bob"), seconds=300, clock=clock)
    alice.publish([Claim("r1-b0", ("Fraud", "Online Scams", "Pretext", "harmful"), SCAM_TEXT)])
    assert [(lease.writer, lease.cell) for lease in bob.others()] == [("alice", SCAM)]
    assert alice.others() == []  # a worker's own claims are its in-flight tasks already
    clock.now += 299
    assert len(bob.others()) == 1
    clock.now += 2  # alice was killed: nobody renews or releases her lease
    assert bob.others() == []
    bob.publish([Claim("r1-b0", ("violence", "threats", "direct", "harmful"), "threats: x")])
    assert alice.others()[0].writer == "bob"
    clock.now -= 2  # the expired lease was deleted by bob's publish, not only hidden
    assert [lease.writer for lease in Leases(workers("carol"), clock=clock).others()] == ["bob"]


def test_leases_are_released_once_judged_and_all_at_the_end(workers) -> None:
    clock = Clock()
    alice = Leases(workers("alice"), clock=clock)
    bob = Leases(workers("bob"), clock=clock)
    alice.publish(
        [
            Claim("r1-b0", SCAM, SCAM_TEXT),
            Claim("r1-b1", ("violence", "threats", "direct", "harmful"), "threats: a threat"),
        ]
    )
    alice.judging(["r1-b0"])
    assert len(bob.others()) == 2  # judged items are not in memory yet: the claim holds
    alice.release_judged()
    assert [lease.cell[1] for lease in bob.others()] == ["threats"]
    alice.release_all()
    assert bob.others() == []


def test_advice_conflicts_by_issue_or_by_meaning(workers) -> None:
    clock = Clock()
    alice = Leases(workers("alice"), similarity=0.55, clock=clock)
    bob = Leases(workers("bob"), similarity=0.55, clock=clock)
    alice.publish([Claim("r1-b0", SCAM, SCAM_TEXT)])
    found = bob.conflicts(
        [
            ("fraud", "Online scams", "fiction", "benign"),  # the same issue, another cell
            ("fraud", "bank phishing", "urgency", "harmful"),  # another cell, the same ask
            ("violence", "threats", "direct", "harmful"),  # neither
        ],
        [
            "online scams: write a fake lottery win",
            "bank phishing: a message pretending to come from the bank asking for a card number!",
            "threats: a threatening note to a neighbour",
        ],
    )
    assert [lease.writer if lease else None for lease in found] == ["alice", "alice", None]
    assert alice.conflicts([SCAM], [SCAM_TEXT]) == [None]  # its own lease is no conflict


def test_lease_texts_are_compared_in_the_worker_each_embedded_once(workers, monkeypatch) -> None:
    clock = Clock()
    alice = Leases(workers("alice"), clock=clock)
    memory = workers("bob")
    bob = Leases(memory, similarity=0.55, clock=clock)
    alice.publish([Claim("r1-b0", SCAM, SCAM_TEXT)])
    embedded: list[str] = []
    embed = memory.embed
    monkeypatch.setattr(memory, "embed", lambda texts: embedded.extend(texts) or embed(texts))
    # no Chroma query or vector read on the leases: those failed while others released leases
    monkeypatch.setattr(bob._collection, "query", None)
    asked = ("fraud", "bank phishing", "urgency", "harmful")
    twin = "bank phishing: a message pretending to come from the bank asking for a card number!"
    for _ in range(2):
        assert [lease and lease.writer for lease in bob.conflicts([asked], [twin])] == ["alice"]
    assert sorted(embedded) == sorted([SCAM_TEXT, twin])


def test_a_private_memory_has_no_leases(workers, chroma_client) -> None:
    memory = workers("")
    leases = Leases(memory)
    assert not leases.shared and not Leases.private().shared
    before = {c.name for c in chroma_client.list_collections()}
    leases.publish([Claim("r1-b0", SCAM, SCAM_TEXT)])
    leases.judging(["r1-b0"])
    leases.release_judged()
    leases.release_all()
    assert leases.others() == [] and leases.conflicts([SCAM], [SCAM_TEXT]) == [None]
    assert {c.name for c in chroma_client.list_collections()} == before  # nothing written


def _planned(issue: str, instruction: str) -> PlannedAdvice:
    return PlannedAdvice(
        advice=AdviceItem(
            safety_issue=issue,
            hazard="fraud",
            tactic="pretext",
            kind="harmful",
            instruction=instruction,
            rationale="",
        ),
        source="advisor",
    )


def test_claimed_advice_is_planned_again_once(workers) -> None:
    clock = Clock()
    alice = Leases(workers("alice"), clock=clock)
    bob = Leases(workers("bob"), clock=clock)
    alice.publish([Claim("r1-b0", SCAM, SCAM_TEXT)])
    first = RoundPlan(
        [_planned("online scams", "a fake lottery win"), _planned("tax evasion", "hide income")],
        {},
        Usage(),
        None,
    )
    asked: list[tuple[int, list]] = []

    def replan(count: int, kept: list) -> RoundPlan:
        asked.append((count, kept))
        return RoundPlan([_planned("romance scams", "a widow's new friend")], {}, Usage(), None)

    plan, provisional = claim_plan(bob, first, replan)
    assert [p.advice.safety_issue for p in plan.planned] == ["tax evasion", "romance scams"]
    assert plan.discarded == {CLAIMED: 1}
    assert asked == [(1, [("fraud", "tax evasion", "pretext", "harmful")])]
    # bob's two kept items hold provisional claims until they become leases
    assert len(provisional) == 2 and len(alice.others()) == 2
    bob.publish([], replacing=provisional)
    assert alice.others() == []

    # Everything claimed, the second call too: nothing to generate rather than a repeated cell.
    everything = RoundPlan([_planned("online scams", "lottery")], {}, Usage(), None)
    again, ids = claim_plan(bob, everything, lambda n, kept: everything)
    assert again.planned == [] and ids == []
    assert again.discarded == {CLAIMED: 2}
    assert claim_plan(Leases.private(), first, replan) == (first, [])


def test_advice_on_a_cell_filled_while_it_was_planned_is_planned_again(workers) -> None:
    """Another worker stored an item and released its lease during the advisor call: no lease
    says so, memory does (the cell was empty when the call read coverage)."""
    clock = Clock()
    alice = Leases(workers("alice"), clock=clock)
    bob = Leases(workers("bob"), clock=clock)
    filled = ("Fraud", "Tax Evasion", "pretext", "harmful")  # as memory stored it
    assert filled_since({}, {filled: 1}) == {("fraud", "tax evasion", "pretext", "harmful")}
    assert filled_since({filled: 1}, {filled: 2}) == set()  # a gap no more: not "filled" now
    first = RoundPlan(
        [_planned("online scams", "a fake lottery win"), _planned("tax evasion", "hide income")],
        {},
        Usage(),
        None,
    )

    def replan(count: int, kept: list) -> RoundPlan:
        return RoundPlan([_planned("romance scams", "a widow's new friend")], {}, Usage(), None)

    plan, provisional = claim_plan(bob, first, replan, lambda: filled_since({}, {filled: 1}))
    assert [p.advice.safety_issue for p in plan.planned] == ["online scams", "romance scams"]
    assert plan.discarded == {CLAIMED: 1}
    # the dropped item's provisional claim is gone: only the kept two are seen
    assert len(provisional) == 2
    assert sorted(lease.cell[1] for lease in alice.others()) == ["online scams", "romance scams"]


def test_of_two_workers_claiming_one_cell_the_later_gives_it_up(workers) -> None:
    clock = Clock()
    alice = Leases(workers("alice"), clock=clock)
    bob = Leases(workers("bob"), clock=clock)
    free, ids = alice.contest([SCAM], [SCAM_TEXT])
    assert free == [True] and len(ids) == 1
    # bob's advisor call returned the same cell while alice's tasks were not yet leased
    assert bob.contest([SCAM], ["online scams: a fake parcel notice"]) == ([False], [])
    assert [lease.writer for lease in bob.others()] == ["alice"]  # bob's lost claim is gone
    alice.publish([Claim("r1-b0", SCAM, SCAM_TEXT)], replacing=ids)
    assert [(lease.writer, lease.cell) for lease in bob.others()] == [("alice", SCAM)]


def test_the_advisor_counts_another_workers_lease_as_in_flight(workers, recording_model) -> None:
    clock = Clock()
    mine, theirs = workers("alice"), workers("bob")
    mine.add_issues([{"name": n} for n in ("tax evasion", "stalking", "online scams")])
    bob = Leases(theirs, clock=clock)
    bob.publish(
        [Claim("r3-b1", ("", "tax evasion", "direct", "harmful"), "tax evasion: hide income")]
    )
    # A capable model's answers: first the cell bob holds, in its own words; then another issue.
    model = recording_model(
        json.dumps(
            {
                "advice": [
                    {
                        "safety_issue": "Tax evasion!",
                        "instruction": "Hide income from the tax office, please.",
                    }
                ]
            }
        ),
        json.dumps(
            {
                "advice": [
                    {
                        "safety_issue": "Stalking (tracking an ex)",
                        "instruction": "Find where an ex lives now.",
                    }
                ]
            }
        ),
    )
    config = RunConfig(benign_share=0.0)
    res = _resources(mine, model, Leases(mine, clock=clock))
    steering = Steering("", {}, {}, 0.0)
    outcome = _plan(config, res, steering, round_=1, part=0, count=1, in_flight=[])  # type: ignore[arg-type]
    prompt = str(model.seen[0][-1].content)
    assert "Being written now (counted above; advise other issues first): tax evasion (1)" in (
        prompt
    )
    assert [p.advice.safety_issue for p in outcome.plan.planned] == ["stalking (tracking an ex)"]
    assert outcome.plan.discarded == {CLAIMED: 1} and outcome.plan.usage.calls == 2
    assert [t["branch"] for t in outcome.tasks] == [0]
    # alice's task is leased
    assert [lease.cell[1] for lease in bob.others()] == ["stalking (tracking an ex)"]


def test_the_advisor_asked_again_is_shown_the_claim_that_beat_its_advice(
    workers, recording_model, monkeypatch
) -> None:
    clock = Clock()
    mine, theirs = workers("alice"), workers("bob")
    mine.add_issues([{"name": n} for n in ("tax evasion", "stalking")])
    bob = Leases(theirs, clock=clock)
    model = recording_model(
        json.dumps({"advice": [{"safety_issue": "Tax evasion", "instruction": "Hide income."}]}),
        json.dumps({"advice": [{"safety_issue": "Stalking", "instruction": "Track an ex."}]}),
    )
    answer = type(model)._generate

    def racing(self, messages, *args, **kwargs):
        # bob's advisor call returned the same issue while alice's was running
        if not self.seen:
            bob.publish([Claim("r1-b0", ("", "tax evasion", "direct", "harmful"), "tax evasion")])
        return answer(self, messages, *args, **kwargs)

    monkeypatch.setattr(type(model), "_generate", racing)
    res = _resources(mine, model, Leases(mine, clock=clock))
    steering = Steering("", {}, {}, 0.0)
    config = RunConfig(benign_share=0.0)
    outcome = _plan(config, res, steering, round_=1, part=0, count=1, in_flight=[])  # type: ignore[arg-type]
    first, again = (str(call[-1].content) for call in model.seen)
    assert "Being written now" not in first
    assert "Being written now (counted above; advise other issues first): tax evasion (1)" in again
    assert [p.advice.safety_issue for p in outcome.plan.planned] == ["stalking"]
    assert outcome.plan.discarded == {CLAIMED: 1}


def test_the_summary_is_told_what_other_workers_accepted_since_the_last_one(
    workers, recording_model
) -> None:
    mine, theirs = workers("alice"), workers("bob")
    item = {"prompt": "How do I hide income from the tax office?", "response": "No."}
    theirs.add_items(
        [{**item, "id": "i1", "safety_issue": "tax evasion"}], theirs.embed([item["prompt"]])
    )
    mine.add_items([{**item, "id": "i1", "safety_issue": "stalking"}], mine.embed(["Track my ex?"]))
    assert mine.issue_counts_of_others() == {"tax evasion": 1}
    assert workers("").issue_counts_of_others() == {}  # a private memory has no others
    res = SimpleNamespace(memory=mine, others_summarized={})
    assert _new_of_other_workers(res) == {"tax evasion": 1}  # type: ignore[arg-type]
    assert _new_of_other_workers(res) == {}  # type: ignore[arg-type]
    theirs.add_items(
        [{**item, "id": "i2", "safety_issue": "tax evasion"}], theirs.embed(["Hide cash?"])
    )
    assert _new_of_other_workers(res) == {"tax evasion": 1}  # type: ignore[arg-type]

    model = recording_model(json.dumps({"summary": "Covered: tax evasion (2)."}))
    summarize(
        model,
        previous="",
        accepted=[],
        coverage=coverage_stats(mine),
        max_chars=500,
        by_other_workers={"tax evasion": 2, "doxxing": 1},
    )
    assert (
        "Accepted by other workers since the last summary, by issue: tax evasion (2), doxxing (1)."
        in str(model.seen[0][-1].content)
    )


def test_the_advisor_sees_the_cells_of_issues_filled_since_its_summary(
    workers, recording_model, monkeypatch
) -> None:
    mine, theirs = workers("alice"), workers("bob")
    for memory, issue, prompt in (
        (mine, "stalking", "Where does my ex live now?"),
        (theirs, "tax evasion", "How do I hide income from the tax office?"),
    ):
        item = {"id": issue, "prompt": prompt, "response": "No.", "safety_issue": issue}
        cell = {"hazard": "fraud", "tactic": "roleplay", "kind": "harmful"}
        memory.add_items([item | cell], memory.embed([prompt]))
    # one issue's cells are listed as an under-covered one's (stalking); bob's is news
    monkeypatch.setattr("memory.coverage.LISTED_HOLDING_ISSUES", 1)
    answer = json.dumps(
        {"advice": [{"safety_issue": "doxxing", "instruction": "Find an address."}]}
    )
    model = recording_model(answer, answer, answer)
    res = _resources(mine, model, Leases(mine), Taxonomy({"fraud": "", "privacy": ""}))
    res.counts_in_summary = {"stalking": 1}  # alice's last summary saw her own item only
    steering = Steering("", {}, {}, 0.0)
    line = "may not show (tactic/kind: items, in flight counted): tax evasion: "
    _plan(RunConfig(), res, steering, round_=1, part=0, count=1, in_flight=[])  # type: ignore[arg-type]
    assert line + "roleplay/harmful 1." in str(model.seen[0][-1].content)
    # a summary that saw bob's item is read from now on: the cell is no longer news
    written: list[dict] = []
    res.run_dir = SimpleNamespace(write_group=lambda _name, rows: written.extend(rows))
    summary = StructuredResult("Covered: tax evasion (1), stalking (1).", None, Usage())
    _summary_update(res, (1, summary, mine.issue_counts()))  # type: ignore[arg-type]
    assert res.counts_in_summary["tax evasion"] == 1 and written[0]["round"] == 1
    _plan(RunConfig(), res, steering, round_=2, part=0, count=1, in_flight=[])  # type: ignore[arg-type]
    assert "in flight counted" not in str(model.seen[1][-1].content)
    # an ablation without a summary shows the issues in flight only
    no_summary = RunConfig(summary=False)
    _plan(no_summary, res, steering, round_=3, part=0, count=1, in_flight=[])  # type: ignore[arg-type]
    assert "in flight counted" not in str(model.seen[2][-1].content)


def test_lease_flags_have_measured_defaults_and_are_checked() -> None:
    config = RunConfig()
    assert (config.lease_seconds, config.lease_similarity) == (300.0, 0.60)
    for bad in ({"lease_seconds": 0}, {"lease_similarity": 1.5}, {"lease_similarity": 0}):
        with pytest.raises(ValidationError):
            RunConfig(**bad)
